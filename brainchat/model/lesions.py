"""Neuron death and replacement: lesions, strokes, a slow random death, and renewal from neighbours.

A dead neuron keeps its id and its synapses, but its homeostatic threshold is +inf: it can
never fire, so its outgoing synapses carry nothing, and +inf survives every update (the
homeostatic controller adds finite steps, the model equations of AdEx and Izhikevich regions
only subtract it from their input, which then clips at their floor). The state is therefore
in the snapshot as it is; ``neurons/died_at`` (the step of each death, -1 for the living)
and ``neurons/renewed_at`` (the step of each replacement, -1 for the original neurons) are
saved beside it when any neuron ever died.

The living regions' drive controllers and the vitals' firing fraction count only the living
neurons (:meth:`Brain.population_changed`), so a lesioned region is driven back to its
target rate per surviving neuron instead of being pushed to make up for the dead.

Renewal (``[renewal]``, on by default) follows the NeuroX paper among the project's founding
documents: after ``delay_ms`` a new neuron takes the dead one's id, with its neighbours'
mean threshold offset, fast threshold, membrane and recovery (the 4 neighbours on its
region's grid that are alive, else the region's living neurons), and its outgoing weights
from a living neighbour of the same sign, times ``weight_scale`` (in a plastic pathway, as
``learned`` says: zero by default, since a neighbour's learned weights say what the neighbour
learned, and were measured to hurt the taught replies). It keeps its own targets:
the pathways' target lists are fixed when the brain is built (the plasticity index and the
snapshot check are built on them), so the new neuron copies its neighbour's weights onto its
own targets, not the neighbour's synapses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from brainchat.errors import ConfigError
from brainchat.model.neurons import models

if TYPE_CHECKING:  # pragma: no cover
    from brainchat.model.brain import Brain

DEAD = -1  # died_at / renewed_at of a neuron that never died / was never renewed


def _region(brain: "Brain", name: str):
    region = brain.layout.get(name)
    if region is None:
        raise ConfigError(f"no region {name!r}; this brain has {', '.join(r.name for r in brain.layout.regions)}")
    if region.model.kind == models.POISSON:
        raise ConfigError(f"region {name!r} is a sensor (poisson) region: its neurons cannot die")
    return region


def lesion_ids(brain: "Brain", region_name: str, fraction: float) -> np.ndarray:
    """A random ``fraction`` of a region's living neurons (drawn from the brain's seed and step)."""
    if not 0 < fraction <= 1:
        raise ConfigError(f"the fraction must be above 0 and at most 1, not {fraction}")
    region = _region(brain, region_name)
    ids = np.arange(region.start, region.stop)
    alive = ids[brain.died_at[ids] == DEAD]
    rng = np.random.default_rng([brain.config.brain.seed, brain.step_count, 0x1E5])
    return np.sort(rng.choice(alive, size=int(round(fraction * alive.size)), replace=False)) if alive.size else alive


def stroke_ids(brain: "Brain", region_name: str, x: float, y: float, radius: float) -> np.ndarray:
    """The living neurons of a disc on a region's grid: column ``x``, row ``y`` (from the top left), ``radius`` in grid steps."""
    if radius <= 0:
        raise ConfigError(f"the radius must be above 0, not {radius}")
    region = _region(brain, region_name)
    if not (0 <= x < region.width and 0 <= y < region.height):
        raise ConfigError(f"({x:g}, {y:g}) is off region {region_name!r}'s grid of {region.width} columns x {region.height} rows")
    local = np.arange(region.size)
    inside = (local % region.width - x) ** 2 + (local // region.width - y) ** 2 <= radius * radius
    ids = local[inside] + region.start
    return ids[brain.died_at[ids] == DEAD]


def kill(brain: "Brain", ids: np.ndarray) -> int:
    """The neurons ``ids`` die now (those already dead are left); returns how many died."""
    ids = np.asarray(ids, dtype=np.int64)
    ids = ids[brain.died_at[ids] == DEAD]
    if not ids.size:
        return 0
    brain.died_at[ids] = brain.step_count
    device = brain.backend.asarray(ids)
    state = brain.neurons
    state.threshold_homeostatic[device] = np.inf
    for array in (state.membrane, state.threshold_fast, brain.recovery, brain.synaptic_input):
        array[device] = 0
    state.refractory[device] = 0
    brain.population_changed()
    return int(ids.size)


def _neighbours(region, local: int) -> list[int]:
    width = region.width
    found = []
    if local % width:
        found.append(local - 1)
    if local % width < width - 1 and local + 1 < region.size:
        found.append(local + 1)
    if local >= width:
        found.append(local - width)
    if local + width < region.size:
        found.append(local + width)
    return found


def renew(brain: "Brain", ids: np.ndarray, weight_scale: float) -> int:
    """New neurons at the dead ``ids``, their values from their neighbours (module docstring); returns how many."""
    ids = np.asarray(ids, dtype=np.int64)
    ids = ids[brain.died_at[ids] != DEAD]
    if not ids.size:
        return 0
    backend = brain.backend
    state = brain.neurons
    arrays = [state.threshold_homeostatic, state.threshold_fast, state.membrane, brain.recovery]
    host = [backend.to_host(a).astype(np.float64) for a in arrays]
    excitatory = backend.to_host(brain.excitatory)
    alive = brain.died_at == DEAD
    rng = np.random.default_rng([brain.config.brain.seed, brain.step_count, 0x2E5])
    values = np.zeros((len(arrays), ids.size))
    donors = np.zeros(ids.size, dtype=np.int64)
    for k, i in enumerate(ids):
        region = brain.layout.regions[int(np.searchsorted(brain.layout.bounds, i, side="right")) - 1]
        near = [region.start + j for j in _neighbours(region, int(i - region.start))]
        near = [j for j in near if alive[j]]
        pool = np.array(near, dtype=np.int64) if near else np.flatnonzero(alive[region.start : region.stop]) + region.start
        if not pool.size:  # the whole region is dead: the new neuron starts at rest
            donors[k] = -1
            continue
        values[:, k] = [h[pool].mean() for h in host]
        same = pool[excitatory[pool] == excitatory[i]]
        if not same.size:
            same = np.flatnonzero(alive[region.start : region.stop] & (excitatory[region.start : region.stop] == excitatory[i])) + region.start
        donors[k] = rng.choice(same) if same.size else -1
    device = backend.asarray(ids)
    for array, value in zip(arrays, values):
        array[device] = backend.asarray(value.astype(brain.dtype))
    state.refractory[device] = 0
    for pathway in brain.pathways:
        lo, hi = pathway.source
        projection = pathway.projection
        mine = (ids >= lo) & (ids < hi) & (donors >= lo) & (donors < hi)
        if not mine.any():
            continue
        lengths = backend.to_host(projection.lengths)
        weights = backend.to_host(projection.weights)
        learned = brain.config.renewal.learned if pathway.spec.plastic and brain.config.plasticity.enabled else "neighbour"
        for i, donor in zip(ids[mine] - lo, donors[mine] - lo):
            have, give = int(lengths[i]), int(lengths[donor])
            if not have or not give:
                continue
            if learned == "neighbour":
                row = np.resize(weights[donor, :give], have).astype(np.float64) * weight_scale
            else:
                row = np.full(have, pathway.spec.weight if learned == "initial" else 0.0)
            projection.weights[int(i), :have] = backend.asarray(row.astype(projection.weights.dtype))
    brain.died_at[ids] = DEAD
    brain.renewed_at[ids] = brain.step_count
    brain.population_changed()
    return int(ids.size)


def maintain(brain: "Brain", first: int, last: int) -> None:
    """After steps ``first .. last``: the random deaths of every ``stats_interval`` boundary crossed, then the renewals due."""
    section = brain.config.renewal
    interval = brain.config.brain.stats_interval
    if section.death_rate_per_hour > 0:
        per_step = section.death_rate_per_hour / 3_600_000.0
        for boundary in range((first // interval + 1) * interval, last + 1, interval):
            living = np.concatenate([np.arange(r.start, r.stop) for r in brain.layout.regions if r.living] or [np.zeros(0, np.int64)])
            living = living[brain.died_at[living] == DEAD]
            rng = np.random.default_rng([brain.config.brain.seed, boundary, 0x3E5])
            dying = living[rng.random(living.size) < per_step * interval]
            if dying.size:
                kill(brain, dying)
    if section.enabled and brain.dead_count:
        due = np.flatnonzero((brain.died_at != DEAD) & (brain.died_at + section.delay_ms <= last))
        if due.size:
            renew(brain, due, section.weight_scale)
