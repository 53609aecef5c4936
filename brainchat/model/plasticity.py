"""Reward learning: STDP eligibility traces turned into weight changes by dopamine.

The three-factor rule of Izhikevich 2007 ("Solving the distal reward problem through linkage
of STDP and dopamine signaling", Cereb Cortex 17:2443):

* every neuron has an STDP trace ``x`` (``x <- x * exp(-1/stdp_tau) + spike``; 20 ms);
* each plastic synapse ``j -> i`` has an eligibility ``c``. With ``rule = "stdp"``: when ``i`` fires,
  ``c += ltp * x[j]`` (pre before post); when ``j`` fires, ``c -= ltd_ratio * ltp * x[i]``
  (post before pre). Both use the traces of the steps before, then the traces take the new
  spikes. The paper's LTD is 1.5x LTP, for neurons firing about 1 Hz; at this brain's 50 Hz
  chance pairings dominate and made every eligibility negative (mean -48, sd 12, 20k
  neurons after 3 s), so one reward drove every plastic weight to 0 and a punishment to its
  maximum. With ``ltd_ratio = 1`` chance pairings cancel (mean +1.4, sd 4.7) and a reward
  moves the weights of the synapses that were causally active;
* with ``rule = "hebbian"`` (the default) ``c += ltp * x[j]`` when ``i`` fires (the tag:
  the source fired just before its target), and nothing else while a free reply is read or
  echoed (``pairing`` tag). For the readout onto the quiet output patches (they fire only
  when driven) that is the right baseline: a silent patch is not "below its rate", so neither
  a reward nor a punishment touches the synapses onto it; a reward strengthens the pathway to
  the character that was said, a punishment weakens it and nothing else.
  While a teacher drives the outputs (``pairing`` teach) the tag becomes the covariance rule
  centred on the target (Sejnowski 1977, J Math Biol 4:303): ``c += ltp * x[j] * (s_i -
  theta)`` per step, ``theta`` the homeostatic target rate; the ``-theta`` part, integrated
  over a source spike's trace, is a fixed loss ``ltp * theta / (1 - exp(-1/stdp_tau))`` per
  source spike. So sources lose their pull on every patch the teacher holds down. Centring the
  source side too (``x[j] - mean``) was tried and dropped: association neurons are silent
  most of the time, and "silent source, target off its rate" then moved every synapse onto a
  patch alike. Pure STDP cannot teach: a target driven by a teacher is not caused by its
  sources, and at these rates pre-post and post-pre pairings cancel;
* every ``update_interval`` steps (10 ms, as in the paper): ``c`` decays by
  ``exp(-interval / eligibility_tau)``, weights move by
  ``learning_rate * dopamine * c`` and are clipped to ``[0, weight_max]`` (an excitatory
  synapse stays excitatory), and dopamine decays by ``exp(-interval / dopamine_tau)``;
* a reward adds ``reward * reward_dopamine`` to the dopamine level, a punishment subtracts.

The paper's eligibility time constant is 1 s; a person presses ``+`` one to five seconds after
a reply, so the default here is longer (``eligibility_tau_ms``, see docs/model.md).

Plastic synapses: with ``plastic = "output"`` the readout (association band -> output patches;
without the pathways, every excitatory synapse onto an output patch), or every excitatory one
(``"all"``). They are listed once at
build time, by presynaptic row (for LTD) and by target (for LTP).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from brainchat.config import PlasticitySection
from brainchat.model.geometry import PRINTABLE

FIRST_OUTPUT_REGION = 1 + len(PRINTABLE)


@dataclass(frozen=True)
class PlasticIndex:
    """Which synapses learn, as device arrays; built once from the connectivity.

    Entry ``p`` is synapse ``(rows[p], slots[p])`` of ``weights[N, K]``, ending on
    ``targets[p]``. Entries are sorted by row: ``row_start[j] .. row_start[j + 1]`` are neuron
    ``j``'s. ``by_target[target_start[i] .. target_start[i + 1]]`` are the entries ending on ``i``.
    """

    rows: Any
    slots: Any
    targets: Any
    row_start: Any
    by_target: Any
    target_start: Any

    @property
    def size(self) -> int:
        return int(self.rows.shape[0])


def build_index(backend: Any, targets: np.ndarray, sources: np.ndarray, region_of: np.ndarray, plastic: str) -> PlasticIndex:
    """The plastic synapses of host connectivity ``targets[N, K]`` among the rows of ``sources`` (bool ``[N]``; ``plastic``: output, all or none)."""
    n, k = targets.shape
    learns = np.repeat(sources[:, None], k, axis=1)
    if plastic == "none":
        learns[...] = False
    elif plastic == "output":
        learns &= region_of[targets] >= FIRST_OUTPUT_REGION
    rows, slots = np.nonzero(learns)  # sorted by row, then slot
    ends = targets[rows, slots]
    row_start = np.searchsorted(rows, np.arange(n + 1)).astype(np.int64)
    by_target = np.argsort(ends, kind="stable").astype(np.int64)
    target_start = np.searchsorted(ends[by_target], np.arange(n + 1)).astype(np.int64)
    device = backend.asarray
    return PlasticIndex(
        device(rows.astype(np.int32)), device(slots.astype(np.int32)), device(ends.astype(np.int32)),
        device(row_start), device(by_target), device(target_start),
    )


@dataclass
class PlasticityState:
    """``trace`` ``[N]`` (dtype), ``eligibility`` ``[P]`` float32, ``dopamine`` and ``reward_baseline`` float32 0-d."""

    trace: Any
    eligibility: Any
    dopamine: Any
    reward_baseline: Any

    @classmethod
    def initial(cls, xp: Any, neurons: int, synapses: int, dtype: Any) -> "PlasticityState":
        return cls(
            xp.zeros(neurons, dtype=dtype), xp.zeros(synapses, dtype=xp.float32),
            xp.asarray(0.0, dtype=xp.float32), xp.asarray(0.0, dtype=xp.float32),
        )

    def arrays(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class PlasticityParams:
    """Per-step and per-update constants from the ``[plasticity]`` section."""

    trace_decay: float
    ltp: float
    ltd: float  # times the postsynaptic trace, per presynaptic spike (STDP)
    pre_spike_depression: float  # per presynaptic spike while taught, whatever the target does
    eligibility_decay: float  # per update
    dopamine_decay: float  # per update
    learning_rate: float
    weight_max: float
    interval: int
    reward_dopamine: float
    reward_baseline_rate: float

    @classmethod
    def from_config(cls, section: PlasticitySection, target_fraction: float) -> "PlasticityParams":
        interval = section.update_interval
        trace_decay = math.exp(-1.0 / section.stdp_tau_ms)
        if section.rule == "hebbian":
            # while taught, c += (post spike - theta) * pre trace: the -theta part, integrated
            # over a source spike's trace, is a fixed loss per source spike (module docstring)
            ltd, pre = 0.0, section.ltp * target_fraction / (1.0 - trace_decay)
        else:
            ltd, pre = section.ltp * section.ltd_ratio, 0.0
        return cls(
            trace_decay=trace_decay,
            ltp=section.ltp,
            ltd=ltd,
            pre_spike_depression=pre,
            eligibility_decay=math.exp(-interval / section.eligibility_tau_ms),
            dopamine_decay=math.exp(-interval / section.dopamine_tau_ms),
            learning_rate=section.learning_rate,
            weight_max=section.weight_max,
            interval=interval,
            reward_dopamine=section.reward_dopamine,
            reward_baseline_rate=section.reward_baseline_rate,
        )


def _ranges(xp: Any, starts: Any, stops: Any) -> Any:
    """Concatenation of ``arange(starts[i], stops[i])`` for every ``i`` (int64)."""
    lengths = stops - starts
    total = int(lengths.sum())
    if total == 0:
        return xp.zeros(0, dtype=xp.int64)
    offsets = xp.cumsum(lengths) - lengths
    within = xp.arange(total, dtype=xp.int64) - xp.repeat(offsets, lengths)
    return xp.repeat(starts, lengths) + within


PAIRING_OFF, PAIRING_TAG, PAIRING_TEACH = 0, 1, 2


def stdp_step(xp: Any, index: PlasticIndex, state: PlasticityState, spiked: Any, params: PlasticityParams, pairing: int = PAIRING_TEACH) -> None:
    """One step of eligibility and traces, given the step's spikes (bool ``[N]``).

    ``pairing``: off (traces only), tag (without the per-source depression) or teach (all terms).
    """
    trace = state.trace
    eligibility = state.eligibility
    fired = xp.flatnonzero(spiked) if pairing else None
    if pairing and fired.size:
        ending = index.by_target[_ranges(xp, index.target_start[fired], index.target_start[fired + 1])]
        eligibility[ending] += xp.float32(params.ltp) * trace[index.rows[ending]].astype(xp.float32)
        leaving = _ranges(xp, index.row_start[fired], index.row_start[fired + 1])
        loss = xp.float32(params.ltd) * trace[index.targets[leaving]].astype(xp.float32)
        loss += xp.float32(params.pre_spike_depression if pairing == PAIRING_TEACH else 0.0)
        eligibility[leaving] -= loss
    trace *= trace.dtype.type(params.trace_decay)
    trace += spiked.astype(trace.dtype)


def update_weights(xp: Any, index: PlasticIndex, state: PlasticityState, weights: Any, params: PlasticityParams) -> None:
    """Every ``interval`` steps: decay eligibility, move weights by dopamine x eligibility, decay dopamine."""
    state.eligibility *= xp.float32(params.eligibility_decay)
    dopamine = state.dopamine
    change = state.eligibility * (xp.float32(params.learning_rate) * dopamine)
    moved = weights[index.rows, index.slots] + change.astype(weights.dtype)
    weights[index.rows, index.slots] = xp.clip(moved, 0, params.weight_max)
    state.dopamine *= xp.float32(params.dopamine_decay)


def settle(xp: Any, index: PlasticIndex, state: PlasticityState, weights: Any, params: PlasticityParams) -> None:
    """Apply at once what the dopamine still present would do over the coming updates, then clear both traces.

    With dopamine ``D`` and eligibility ``c`` the updates to come add
    ``learning_rate * D * c * d_c / (1 - d_c * d_D)`` (the geometric sum of both decays).
    Used when a new line begins: what the last reward was about is settled, and nothing of it
    leaks into the next reply.
    """
    if index.size:
        decay = params.eligibility_decay
        factor = xp.float32(params.learning_rate * decay / (1.0 - decay * params.dopamine_decay))
        change = state.eligibility * (factor * state.dopamine)
        moved = weights[index.rows, index.slots] + change.astype(weights.dtype)
        weights[index.rows, index.slots] = xp.clip(moved, 0, params.weight_max)
    state.eligibility.fill(0)
    state.dopamine.fill(0)
