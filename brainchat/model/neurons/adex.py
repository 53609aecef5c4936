"""The adaptive exponential integrate-and-fire neuron (AdEx), in physical units, sub-stepped inside the 1-ms brain step.

Brette & Gerstner 2005 (J Neurophysiol 94:3637):

    C dV/dt = -gL (V - EL) + gL DeltaT exp((V - VT) / DeltaT) - w + I
    tau_w dw/dt = a (V - EL) - w
    when V >= V_peak:  V <- Vr,  w <- w + b

V in mV, w and I in pA, C in pF, conductances in nS, times in ms (pF/nS = ms, so the units
close). The firing-pattern presets are table 1 of Naud, Marcille, Clopath & Gerstner 2008
(Biol Cybern 99:335), with VT = -50 mV, DeltaT = 2 mV and the spike cut at V_peak = 0 mV as
that paper has it; each preset also carries the step current the paper shows it with.

**Numerics.** The model is stiff near the spike (the exponential), so one 1-ms step is
``substeps`` forward-Euler steps of 1/substeps ms (10 by default: dt = 0.1 ms, the step of
the Brian2 examples of both papers; measured against dt = 0.01 ms in
``tests/test_neuron_models.py``). Brian2 and NEST integrate it the same way or adaptively;
exponential Euler does not apply (the equations are not conditionally linear).

**Guards** (nothing a user can feed in may put NaN or inf into the state): the input current
has NaN replaced by 0 and is clipped to +-:data:`MAX_CURRENT_PA`; the exponent's argument is
clipped to :data:`EXP_ARGUMENT_MAX` (NEST clamps it too, nest-simulator#229, #474), so the
exponential stays finite even in float16; V is held within [:data:`V_FLOOR_MV`, V_peak] and w
within +-:data:`MAX_W_PA`. A neuron can spike once per sub-step; a brain step reports how
many times each neuron spiked in it.

float32 and float64 here (the paper's units): in float16 the products of the step overflow
(gL DeltaT exp(10) is 440,000 pA in the Naud sets) and a membrane in mV stalls (its spacing
near -65 mV is 0.0625 mV). A float16 brain's AdEx region stores the state scaled to
threshold units and computes in float32 (:mod:`.models`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

MAX_CURRENT_PA = 1e5  # +-100 nA: far beyond any preset's drive, small enough that one sub-step stays finite in float16
EXP_ARGUMENT_MAX = 10.0  # exp(10) = 22,026; float16 overflows above 11.09
V_FLOOR_MV = -200.0
MAX_W_PA = 1e5
DEFAULT_SUBSTEPS = 10


@dataclass(frozen=True)
class AdExParams:
    """One AdEx parameter set; ``current_pA`` is the step current the preset is shown with (not a parameter of the model)."""

    C_pF: float
    gL_nS: float
    EL_mV: float
    VT_mV: float
    DeltaT_mV: float
    a_nS: float
    tau_w_ms: float
    b_pA: float
    Vr_mV: float
    V_peak_mV: float = 0.0
    current_pA: float = 0.0


def _naud(C, gL, EL, a, tau_w, b, Vr, current) -> AdExParams:
    return AdExParams(C_pF=C, gL_nS=gL, EL_mV=EL, VT_mV=-50.0, DeltaT_mV=2.0, a_nS=a, tau_w_ms=tau_w, b_pA=b, Vr_mV=Vr, current_pA=current)


# Naud et al. 2008, table 1: C (pF), gL (nS), EL (mV), a (nS), tau_w (ms), b (pA), Vr (mV), I (pA)
PRESETS: dict[str, AdExParams] = {
    "tonic": _naud(200, 10, -70, 2, 30, 0, -58, 500),
    "adapting": _naud(200, 12, -70, 2, 300, 60, -58, 500),
    "initial_burst": _naud(130, 18, -58, 4, 150, 120, -50, 400),
    "regular_bursting": _naud(200, 10, -58, 2, 120, 100, -46, 210),
    "delayed_accelerating": _naud(200, 12, -70, -10, 300, 0, -58, 300),
    "delayed_regular_bursting": _naud(100, 10, -65, -10, 90, 30, -47, 110),
    "transient": _naud(100, 10, -65, 10, 90, 100, -47, 180),
    "irregular": _naud(100, 12, -60, -11, 130, 30, -48, 160),
}


def preset(name: str, **changes: float) -> AdExParams:
    """A named preset, with any parameter changed (``preset("adapting", b_pA=30)``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown AdEx preset {name!r}; presets: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **changes)


@dataclass
class AdExState:
    """State of ``n`` neurons: V (mV) and w (pA), ``[n]`` arrays of the backend."""

    V: Any
    w: Any

    @classmethod
    def resting(cls, xp: Any, n: int, params: AdExParams, dtype: Any) -> "AdExState":
        return cls(V=xp.full(n, params.EL_mV, dtype=dtype), w=xp.zeros(n, dtype=dtype))

    def arrays(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def clean_current(xp: Any, current: Any, dtype: Any) -> Any:
    """An input current with NaN as 0 and everything within +-MAX_CURRENT_PA (infinities included)."""
    current = xp.asarray(current, dtype=dtype)
    return xp.clip(xp.nan_to_num(current, nan=0.0, posinf=MAX_CURRENT_PA, neginf=-MAX_CURRENT_PA), -MAX_CURRENT_PA, MAX_CURRENT_PA)


def adex_step(xp: Any, state: AdExState, params: AdExParams, current_pA: Any, substeps: int = DEFAULT_SUBSTEPS) -> Any:
    """One 1-ms step of ``substeps`` Euler steps, in place; returns each neuron's spike count in the step (int16)."""
    dtype = state.V.dtype
    kind = dtype.type
    h = kind(1.0 / substeps)
    current = clean_current(xp, current_pA, dtype)
    C, gL, EL, VT, DeltaT = (kind(v) for v in (params.C_pF, params.gL_nS, params.EL_mV, params.VT_mV, params.DeltaT_mV))
    a, tau_w, b, Vr, peak = (kind(v) for v in (params.a_nS, params.tau_w_ms, params.b_pA, params.Vr_mV, params.V_peak_mV))
    V, w = state.V, state.w
    spikes = xp.zeros(V.shape, dtype=xp.int16)
    for _ in range(substeps):
        argument = xp.minimum((V - VT) / DeltaT, kind(EXP_ARGUMENT_MAX))
        dV = (gL * (EL - V) + gL * DeltaT * xp.exp(argument) - w + current) / C
        dw = (a * (V - EL) - w) / tau_w
        V = xp.clip(V + h * dV, kind(V_FLOOR_MV), None)
        w = w + h * dw
        fired = V >= peak
        V = xp.where(fired, Vr, V)
        w = xp.clip(xp.where(fired, w + b, w), kind(-MAX_W_PA), kind(MAX_W_PA))
        spikes += fired
    state.V[...] = V
    state.w[...] = w
    return spikes
