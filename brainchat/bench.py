"""Measured speed of the brain: what ``brainchat bench speed`` runs and reports.

For each size the brain is built, stepped ``warmup`` steps (compiling kernels, settling the
firing), then ``steps`` steps in calls of ``chunk`` steps, each call timed on its own (with a
device synchronisation on a GPU). Per-step times are call time / chunk; the report gives
their median and 99th percentile, neuron updates and synaptic events per second (spikes x
synapses per neuron over all pathways), the real-time factor, and peak memory.
With ``compare``, the NumPy reference path runs the same network in the same process and the
ratio of the medians is ``speedup_vs_numpy``.
"""

from __future__ import annotations

import resource
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from brainchat.backend import Backend, numpy_backend
from brainchat.config import Config
from brainchat.model.brain import Brain

DEFAULT_CPU_SIZES = (1_000, 10_000, 100_000, 200_000, 1_000_000)
DEFAULT_GPU_SIZES = (1_000, 10_000, 100_000, 200_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 20_000_000)


@dataclass(frozen=True)
class SpeedResult:
    neurons: int
    device: str
    kernels: str
    dtype: str
    steps: int
    ms_per_step_median: float
    ms_per_step_p99: float
    realtime_factor: float
    neuron_updates_per_s: float
    synaptic_events_per_s: float
    firing_fraction: float
    peak_rss_mb: float
    peak_device_mb: float | None = None
    numpy_ms_per_step_median: float | None = None
    speedup_vs_numpy: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_brain(brain: Brain, steps: int, warmup: int, chunk: int, progress: Callable[[int], None] | None = None) -> tuple[list[float], float]:
    """Per-step milliseconds of ``steps`` steps after ``warmup``; and the mean firing fraction."""
    brain.run(warmup)
    brain.read_vitals() if brain.recorder.pending else None
    backend = brain.backend
    backend.synchronize()
    per_step: list[float] = []
    fractions: list[float] = []
    done = 0
    while done < steps:
        size = min(chunk, steps - done)
        started = time.perf_counter()
        records = brain.run(size)
        backend.synchronize()
        per_step.append(1000.0 * (time.perf_counter() - started) / size)
        fractions += [r.fraction_mean for r in records]
        done += size
        if progress is not None:
            progress(size)
    if brain.recorder.pending:
        fractions.append(brain.read_vitals().fraction_mean)
    return per_step, float(np.mean(fractions)) if fractions else float("nan")


def measure(
    config: Config,
    backend: Backend,
    steps: int,
    warmup: int,
    chunk: int,
    compare: bool,
    progress: Callable[[int], None] | None = None,
) -> SpeedResult:
    """One size: the configured path, and the NumPy reference when ``compare``."""
    peak_device = None
    with Brain(config, backend) as brain:
        kernels = brain.kernels
        per_step, firing = time_brain(brain, steps, warmup, chunk, progress)
        fan_out = sum(p.synapses for p in brain.pathways) / brain.size  # mean synapses per neuron
        if backend.is_gpu:
            peak_device = backend.xp.get_default_memory_pool().total_bytes() / 2**20
    median = statistics.median(per_step)
    p99 = float(np.percentile(per_step, 99))
    n = config.brain.neurons
    result = SpeedResult(
        neurons=n,
        device=backend.device,
        kernels=kernels,
        dtype=config.brain.dtype,
        steps=steps,
        ms_per_step_median=median,
        ms_per_step_p99=p99,
        realtime_factor=1.0 / median,
        neuron_updates_per_s=n * 1000.0 / median,
        synaptic_events_per_s=firing * n * fan_out * 1000.0 / median,
        firing_fraction=firing,
        peak_rss_mb=peak_rss_mb(),
        peak_device_mb=peak_device,
    )
    if not compare:
        return result
    reference = config.replace(**{"brain.cpu_kernels": "numpy", "brain.device": "cpu"})
    with Brain(reference, numpy_backend()) as brain:
        reference_steps, _ = time_brain(brain, steps, warmup, chunk, progress)
    reference_median = statistics.median(reference_steps)
    return SpeedResult(**{**result.as_dict(), "numpy_ms_per_step_median": reference_median, "speedup_vs_numpy": reference_median / median,
                          "peak_rss_mb": peak_rss_mb()})


def plot(results: list[SpeedResult], path: str) -> bool:
    """A log-log plot of ms per step against neurons, if matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(figsize=(6, 4))
    sizes = [r.neurons for r in results]
    axes.loglog(sizes, [r.ms_per_step_median for r in results], "o-", label=f"brainchat ({results[0].kernels})")
    if any(r.numpy_ms_per_step_median for r in results):
        axes.loglog(sizes, [r.numpy_ms_per_step_median for r in results], "s--", label="NumPy reference")
    axes.axhline(1.0, color="grey", linewidth=0.8, label="real time (1 ms per step)")
    axes.set_xlabel("neurons")
    axes.set_ylabel("ms per 1-ms step (median)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True
