"""Synapses as fixed fan-out projections: ``targets[N, K]`` and ``weights[N, K]``.

Row ``i`` lists the neurons that neuron ``i`` excites or inhibits and by how much (a jump of
the target's membrane, in units of the resting threshold, arriving one step after the spike).
Delivery is event-driven: only the rows of the neurons that fired are read (see
:meth:`brainchat.backend.Backend.deliver_spikes`). The brain has two projections:

* ``recurrent``: ``per_neuron`` random targets per neuron, uniform over all other neurons;
  excitatory rows carry ``+weight_excitatory``, inhibitory rows ``-weight_inhibitory``;
* ``local``: the four sheet neighbours of each excitatory neuron, ``+neighbour_weight``
  (inhibitory rows are zero).

With ``[pathways] enabled`` (:func:`wire_pathways`), some of those random rows are rewired:

* the **working memory**: every neuron of the input band is excitatory and gets no noise,
  no global drive and no homeostatic threshold (:mod:`brainchat.model.brain`); nothing random
  ends on it. Each input patch is split into ``places`` interleaved units: a character at
  place ``p`` of a line is presented to unit ``p mod places`` of its patch, so the memory
  holds characters with their places ("cat" and "act" differ). A unit's neurons are dealt into
  three phases; each sends ``RING_SYNAPSES`` synapses of ``memory_weight`` (enough to fire a
  resting neuron alone) to random neurons of the next phase. A character's stimulus reaches
  phase 0 only; phase 1 follows a step later, phase 2 a step after that, then phase 0 again:
  the unit keeps firing, each neuron every third step (reverberation, Hebb 1949; persistent activity of this kind is seen
  in single entorhinal neurons, Egorov et al. 2002, Nature 420:173) until the next line's
  reset inhibits it. (A loop stimulated all at once falls silent: neurons stimulated together
  fire together, and every spike reaches its targets while they are refractory. Stimulating
  phase 0 alone starts the rotation, and stimulating it again cannot break it.) The rest of its synapses go
  to random cortex neurons with ``memory_to_cortex``: what the memory holds shapes the cortex.
  ``memory_to_association`` of them go to random association neurons instead.
* the **association band** (conjunctions): excitatory neurons without noise, drive or
  homeostasis, whose threshold sits ``association_threshold`` above rest and on which nothing
  random ends. Neither the memory input (a few ``memory_association_weight`` synapses) nor the
  gate of its sector (``[codec] gate_current`` while reply character ``k`` is read) fires one
  alone; the two together do. So in reply window ``k`` the neurons that fire are those of
  sector ``k`` that the line in memory reaches: a sparse code of (line, position).
* the **readout**: ``readout_synapses`` of every association neuron end on random output
  neurons (character patches and the end patch) with ``readout_weight``. They are the
  synapses that learn (``[plasticity] plastic = "output"``).

With the defaults (80 % excitatory, 0.03 vs -0.15, relative inhibition g = 5) the recurrent input is slightly
inhibition-dominated, the regime in which sparse random networks fire asynchronously and
irregularly (Brunel 2000, J Comput Neurosci 8:183: g > 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from brainchat.config import PathwaySection, SynapseSection
from brainchat.model.geometry import CORTEX, END_REGION, PRINTABLE


@dataclass
class Projection:
    """Outgoing synapses of every neuron: ``targets`` int32 ``[N, K]``, ``weights`` ``[N, K]``."""

    targets: Any
    weights: Any

    @property
    def fan_out(self) -> int:
        return int(self.targets.shape[1])


def random_targets(rng: np.random.Generator, neurons: int, per_neuron: int) -> np.ndarray:
    """``[N, K]`` int32 targets drawn uniformly from the other neurons (no self-synapses)."""
    drawn = rng.integers(0, neurons - 1, size=(neurons, per_neuron), dtype=np.int64)
    own = np.arange(neurons, dtype=np.int64)[:, None]
    drawn += drawn >= own  # skip the neuron itself
    return drawn.astype(np.int32)


def build_recurrent(
    rng: np.random.Generator, excitatory: np.ndarray, section: SynapseSection, dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Host arrays of the random recurrent projection; ``excitatory`` is bool ``[N]``."""
    targets = random_targets(rng, excitatory.size, section.per_neuron)
    row_weight = np.where(excitatory, section.weight_excitatory, -section.weight_inhibitory)
    weights = np.repeat(row_weight[:, None], section.per_neuron, axis=1).astype(dtype)
    return targets, weights


