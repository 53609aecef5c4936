"""``brainchat bench sleep``: does sleep protect what was learned first from what was learned next?

One brain, in lockstep, through the paths a user's commands take (:class:`Runner`'s ``teach``,
``say``, ``sleep``, ``save``, ``load``):

1. set A: ``pairs`` pairs taught ``teachings`` times each (round-robin), A tested after each round;
2. set B: as many pairs whose prompts share characters with A's (:func:`interfering_pairs`: the
   same letters at every other place), taught the same way; A and B tested after;
3. the brain saved; then **sleep** for ``minutes`` brain minutes (model/sleep.py: replay of the
   remembered pairs, downscaling as configured), A and B tested; the snapshot loaded again, and
   the **control**: the same brain time awake and idle, A and B tested.

The keys ``a_after_sleep``, ``a_after_idle``, ``b_after_sleep``, ``b_after_idle`` are exact-match
accuracies; ``association`` holds the same for the association alone (the hippocampus's recall
neurons closed: model/hippocampus.py), which is where sleep's replays consolidate a pair; the weight statistics are those of the plastic synapses after each arm; the
firing band is reported awake and asleep.
"""

from __future__ import annotations

import string
import tempfile
import time
from pathlib import Path

import numpy as np

from brainchat.bench_learning import Pair, Progress, _Band, _test, make_pairs
from brainchat.config import Config
from brainchat.model.brain import Brain
from brainchat.runtime.runner import Runner


def interfering_pairs(first: list[Pair], seed: int) -> list[Pair]:
    """A pair for each of ``first``: its prompt's letters kept at even places, new ones at odd places (a 3-letter prompt keeps 2 of 3); a new random reply."""
    rng = np.random.default_rng([seed, 14])
    letters = list(string.ascii_lowercase)
    used = {pair.prompt for pair in first}
    out = []
    for pair in first:
        while True:
            prompt = "".join(c if i % 2 == 0 else str(rng.choice([x for x in letters if x != c])) for i, c in enumerate(pair.prompt))
            if prompt not in used:
                break
        used.add(prompt)
        out.append(Pair(prompt, "".join(rng.choice(letters, int(rng.integers(3, 9))))))
    return out


def _weights(brain: Brain) -> dict[str, float]:
    """The plastic weights' statistics: mean, share at zero, share at the top, percentiles."""
    if not brain.plastic.size:
        return {}
    weights = brain.backend.to_host(brain.synapses.weights[brain.plastic.synapses]).astype(np.float64)
    top = brain.learning.weight_max
    p10, p50, p90 = np.percentile(weights, [10, 50, 90])
    return {"mean": float(weights.mean()), "p10": float(p10), "median": float(p50), "p90": float(p90),
            "share_zero": float((weights <= 0).mean()), "share_max": float((weights >= top).mean())}


def _association_alone(runner: Runner, brain: Brain, pairs: list[Pair]) -> float:
    """Exact match with the hippocampus's recall neurons closed: what the association alone has learned."""
    brain.hippocampus.muted = True
    try:
        return _test(runner, pairs)[0]
    finally:
        brain.hippocampus.muted = False


