"""The hippocampus: a line bound to its own neurons in one teaching (``[hippocampus]``).

The association region's code is (a character at a place, reply position): lines that share
characters share neurons, and at 100 taught pairs almost every neuron serves several of them
(``bench teach`` at 200k, 100 pairs x 3 teachings: 0.16 exact). Here each taught prompt gets
neurons of its own, as a hippocampus is thought to give an episode its own sparse code
(Marr 1971; one-shot binding and pattern separation, McClelland, McNaughton & O'Reilly 1995,
Psychol Rev 102:419):

* **Line detectors** (region ``hippocampus``, pathway connector ``detectors``). Every
  working-memory unit reaches every detector, ``fan_in`` synapses per loop phase, so each
  held unit gives each detector about ``fan_in`` spikes a step; the weights start at 0. A teaching *binds* a slot of
  ``fan_in`` detectors (those of the ``slots`` pathway) to its prompt: each of the prompt's
  ``m`` units gets ``drive / m`` a step, every other unit ``-drive / m``. With the region's
  tonic (-5.4) against a drive of 6 a bound detector fires only while at least 90 % of what is
  held is its line: "cat" does not fire "car"'s detectors, nor "cats" those of "cat". The binding
  is ART's recruitment of an uncommitted node (Carpenter & Grossberg 1987) done by the host,
  as renewal edits rows: the weights are written, not learned.
* **Recall neurons** (region ``recall``, gated by reply position like the association, the
  ``slots`` pathway): slot ``i``'s detectors drive slot ``i``'s neurons in every sector, so
  in reply window ``k`` only the bound line's recall neurons of sector ``k`` fire.
* **Their readout** (``recall_readout``, plastic, starting at 0.05): what a bound line's
  recall neurons say is learned by the same teaching rule as the association's readout,
  but no other line's code shares them, so one pair's teaching cannot undo another's.
* **Recall alone** (``recall_alone``): when the detectors fired in the gap before a free
  reply, the runner opens only the recall region's sectors, so the association (whose
  readout serves every line that shares a character) does not speak over them. A teaching
  opens both, so the association still learns the pair: it is what answers a line with a
  typo, which no detector knows.

A detector's weights count only the working-memory neurons its loop keeps firing: each
loop neuron sends 3 synapses to random neurons of the next phase, so about 1 in 10 is
reached by none once the character's stimulus ends (measured at 200k: 16-20 of a phase's 20
fire), and a detector that counted them would see 10-40 % less of its line than was there.

Slots are reused least recently bound first; a reused slot's readout starts again from its
initial weight. The slots' prompts and their order are in the snapshot (``hippocampus/``).
Not built: recurrence within the region and completion of a partial cue (de Almeida, Idiart
& Lisman 2007); a line with a typo is answered by the association alone.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from brainchat.config import HippocampusSection
from brainchat.model.partition import canonical_positions
from brainchat.model.pathways import Pathway
from brainchat.model.regions import PRINTABLE

if TYPE_CHECKING:  # pragma: no cover
    from brainchat.model.brain import Brain

ARRAYS = ("hippocampus/slots",)
UNBOUND = -1


class Hippocampus:
    """The slots of a brain's hippocampus and what is bound to them; does nothing in a brain without one."""

    def __init__(self, config: HippocampusSection, brain: "Brain"):
        self.config = config
        by_connector = {p.spec.connector: p for p in brain.pathways}
        self.detectors = by_connector.get("detectors")
        self.slot_pathway = by_connector.get("slots")
        recall = brain.layout.get(self.slot_pathway.spec.target) if self.slot_pathway is not None else None
        usable = self.detectors is not None and self.slot_pathway is not None and self.detectors.spec.target == self.slot_pathway.spec.source
        self.recall = recall if usable else None
        group = self.slot_pathway.spec.fan_in if usable else 0
        self.group = group
        self.count = (self.detectors.target[1] - self.detectors.target[0]) // group if usable else 0
        self.readouts = [p for p in brain.pathways if recall is not None and p.spec.plastic and p.spec.source == recall.name]
        self.prompts: list[str | None] = [None] * self.count
        self.bound_at = np.full(self.count, UNBOUND, dtype=np.int64)  # the order of the bindings (least recent reused first)
        self.bindings = 0
        self.muted = False  # the recall neurons closed: replies from the association alone (bench sleep asks it so)
        self._columns: np.ndarray | None = None  # [detectors, units, 3, fan_in] flat synapse positions, built at the first binding
        self._units = 0
        self._inverse: np.ndarray | None = None  # a rank's place of each whole-brain synapse position
        self._held: np.ndarray | None = None  # the working-memory neurons its loops keep firing
        region = brain.layout.get(self.detectors.spec.target) if usable else None
        self._group_index = brain.recorder.region_groups[region.index][0] if region is not None and not region.spec.patches else None

    @property
    def active(self) -> bool:
        return self.config.enabled and self.count > 0

    def slot_of(self, prompt: str) -> int | None:
        return self.prompts.index(prompt) if prompt in self.prompts else None

    def recalls(self, vitals: Any) -> bool:
        """Whether the detectors fired in ``vitals``' steps (the gap before a reply) enough for a bound line: at least a slot's worth of spikes."""
        if not (self.active and self.config.recall_alone) or self.recall is None or self.muted:
            return False
        group = self._group_index
        return group is not None and int(vitals.group_spikes[group]) >= self.group

    # ---- binding ----------------------------------------------------------------------

    def bind(self, brain: "Brain", prompt: str) -> int | None:
        """Give ``prompt`` a slot of detectors (its own, if it has one) and write their weights; returns the slot, or None without a hippocampus."""
        if not self.active or not prompt:
            return None
        slot = self.slot_of(prompt)
        if slot is None:
            free = [i for i, p in enumerate(self.prompts) if p is None]
            slot = free[0] if free else int(np.argmin(self.bound_at))
            if self.prompts[slot] is not None:
                self._reset_readout(brain, slot)
            self._write_detectors(brain, slot, prompt)
            self.prompts[slot] = prompt
        self.bound_at[slot] = self.bindings
        self.bindings += 1
        return slot

    def units_of(self, brain: "Brain", prompt: str) -> np.ndarray:
        """The working-memory units ``prompt`` holds (a character at place ``p``: unit ``p mod places`` of its patch)."""
        places = brain.input_region.places
        return np.unique([PRINTABLE.index(char) * places + place % places for place, char in enumerate(prompt) if char in PRINTABLE])

    def _write_detectors(self, brain: "Brain", slot: int, prompt: str) -> None:
        columns = self._detector_columns(brain)
        units = self.units_of(brain, prompt)
        member = np.zeros(self._units, dtype=bool)
        member[units] = True
        detectors = np.arange(slot * self.group, (slot + 1) * self.group)
        positions = columns[detectors]  # [group, units, 3, fan_in]
        # each (unit, phase) gives drive / m a step through the neurons of it that its loop keeps firing
        k = int(brain.synapses.table[self.detectors.index][4])
        sources = self.detectors.source[0] + (positions - self.detectors.offset) // k
        known = positions >= 0
        firing = known & self._sustained(brain)[np.where(known, sources, 0)]
        reps = firing.sum(axis=3, keepdims=True)
        share = self.config.drive / max(1, units.size) / np.maximum(reps, 1)
        values = np.where(firing, np.where(member[None, :, None, None], share, -share), 0.0)
        self._write(brain, positions[known], values[known])

    def _reset_readout(self, brain: "Brain", slot: int) -> None:
        """A reused slot's recall neurons forget what they said: their readout rows back at the initial weight."""
        recall_ids = self._recall_ids(brain, slot)
        for pathway in self.readouts:
            k = int(brain.synapses.table[pathway.index][4])
            rows = recall_ids - pathway.source[0]
            positions = (pathway.offset + rows[:, None] * k + np.arange(k)[None, :]).ravel()
            self._write(brain, positions, np.full(positions.size, pathway.spec.weight))

    def _recall_ids(self, brain: "Brain", slot: int) -> np.ndarray:
        """The recall neurons of ``slot`` (in every sector), read from the whole brain's rows (a rank's count only its own)."""
        targets, lengths = _whole_rows(brain, self.slot_pathway)
        rows = range(slot * self.group, (slot + 1) * self.group)
        return np.unique(np.concatenate([targets[row, : lengths[row]] for row in rows] or [np.zeros(0, np.int32)])).astype(np.int64)

    def _detector_columns(self, brain: "Brain") -> np.ndarray:
        """int64 ``[detectors, units, 3, fan_in]``: where (in the whole brain's flat synapses) unit ``u``'s phase ``g`` reaches detector ``d``; -1 where it does not."""
        if self._columns is not None:
            return self._columns
        pathway = self.detectors
        region = brain.input_region
        lo, _ = pathway.source
        t_lo, t_hi = pathway.target
        k = int(brain.synapses.table[pathway.index][4])
        targets, lengths = _whole_rows(brain, pathway)
        places = region.places
        reps = pathway.spec.fan_in
        self._units = region.spec.patches * places
        columns = np.full((t_hi - t_lo, self._units, 3, reps), -1, dtype=np.int64)
        local = np.arange(targets.shape[0])
        ids = local + lo - region.start
        unit = (ids // region.patch_size) * places + (ids % region.patch_size) % places
        phase = brain.memory_phase[local + lo].astype(np.int64)
        rows, slots = np.nonzero(np.arange(k)[None, :] < lengths[:, None])
        keep = phase[rows] >= 0
        rows, slots = rows[keep], slots[keep]
        detector = targets[rows, slots].astype(np.int64) - t_lo
        # the j-th synapse of (detector, unit, phase): in source order, as the connector dealt them
        key = (detector * self._units + unit[rows]) * 3 + phase[rows]
        order = np.lexsort((rows, key))
        key, rows, slots, detector = key[order], rows[order], slots[order], detector[order]
        first = np.searchsorted(key, key, side="left")
        j = np.arange(key.size) - first
        fits = j < reps
        columns[detector[fits], unit[rows[fits]], phase[rows[fits]], j[fits]] = pathway.offset + rows[fits] * k + slots[fits]
        self._columns = columns
        return columns

    def _write(self, brain: "Brain", positions: np.ndarray, values: np.ndarray) -> None:
        """Synapse weights at whole-brain flat ``positions`` (on a rank: wherever its reordered rows keep them)."""
        if brain.partition is not None:
            if self._inverse is None:
                places = canonical_positions(brain.synapses.table, brain.partition.slots)
                self._inverse = np.empty_like(places)
                self._inverse[places] = np.arange(places.size)
            positions = self._inverse[positions]
        backend = brain.backend
        brain.synapses.weights[backend.asarray(positions)] = backend.asarray(np.asarray(values, dtype=brain.dtype))

    def _sustained(self, brain: "Brain") -> np.ndarray:
        """bool ``[N]``: the working-memory neurons a held loop keeps firing.

        A loop neuron fires a step after any spike of the previous phase reaches it; once the
        character's stimulus has ended, one that no sustained neuron reaches stays silent
        (about 1 in 10 at 200k: each neuron sends 3 synapses to random neurons of the next
        phase). The sustained set is what remains after removing such neurons until none is left.
        """
        if self._held is not None:
            return self._held
        held = brain.memory_phase >= 0
        loops = [p for p in brain.pathways if p.spec.connector == "loops"]
        for pathway in loops:
            targets, lengths = _whole_rows(brain, pathway)
            lo = pathway.source[0]
            rows, slots = np.nonzero(np.arange(targets.shape[1])[None, :] < lengths[:, None])
            sources, ends = rows + lo, targets[rows, slots].astype(np.int64)
            while True:
                reached = np.zeros(held.size, dtype=bool)
                reached[ends[held[sources]]] = True
                pruned = held & (reached | (brain.memory_phase < 0))
                if np.array_equal(pruned, held):
                    break
                held = pruned
        self._held = held
        return held

    # ---- the snapshot -----------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        if not self.count:
            return {}
        text = json.dumps({"prompts": self.prompts, "bound_at": self.bound_at.tolist(), "bindings": self.bindings}, ensure_ascii=True)
        return {"hippocampus/slots": np.frombuffer(text.encode("ascii"), dtype=np.uint8).copy()}

    def restore(self, arrays: dict[str, Any]) -> None:
        """From a snapshot's arrays (ValueError naming what is wrong); without them: nothing bound."""
        if "hippocampus/slots" not in arrays or not self.count:
            self.prompts = [None] * self.count
            self.bound_at[:] = UNBOUND
            self.bindings = 0
            return
        try:
            state = json.loads(np.asarray(arrays["hippocampus/slots"], dtype=np.uint8).tobytes().decode("ascii"))
            prompts = [None if p is None else str(p) for p in state["prompts"]]
            bound_at = np.asarray(state["bound_at"], dtype=np.int64)
            bindings = int(state["bindings"])
        except (KeyError, ValueError, TypeError, UnicodeDecodeError):
            raise ValueError("hippocampus/slots is not the list of the hippocampus's bound prompts") from None
        if len(prompts) != self.count or bound_at.shape != (self.count,):
            raise ValueError(f"hippocampus/slots holds {len(prompts)} slots, this brain's hippocampus {self.count}")
        self.prompts, self.bound_at, self.bindings = prompts, bound_at, bindings


def _whole_rows(brain: "Brain", pathway: Pathway) -> tuple[np.ndarray, np.ndarray]:
    """A pathway's targets and lengths as the whole brain has them (a rank's rows are reordered, its lengths count only its own)."""
    host = brain.backend.to_host
    targets = host(pathway.projection.targets)
    if brain.partition is None:
        return targets, host(pathway.projection.lengths)
    lengths = brain._whole_lengths[pathway.row_offset : pathway.row_offset + targets.shape[0]]
    slots = brain.partition.slots[pathway.offset : pathway.offset + targets.size].reshape(targets.shape).astype(np.int64)
    ordered = np.empty_like(targets)
    np.put_along_axis(ordered, slots, targets, axis=1)
    return ordered, lengths
