"""One brain over several processes: which neurons and synapses a rank owns, and how its arrays map to the whole brain's.

Each rank owns a contiguous range of neuron ids (cut by the cost of its neurons and of the
synapses that end on them: :func:`rank_bounds`) and the synapses
that end on them, as NEST, NEURON and Arbor place synapses on their target's process. Every
rank builds the same network from the same seed, then keeps, in each row, its own synapses
first (in their order) and only those count (:func:`localize`). Each step the ranks gather
the ids of the neurons that fired, in ascending order (the ranks' ranges are ascending), and
each delivers the rows of all of them onto its own neurons: every target's input is summed in
spike order, as in one process, so the spikes are bit-identical whatever the rank count.

A ``world`` is what joins the ranks: :class:`ThreadWorld` (ranks as threads of one process,
for tests and for a look at the mechanism) or ``brainchat.distributed.MpiWorld`` (mpi4py).
Both have ``rank``, ``size``, ``allgather_spikes``, ``allgather_slices`` and ``gather_pairs``, and
rank 0's ``send_commands`` to the others' ``receive_commands`` (a runner's commands: brainchat.distributed.runner).
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np


# the shares of a one-process step at 200k neurons spent on the neurons (part 1 of a rank's
# step) and on the rest, mostly delivery (part 2), measured 2026-12-03 on 2 cores (AMD EPYC):
# 0.25 and 0.60 ms: what the cut between ranks balances
NEURON_SHARE, DELIVERY_SHARE = 0.3, 0.7
# the spikes per neuron and step a quiet region's synapses are weighted by (a living region's:
# its homeostatic target): quiet regions fire only while a line is said or a reply read
QUIET_RATE = 0.002


def rank_bounds(brain: Any, ranks: int) -> np.ndarray:
    """int64 ``[ranks + 1]``: contiguous ranges of ids, cut at multiples of 64, of equal cost.

    A rank delivers every synapse that ends on its neurons, each time its source fires, so a
    neuron costs its model's share (``fused_cpu.thread_bounds``'s weights) plus its incoming
    synapses weighted by how often their sources fire (a living region at its target, a
    quiet one at :data:`QUIET_RATE`). (Cut by neurons alone, at 200k the second of 2 ranks
    got 85 % of the synapses; cut by synapses unweighted, it got the output region's 3 M
    synapses from the quiet association region and waited a third of every step for the
    first.) ``brain`` is a whole brain, built without a partition.
    """
    from brainchat.model.kernels.fused_cpu import LIVING_COST, MODEL_COST, cut_by_cost

    regions = brain.layout.regions
    neuron = np.repeat([MODEL_COST[r.model.kind] * (LIVING_COST if r.living else 1.0) for r in regions], [r.size for r in regions])
    targets, lengths, table = np.asarray(brain.synapses.targets), np.asarray(brain.synapses.lengths), brain.synapses.table
    incoming = np.zeros(brain.size, dtype=np.float64)
    for s_lo, s_hi, _, _, k, offset, row in (tuple(int(x) for x in r[:7]) for r in table):
        n = s_hi - s_lo
        source = regions[int(np.searchsorted(brain.layout.bounds, s_lo, side="right")) - 1]
        rate = brain.targets[source.index] if source.living else QUIET_RATE
        valid = np.arange(k)[None, :] < lengths[row : row + n, None]
        incoming += rate * np.bincount(targets[offset : offset + n * k].reshape(n, k)[valid], minlength=brain.size)
    cost = NEURON_SHARE * neuron / neuron.sum() + (DELIVERY_SHARE * incoming / incoming.sum() if incoming.sum() else 0.0)
    return cut_by_cost(cost, ranks)


@dataclass
class Partition:
    """Rank ``world.rank`` of ``world.size``: it owns neurons ``bounds[rank] .. bounds[rank + 1]``."""

    world: Any
    bounds: np.ndarray  # int64 [size + 1]
    # set by localize: per synapse of the flat arrays, its slot in the whole brain's row (int8/16/32)
    slots: np.ndarray | None = field(default=None, repr=False)

    @property
    def rank(self) -> int:
        return int(self.world.rank)

    @property
    def lo(self) -> int:
        return int(self.bounds[self.rank])

    @property
    def hi(self) -> int:
        return int(self.bounds[self.rank + 1])

    def own_bounds(self) -> np.ndarray:
        """The fused kernel's one-thread share: this rank's neurons."""
        return np.array([self.lo, self.hi], dtype=np.int64)

    def slices(self) -> list[tuple[int, int]]:
        return [(int(a), int(b)) for a, b in zip(self.bounds[:-1], self.bounds[1:])]


def localize(targets: np.ndarray, weights: np.ndarray, lengths: np.ndarray, table: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """This rank's flat synapse arrays: in each row its own synapses (targets ``lo..hi``) first, in their order, the rest after.

    Returns (targets, weights, lengths, slots): the new lengths count only the rank's own
    synapses; ``slots[q]`` is the slot in the whole brain's row of the synapse now at ``q``.
    """
    out_t, out_w, out_l = targets.copy(), weights.copy(), lengths.copy()
    width_max = int(table[:, 4].max()) if len(table) else 1
    slots = np.zeros(targets.size, dtype=np.int8 if width_max < 128 else np.int16 if width_max < 32768 else np.int32)
    for s_lo, s_hi, _, _, k, offset, row in (tuple(int(x) for x in r[:7]) for r in table):
        n = s_hi - s_lo
        if not n:
            continue
        t = targets[offset : offset + n * k].reshape(n, k)
        valid = np.arange(k)[None, :] < lengths[row : row + n, None]
        own = valid & (t >= lo) & (t < hi)
        order = np.argsort(~own, axis=1, kind="stable")
        out_t[offset : offset + n * k] = np.take_along_axis(t, order, axis=1).ravel()
        out_w[offset : offset + n * k] = np.take_along_axis(weights[offset : offset + n * k].reshape(n, k), order, axis=1).ravel()
        out_l[row : row + n] = own.sum(axis=1)
        slots[offset : offset + n * k] = order.ravel()
    return out_t, out_w, out_l, slots


def canonical_positions(table: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """int64: for each synapse of the rank's flat arrays, its place in the whole brain's flat arrays."""
    positions = np.zeros(slots.size, dtype=np.int64)
    for s_lo, s_hi, _, _, k, offset, _row in (tuple(int(x) for x in r[:7]) for r in table):
        n = s_hi - s_lo
        rows = np.repeat(np.arange(n, dtype=np.int64), k)
        positions[offset : offset + n * k] = offset + rows * k + slots[offset : offset + n * k]
    return positions


def owned_synapses(table: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat positions (rank order) of the rank's own synapses: the first ``lengths[row]`` of each row."""
    parts = []
    for s_lo, s_hi, _, _, k, offset, row in (tuple(int(x) for x in r[:7]) for r in table):
        n = s_hi - s_lo
        valid = np.arange(k)[None, :] < lengths[row : row + n, None]
        parts.append(np.flatnonzero(valid.ravel()) + offset)
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


