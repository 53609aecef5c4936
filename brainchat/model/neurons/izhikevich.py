"""The Izhikevich neuron, in its own units (v in mV, t in ms), sub-stepped inside the 1-ms brain step.

Izhikevich 2003 (IEEE Trans Neural Netw 14:1569):

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I
    du/dt = a (b v - u)
    when v >= 30 mV:  v <- c,  u <- u + d

Presets (a, b, c, d) of that paper's figure 2: regular spiking RS, intrinsically bursting IB,
chattering CH, fast spiking FS, low-threshold spiking LTS, thalamo-cortical TC, resonator RZ;
v starts at -65 mV and u at b v.

**Numerics.** One 1-ms step is ``substeps`` forward-Euler steps of 1/substeps ms (10 by
default: dt = 0.1 ms). At dt = 1 ms the fast types are far from converged (FS: 110 spikes in
1 s at I = 10 against 136 at dt = 0.01 ms; the paper's own two half-steps of v give 63), at
dt = 0.1 ms they are within a few per cent (shared/research/models.md; checked in
``tests/test_neuron_models.py``). Both v and u move with the v of the start of the sub-step
(plain Euler, NEST's ``consistent_integration``).

**Guards**: NaN input is 0 and the current is clipped to +-:data:`MAX_CURRENT`; v is held within
[:data:`V_FLOOR`, 30] (the quadratic of a runaway negative v would overflow) and u within
+-:data:`MAX_U`, so no input puts NaN or inf into the state. A step reports each neuron's
spike count.

float32 and float64 here (the paper's units): in float16 a membrane in mV stalls (its spacing
near -65 mV is 0.0625 mV). A float16 brain's Izhikevich region stores the state scaled to
threshold units and computes in float32 (:mod:`.models`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

MAX_CURRENT = 1e4
V_PEAK = 30.0
V_FLOOR = -120.0
MAX_U = 1e4
DEFAULT_SUBSTEPS = 10


@dataclass(frozen=True)
class IzhikevichParams:
    a: float
    b: float
    c: float
    d: float


PRESETS: dict[str, IzhikevichParams] = {
    "RS": IzhikevichParams(0.02, 0.2, -65.0, 8.0),
    "IB": IzhikevichParams(0.02, 0.2, -55.0, 4.0),
    "CH": IzhikevichParams(0.02, 0.2, -50.0, 2.0),
    "FS": IzhikevichParams(0.1, 0.2, -65.0, 2.0),
    "LTS": IzhikevichParams(0.02, 0.25, -65.0, 2.0),
    "TC": IzhikevichParams(0.02, 0.25, -65.0, 0.05),
    "RZ": IzhikevichParams(0.1, 0.26, -65.0, 2.0),
}


def preset(name: str, **changes: float) -> IzhikevichParams:
    if name not in PRESETS:
        raise ValueError(f"unknown Izhikevich preset {name!r}; presets: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **changes)


@dataclass
class IzhikevichState:
    v: Any
    u: Any

    @classmethod
    def resting(cls, xp: Any, n: int, params: IzhikevichParams, dtype: Any) -> "IzhikevichState":
        return cls(v=xp.full(n, -65.0, dtype=dtype), u=xp.full(n, params.b * -65.0, dtype=dtype))

    def arrays(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}


def izhikevich_step(xp: Any, state: IzhikevichState, params: IzhikevichParams, current: Any, substeps: int = DEFAULT_SUBSTEPS) -> Any:
    """One 1-ms step of ``substeps`` Euler steps, in place; returns each neuron's spike count in the step (int16)."""
    dtype = state.v.dtype
    kind = dtype.type
    h = kind(1.0 / substeps)
    current = xp.asarray(current, dtype=dtype)
    current = xp.clip(xp.nan_to_num(current, nan=0.0, posinf=MAX_CURRENT, neginf=-MAX_CURRENT), -MAX_CURRENT, MAX_CURRENT)
    a, b, c, d = (kind(value) for value in (params.a, params.b, params.c, params.d))
    v, u = state.v, state.u
    spikes = xp.zeros(v.shape, dtype=xp.int16)
    for _ in range(substeps):
        dv = kind(0.04) * v * v + kind(5.0) * v + kind(140.0) - u + current
        du = a * (b * v - u)
        v = xp.clip(v + h * dv, kind(V_FLOOR), None)
        u = u + h * du
        fired = v >= kind(V_PEAK)
        v = xp.where(fired, c, v)
        u = xp.clip(xp.where(fired, u + d, u), kind(-MAX_U), kind(MAX_U))
        spikes += fired
    state.v[...] = v
    state.u[...] = u
    return spikes
