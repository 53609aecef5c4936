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

Plastic synapses: the excitatory synapses of every pathway declared ``plastic`` (the
``readout`` of the default brain), listed once at build time, by source (for LTD) and by
target (for LTP). Traces are kept only for the neurons those pathways join: elsewhere they
would never be read.

What it costs follows activity: a tag is written only where it changes an eligibility, and
the weight update (every ``update_interval`` steps) is skipped while no eligibility can be
non-zero and every plastic weight is within its bounds -- a brain nobody talks to does not
sweep its 3 million plastic synapses for nothing (the fused kernels; the NumPy reference
computes the same values the long way). An eligibility that decays below
:data:`ELIGIBILITY_FLOOR` becomes 0, so about 30 s after a reply there is nothing eligible
left and the sweeps stop again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from brainchat.config import PlasticitySection


@dataclass(frozen=True)
class PlasticIndex:
    """Which synapses learn, as device arrays; built once from the connectivity.

    Entry ``p`` is synapse ``synapses[p]`` of the brain's flat synapse arrays, from neuron
    ``sources[p]`` onto ``targets[p]``. Entries are sorted by source: ``row_start[j] ..
    row_start[j + 1]`` are neuron ``j``'s. ``by_target[target_start[i] .. target_start[i + 1]]``
    are the entries ending on ``i``. ``trace_ranges`` int64 ``[T, 2]``: the id ranges whose
    STDP traces are kept (sources and targets of the plastic pathways), ascending, disjoint.
    """

    sources: Any
    synapses: Any
    targets: Any
    row_start: Any
    by_target: Any
    target_start: Any
    trace_ranges: np.ndarray

    @property
    def size(self) -> int:
        return int(self.sources.shape[0])


def build_index(backend: Any, pathways: list, excitatory: np.ndarray, neurons: int) -> PlasticIndex:
    """The plastic synapses of the plastic ``pathways`` (built, with host projections): their excitatory sources' synapses."""
    sources, synapses, ends, spans = [], [], [], []
    for pathway in pathways:
        projection = pathway.projection
        targets = np.asarray(projection.targets)
        lengths = np.asarray(projection.lengths)
        lo = pathway.source[0]
        width = targets.shape[1]
        live = (np.arange(width)[None, :] < lengths[:, None]) & excitatory[lo : lo + lengths.size][:, None]
        rows, slots = np.nonzero(live)  # sorted by row, then slot
        sources.append(rows + lo)
        synapses.append(pathway.offset + rows.astype(np.int64) * width + slots)
        ends.append(targets[rows, slots])
        spans += [pathway.source, pathway.target]
    sources_all = np.concatenate(sources) if sources else np.zeros(0, np.int64)
    order = np.argsort(sources_all, kind="stable")
    sources_all = sources_all[order]
    synapses_all = (np.concatenate(synapses) if synapses else np.zeros(0, np.int64))[order]
    ends_all = (np.concatenate(ends) if ends else np.zeros(0, np.int32))[order]
    row_start = np.searchsorted(sources_all, np.arange(neurons + 1)).astype(np.int64)
    by_target = np.argsort(ends_all, kind="stable").astype(np.int64)
    target_start = np.searchsorted(ends_all[by_target], np.arange(neurons + 1)).astype(np.int64)
    device = backend.asarray
    return PlasticIndex(
        device(sources_all.astype(np.int32)), device(synapses_all.astype(np.int64)), device(ends_all.astype(np.int32)),
        device(row_start), device(by_target), device(target_start), _merge(spans),
    )


def _merge(spans: list[tuple[int, int]]) -> np.ndarray:
    merged: list[list[int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return np.array(merged, dtype=np.int64).reshape(-1, 2)


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
        eligibility[ending] += xp.float32(params.ltp) * trace[index.sources[ending]].astype(xp.float32)
        leaving = _ranges(xp, index.row_start[fired], index.row_start[fired + 1])
        loss = xp.float32(params.ltd) * trace[index.targets[leaving]].astype(xp.float32)
        loss += xp.float32(params.pre_spike_depression if pairing == PAIRING_TEACH else 0.0)
        eligibility[leaving] -= loss
    for lo, hi in index.trace_ranges:
        kept = trace[lo:hi]
        kept *= trace.dtype.type(params.trace_decay)
        kept += spiked[lo:hi].astype(trace.dtype)


# An eligibility that has decayed below this is zero: it could move a weight by at most
# learning_rate x dopamine x 1e-4, and it is about 30 s after its last pairing (tau 3 s).
# Without the floor the tags of the last reply decayed for minutes into denormal floats,
# whose arithmetic is about 30x slower (measured: 20.5 vs 0.65 ms for a sweep of 3 million).
ELIGIBILITY_FLOOR = 1e-4


def update_weights(xp: Any, index: PlasticIndex, state: PlasticityState, weights: Any, params: PlasticityParams) -> None:
    """Every ``interval`` steps: decay eligibility (to 0 below :data:`ELIGIBILITY_FLOOR`), move weights (the flat synapse weights) by dopamine x eligibility, decay dopamine."""
    state.eligibility *= xp.float32(params.eligibility_decay)
    state.eligibility[xp.abs(state.eligibility) < xp.float32(ELIGIBILITY_FLOOR)] = 0
    dopamine = state.dopamine
    change = state.eligibility * (xp.float32(params.learning_rate) * dopamine)
    moved = weights[index.synapses] + change.astype(weights.dtype)
    weights[index.synapses] = xp.clip(moved, 0, params.weight_max)
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
        moved = weights[index.synapses] + change.astype(weights.dtype)
        weights[index.synapses] = xp.clip(moved, 0, params.weight_max)
    state.eligibility.fill(0)
    state.dopamine.fill(0)
