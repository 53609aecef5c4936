"""Synapses as fixed fan-out projections: ``targets[N, K]`` and ``weights[N, K]``.

Row ``i`` lists the neurons that neuron ``i`` excites or inhibits and by how much (a jump of
the target's membrane, in units of the resting threshold, arriving one step after the spike).
Delivery is event-driven: only the rows of the neurons that fired are read (see
:meth:`brainchat.backend.Backend.deliver_spikes`). The brain has two projections:

* ``recurrent``: ``per_neuron`` random targets per neuron, uniform over all other neurons;
  excitatory rows carry ``+weight_excitatory``, inhibitory rows ``-weight_inhibitory``;
* ``local``: the four sheet neighbours of each excitatory neuron, ``+neighbour_weight``
  (inhibitory rows are zero).

With the defaults (80 % excitatory, 0.03 vs -0.15, relative inhibition g = 5) the recurrent input is slightly
inhibition-dominated, the regime in which sparse random networks fire asynchronously and
irregularly (Brunel 2000, J Comput Neurosci 8:183: g > 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from brainchat.config import SynapseSection


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


def build_local(neighbours: np.ndarray, excitatory: np.ndarray, section: SynapseSection, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Host arrays of the neighbour projection from ``neighbours[N, 4]``."""
    row_weight = np.where(excitatory, section.neighbour_weight, 0.0)
    weights = np.repeat(row_weight[:, None], neighbours.shape[1], axis=1).astype(dtype)
    return neighbours, weights
