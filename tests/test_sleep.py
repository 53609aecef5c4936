"""Sleep (model/sleep.py): the cycle, the replay of taught pairs, downscaling, the closed input, snapshots."""

from __future__ import annotations

import time

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.bench_sleep import interfering_pairs, sleep_benchmark
from brainchat.bench_learning import make_pairs
from brainchat.config import SleepSection
from brainchat.model.sleep import Sleep, downscale
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import BrainAsleep, Runner

CHAT = {"brain.neurons": 20_000, "brain.device": "cpu"}


def test_an_automatic_sleep_falls_due_after_the_waking_time_and_waits_for_quiet():
    cycle = Sleep(SleepSection(awake_minutes=1, asleep_minutes=0.5, quiet_s=10), seed=0)
    assert cycle.due(59_999) is None
    cycle.heard(55_000)  # somebody spoke 5 s before it fell due
    assert cycle.due(60_000) is None and cycle.due(64_999) is None
    assert cycle.due(65_000) == "sleep"
    assert cycle.seconds_to_change(60_000) == 5.0
    cycle.fall_asleep(65_000)
    assert cycle.asleep and cycle.due(94_999) is None and cycle.due(95_000) == "wake"
    cycle.wake(95_000)
    assert not cycle.asleep and cycle.due(95_000 + 59_999) is None and cycle.due(95_000 + 60_000) == "sleep"
    assert Sleep(SleepSection(auto=False, awake_minutes=1), seed=0).due(10**9) is None


def test_replay_goes_through_every_remembered_pair_once_a_turn_in_an_order_from_the_seed():
    def replayed(seed: int) -> list[str]:
        cycle = Sleep(SleepSection(replay_interval_ms=100, remembered_pairs=5), seed=seed)
        for k in range(7):  # the two oldest are forgotten
            cycle.remember(f"p{k}", f"r{k}")
        cycle.remember("p3", "again")  # a prompt taught anew keeps its latest reply
        assert cycle.next_replay(0) is None  # awake: nothing is replayed
        cycle.fall_asleep(0, minutes=1)
        out, step = [], 0
        while len(out) < 10:
            pair = cycle.next_replay(step)
            if pair is not None:
                out.append(pair[0] + "=" + pair[1])
            step += 50
        return out

    first = replayed(0)
    assert sorted(first[:5]) == sorted(first[5:]) == ["p2=r2", "p3=again", "p4=r4", "p5=r5", "p6=r6"]
    assert first == replayed(0) and first != replayed(1)


def test_sleep_state_round_trips_and_a_bad_one_is_refused():
    cycle = Sleep(SleepSection(), seed=3)
    cycle.remember("hello", "hi")
    cycle.fall_asleep(1_000, minutes=2)
    cycle.keep("are you there")
    back = Sleep(SleepSection(), seed=3)
    back.restore(cycle.arrays(), step=2_000)
    assert back.asleep and back.wakes_at == 121_000 and dict(back.pairs) == {"hello": "hi"} and back.kept == ["are you there"]
    older = Sleep(SleepSection(), seed=3)
    older.restore({}, step=5_000)  # a snapshot from before sleep: awake since it, nothing remembered
    assert not older.asleep and older.changed_at == 5_000 and not older.pairs
    broken = cycle.arrays()
    broken["sleep/memory"] = np.frombuffer(b"not json", dtype=np.uint8)
    with pytest.raises(ValueError, match="sleep/memory"):
        Sleep(SleepSection(), seed=3).restore(broken, step=2_000)
    future = cycle.arrays()
    with pytest.raises(ValueError, match="sleep/state"):
        Sleep(SleepSection(), seed=3).restore(future, step=500)  # it fell asleep after the snapshot's step


def test_downscaling_shrinks_the_unprotected_weights_and_spares_the_largest():
    weights = np.array([0.0, 0.5, 1.0, 1.49, 1.5, 3.0, 9.0], dtype=np.float32)
    plastic = np.array([0, 1, 2, 3, 4, 5])  # the last weight is not plastic
    figures = downscale(np, weights, plastic, 0.8, 1.5)
    np.testing.assert_allclose(weights, [0.0, 0.4, 0.8, 1.192, 1.5, 3.0, 9.0], rtol=1e-6)
    assert figures["scaled_share"] == pytest.approx(4 / 6) and figures["mean_after"] < figures["mean_before"]


