"""Reply latency and step rate of the real ``brainchat run`` with its prompt open, vs headless vitals.

    python benchmarks/repl_latency.py --neurons 200000 --lines 5

Starts ``brainchat run`` in a pseudo-terminal (read through a VT100 emulator, as the tests
do), lets it live for ``--warmup`` seconds, reads the toolbar's step count over
``--window`` seconds with the prompt idle, then types ``--lines`` lines and times each from
Enter to the reply on screen. Then runs ``brainchat vitals --json`` on the same brain size
for the headless step rate. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pty_terminal import Terminal  # noqa: E402

LINES = ["hello", "how are you", "cat", "what is your name", "ok"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", default="200000")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--vitals-steps", default="3000")
    parser.add_argument("--speed", default=None, help="passed to brainchat run (default: its own default, real time)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config setting for both runs, e.g. brain.cpu_threads=2")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINCHAT_")}
    for setting in args.set:
        key, _, value = setting.partition("=")
        section, _, name = key.partition(".")
        env["BRAINCHAT_" + (name if section == "brain" else f"{section}_{name}").upper()] = value  # as brainchat.config names them
    env.update(TERM="xterm", XDG_DATA_HOME="/tmp/brainchat-bench-data")
    speed = ["--speed", args.speed] if args.speed else []
    term = Terminal("run", "--neurons", args.neurons, "--device", args.device, *speed, env=env)
    try:
        term.wait_for("type to talk to the brain", timeout=300)
        term.pump(args.warmup)
        first, t0 = term.toolbar_step(), time.monotonic()
        term.pump(args.window)
        last, t1 = term.toolbar_step(), time.monotonic()
        prompt_rate = (last - first) / (t1 - t0)
        shown = float(term.wait_for(r"([\d.]+)x real time").group(1))
        latencies = []
        for i in range(args.lines):
            line = LINES[i % len(LINES)]
            replies_before = term.text().count("brain> ")
            sent = time.monotonic()
            term.type(line + "\r")
            while term.text().count("brain> ") <= replies_before:
                term.pump(0.01)
                if time.monotonic() - sent > 300:
                    raise SystemExit(f"no reply to {line!r} within 300 s")
            latencies.append(time.monotonic() - sent)
            term.pump(1.0)
        term.type("/quit\r")
        term.child.expect("\\Z|$", timeout=60)
    finally:
        term.close()
    vitals = subprocess.run(
        [sys.executable, "-m", "brainchat", "vitals", "--neurons", args.neurons, "--device", args.device,
         "--steps", args.vitals_steps, "--json"],
        capture_output=True, text=True, env=env, check=True,
    )
    headless = json.loads(vitals.stdout)
    print(json.dumps({
        "neurons": int(args.neurons),
        "device": args.device,
        "speed": args.speed or "default (1, real time)",
        "settings": args.set,
        "toolbar_realtime_factor": shown,
        "steps_per_second_prompt_open": round(prompt_rate, 1),
        "steps_per_second_headless_vitals": round(1000.0 / headless["ms_per_step_median"], 1),
        "prompt_vs_headless": round(prompt_rate * headless["ms_per_step_median"] / 1000.0, 3),
        "reply_latency_s_median": round(statistics.median(latencies), 3),
        "reply_latency_s": [round(x, 3) for x in latencies],
    }))


if __name__ == "__main__":
    main()
