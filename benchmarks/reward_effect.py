"""Does reward make a reply more frequent, and punishment rarer? Measured against a control.

    python benchmarks/reward_effect.py --seeds 0 1 2 3 4 --trials 150

For each seed: build a 20k-neuron brain, let it settle, say the prompt once; that reply (or,
with ``--match first``, its first character) is the target. Then three arms start from that same state (a
snapshot): **control** says the prompt ``--trials`` times with no reward; **reward** gives
``+`` (through the runner, the path a user's reward takes) after every reply that starts with
the target; **punish** gives ``-`` instead. Between trials the brain rests ``--rest`` steps.
Reported per arm: the fraction of replies matching the target, over all trials and over the
last half. Effect = arm - control. The untrained brain's replies are not all alike (the living
cortex's noise reaches the output patches), so the control's rate is below 1 and a reward has
room to raise it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from brainchat import Brain, Config
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner


def arm(config: Config, start: Path, prompt: str, target: str, sign: float, trials: int, rest: int, first: bool, said: list | None = None) -> list[int]:
    loaded = snapshots.read(start)
    brain = Brain(loaded.config)
    brain.restore_state(loaded.arrays, loaded.step, loaded.vitals_pending)
    hits = []
    with Runner(brain, lockstep=True, settle_steps=0) as runner:
        for _ in range(trials):
            reply = runner.say(prompt, timeout=600).text
            answer = reply[:1] if first else reply
            if said is not None:
                said.append(answer)
            hit = answer == target
            hits.append(int(hit))
            if hit and sign:
                runner.reward(sign)
            runner.rest(rest)
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--rest", type=int, default=500)
    parser.add_argument("--neurons", type=int, default=20_000)
    parser.add_argument("--prompt", default="hi")
    parser.add_argument("--match", choices=("reply", "first"), default="reply", help="the whole first reply is the target, or its first character")
    parser.add_argument("--target", choices=("usual", "rival"), default="usual",
                        help="usual: the first reply's answer; rival: the most frequent other answer of the control arm (room to grow)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides, e.g. plasticity.learning_rate=4e-5")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    results = []
    for seed in args.seeds:
        config = Config().replace(**{"brain.neurons": args.neurons, "brain.seed": seed, **overrides})
        with tempfile.TemporaryDirectory() as folder:
            start = Path(folder) / "start.h5"
            with Runner(Brain(config), lockstep=True) as runner:
                target = runner.say(args.prompt, timeout=600).text
                target = target[:1] if args.match == "first" else target
                runner.save(start, timeout=600)
            said: list = []
            hits = arm(config, start, args.prompt, target, 0.0, args.trials, args.rest, args.match == "first", said)
            if args.target == "rival":
                others = [answer for answer in said if answer != target]
                target = max(set(others), key=others.count) if others else target
                hits = [int(answer == target) for answer in said]
            row = {"seed": seed, "target": target, "control": statistics.mean(hits), "control_last_half": statistics.mean(hits[len(hits) // 2 :])}
            for name, sign in (("reward", 1.0), ("punish", -1.0)):
                hits = arm(config, start, args.prompt, target, sign, args.trials, args.rest, args.match == "first")
                row[name] = statistics.mean(hits)
                row[name + "_last_half"] = statistics.mean(hits[len(hits) // 2 :])
        row["reward_effect"] = row["reward_last_half"] - row["control_last_half"]
        row["punish_effect"] = row["punish_last_half"] - row["control_last_half"]
        results.append(row)
        print(json.dumps(row), flush=True)
    summary = {
        key: {"mean": statistics.mean(r[key] for r in results), "sd": statistics.pstdev(r[key] for r in results)}
        for key in ("control_last_half", "reward_last_half", "punish_last_half", "reward_effect", "punish_effect")
    }
    print(json.dumps({"seeds": args.seeds, "trials": args.trials, "rest": args.rest, "neurons": args.neurons, "match": args.match, "target": args.target,
                      "overrides": overrides, "summary": summary}))


if __name__ == "__main__":
    main()
