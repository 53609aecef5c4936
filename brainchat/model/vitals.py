"""Vitals: counters that stay on the device and are read back every ``stats_interval`` steps.

Each step writes the firing fraction into a device buffer and adds the spikes into per-neuron
counts; nothing is copied to the host. At the end of an interval one small array (the
fractions of its steps, the spikes per group -- every patch of a region with patches, every
other region whole --, mean membrane, mean threshold, drive and mean input) is transferred
and becomes an immutable :class:`Vitals` record, with the spikes and the firing of every
region.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from brainchat.backend import Backend


@dataclass(frozen=True)
class Vitals:
    """What one interval of steps looked like (host values, read-only)."""

    step: int  # steps lived at the end of the interval
    steps: int  # steps in the interval
    neurons: int  # in the living population (what firing_fraction is a fraction of)
    firing_fraction: np.ndarray  # float32 [steps], fraction of the living neurons that fired in each step
    group_spikes: np.ndarray  # int64 [G], spikes per group (patch, or region without patches) over the interval
    region_spikes: np.ndarray  # int64 [R], spikes per region over the interval
    regions: tuple[str, ...]  # the regions' names, in id order
    region_sizes: tuple[int, ...]
    living_regions: tuple[str, ...]
    sample_spikes: np.ndarray  # int64 [S], spikes of the recorder's raster sample over the interval
    sample_fired: np.ndarray  # bool [S], which of the sample fired in the interval's last step (a raster column)
    mean_membrane: float  # at the end of the interval
    mean_threshold: float  # at the end of the interval
    mean_input: float  # mean input current of the last step (synaptic + drive + noise + stimulus)
    drive: float  # the largest living region's drive at the end of the interval
    dopamine: float  # dopamine level at the end of the interval
    wall_seconds: float  # wall-clock time the interval took

    @property
    def spikes(self) -> int:
        return int(self.region_spikes.sum())

    @property
    def region_firing(self) -> dict[str, float]:
        """Mean fraction of each region's neurons firing per step over the interval."""
        steps = max(1, self.steps)
        return {name: float(spikes) / (size * steps) for name, spikes, size in zip(self.regions, self.region_spikes, self.region_sizes)}

    @property
    def fraction_mean(self) -> float:
        """Mean firing fraction over the interval (NaN for an interval of no steps)."""
        return float(self.firing_fraction.mean()) if self.steps else math.nan

    @property
    def fraction_min(self) -> float:
        return float(self.firing_fraction.min()) if self.steps else math.nan

    @property
    def fraction_max(self) -> float:
        return float(self.firing_fraction.max()) if self.steps else math.nan

    @property
    def ms_per_step(self) -> float:
        return 1000.0 * self.wall_seconds / self.steps if self.steps else math.nan

    def log_line(self) -> str:
        return (
            f"step={self.step} spikes={self.spikes} fraction={self.fraction_mean:.4f} "
            f"min={self.fraction_min:.4f} max={self.fraction_max:.4f} mean_input={self.mean_input:.4f} "
            f"mean_threshold={self.mean_threshold:.4f} mean_membrane={self.mean_membrane:.4f} "
            f"drive={self.drive:.4f} dopamine={self.dopamine:.4f} ms_per_step={self.ms_per_step:.3f} "
            + " ".join(f"firing.{name}={value:.4f}" for name, value in self.region_firing.items())
        )


SAMPLE_NEURONS = 256  # neurons whose spikes each record carries (the viewers' raster), spread over the regions


def raster_sample(region_bounds: list[tuple[int, int]], total: int = SAMPLE_NEURONS) -> np.ndarray:
    """Ids of a fixed sample of neurons: evenly spaced in each region, about in proportion to its size (at least 8 each)."""
    neurons = sum(hi - lo for lo, hi in region_bounds)
    ids = []
    for lo, hi in region_bounds:
        count = min(hi - lo, max(8, round(total * (hi - lo) / max(1, neurons))))
        ids.append(np.linspace(lo, hi - 1, count).round().astype(np.int64))
    return np.unique(np.concatenate(ids)) if ids else np.zeros(0, dtype=np.int64)



