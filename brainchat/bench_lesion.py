"""``brainchat bench lesion``: teach pairs, kill a share of a region, watch the firing band and the taught replies, with and without renewal.

The brain is taught ``pairs`` prompt -> reply pairs (:func:`brainchat.bench_learning.make_pairs`,
``teachings`` rounds) through a lockstep :class:`~brainchat.runtime.runner.Runner`, as a user's
``/teach`` does; its state is then copied, and two arms start from the same copy: one with
``[renewal]`` on, one with it off. In each, ``fraction`` of ``region`` dies at once
(``Runner.lesion``, as ``/lesion``); the brain then lives ``watch_s`` seconds of brain time, and:

* the firing band: each vitals interval's mean firing fraction of the living population (the
  survivors: the dead are not counted), against the band ``target x (1 +- BAND)``;
  ``recovered_after_s`` is the brain time after the lesion from which every interval is back
  inside it (0 if it never left), leaving out the intervals in which the taught prompts are
  being said (``replying``: their stimulation is the test's, not the lesion's);
* the taught replies: every pair is said at the checkpoints ``CHECKPOINTS`` (brain seconds after
  the lesion) and its exact-match accuracy recorded (saying them takes brain time too).
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from brainchat.bench_learning import make_pairs
from brainchat.config import Config
from brainchat.model.brain import Brain
from brainchat.model.vitals import Vitals
from brainchat.runtime.runner import Runner

BAND = 0.4  # the band: the homeostatic target +- 40 % (0.03-0.07 at the default 0.05)
CHECKPOINTS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0)
Progress = Callable[[int], None]


def _exact(runner: Runner, pairs) -> float:
    return float(np.mean([runner.say(p.prompt).text == p.reply for p in pairs]))


def _arm(config: Config, snapshot, pairs, region: str, fraction: float, watch_s: float, progress: Progress | None) -> dict:
    """One arm from the taught state: lesion, then the band and the replies over ``watch_s`` brain seconds."""
    intervals: list[tuple[float, float, bool]] = []
    testing = [False]  # whether the interval's steps are the replies being said (their stimulation is not the lesion's doing)
    with Brain(config) as brain:
        brain.restore_state(snapshot.arrays, snapshot.step, snapshot.vitals_pending)
        with Runner(brain, lockstep=True, settle_steps=0) as runner:
            runner.wait_ready()
            before = _exact(runner, pairs)
            runner.rest(500)
            lesioned_at = brain.step_count
            runner.vitals_listener = lambda v: intervals.append(
                ((v.step - lesioned_at) / 1000.0, float(np.mean(v.firing_fraction)) if v.firing_fraction.size else math.nan, testing[0]))
            hit = runner.lesion(region, fraction)
            replies = []
            for checkpoint in [c for c in CHECKPOINTS if c <= watch_s] or [0.0]:
                lag = checkpoint - (brain.step_count - lesioned_at) / 1000.0
                if lag > 0:
                    runner.rest(int(round(lag * 1000)))
                at = round((brain.step_count - lesioned_at) / 1000.0, 3)
                testing[0] = True
                replies.append({"brain_s": at, "exact_match_accuracy": _exact(runner, pairs)})
                testing[0] = False
                if progress:
                    progress(1)
            left = watch_s - (brain.step_count - lesioned_at) / 1000.0
            if left > 0:
                runner.rest(int(round(left * 1000)))
            runner.vitals_listener = None
            target = config.homeostasis.target_fraction
            low, high = target * (1 - BAND), target * (1 + BAND)
            outside = [t for t, f, said in intervals if not said and not low <= f <= high]
            return {
                "renewal": config.renewal.enabled, "killed": hit["killed"], "exact_before": before,
                "exact_after": replies[-1]["exact_match_accuracy"], "replies": replies,
                "firing": [{"brain_s": round(t, 3), "firing_fraction": f, "replying": said} for t, f, said in intervals],
                "band": [low, high], "left_band": bool(outside), "recovered_after_s": round(max(outside), 3) if outside else 0.0,
                "dead_at_end": brain.dead_count, "renewed_at_end": brain.renewed_count,
            }


def lesion_benchmark(config: Config, pairs: int, teachings: int, fraction: float, region: str, watch_s: float, seed: int,
                     progress: Progress | None = None) -> dict:
    """The report of the module docstring: ``with_renewal`` and ``without_renewal`` arms from one taught brain."""
    from brainchat.persistence import snapshot as snapshots

    started = time.perf_counter()
    taught = make_pairs(pairs, seed)
    with Brain(config) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        for _ in range(teachings):
            for pair in taught:
                runner.teach(pair.prompt, pair.reply)
                if progress:
                    progress(1)
        snapshot = snapshots.capture(brain)  # lockstep and idle: the brain is not stepping now
    arms = {}
    for name, enabled in (("with_renewal", True), ("without_renewal", False)):
        arms[name] = _arm(config.replace(**{"renewal.enabled": enabled}), snapshot, taught, region, fraction, watch_s, progress)
    return {
        "benchmark": "lesion", "neurons": config.brain.neurons, "seed": seed, "pairs": pairs, "teachings": teachings,
        "region": region, "fraction": fraction, "watch_s": watch_s, "delay_ms": config.renewal.delay_ms,
        **arms, "wall_seconds": round(time.perf_counter() - started, 1),
    }


def plot(report: dict, path: str) -> bool:
    """Firing fraction and taught replies over brain time after the lesion, both arms (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (firing, replies) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for name, colour in (("with_renewal", "tab:green"), ("without_renewal", "tab:red")):
        arm = report[name]
        firing.plot([p["brain_s"] for p in arm["firing"]], [p["firing_fraction"] for p in arm["firing"]], color=colour, linewidth=0.8,
                    label=name.replace("_", " "))
        replies.plot([p["brain_s"] for p in arm["replies"]], [p["exact_match_accuracy"] for p in arm["replies"]], "o-", color=colour,
                     label=name.replace("_", " "))
    low, high = report["with_renewal"]["band"]
    firing.axhspan(low, high, color="grey", alpha=0.15, label="band")
    firing.axvline(report["delay_ms"] / 1000, color="grey", linestyle=":", label="renewal")
    firing.set_ylabel("firing fraction (survivors)")
    firing.legend(fontsize=8)
    replies.axhline(0.9, color="grey", linewidth=0.8)
    replies.set_ylim(0, 1.05)
    replies.set_ylabel("taught replies exact")
    replies.set_xlabel("brain seconds after the lesion")
    firing.set_title(f"bench lesion: {report['fraction']:.0%} of {report['region']}, {report['neurons']:,} neurons, seed {report['seed']}")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True
