"""A brain left alone with ``[sleep] auto = true``: does it sleep and wake on schedule, stay in its band, and still answer?

    .venv/bin/python benchmarks/sleep_cycle.py --neurons 20000 --hours 2 --pairs 5

A free-running brain (as fast as the machine can: ``speed = 0``) is taught ``--pairs`` pairs
until it answers each (at most 10 teachings each), then left alone for ``--hours`` of brain
time with the default cycle (40 brain minutes awake, 20 asleep, a due sleep waiting for a
quiet minute). Printed as one JSON object: each falling asleep and waking (brain minutes),
the firing band of the living neurons awake and asleep (per step, min and max; and per
living region over the vitals intervals), the replays, and the taught pairs' replies before
and after.
"""

from __future__ import annotations

import argparse
import json
import math
import time

from brainchat import Brain
from brainchat.bench_learning import _Band, make_pairs
from brainchat.config import load_config
from brainchat.runtime.runner import Runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=20_000)
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = load_config(overrides={"brain.neurons": args.neurons, "brain.seed": args.seed, "brain.device": "cpu"})
    pairs = make_pairs(args.pairs, args.seed)
    awake, asleep = _Band(), _Band()
    started = time.perf_counter()
    with Brain(config) as brain:
        with Runner(brain, lockstep=True) as runner:  # taught in lockstep, so the teaching is the same whatever the machine's speed
            runner.wait_ready()
            for _ in range(10):
                if all(runner.teach(p.prompt, p.reply).before == p.reply for p in pairs):
                    break
            before = [runner.say(p.prompt).text for p in pairs]
        with Runner(brain, speed=0, settle_steps=0) as runner:  # the same brain, now free-running and left alone
            runner.wait_ready()
            runner.vitals_listener = lambda vitals: (asleep if brain.sleep.asleep else awake).see(vitals)
            first = brain.step_count
            end = first + round(args.hours * 3_600_000)
            changes: list[dict] = []
            was = False
            while runner.stats.step < end:
                time.sleep(0.05)
                report = dict(runner.stats.sleep)
                if report and report["asleep"] != was:
                    was = report["asleep"]
                    changes.append({"asleep": was, "brain_minutes": round((runner.stats.step - first) / 60_000, 2)})
            replays = runner.status()["events"].get("replay", 0)
            if brain.sleep.asleep:
                runner.wake()
            runner.pause()
        with Runner(brain, lockstep=True, settle_steps=0) as runner:
            runner.wait_ready()
            after = [runner.say(p.prompt).text for p in pairs]
    band_awake, band_asleep = awake.report(), asleep.report()
    print(json.dumps({
        "neurons": args.neurons, "hours": args.hours, "seed": args.seed,
        "changes": changes, "replays": replays,
        "firing_awake": [band_awake["firing_min"], band_awake["firing_max"]], "firing_asleep": [band_asleep["firing_min"], band_asleep["firing_max"]],
        "regions_awake": band_awake["firing_by_region"], "regions_asleep": band_asleep["firing_by_region"],
        "pairs": [{"prompt": p.prompt, "taught": p.reply, "before": b, "after": a} for p, b, a in zip(pairs, before, after)],
        "right_before": sum(b == p.reply for p, b in zip(pairs, before)), "right_after": sum(a == p.reply for p, a in zip(pairs, after)),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }, indent=1, default=lambda x: None if isinstance(x, float) and math.isinf(x) else x))


if __name__ == "__main__":
    main()