class VitalsRecorder:
    """Device-side counters of one brain; :meth:`record` once per step, :meth:`read` once per interval."""

    def __init__(
        self, backend: Backend, group_of: np.ndarray, region_groups: list[tuple[int, int]], regions: list[str], region_sizes: list[int],
        interval: int, debug_log: str = "", living: int = 0, living_regions: tuple[str, ...] = (), sample: np.ndarray | None = None,
    ):
        """``group_of`` int32 ``[N]``, each region's range of groups; the firing fraction is that of the ``living`` neurons."""
        xp = backend.xp
        self.backend = backend
        self.interval = interval
        self.neurons = max(1, living)
        self._group_of = backend.asarray(group_of.astype(np.int32))
        self.groups = int(group_of.max()) + 1 if group_of.size else 0
        self.region_groups = region_groups
        self._regions = tuple(regions)
        self._region_sizes = tuple(region_sizes)
        self._living_regions = tuple(living_regions)
        self.sample = np.zeros(0, dtype=np.int64) if sample is None else np.asarray(sample, dtype=np.int64)  # host ids
        self._sample = backend.asarray(self.sample)
        self._fractions = xp.zeros(interval, dtype=xp.float32)
        self._spike_counts = xp.zeros(group_of.size, dtype=xp.int32)
        self._filled = 0
        self._started = time.perf_counter()
        self._log: TextIO | None = None
        if debug_log:
            path = Path(debug_log).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(path, "a", buffering=1, encoding="utf-8")

    @property
    def pending(self) -> int:
        """Steps recorded since the last read."""
        return self._filled

    def region_sizes_now(self, sizes: tuple[int, ...]) -> None:
        """The regions' living neurons, after deaths or renewals: what each region's firing is a fraction of."""
        self._region_sizes = tuple(sizes)

    def record(self, spiked: Any, spike_total: Any) -> Any:
        """Count one step's spikes (``spike_total``: of the living population); returns its firing fraction as a device scalar."""
        fraction = spike_total.astype(self.backend.xp.float32) * self.backend.xp.float32(1.0 / self.neurons)
        self._fractions[self._filled] = fraction
        self._spike_counts += spiked
        self._filled += 1
        return fraction

    def buffers(self) -> tuple[Any, Any, int]:
        """``(fractions, spike_counts, filled)`` for a fused kernel that records steps itself."""
        return self._fractions, self._spike_counts, self._filled

    def restore(self, pending: int) -> None:
        """After a snapshot's counters were copied into :meth:`buffers`: ``pending`` steps are in them."""
        self._filled = pending
        self._started = time.perf_counter()

    def recorded(self, steps: int) -> None:
        """Account for ``steps`` steps a fused kernel wrote into :meth:`buffers`."""
        self._filled += steps

    def read(self, step: int, membrane: Any, threshold: Any, current: Any, drive: Any, dopamine: Any, last_spikes: Any) -> Vitals:
        """Transfer the interval's counters in one copy, reset them and return the record."""
        xp = self.backend.xp
        steps = self._filled
        groups = self.backend.region_totals(self._group_of, self._spike_counts, self.groups)
        scalars = xp.stack(
            [
                membrane.mean(dtype=xp.float64),
                threshold.mean(dtype=xp.float64),
                current.mean(dtype=xp.float64),
                drive.astype(xp.float64),
                dopamine.astype(xp.float64),
            ]
        )
        sampled = xp.concatenate([self._spike_counts[self._sample].astype(xp.float64), last_spikes[self._sample].astype(xp.float64)])
        packed = xp.concatenate([self._fractions[:steps].astype(xp.float64), groups.astype(xp.float64), sampled, scalars])
        host = self.backend.to_host(packed)
        now = time.perf_counter()
        fractions = host[:steps].astype(np.float32)
        group_spikes = np.rint(host[steps : steps + self.groups]).astype(np.int64)
        at = steps + self.groups
        sample_spikes = np.rint(host[at : at + self.sample.size]).astype(np.int64)
        sample_fired = host[at + self.sample.size : at + 2 * self.sample.size] > 0
        region_spikes = np.array([group_spikes[a:b].sum() for a, b in self.region_groups], dtype=np.int64)
        for array in (fractions, group_spikes, region_spikes, sample_spikes, sample_fired):
            array.setflags(write=False)
        mean_membrane, mean_threshold, mean_input, drive_value, dopamine_value = (float(x) for x in host[-5:])
        vitals = Vitals(
            step=step,
            steps=steps,
            neurons=self.neurons,
            firing_fraction=fractions,
            group_spikes=group_spikes,
            region_spikes=region_spikes,
            regions=self._regions,
            region_sizes=self._region_sizes,
            living_regions=self._living_regions,
            sample_spikes=sample_spikes,
            sample_fired=sample_fired,
            mean_membrane=mean_membrane,
            mean_threshold=mean_threshold,
            mean_input=mean_input,
            drive=drive_value,
            dopamine=dopamine_value,
            wall_seconds=now - self._started,
        )
        self._spike_counts.fill(0)
        self._filled = 0
        self._started = now
        if self._log is not None and steps:
            self._log.write(vitals.log_line() + "\n")
        return vitals

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
