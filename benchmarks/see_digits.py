"""How well the chat brain names the digits it sees: teach it images, then show it others.

    .venv/bin/python benchmarks/see_digits.py --neurons 20000 --per-digit 3 --rounds 5

The brain of ``docs/examples/seeing-brain.toml`` (the chat brain with an 8x8 poisson region
whose pixels reach the association sectors). ``--per-digit`` training images of each digit
(scikit-learn's bundled digits, the fixed split of ``brainchat digits``) are taught
``--rounds`` times each, in a shuffled order per round, as ``/teach => DIGIT`` after ``/see``
does (``Runner.teach("", digit, image=...)``); then 5 held-out images of each digit are shown
(``Runner.see``) and the reply is compared with the digit. Prints the accuracy on the
held-out images and on the taught ones, and the first replies.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from brainchat import Brain
from brainchat.config import load_config
from brainchat.runtime.runner import Runner
from brainchat.vision import digits

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "seeing-brain.toml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=20_000)
    parser.add_argument("--per-digit", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--config", default=str(EXAMPLE))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    train_x, train_y, test_x, test_y = digits.load_split()
    started = time.perf_counter()
    with Brain(load_config(args.config, {"brain.neurons": args.neurons})) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        taught = [i for k in range(10) for i in np.flatnonzero(train_y == k)[: args.per_digit]]
        for round_ in range(args.rounds):
            for i in np.random.default_rng(round_).permutation(taught):
                runner.teach("", str(train_y[i]), image=train_x[i].reshape(8, 8))
        held_out = [i for k in range(10) for i in np.flatnonzero(test_y == k)[:5]]
        replies = [runner.see(test_x[i].reshape(8, 8)).text for i in held_out]
        recalled = [runner.see(train_x[i].reshape(8, 8)).text for i in taught]
    report = {
        "neurons": args.neurons, "per_digit": args.per_digit, "rounds": args.rounds,
        "held_out_accuracy": float(np.mean([r == str(test_y[i]) for r, i in zip(replies, held_out)])),
        "taught_accuracy": float(np.mean([r == str(train_y[i]) for r, i in zip(recalled, taught)])),
        "replies": replies[:20], "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))


if __name__ == "__main__":
    main()
