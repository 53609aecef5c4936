"""``brainchat bench teach | reward | memory`` on a 20,000-neuron brain: JSON reports with the issue's keys.

The figures asserted are what this brain reliably reaches at 20k with seed 0 (the runs are
deterministic on the CPU); the issue's targets and the 200k figures are in docs/benchmarks.md.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from brainchat.bench_learning import char_accuracy, criterion
from brainchat.cli import app

SMALL = ["--neurons", "20000", "--device", "cpu", "--seed", "0", "--json"]


def bench(*args: str) -> dict:
    result = CliRunner().invoke(app, ["bench", *args, *SMALL])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_criterion_is_the_first_trial_after_which_the_last_50_were_90_percent_right():
    assert criterion([False] * 10 + [True] * 50) == 55, "trials 6-55: 45 of 50 right"
    assert criterion([True] * 45 + [False] * 5) == 50
    assert criterion([True] * 44 + [False] * 6) is None
    assert criterion([True] * 49) is None, "fewer than 50 trials never reach it"
    assert char_accuracy("abc", "abd") == pytest.approx(2 / 3) and char_accuracy("ab", "abcd") == 0.5


def test_bench_teach_learns_taught_replies():
    report = bench("teach", "--pairs", "10", "--teachings", "10")
    assert {"pairs", "teachings", "exact_match_accuracy", "char_accuracy", "curve", "firing_min", "firing_max"} <= report.keys()
    assert report["pairs"] == 10 and report["teachings"] == 10 and len(report["curve"]) == 10
    assert report["curve"][0]["exact_match_accuracy"] < report["exact_match_accuracy"] or report["curve"][0]["exact_match_accuracy"] >= 0.5
    # 20k, 10 x 10: 0.9-1.0 exact on seeds 0-9 since the readout reaches every patch (0.5-1.0 before)
    assert report["exact_match_accuracy"] >= 0.9, report["examples"]
    assert report["char_accuracy"] >= 0.9
    # the band: each step within +-0.025 (the lines drive the cortex and its gamma rhythm swings
    # it: 0.034-0.071 measured), the cortex's firing over each interval within +-0.01
    assert 0.025 < report["firing_min"] <= report["firing_max"] < 0.075
    cortex = report["firing_by_region"]["cortex"]
    assert 0.04 <= cortex["min"] <= cortex["max"] <= 0.06, cortex


def test_bench_reward_learns_first_characters_from_plus_and_minus_alone():
    report = bench("reward", "--pairs", "5", "--trials", "1000")
    assert {"pairs", "trials", "final_accuracy", "trials_to_criterion", "curve"} <= report.keys()
    assert report["first_trials_accuracy"] <= 0.2, "it does not start out knowing (each prompt's first answer, before any reward of it)"
    assert report["curve"][0]["accuracy"] < report["final_accuracy"], "it learned"
    assert report["final_accuracy"] >= 0.9 and report["trials_to_criterion"] is not None


def test_bench_memory_tells_the_words_apart_long_after_they_were_said():
    report = bench("memory", "--words", "4", "--repeats", "3", "--horizon-ms", "2000", "--bin-ms", "500")
    assert report["memory_span_ms"] == 2000 and report["span_reaches_horizon"] is True
    assert [point["ms"] for point in report["curve"]] == [500, 1000, 1500, 2000]


def test_bench_memory_refuses_a_bin_longer_than_the_horizon():
    result = CliRunner().invoke(app, ["bench", "memory", "--bin-ms", "900", "--horizon-ms", "500", "--neurons", "20000"])
    assert result.exit_code == 2 and "--bin-ms 900 is longer than --horizon-ms 500" in result.output


def test_a_typo_changes_exactly_one_letter_and_is_no_other_taught_prompt():
    from brainchat.bench_learning import make_pairs, typo

    taught = {p.prompt for p in make_pairs(50, 2)}
    for prompt in taught:
        changed = typo(prompt, 2, taught)
        assert len(changed) == len(prompt) and sum(a != b for a, b in zip(prompt, changed)) == 1 and changed not in taught
        assert changed == typo(prompt, 2, taught)
