"""Firing statistics and speed of the same brain on NumPy and on CuPy, side by side.

    python benchmarks/compare_backends.py --neurons 200000 --steps 12000

Prints a table, and with ``--json`` one JSON object: for each backend that is usable here,
the per-step firing fraction after the warm-up (mean, sd, min, max), the step from which the
band 0.05 +- 0.01 holds, the mean threshold and drive at the end, and the median ms per step.
The GPU column is left out, with the reason, where no GPU is usable.
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np

from brainchat import Brain, Config
from brainchat.backend import numpy_backend, probe_gpu, select_backend


def measure(backend, config: Config, steps: int, warmup: int) -> dict:
    with Brain(config, backend) as brain:
        records = brain.run(steps)
    trace = np.concatenate([r.firing_fraction for r in records])
    settled = trace[warmup:]
    outside = np.flatnonzero(np.abs(trace - config.homeostasis.target_fraction) > 0.01)
    return {
        "backend": backend.description,
        "firing_fraction_mean": float(settled.mean()),
        "firing_fraction_sd": float(settled.std()),
        "firing_fraction_min": float(settled.min()),
        "firing_fraction_max": float(settled.max()),
        "in_band_from_step": int(outside[-1] + 1) if outside.size else 0,
        "mean_threshold": records[-1].mean_threshold,
        "drive": records[-1].drive,
        # the first interval compiles kernels and touches memory: left out of the timing
        "ms_per_step_median": statistics.median(r.ms_per_step for r in records[1:] or records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=200_000)
    parser.add_argument("--steps", type=int, default=12_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    config = Config().replace(**{"brain.neurons": args.neurons, "brain.seed": args.seed, "brain.dtype": args.dtype})
    results = {"neurons": args.neurons, "steps": args.steps, "warmup": args.warmup, "dtype": args.dtype}
    results["cpu"] = measure(numpy_backend(), config, args.steps, args.warmup)
    probe = probe_gpu()
    results["gpu"] = measure(select_backend("gpu"), config, args.steps, args.warmup) if probe.usable else {"skipped": probe.reason}
    if args.json:
        print(json.dumps(results))
        return
    print(f"{args.neurons:,} neurons, {args.steps:,} steps, {args.dtype}, statistics after step {args.warmup:,}")
    for key in ("backend", "firing_fraction_mean", "firing_fraction_sd", "firing_fraction_min", "firing_fraction_max",
                "in_band_from_step", "mean_threshold", "drive", "ms_per_step_median"):
        row = [results[side].get(key, results[side].get("skipped", "")) for side in ("cpu", "gpu")]
        print(f"{key:>22}  " + "  ".join(f"{v:.5g}" if isinstance(v, float) else str(v) for v in row))


if __name__ == "__main__":
    main()