def sleep_benchmark(config: Config, pairs: int, teachings: int, minutes: float, seed: int, progress: Progress | None = None) -> dict:
    """Run the benchmark described in the module docstring; the report as a dict."""
    started = time.perf_counter()
    first = make_pairs(pairs, seed)
    second = interfering_pairs(first, seed)
    awake, asleep = _Band(), _Band()
    report: dict = {"benchmark": "sleep", "neurons": config.brain.neurons, "seed": seed, "pairs": pairs, "teachings": teachings,
                    "minutes": minutes, "downscale": config.sleep.downscale, "replay": config.sleep.replay,
                    "set_a": [{"prompt": p.prompt, "reply": p.reply} for p in first], "set_b": [{"prompt": p.prompt, "reply": p.reply} for p in second]}
    curve = []
    with Brain(config) as brain, Runner(brain, lockstep=True) as runner, tempfile.TemporaryDirectory(prefix="brainchat-bench-sleep-") as folder:
        runner.wait_ready()
        runner.vitals_listener = awake.see

        def teach(which: list[Pair], name: str) -> None:
            for round_ in range(1, teachings + 1):
                for pair in which:
                    runner.teach(pair.prompt, pair.reply)
                    if progress:
                        progress(1)
                a, _, _ = _test(runner, first)
                b, _, _ = _test(runner, second)
                curve.append({"phase": name, "teachings": round_, "a": a, "b": b})

        teach(first, "A")
        report["a_before_b"] = curve[-1]["a"]
        teach(second, "B")
        report["a_after_b"], report["b_after_b"] = curve[-1]["a"], curve[-1]["b"]
        report["weights_after_b"] = _weights(brain)
        alone = report["association"] = {"a_after_b": _association_alone(runner, brain, first)}
        saved = Path(folder) / "after-b.h5"
        runner.save(saved)

        runner.vitals_listener = asleep.see
        slept = runner.sleep(minutes)
        runner.vitals_listener = awake.see
        report["a_after_sleep"], _, replies_a = _test(runner, first)
        report["b_after_sleep"], _, replies_b = _test(runner, second)
        report["weights_after_sleep"] = _weights(brain)
        alone["a_after_sleep"], alone["b_after_sleep"] = _association_alone(runner, brain, first), _association_alone(runner, brain, second)
        report["replays"] = slept.get("replays", 0)
        report["downscaling"] = slept.get("downscaling", {})
        report["replies_after_sleep"] = {"a": replies_a, "b": replies_b}
        if progress:
            progress(1)

        runner.load(saved)
        runner.rest(round(minutes * 60_000))
        report["a_after_idle"], _, replies_a = _test(runner, first)
        report["b_after_idle"], _, replies_b = _test(runner, second)
        report["weights_after_idle"] = _weights(brain)
        alone["a_after_idle"], alone["b_after_idle"] = _association_alone(runner, brain, first), _association_alone(runner, brain, second)
        report["replies_after_idle"] = {"a": replies_a, "b": replies_b}
        if progress:
            progress(1)
        report["brain_seconds"] = brain.step_count / 1000.0
    band_awake, band_asleep = awake.report(), asleep.report()
    report.update(
        curve=curve, sleep_gain=report["a_after_sleep"] - report["a_after_idle"],
        firing_min=band_awake["firing_min"], firing_max=band_awake["firing_max"], firing_by_region=band_awake["firing_by_region"],
        firing_asleep_min=band_asleep["firing_min"], firing_asleep_max=band_asleep["firing_max"], firing_asleep_by_region=band_asleep["firing_by_region"],
        wall_seconds=time.perf_counter() - started,
    )
    return report


def plot(report: dict, path: str) -> bool:
    """The learning curves of A and B, then A and B after sleep and after the idle control, as a PNG (if matplotlib is installed)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (curves, bars) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [2, 1]})
    points = report["curve"]
    x = np.arange(1, len(points) + 1)
    curves.plot(x, [p["a"] for p in points], "o-", label="set A")
    curves.plot(x, [p["b"] for p in points], "s-", label="set B (shares A's letters)")
    curves.axvline(report["teachings"] + 0.5, color="grey", linewidth=0.8)
    curves.set_xlabel("teaching rounds (A, then B)")
    curves.set_ylabel("exact-match accuracy")
    curves.set_ylim(0, 1.05)
    curves.legend()
    labels = ["after B", "after sleep", "after idle"]
    a = [report["a_after_b"], report["a_after_sleep"], report["a_after_idle"]]
    b = [report["b_after_b"], report["b_after_sleep"], report["b_after_idle"]]
    where = np.arange(3)
    bars.bar(where - 0.2, a, 0.4, label="A")
    bars.bar(where + 0.2, b, 0.4, label="B")
    bars.set_xticks(where, labels)
    bars.set_ylim(0, 1.05)
    bars.axhline(0.9, color="grey", linewidth=0.8)
    bars.legend()
    figure.suptitle(f"brainchat bench sleep: {report['neurons']:,} neurons, seed {report['seed']}, {report['minutes']:g} brain min")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True