def test_a_sleeping_brain_keeps_what_it_is_told_and_answers_on_waking(tmp_path):
    config = Config().replace(**CHAT, **{"sleep.downscale": 0.82})
    with Brain(config) as brain, Runner(brain, speed=0) as runner:  # free-running, as fast as it can
        runner.wait_ready()
        for _ in range(3):
            runner.teach("abc", "xyz", timeout=120)
        runner.pause()  # held still while the weights are read here
        before = brain.backend.to_host(brain.synapses.weights[brain.plastic.synapses]).copy()
        report = runner.sleep(30)
        assert report["asleep"] and report["remembered_pairs"] == 1
        after = brain.backend.to_host(brain.synapses.weights[brain.plastic.synapses])
        scaled = before < 0.5 * config.plasticity.weight_max
        assert scaled.mean() > 0.9 and (~scaled).any()
        np.testing.assert_allclose(after[scaled], before[scaled] * np.float32(0.82), rtol=1e-6)
        np.testing.assert_array_equal(after[~scaled], before[~scaled])
        runner.resume()
        with pytest.raises(BrainAsleep, match="asleep; /wake to wake it .*kept"):
            runner.say("are you there", timeout=60)
        with pytest.raises(BrainAsleep, match="remembered"):
            runner.teach("def", "uvw", timeout=60)
        assert runner.status()["sleep"]["asleep"]
        saved = runner.save(tmp_path / "asleep.h5", timeout=120)
        woken = runner.wake()
        assert woken["was_asleep"] and not woken["asleep"]
        assert [r["said"] for r in woken["replies"]] == ["are you there"] and isinstance(woken["replies"][0]["reply"], str)
        assert runner.say("hello", timeout=60).said == "hello"  # awake: it listens again
    loaded = Brain(config)
    with loaded:
        snapshot = snapshots.read(saved.path)
        loaded.restore_state(snapshot.arrays, snapshot.step, snapshot.vitals_pending)
        assert loaded.sleep.asleep and dict(loaded.sleep.pairs) == {"abc": "xyz", "def": "uvw"}  # a snapshot taken asleep wakes asleep


def test_interfering_pairs_share_every_other_letter_of_their_prompts():
    first = make_pairs(20, 4)
    second = interfering_pairs(first, 4)
    assert len({p.prompt for p in first + second}) == 40
    for a, b in zip(first, second):
        assert len(a.prompt) == len(b.prompt) and a.prompt[::2] == b.prompt[::2] and all(x != y for x, y in zip(a.prompt[1::2], b.prompt[1::2]))


