"""Pathways: connectors that turn a ``[[pathways]]`` declaration into a projection.

A projection is three host arrays over the source region's neurons: ``targets`` int32
``[n_source, K]`` (global ids of the target region's neurons), ``weights`` ``[n_source, K]``
(the jump of the target's membrane one step after the spike, in units of the resting
threshold) and ``lengths`` int32 ``[n_source]``: row ``j`` holds ``lengths[j] <= K``
synapses, the rest of it is padding that is never delivered and never learns. Each pathway
has its own ``K``, so one of 500 synapses per neuron and one of 4 coexist. An excitatory
source's synapses carry ``+weight``, an inhibitory source's ``-inhibitory_weight``; a
pathway whose ``inhibitory_weight`` is 0 has empty rows for its inhibitory sources (and the
other way round).

The connectors (PyNN's FixedNumberPost, FixedProbability, OneToOne and distance-dependent
connectors, plus the two the working memory needs):

* ``random``: ``fan_out`` targets per source, uniform over the target region, never the
  source itself;
* ``probability``: each source-target pair is joined with ``probability`` (never a neuron to
  itself); above 10 million pairs, each source gets Binomial(n_target, probability) targets
  drawn as ``random`` (with replacement: a share of about probability / 2 are duplicates);
* ``one_to_one``: source ``i`` of the region onto target ``i``;
* ``neighbours``: the 4 neighbours on the region's grid (right, left, down, up), helical:
  ``i +- 1`` and ``i +- width`` modulo the region's size, so every neuron has four;
* ``patch``: ``fan_out`` random targets in the target region's patch of the same number
  (patches beyond the other region's last send nothing);
* ``loops``: the working memory. Each unit of each patch (see
  :meth:`brainchat.model.regions.Region.units`) is dealt into three phases; each neuron
  sends ``fan_out`` synapses of ``weight`` (enough to fire a resting neuron alone) to random
  neurons of the next phase. A character's stimulus reaches phase 0 only; phase 1 follows a
  step later, phase 2 a step after that, then phase 0 again: the unit keeps firing, each
  neuron every third step (reverberation, Hebb 1949; persistent activity of this kind is
  seen in single entorhinal neurons, Egorov et al. 2002, Nature 420:173) until the next
  line's reset inhibits it. (A loop stimulated all at once falls silent: neurons stimulated
  together fire together, and every spike reaches its targets while they are refractory.);
* ``units``: each target neuron listens to one random unit of the source through ``fan_in``
  synapses from random members of it: with a gate, a sparse code of (a character at a place,
  reply position) in the association region;
* ``all_to_all``: every source onto every target (itself too, if the regions are one), each
  synapse ``weight / n_source`` (an inhibitory source's ``-inhibitory_weight / n_source``), so
  a target's input is ``weight`` times the fraction of the excitatory sources that fired
  (minus ``inhibitory_weight`` times that of the inhibitory ones), the same at every brain
  size. Nothing is drawn and nothing stored but that weight: row ``j`` is one slot (its
  weight, the target region's first id) of length 0, and every kernel delivers the pathway
  as two counts of its sources' spikes, positive and negative, times those weights, added to
  every target (:func:`uniform_weights`). Dense pathways of equal weights are the limit of
  many weak synapses, as the interneuron networks of Borgers & Kopell 2003 (PING) are
  all-to-all; it cannot learn;
* ``detectors``: the hippocampus's line detectors (:mod:`brainchat.model.hippocampus`). Every
  working-memory unit's every phase reaches every detector through ``fan_in`` synapses
  (detector ``d`` hears neurons ``d .. d + fan_in - 1``, modulo the phase's ``n``), so each
  held unit gives each detector about ``fan_in`` spikes a step, whichever of its neurons the
  loop left out. The weights start at 0: a teaching writes a detector's whole column (its
  line's units positive, every other unit negative), nothing learns;
* ``slots``: the detectors come in slots of ``fan_in``; slot ``i``'s detectors reach slot
  ``i``'s neurons (the target's sector size // slots of them) in every sector of the target;
* ``snapshot``: synapses converted from an older snapshot; there is nothing to draw.

Connectivity is drawn from one ``numpy.random.Generator``, pathway after pathway in
declaration order, so a pathway added at the end changes nothing before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from brainchat.config import PathwaySpec
from brainchat.errors import ConfigError
from brainchat.model.regions import Layout, Region

LOOP_PHASES = 3
ALL_TO_ALL = "all_to_all"
EXACT_PAIRS = 10_000_000  # up to this many source-target pairs, a probability pathway draws each pair


@dataclass
class Projection:
    """One pathway's synapses: ``targets`` int32 and ``weights`` ``[n_source, K]``, ``lengths`` int32 ``[n_source]``.

    On a brain these are views into its flat synapse arrays (see :class:`Synapses`).
    """

    targets: Any
    weights: Any
    lengths: Any

    @property
    def fan_out(self) -> int:
        return int(self.targets.shape[1])


@dataclass(frozen=True)
class Pathway:
    """A built pathway: its declaration, its source and target id ranges, and its synapses."""

    index: int
    spec: PathwaySpec
    source: tuple[int, int]
    target: tuple[int, int]
    projection: Projection
    offset: int  # of its first synapse in the brain's flat synapse arrays
    row_offset: int  # of its first row in the brain's flat lengths

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def uniform(self) -> bool:
        """Every source onto every target, delivered as counts (the ``all_to_all`` connector)."""
        return self.spec.connector == ALL_TO_ALL

    @property
    def synapses(self) -> int:
        """The synapses stored in rows and delivered one by one (an all_to_all pathway has none: ``Brain.pathway_table`` counts what it joins)."""
        return int(np.asarray(self.projection.lengths).sum())


def uniform_weights(pathways: list["Pathway"], dtype: Any) -> np.ndarray:
    """``[P, 2]``: each ``all_to_all`` pathway's weight per excitatory and per inhibitory synapse (signed), 0 for the others.

    What a target of pathway ``p`` gets in a step is ``float(k+) * w[p, 0]`` and ``float(k-) *
    w[p, 1]``, ``k+`` and ``k-`` the counts of its sources that fired with a positive and a
    negative weight (the sign of their row's one slot): integers, so the sum is the same in
    any order, on any partition.
    """
    out = np.zeros((len(pathways), 2), dtype=dtype)
    for p, pathway in enumerate(pathways):
        if pathway.uniform:
            n = max(1, pathway.source[1] - pathway.source[0])
            out[p] = (pathway.spec.weight / n, -pathway.spec.inhibitory_weight / n)
    return out


def _row_weights(excitatory: np.ndarray, spec: PathwaySpec, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per source row: its weight and whether it sends anything on this pathway."""
    weight = np.where(excitatory, spec.weight, -spec.inhibitory_weight).astype(dtype)
    return weight, weight != 0


def _pack(n_sources: int, sources: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges (local source, global target), sorted by source, into ``targets[n_sources, K]`` and ``lengths``."""
    order = np.argsort(sources, kind="stable")
    sources, ends = sources[order], ends[order]
    lengths = np.bincount(sources, minlength=n_sources).astype(np.int32)
    width = int(lengths.max()) if lengths.size and lengths.max() > 0 else 1
    targets = np.zeros((n_sources, width), dtype=np.int32)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    slot = np.arange(sources.size) - first[sources]
    targets[sources, slot] = ends
    return targets, lengths


def _random(rng: np.random.Generator, lo: int, hi: int, target: tuple[int, int], counts: np.ndarray, width: int) -> np.ndarray:
    """``[hi - lo, width]`` targets uniform over ``target``, never the source itself; slots beyond ``counts`` are drawn too (and unused)."""
    t_lo, t_hi = target
    n = hi - lo
    overlap = t_lo <= lo and hi <= t_hi
    drawn = rng.integers(0, (t_hi - t_lo) - (1 if overlap else 0), size=(n, width), dtype=np.int64)
    if overlap:
        own = (np.arange(lo, hi, dtype=np.int64) - t_lo)[:, None]
        drawn += drawn >= own  # skip the neuron itself
    return (drawn + t_lo).astype(np.int32)


def _random_among(rng: np.random.Generator, lo: int, hi: int, pool: np.ndarray, width: int) -> np.ndarray:
    """``[hi - lo, width]`` targets uniform over the ids ``pool`` (ascending), never the source itself."""
    place = np.searchsorted(pool, np.arange(lo, hi))
    inside = (place < pool.size) & (pool[np.minimum(place, pool.size - 1)] == np.arange(lo, hi))
    drawn = rng.integers(0, pool.size - inside.astype(np.int64)[:, None], size=(hi - lo, width), dtype=np.int64)
    drawn += inside[:, None] & (drawn >= place[:, None])  # skip the neuron itself
    return pool[drawn].astype(np.int32)


def build(
    rng: np.random.Generator, layout: Layout, spec: PathwaySpec, excitatory: np.ndarray, dtype: Any, phase: np.ndarray,
) -> Projection:
    """Draw one pathway's projection (host arrays). ``phase`` (int8 ``[N]``) takes the working-memory phases of a ``loops`` pathway."""
    lo, hi = layout.span(spec.source)
    target = layout.span(spec.target)
    n = hi - lo
    row_weight, sends = _row_weights(excitatory[lo:hi], spec, dtype)
    connector = spec.connector
    if connector == "snapshot":
        raise ConfigError(f"pathway '{spec.name}' was converted from an older snapshot and can only be loaded from it (brainchat load / run --load)")
    if connector == "probability" and n * (target[1] - target[0]) <= EXACT_PAIRS:
        targets, lengths = _bernoulli(rng, lo, hi, target, spec.probability)
    elif connector in ("random", "probability"):
        if connector == "random":
            counts = np.full(n, spec.fan_out, dtype=np.int32)
        else:
            counts = rng.binomial(target[1] - target[0], spec.probability, size=n).astype(np.int32)
        width = max(1, int(counts.max()) if n else 1)
        if spec.onto == "all":
            targets = _random(rng, lo, hi, target, counts, width)
        else:
            pool = np.arange(*target, dtype=np.int64)
            pool = pool[excitatory[target[0] : target[1]] == (spec.onto == "excitatory")]
            if pool.size < 2:
                raise ConfigError(f"pathways.{spec.name}.onto: region {spec.target!r} has {pool.size} {spec.onto} neuron(s); a random pathway onto them needs 2 or more")
            targets = _random_among(rng, lo, hi, pool, width)
        lengths = counts
    elif connector == "one_to_one":
        targets = (np.arange(n, dtype=np.int32) + target[0])[:, None]
        lengths = np.ones(n, dtype=np.int32)
    elif connector == "neighbours":
        width = layout.grid_width(spec.source)
        own = np.arange(n, dtype=np.int64)[:, None]
        offsets = np.array([1, -1, width, -width], dtype=np.int64)[None, :]
        targets = (((own + offsets) % n) + lo).astype(np.int32)
        lengths = np.full(n, 4, dtype=np.int32)
    elif connector == "patch":
        source_region, target_region = layout[spec.source], layout[spec.target]
        targets = np.zeros((n, spec.fan_out), dtype=np.int32)
        lengths = np.zeros(n, dtype=np.int32)
        for k in range(min(source_region.spec.patches, target_region.spec.patches)):
            rows = source_region.patch(k) - lo
            ends = target_region.patch(k)
            targets[rows] = rng.choice(ends, size=(rows.size, spec.fan_out)).astype(np.int32)
            lengths[rows] = spec.fan_out
    elif connector == "every_patch":
        patches = [layout[spec.target].patch(k) for k in range(layout[spec.target].spec.patches)]
        # fan_out random neurons of each patch, drawn for all sources at once, patch after patch
        targets = np.concatenate([rng.choice(ends, size=(n, spec.fan_out)) for ends in patches], axis=1).astype(np.int32)
        lengths = np.full(n, targets.shape[1], dtype=np.int32)
    elif connector == "loops":
        targets, lengths = _loops(rng, layout[spec.source], spec.fan_out, phase)
    elif connector == "units":
        targets, lengths = _units(rng, layout[spec.source], target, spec.fan_in)
    elif connector == "detectors":
        targets, lengths = _detectors(layout[spec.source], target, phase, spec.fan_in)
        return Projection(targets, np.zeros(targets.shape, dtype=dtype), lengths)
    elif connector == "slots":
        targets, lengths = _slots(layout[spec.source], layout[spec.target], spec.fan_in)
    elif connector == ALL_TO_ALL:
        targets = np.full((n, 1), target[0], dtype=np.int32)
        weight = np.where(excitatory[lo:hi], spec.weight, -spec.inhibitory_weight) / max(1, n)
        return Projection(targets, weight.astype(dtype)[:, None], np.zeros(n, dtype=np.int32))
    else:  # pragma: no cover - the config admits no other connector
        raise ValueError(connector)
    lengths = np.where(sends, lengths, 0).astype(np.int32)
    weights = np.repeat(row_weight[:, None], targets.shape[1], axis=1)
    return Projection(targets, weights, lengths)


def _bernoulli(rng: np.random.Generator, lo: int, hi: int, target: tuple[int, int], probability: float) -> tuple[np.ndarray, np.ndarray]:
    """Every source-target pair joined with ``probability``, no self-synapses, drawn a block of sources at a time."""
    t_lo, t_hi = target
    width = t_hi - t_lo
    block = max(1, EXACT_PAIRS // 10 // max(1, width))
    rows, ends = [], []
    for first in range(lo, hi, block):
        last = min(hi, first + block)
        joined = rng.random((last - first, width)) < probability
        own = np.arange(first, last) - t_lo
        inside = (own >= 0) & (own < width)
        joined[np.flatnonzero(inside), own[inside]] = False
        r, c = np.nonzero(joined)
        rows.append(r + first - lo)
        ends.append((c + t_lo).astype(np.int32))
    return _pack(hi - lo, np.concatenate(rows), np.concatenate(ends))


def _loops(rng: np.random.Generator, region: Region, fan_out: int, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    targets = np.zeros((region.size, fan_out), dtype=np.int32)
    lengths = np.zeros(region.size, dtype=np.int32)
    for members in region.units():
        if members.size < LOOP_PHASES:
            continue
        members = rng.permutation(members)
        phases = [members[g::LOOP_PHASES] for g in range(LOOP_PHASES)]
        for g, group in enumerate(phases):
            targets[group - region.start] = rng.choice(phases[(g + 1) % LOOP_PHASES], size=(group.size, fan_out))
            lengths[group - region.start] = fan_out
            phase[group] = g
    return targets, lengths


def _units(rng: np.random.Generator, region: Region, target: tuple[int, int], fan_in: int) -> tuple[np.ndarray, np.ndarray]:
    units = [unit for unit in region.units() if unit.size]
    listeners = np.arange(target[0], target[1], dtype=np.int32)
    chosen = rng.integers(0, len(units), size=listeners.size)
    # random members of each chosen unit, drawn at once
    sizes = np.array([unit.size for unit in units])
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    picks = rng.integers(0, np.repeat(sizes[chosen], fan_in))
    sources = np.concatenate(units)[np.repeat(starts[chosen], fan_in) + picks] - region.start
    ends = np.repeat(listeners, fan_in)
    return _pack(region.size, sources.astype(np.int64), ends)


def _detectors(region: Region, target: tuple[int, int], phase: np.ndarray, reps: int) -> tuple[np.ndarray, np.ndarray]:
    """Every unit's every loop phase onto every detector of ``target``: detector ``d`` from the phase's neurons ``d .. d + reps - 1`` (mod its ``n``, ids ascending)."""
    detectors = np.arange(target[1] - target[0], dtype=np.int64)
    sources, ends = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for members in region.units():
        for g in range(LOOP_PHASES):
            group = np.sort(members[phase[members] == g])
            for j in range(min(reps, group.size)):
                sources.append(group[(detectors + j) % group.size] - region.start)
                ends.append(detectors + target[0])
    return _pack(region.size, np.concatenate(sources), np.concatenate(ends).astype(np.int32))


def _slots(source: Region, target: Region, group: int) -> tuple[np.ndarray, np.ndarray]:
    """Detector ``d`` (slot ``d // group``) onto its slot's neurons in each of the target's sectors."""
    slots = source.size // group
    sources, ends = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    detectors = np.arange(slots * group, dtype=np.int64)
    for k in range(target.spec.sectors):
        ids = target.sector(k)
        per = ids.size // slots if slots else 0
        if per:
            sources.append(np.repeat(detectors, per))
            ends.append(ids[(np.repeat(detectors // group, per) * per + np.tile(np.arange(per), detectors.size))])
    return _pack(source.size, np.concatenate(sources), np.concatenate(ends).astype(np.int32))


@dataclass
class Synapses:
    """Every pathway's synapses in three flat arrays, so one kernel delivers them all.

    ``targets`` int32 and ``weights`` (state dtype) hold the projections one after the other
    (pathway ``p``'s row ``j`` is ``offset_p + j * K_p ..``); ``lengths`` int32 their rows'
    lengths. ``table`` int64 ``[P, 7]`` describes each pathway for the kernels: source start
    and stop, target start and stop, K, synapse offset, row offset.
    """

    targets: Any
    weights: Any
    lengths: Any
    table: np.ndarray

    @classmethod
    def join(cls, projections: list[Projection], spans: list[tuple[tuple[int, int], tuple[int, int]]], dtype: Any) -> tuple["Synapses", list[tuple[int, int]]]:
        """The host arrays of all ``projections`` (with their (source, target) id ``spans``) and each one's (synapse offset, row offset)."""
        offsets, rows, synapse, row = [], [], 0, 0
        for projection in projections:
            offsets.append(synapse)
            rows.append(row)
            synapse += projection.targets.size
            row += projection.lengths.size
        targets = np.concatenate([p.targets.ravel() for p in projections]) if projections else np.zeros(1, np.int32)
        weights = np.concatenate([np.asarray(p.weights, dtype=dtype).ravel() for p in projections]) if projections else np.zeros(1, dtype)
        lengths = np.concatenate([p.lengths for p in projections]) if projections else np.zeros(1, np.int32)
        table = np.array(
            [[s[0], s[1], t[0], t[1], p.targets.shape[1], o, r] for p, (s, t), o, r in zip(projections, spans, offsets, rows)],
            dtype=np.int64,
        ).reshape(-1, 7)
        return cls(targets.astype(np.int32), weights.astype(dtype), lengths.astype(np.int32), table), list(zip(offsets, rows))

    def views(self, p: int) -> Projection:
        """Pathway ``p``'s projection as views of the flat arrays (writing them writes the brain)."""
        s_lo, s_hi, _, _, k, offset, row = (int(x) for x in self.table[p])
        n = s_hi - s_lo
        return Projection(
            self.targets[offset : offset + n * k].reshape(n, k),
            self.weights[offset : offset + n * k].reshape(n, k),
            self.lengths[row : row + n],
        )
