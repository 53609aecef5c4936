"""``brainchat bench scale``: how a brain's step time scales over MPI ranks (strong and weak scaling).

Each point is one run of ``mpiexec -n R python -m mpi4py -m brainchat.distributed.scale``
(:mod:`brainchat.distributed.scale`): the brain built on R ranks, warmed up, then timed in
blocks of steps (a barrier before each); its figure is the median block's ms per step and
the share of the step the slowest rank spent in the spike exchange (waiting for the others
included). Each point is run ``repeats`` times, the rank counts in turn (1, 2, 4, 1, 2, 4, ...,
so that a noisy neighbour on a shared machine does not fall on one count), and the median
taken.

* **strong scaling**: one brain of ``neurons``; efficiency E(R) = T(R0) R0 / (T(R) R),
  R0 the smallest rank count asked for (1 unless left out);
* **weak scaling**: ``per_rank`` neurons on each rank (R x per_rank in all); efficiency
  E(R) = T(R0) / T(R). The brain's layout is not exactly self-similar across sizes (the
  codec's regions have fixed sizes), so weak scaling is a guide, not an exact measure.

A run on more ranks than the machine has cores is flagged ``oversubscribed``: its figure
mostly measures the time slicing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Callable

from brainchat.distributed import mpi, mpiexec
from brainchat.errors import BrainchatError


@dataclass(frozen=True)
class Settings:
    ranks: tuple[int, ...] = (1, 2)
    neurons: int = 200_000
    per_rank: int = 100_000
    repeats: int = 2
    blocks: int = 10
    steps: int = 100
    warmup: int = 300
    seed: int = 0


def processor() -> str:
    """The processor's model name (``lscpu``'s), for the figures' record."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def run_point(ranks: int, neurons: int, settings: Settings) -> dict:
    """One run on ``ranks`` ranks: rank 0's JSON line of :mod:`brainchat.distributed.scale`."""
    command = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", "-m", "brainchat.distributed.scale", "--neurons", str(neurons),
               "--seed", str(settings.seed), "--warmup", str(settings.warmup), "--blocks", str(settings.blocks), "--steps", str(settings.steps)]
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=3600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BrainchatError(f"the run on {ranks} ranks at {neurons:,} neurons failed: {why}")
    return json.loads(lines[-1])


def sweep(settings: Settings, advance: Callable[[int], None] | None = None) -> dict:
    """Strong and weak scaling over ``settings.ranks``; the report :func:`brainchat.cli.bench` prints."""
    mpi()  # the one-line error before anything runs
    points = sorted({(r, settings.neurons) for r in settings.ranks} | {(r, settings.per_rank * r) for r in settings.ranks})
    runs: dict[tuple[int, int], list[dict]] = {point: [] for point in points}
    for _ in range(settings.repeats):
        for point in points:
            runs[point].append(run_point(*point, settings))
            if advance is not None:
                advance(1)
    cores = os.cpu_count() or 1

    def summary(point: tuple[int, int]) -> dict:
        measured = runs[point]
        return {"ranks": point[0], "neurons": point[1], "ms_per_step": statistics.median(m["ms_per_step"] for m in measured),
                "exchange_share": statistics.median(m["exchange_share"] for m in measured),
                "firing": statistics.median(m["firing"] for m in measured), "runs_ms_per_step": [round(m["ms_per_step"], 4) for m in measured],
                "oversubscribed": point[0] > cores}

    strong = [summary((r, settings.neurons)) for r in sorted(settings.ranks)]
    weak = [summary((r, settings.per_rank * r)) for r in sorted(settings.ranks)]
    base_r, base_t = strong[0]["ranks"], strong[0]["ms_per_step"]
    for row in strong:
        row["efficiency"] = base_t * base_r / (row["ms_per_step"] * row["ranks"])
        row["speedup"] = base_t / row["ms_per_step"]
    for row in weak:
        row["efficiency"] = weak[0]["ms_per_step"] / row["ms_per_step"]
    return {
        "benchmark": "scale", "processor": processor(), "cores": cores, "mpi": _mpi_version(),
        "neurons": settings.neurons, "per_rank": settings.per_rank, "ranks": sorted(settings.ranks), "repeats": settings.repeats,
        "blocks": settings.blocks, "steps_per_block": settings.steps, "warmup": settings.warmup, "seed": settings.seed,
        "strong": strong, "weak": weak,
    }


def _mpi_version() -> str:
    try:
        return mpi().Get_library_version().strip().splitlines()[0]
    except Exception:  # noqa: BLE001 - a label only
        return "unknown"


def plot(report: dict, path: str) -> bool:
    """ms per step and efficiency against ranks, strong and weak (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, (times, efficiency) = plt.subplots(1, 2, figsize=(9, 3.6))
    for kind, colour, label in (("strong", "tab:blue", f"strong: {report['neurons']:,} neurons"),
                                ("weak", "tab:orange", f"weak: {report['per_rank']:,} per rank")):
        rows = report[kind]
        ranks = [r["ranks"] for r in rows]
        times.plot(ranks, [r["ms_per_step"] for r in rows], "o-", color=colour, label=label)
        times.plot(ranks, [r["ms_per_step"] * r["exchange_share"] for r in rows], "o:", color=colour, alpha=0.6, label=f"{kind}: exchange")
        efficiency.plot(ranks, [r["efficiency"] for r in rows], "o-", color=colour, label=kind)
    for axis in (times, efficiency):
        axis.set_xticks(report["ranks"])
    times.set_xlabel("ranks")
    times.set_ylabel("ms per step (median)")
    times.legend(fontsize=7)
    efficiency.axhline(0.8, color="grey", linewidth=0.8, linestyle="--")
    efficiency.set_ylim(0, 1.1)
    efficiency.set_xlabel("ranks")
    efficiency.set_ylabel("efficiency")
    efficiency.legend(fontsize=7)
    figure.suptitle(f"bench scale: {report['processor']}, {report['cores']} cores", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True
