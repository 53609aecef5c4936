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
documents: at the first vitals-interval boundary at or after ``delay_ms`` a new neuron takes the dead one's id, with its neighbours'
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
    for array in (state.membrane, state.threshold_fast, brain.recovery, brain.synaptic_input, brain.slow_input):
        array[device] = 0
    state.refractory[device] = 0
    brain.population_changed()
    return int(ids.size)


def _neighbours(region, local: np.ndarray) -> np.ndarray:
    """int64 ``[n, 4]``: the ids of each local index's left, right, upper and lower neighbour on the region's grid, -1 off the grid."""
    width = region.width
    column = local % width
    found = np.stack([local - 1, local + 1, local - width, local + width], axis=1)
    valid = np.stack([column > 0, (column < width - 1) & (local + 1 < region.size), local >= width, local + width < region.size], axis=1)
    return np.where(valid, found + region.start, -1)


def renew(brain: "Brain", ids: np.ndarray, weight_scale: float) -> int:
    """New neurons at the dead ``ids``, their values from their neighbours (module docstring); returns how many.

    Vectorised per region: a lesion of most of a 200k brain renews in well under a second.
    """
    ids = np.unique(np.asarray(ids, dtype=np.int64))
    ids = ids[brain.died_at[ids] != DEAD]
    if not ids.size:
        return 0
    backend = brain.backend
    state = brain.neurons
    arrays = [state.threshold_homeostatic, state.threshold_fast, state.membrane, brain.recovery]
    host = np.stack([backend.to_host(a).astype(np.float64) for a in arrays])  # [4, N]
    excitatory = backend.to_host(brain.excitatory).astype(bool)
    alive = brain.died_at == DEAD
    rng = np.random.default_rng([brain.config.brain.seed, brain.step_count, 0x2E5])
    values = np.zeros((len(arrays), ids.size))
    donors = np.full(ids.size, -1, dtype=np.int64)
    region_of = np.searchsorted(brain.layout.bounds, ids, side="right") - 1
    for r in np.unique(region_of):
        region = brain.layout.regions[int(r)]
        mine = np.flatnonzero(region_of == r)
        members = np.arange(region.start, region.stop)
        living = members[alive[region.start : region.stop]]
        if not living.size:  # the whole region is dead: its new neurons start at rest
            continue
        near = _neighbours(region, ids[mine] - region.start)  # [n, 4]
        usable = (near >= 0) & alive[np.maximum(near, 0)]
        count = usable.sum(axis=1)
        sums = np.where(usable[None], host[:, np.maximum(near, 0)], 0.0).sum(axis=2)  # [4, n]
        means = host[:, living].mean(axis=1, keepdims=True)
        values[:, mine] = np.where(count > 0, sums / np.maximum(count, 1), means)
        # the donor of the outgoing weights: a living neighbour of the same sign, else any living neuron of the region of that sign
        same = usable & (excitatory[np.maximum(near, 0)] == excitatory[ids[mine]][:, None])
        pick = np.where(same, rng.random(same.shape), -1.0).argmax(axis=1)
        chosen = np.where(same.any(axis=1), near[np.arange(mine.size), pick], -1)
        for sign in (False, True):
            pool = living[excitatory[living] == sign]
            lacking = (chosen < 0) & (excitatory[ids[mine]] == sign)
            if pool.size and lacking.any():
                chosen[lacking] = rng.choice(pool, size=int(lacking.sum()))
        donors[mine] = chosen
    device = backend.asarray(ids)
    for array, value in zip(arrays, values):
        array[device] = backend.asarray(value.astype(brain.dtype))
    state.refractory[device] = 0
    brain.slow_input[device] = 0  # the slow inhibition gathered while it was dead is not the new neuron's
    learned = brain.config.renewal.learned
    for pathway in brain.pathways:
        lo, hi = pathway.source
        projection = pathway.projection
        inside = (ids >= lo) & (ids < hi)
        if not inside.any():
            continue
        rows, given = ids[inside] - lo, donors[inside]
        lengths = backend.to_host(projection.lengths)
        width = projection.weights.shape[1]
        slots = np.arange(width)[None, :]
        have = lengths[rows][:, None]
        current = backend.to_host(projection.weights[backend.asarray(rows)]).astype(np.float64)
        if pathway.spec.plastic and brain.config.plasticity.enabled and learned != "neighbour":
            fresh = np.full_like(current, pathway.spec.weight if learned == "initial" else 0.0)
        else:  # the donor's row at weight_scale; slots the donor lacks stay empty (a dead region's: nothing)
            has_donor = (given >= lo) & (given < hi)
            donor_rows = np.where(has_donor, given - lo, 0)
            take = backend.to_host(projection.weights[backend.asarray(donor_rows)]).astype(np.float64)
            gives = np.where(has_donor, lengths[donor_rows], 0)[:, None]
            fresh = np.where(slots < gives, take * weight_scale, 0.0)
        row = np.where(slots < have, fresh, current)
        projection.weights[backend.asarray(rows)] = backend.asarray(row.astype(projection.weights.dtype))
    brain.died_at[ids] = DEAD
    brain.renewed_at[ids] = brain.step_count
    brain.population_changed()
    return int(ids.size)


def maintain(brain: "Brain", step: int) -> None:
    """At a vitals-interval boundary ``step``: this boundary's random deaths, then the renewals due (both paths call it at the same steps)."""
    section = brain.config.renewal
    interval = brain.config.brain.stats_interval
    if section.death_rate_per_hour > 0:
        living = np.concatenate([np.arange(r.start, r.stop) for r in brain.layout.regions if r.living] or [np.zeros(0, np.int64)])
        living = living[brain.died_at[living] == DEAD]
        rng = np.random.default_rng([brain.config.brain.seed, step, 0x3E5])
        dying = living[rng.random(living.size) < section.death_rate_per_hour * interval / 3_600_000.0]
        if dying.size:
            kill(brain, dying)
    if section.enabled and brain.dead_count:
        due = np.flatnonzero((brain.died_at != DEAD) & (brain.died_at + section.delay_ms <= step))
        if due.size:
            renew(brain, due, section.weight_scale)