RING_SYNAPSES = 3  # ring successors of a memory neuron inside its patch


def memory_units(region_of: np.ndarray, memory_end: int, places: int) -> list[np.ndarray]:
    """The working memory's units: each input patch split into ``places`` interleaved parts (see :func:`place_members`)."""
    band = region_of[:memory_end]
    order = np.argsort(band, kind="stable")
    starts = np.searchsorted(band[order], np.arange(1, band.max() + 2))
    patches = [order[starts[k] : starts[k + 1]] for k in range(len(starts) - 1) if starts[k + 1] > starts[k]]
    return [patch[place::places] for patch in patches for place in range(places)]


def place_members(members: np.ndarray, place: int, places: int) -> np.ndarray:
    """The part of an input patch (ascending ``members``) that holds its character at ``place`` (mod ``places``) of a line."""
    return members[place % places :: places]


def wire_pathways(
    rng: np.random.Generator, targets: np.ndarray, weights: np.ndarray,
    region_of: np.ndarray, memory_end: int, quiet_end: int, section: PathwaySection, places: int,
) -> np.ndarray:
    """Rewire the host arrays of the random projection in place (see the module docstring).

    Returns the phase (0, 1, 2) of every memory neuron in its unit's loop, int8 ``[memory_end]``.
    """
    n, k = targets.shape
    cortex = np.arange(quiet_end, n)
    cortex = cortex[region_of[cortex] == CORTEX].astype(np.int32)
    association = np.arange(memory_end, quiet_end, dtype=np.int32)
    outputs = np.flatnonzero((region_of > len(PRINTABLE)) & (region_of <= END_REGION)).astype(np.int32)
    # nothing random ends on the quiet neurons
    stray = targets < quiet_end
    targets[stray] = rng.choice(np.arange(quiet_end, n, dtype=np.int32), size=int(stray.sum()))
    # the memory: a loop of three phases inside each patch, then the association band, then the cortex
    ring = min(RING_SYNAPSES, k)
    phase_of = np.full(memory_end, -1, dtype=np.int8)
    for members in memory_units(region_of, memory_end, places):
        if members.size < 3:
            continue
        members = rng.permutation(members)
        phases = [members[g::3] for g in range(3)]
        for g, phase in enumerate(phases):
            targets[phase, :ring] = rng.choice(phases[(g + 1) % 3], size=(phase.size, ring))
            phase_of[phase] = g
        weights[members, :ring] = section.memory_weight
    # each association neuron listens to one memory unit (a character at a place), through
    # association_inputs synapses from random members of it
    units = memory_units(region_of, memory_end, places)
    units = [unit for unit in units if unit.size]
    band = np.arange(memory_end)
    targets[band, ring:] = rng.choice(cortex, size=(memory_end, k - ring))
    weights[band, ring:] = section.memory_to_cortex
    if association.size and units and section.association_inputs:
        chosen = rng.integers(0, len(units), size=association.size)
        # random members of each chosen unit, drawn at once: the same numbers as one
        # rng.choice(units[u], size) per association neuron (checked), 20x faster at 1M neurons
        sizes = np.array([unit.size for unit in units])
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        picks = rng.integers(0, np.repeat(sizes[chosen], section.association_inputs))
        sources = np.concatenate(units)[np.repeat(starts[chosen], section.association_inputs) + picks]
        ends = np.repeat(association, section.association_inputs)
        order = np.argsort(sources, kind="stable")
        sources, ends = sources[order], ends[order]
        first = np.searchsorted(sources, sources, side="left")
        slot = ring + np.arange(sources.size) - first  # the n-th edge of a source takes slot ring + n
        fits = slot < k
        targets[sources[fits], slot[fits]] = ends[fits]
        weights[sources[fits], slot[fits]] = section.memory_association_weight
    # the readout: association neurons onto the output patches
    readout = min(section.readout_synapses, k)
    if readout and association.size:
        targets[association, :readout] = rng.choice(outputs, size=(association.size, readout))
        weights[association, :readout] = section.readout_weight
    return phase_of


def build_local(neighbours: np.ndarray, excitatory: np.ndarray, section: SynapseSection, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Host arrays of the neighbour projection from ``neighbours[N, 4]``."""
    row_weight = np.where(excitatory, section.neighbour_weight, 0.0)
    weights = np.repeat(row_weight[:, None], neighbours.shape[1], axis=1).astype(dtype)
    return neighbours, weights