class ThreadWorld:
    """Ranks as threads of one process: the collectives meet at a barrier and read each other's contributions.

    ``ThreadWorld.team(size)`` gives the worlds of ``size`` ranks; each is used by one thread.
    """

    def __init__(self, rank: int, size: int, shared: dict):
        self.rank, self.size, self._shared = rank, size, shared

    @classmethod
    def team(cls, size: int) -> list["ThreadWorld"]:
        shared = {"barrier": threading.Barrier(size), "box": [None] * size, "inboxes": [queue.Queue() for _ in range(size)]}
        return [cls(rank, size, shared) for rank in range(size)]

    def _all(self, value: Any) -> list:
        box, barrier = self._shared["box"], self._shared["barrier"]
        barrier.wait()
        box[self.rank] = value
        barrier.wait()
        everything = list(box)
        barrier.wait()
        return everything

    def allgather_spikes(self, local: np.ndarray, out: np.ndarray) -> int:
        """Every rank's spike ids, in rank order, into ``out``; returns their count."""
        parts = self._all(local.copy())
        total = sum(p.size for p in parts)
        if total:
            out[:total] = np.concatenate(parts)
        return total

    def allgather_slices(self, array: np.ndarray, slices: list[tuple[int, int]]) -> None:
        """Each rank's slice of ``array`` into everybody's ``array``."""
        lo, hi = slices[self.rank]
        parts = self._all(array[lo:hi].copy())
        for (a, b), part in zip(slices, parts):
            array[a:b] = part

    def gather_pairs(self, positions: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every rank's (positions, values), concatenated in rank order."""
        parts = self._all((positions, values.copy()))
        return np.concatenate([p for p, _ in parts]), np.concatenate([v for _, v in parts])

    def send_commands(self, commands: list) -> None:
        """Rank 0: one turn's commands to every other rank."""
        for inbox in self._shared["inboxes"][1:]:
            inbox.put(list(commands))

    def receive_commands(self) -> list:
        """Another rank: the next turn's commands from rank 0."""
        return self._shared["inboxes"][self.rank].get()