def test_pairs_taught_to_a_sleeping_brain_are_learned_by_its_replay():
    """Sleep's replay is error-driven teaching: three pairs it only heard of while asleep, it answers on waking."""
    pairs = make_pairs(3, 21)
    config = Config().replace(**CHAT, **{"sleep.replay_interval_ms": 500})
    with Brain(config) as brain, Runner(brain, speed=0) as runner:
        runner.wait_ready()
        runner.sleep(0.5)
        for pair in pairs:
            with pytest.raises(BrainAsleep, match="remembered"):
                runner.teach(pair.prompt, pair.reply, timeout=60)
        deadline = time.monotonic() + 240
        while runner.status()["sleep"]["asleep"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not runner.status()["sleep"]["asleep"], "it did not wake on time"
        assert runner.status()["events"].get("replay", 0) >= 20
        right = sum(runner.say(pair.prompt, timeout=60).text == pair.reply for pair in pairs)
    assert right >= 2, f"{right} of 3 replies learned in sleep"


def test_bench_sleep_measures_both_arms_from_the_same_brain():
    """What 20k does reliably: B no longer wipes A out (each prompt has its own detectors), the association alone still loses A to B, and sleep's replays consolidate A into it where idling does not; the firing stays in its band awake and asleep.

    These settings, seeds 11-14: A 1.0 / 0.5 / 1.0 / 1.0 after sleep and after idling alike (seed
    12's two prompts hold the same units at 2 places, "yfgoe" and "gfyoe": the working memory
    cannot tell them apart); the association alone 0.5 after sleep against 0.25 after idling on
    all four.
    """
    report = sleep_benchmark(Config().replace(**CHAT), pairs=4, teachings=4, minutes=0.5, seed=13)
    alone = report["association"]
    assert report["a_before_b"] >= 0.75
    assert report["a_after_b"] >= 0.75 and report["a_after_idle"] >= 0.75 and report["a_after_sleep"] >= 0.75, "the hippocampus keeps A"
    assert report["b_after_sleep"] >= 0.75 and report["b_after_idle"] >= 0.75
    assert alone["a_after_b"] <= 0.5, "the association alone loses A to B"
    assert report["replays"] >= 10
    assert alone["a_after_sleep"] >= alone["a_after_idle"] + 0.25, "sleep's replays teach A to the association; idling does not"
    assert report["weights_after_sleep"] != report["weights_after_idle"]
    for key in ("a_after_sleep", "a_after_idle", "b_after_sleep", "b_after_idle"):
        assert 0 <= report[key] <= 1
    assert 0.02 < report["firing_asleep_min"] and report["firing_asleep_max"] < 0.09
    assert 0.02 < report["firing_min"] and report["firing_max"] < 0.09


def test_without_the_hippocampus_b_wipes_a_out_and_sleep_brings_it_back():
    """The brain before the hippocampus (``hippocampus.enabled = false``): what sleep's replay does alone (seed 13: A 1.0 after sleep against 0.25 after idling)."""
    report = sleep_benchmark(Config().replace(**CHAT, **{"hippocampus.enabled": False}), pairs=4, teachings=4, minutes=0.5, seed=13)
    assert report["a_before_b"] >= 0.75
    assert report["a_after_b"] <= 0.5 and report["a_after_idle"] <= 0.5
    assert report["a_after_sleep"] >= report["a_after_idle"] + 0.5, "sleep's replay brings set A back; idling does not"
    assert report["b_after_sleep"] >= 0.5, "and keeps most of B"


def test_left_alone_with_auto_it_sleeps_and_wakes_on_schedule_and_still_answers():
    """The cycle at a small scale: 12 brain s awake, 6 asleep, a due sleep waiting 1 s of quiet; two cycles, then the taught pair."""
    config = Config().replace(**CHAT, **{"sleep.awake_minutes": 0.2, "sleep.asleep_minutes": 0.1, "sleep.quiet_s": 1.0, "sleep.replay_interval_ms": 1000})
    with Brain(config) as brain:
        with Runner(brain, lockstep=True) as runner:
            runner.wait_ready()
            for _ in range(6):
                if runner.teach("abc", "xyz").before == "xyz":
                    break
        changes = []
        with Runner(brain, speed=0, settle_steps=0) as runner:
            runner.wait_ready()
            first, was = brain.step_count, False
            deadline = time.monotonic() + 240
            while brain.step_count < first + 40_000 and time.monotonic() < deadline:
                time.sleep(0.02)
                asleep = dict(runner.stats.sleep).get("asleep", False)
                if asleep != was:
                    was = asleep
                    changes.append((asleep, (runner.stats.step - first) / 1000))
            assert brain.step_count >= first + 40_000, "the brain did not live 40 s of brain time in 4 minutes"
            if brain.sleep.asleep:
                runner.wake()
            runner.pause()
        with Runner(brain, lockstep=True, settle_steps=0) as runner:
            runner.wait_ready()
            reply = runner.say("abc").text
    # awake since the teaching, which lasted some brain seconds: it falls asleep by 12 s, wakes 6 s later, sleeps again 12 s after that
    kinds = [asleep for asleep, _ in changes]
    assert kinds[:4] == [True, False, True, False], changes
    (_, slept), (_, woke), (_, again), _ = changes[:4]
    assert slept <= 13 and 5.5 <= woke - slept <= 7 and 11.5 <= again - woke <= 13, changes
    assert reply == "xyz"
