"""Leaky integrate-and-fire neurons with a refractory state and an adaptive threshold.

One step is dt = 1 ms. Potentials are in units of the resting threshold. For each neuron:

    membrane  <- membrane * exp(-dt / membrane_tau) + input          (held at reset while refractory)
    threshold  = threshold_rest + threshold_fast + threshold_homeostatic
    spike      = membrane >= threshold and not refractory
    on a spike: membrane <- reset, refractory <- refractory_steps, threshold_fast += threshold_jump
    threshold_fast <- threshold_fast * exp(-dt / threshold_tau)

``threshold_homeostatic`` is moved by :mod:`brainchat.model.homeostasis`, slowly, toward the
target rate. The fast adaptation (a spike-triggered threshold increase that decays with
``threshold_tau``) is the adaptive threshold of e.g. Brette & Gerstner 2005 reduced to LIF.

The step updates the state in place and returns the spikes, so a test builds a state, steps
it and looks; a snapshot writes every field of :class:`LIFState`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from brainchat.config import NeuronSection

DT_MS = 1.0


@dataclass(frozen=True)
class LIFParams:
    """Per-step constants of the LIF model, derived from the ``[neurons]`` config section."""

    membrane_decay: float
    threshold_rest: float
    reset: float
    refractory_steps: int
    threshold_jump: float
    threshold_decay: float

    @classmethod
    def from_config(cls, section: NeuronSection) -> "LIFParams":
        return cls(
            membrane_decay=math.exp(-DT_MS / section.membrane_tau_ms),
            threshold_rest=section.threshold_rest,
            reset=section.reset,
            refractory_steps=round(section.refractory_ms / DT_MS),
            threshold_jump=section.threshold_jump,
            threshold_decay=math.exp(-DT_MS / section.threshold_tau_ms),
        )


@dataclass
class LIFState:
    """State of ``n`` neurons, every field an ``[n]`` array of the backend."""

    membrane: Any  # dtype, in units of the resting threshold
    threshold_fast: Any  # dtype, spike-triggered threshold increase
    threshold_homeostatic: Any  # dtype, slow per-neuron offset set by homeostasis
    refractory: Any  # int16, steps of refractoriness left

    @classmethod
    def at_rest(cls, xp: Any, n: int, dtype: Any) -> "LIFState":
        """Every neuron at rest: membrane 0, no adaptation, not refractory."""
        return cls(
            membrane=xp.zeros(n, dtype=dtype),
            threshold_fast=xp.zeros(n, dtype=dtype),
            threshold_homeostatic=xp.zeros(n, dtype=dtype),
            refractory=xp.zeros(n, dtype=xp.int16),
        )

    def arrays(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def slice(self, lo: int, hi: int) -> "LIFState":
        """Neurons ``lo .. hi`` as views (stepping them steps these)."""
        return LIFState(**{name: array[lo:hi] for name, array in self.arrays().items()})


def threshold(xp: Any, state: LIFState, params: LIFParams) -> Any:
    """The effective threshold of every neuron, ``[n]``."""
    total = state.threshold_fast + state.threshold_homeostatic
    total += total.dtype.type(params.threshold_rest)
    return total


def thresholds(xp: Any, state: LIFState, params: list[LIFParams], bounds: Any) -> Any:
    """The effective threshold of every neuron of a brain whose regions ``bounds[r] .. bounds[r + 1]`` have ``params[r]``."""
    total = state.threshold_fast + state.threshold_homeostatic
    for r, region in enumerate(params):
        total[int(bounds[r]) : int(bounds[r + 1])] += total.dtype.type(region.threshold_rest)
    return total


def lif_step(xp: Any, state: LIFState, params: LIFParams, input_current: Any, floored: bool = False) -> Any:
    """Advance ``state`` by one 1-ms step under ``input_current`` ``[n]``; returns spikes (bool ``[n]``).

    With ``floored`` the membranes never go below ``reset``: inhibition shunts (holds the
    membrane at rest) instead of hyperpolarising, so that lifting it lets the neuron respond
    at once (the quiet regions).
    """
    membrane = state.membrane
    kind = membrane.dtype.type
    membrane *= kind(params.membrane_decay)
    membrane += input_current
    if floored:
        xp.maximum(membrane, kind(params.reset), out=membrane)
    refractory = state.refractory > 0
    xp.copyto(membrane, kind(params.reset), where=refractory)
    spiked = membrane >= threshold(xp, state, params)
    spiked &= ~refractory
    xp.copyto(membrane, kind(params.reset), where=spiked)
    state.refractory -= refractory.astype(xp.int16)
    xp.copyto(state.refractory, xp.int16(params.refractory_steps), where=spiked)
    state.threshold_fast *= kind(params.threshold_decay)
    state.threshold_fast += spiked.astype(membrane.dtype) * kind(params.threshold_jump)
    return spiked
