"""The neuron models as a region runs them: every state in units of the resting threshold.

A brain's synaptic weights, drives, noise and stimuli are membrane jumps per 1-ms step in
units of the gap between rest and threshold (a LIF region's :mod:`.lif`). A region of AdEx
or Izhikevich neurons takes the same input by scaling each model's equations so that its
rest is 0 and its threshold is 1 (docs/model.md, "Neuron models"):

* **AdEx** (:mod:`.adex`), with ``Delta = VT - EL`` and ``I0 = C Delta / 1 ms`` (the current
  that lifts the membrane from rest to VT in one step): ``m = (V - EL) / Delta``, ``w' = w /
  I0``, and an input ``x`` is the current ``x I0`` for the step. Then

      dm/dt = x - m / tau_m + (DeltaT / (Delta tau_m)) exp((m - 1) Delta / DeltaT) - w'
      dw'/dt = ((a / C) m - w') / tau_w,      tau_m = C / gL
      at m >= (V_peak - EL) / Delta:  m <- (Vr - EL) / Delta,  w' <- w' + b / I0

* **Izhikevich** (:mod:`.izhikevich`), with ``vr`` and ``vt`` the stable and unstable fixed
  points of ``0.04 v^2 + (5 - b) v + 140 = 0`` (rest and threshold: -70 and -50 mV for RS,
  -64.4 and -54.3 for LTS), ``Delta = vt - vr``: ``m = (v - vr) / Delta``, ``u' = (u - b vr) /
  Delta``, and an input ``x`` is the current ``x Delta`` for the step. Then

      dm/dt = x + p1 m + p2 m^2 - u',   p1 = 0.08 vr + 5,  p2 = 0.04 Delta
      du'/dt = a (b m - u')
      at m >= (30 - vr) / Delta:  m <- (c - vr) / Delta,  u' <- u' + d / Delta

Each is exact algebra on the paper's equations: a region of these neurons fires as the
paper's neurons fire under the current ``x I0`` (tested against :mod:`.adex` and
:mod:`.izhikevich`). Both take ``SUBSTEPS`` forward-Euler steps per 1-ms step.

**What the brain's LIF machinery means for them.** The homeostatic threshold offset
``theta`` (and a region's ``threshold_offset``) is an outward current ``theta x leak``, where
``leak = 1 - exp(-1 ms / tau)`` is the share of a membrane offset the model loses in a step
at rest (``tau = tau_m`` for AdEx, ``1 / (b - p1)`` for Izhikevich): for a LIF neuron a
threshold raised by ``theta`` and an input lowered by ``theta x leak`` have the same effect on
its steady state. The fast threshold jump and the refractory period are the LIF's stand-ins
for adaptation; these models have their own (w and u) and use neither. A quiet region's
membranes are held at or above rest (0), as a quiet LIF region's are at reset.

**Numerics.** The exponential is :func:`soft_exp`, ``(1 + y + ... + y^6 / 720)^64`` at ``y =
x / 64``, on an argument clipped to [-20, 10]: every operation a vector unit has (numba
without SVML leaves a loop that calls ``exp`` scalar: 10 calls per neuron and step), within
1.2e-5 of ``exp`` in float32 (tested), and the NumPy reference computes the same operations in the same
order, so the fused kernels are bit-identical to it. The input is cleaned (NaN -> 0, clipped
to +-``MAX_INPUT``), the membrane held within [floor, peak], the recovery variable within
+-``MAX_RECOVERY``: no input puts NaN or inf into the state.

**Precision.** The arithmetic is float32 for float16 and float32 brains, float64 for
float64 ones. A float16 brain stores these states in float16 and computes in float32: in
threshold units (0 at rest) float16 resolves 0.0005 near threshold, 0.01 mV of a 20-mV gap,
where a float16 membrane in mV near -65 would move in steps of 0.0625 mV and stall.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from brainchat.model.neurons import adex, izhikevich

LIF, ADEX, IZHIKEVICH, POISSON = 0, 1, 2, 3
KIND = {"lif": LIF, "adex": ADEX, "izhikevich": IZHIKEVICH, "poisson": POISSON}
DEFAULT_PRESET = {"lif": "", "adex": "adapting", "izhikevich": "RS", "poisson": ""}
POISSON_MAX_RATE_HZ = 150.0  # the earlier system's digit inputs: 0-150 Hz
SUBSTEPS = 10  # dt = 0.1 ms: see adex.py and izhikevich.py for the measurements against dt = 0.01 ms
MAX_INPUT = 100.0  # threshold units per step (a LIF stimulus is a few): 400 nA into a Naud AdEx neuron
MAX_RECOVERY = 1e3
EXP_LOW, EXP_HIGH = -20.0, 10.0
CONSTANTS = 10  # per region, see RegionModel.constants


def soft_exp(xp: Any, x: Any) -> Any:
    """exp(x) for x within [-20, 10], as (T6(x / 64))^64 with T6 the Taylor polynomial of degree 6; every operation in ``x``'s dtype.

    The fused kernels compute exactly these operations (relative error below 1e-5, tested).
    """
    kind = x.dtype.type
    y = x * kind(1.0 / 64.0)
    p = kind(1.0 / 720.0)
    for c in (1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0):
        p = p * y + kind(c)
    for _ in range(6):
        p = p * p
    return p


@dataclass(frozen=True)
class RegionModel:
    """A region's neuron model: its name, preset, the physical parameters and the constants of the scaled equations."""

    name: str
    preset: str
    physical: Any  # AdExParams, IzhikevichParams or None (LIF)
    constants: tuple[float, ...]  # CONSTANTS numbers, see adex_constants / izhikevich_constants

    @property
    def kind(self) -> int:
        return KIND[self.name]

    @property
    def input_unit(self) -> float:
        """What an input of 1 is in the model's own units: pA for AdEx, the paper's current for Izhikevich, 1 for LIF."""
        if self.name == "adex":
            p = self.physical
            return p.C_pF * (p.VT_mV - p.EL_mV)
        if self.name == "izhikevich":
            rest, threshold = izhikevich_fixed_points(self.physical.b)
            return threshold - rest
        return 1.0


def adex_constants(p: adex.AdExParams) -> tuple[float, ...]:
    """[0] 1/tau_m, [1] exp gain, [2] exp slope, [3] a/C, [4] 1/tau_w, [5] peak, [6] reset, [7] jump b/I0, [8] homeostatic leak, [9] floor."""
    gap = p.VT_mV - p.EL_mV
    tau_m = p.C_pF / p.gL_nS
    unit = p.C_pF * gap
    return (1.0 / tau_m, p.DeltaT_mV / (gap * tau_m), gap / p.DeltaT_mV, p.a_nS / p.C_pF, 1.0 / p.tau_w_ms,
            (p.V_peak_mV - p.EL_mV) / gap, (p.Vr_mV - p.EL_mV) / gap, p.b_pA / unit, 1.0 - math.exp(-1.0 / tau_m),
            (adex.V_FLOOR_MV - p.EL_mV) / gap)


def izhikevich_fixed_points(b: float) -> tuple[float, float]:
    """Rest and threshold (mV): the fixed points of 0.04 v^2 + (5 - b) v + 140 = 0 (u = b v), or -65 and -50 if there are none (b > 0.267)."""
    disc = (5.0 - b) ** 2 - 4 * 0.04 * 140.0
    if disc <= 1e-6:
        return -65.0, -50.0
    root = math.sqrt(disc)
    return (-(5.0 - b) - root) / 0.08, (-(5.0 - b) + root) / 0.08


def izhikevich_constants(p: izhikevich.IzhikevichParams) -> tuple[float, ...]:
    """[0] p1 = 0.08 vr + 5, [1] p2 = 0.04 Delta, [2] a, [3] b, [4] peak, [5] reset, [6] jump d/Delta, [7] p0, [8] homeostatic leak, [9] floor.

    With ``v = vr + Delta m`` and ``u = b vr + Delta u'``: ``0.04 v^2 + 5 v + 140 - u = Delta
    (p1 m + p2 m^2 - u') + (0.04 vr^2 + (5 - b) vr + 140)``, and the last term is 0 at a fixed
    point (where there is none it stays, as the constant current p0).
    """
    rest, threshold = izhikevich_fixed_points(p.b)
    gap = threshold - rest
    p1, p2 = 0.08 * rest + 5.0, 0.04 * gap
    offset = (0.04 * rest * rest + (5.0 - p.b) * rest + 140.0) / gap
    offset = 0.0 if abs(offset) < 1e-9 else offset  # rounding of the roots
    rate = max(p.b - p1, 1e-3)
    return (p1, p2, p.a, p.b, (izhikevich.V_PEAK - rest) / gap, (p.c - rest) / gap, p.d / gap, offset,
            1.0 - math.exp(-rate), (izhikevich.V_FLOOR - rest) / gap)


def parse_parameters(text: str) -> dict[str, float]:
    """``"b_pA=30, tau_w_ms=100"`` (commas or spaces between) as a dict; ValueError for anything else."""
    values: dict[str, float] = {}
    for item in text.replace(",", " ").split():
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise ValueError(f"{item!r} is not name=value")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"{item!r}: {value!r} is not a number") from None
        if not math.isfinite(values[name.strip()]):
            raise ValueError(f"{item!r} is not a finite number")
    return values


def region_model(model: str, preset: str = "", parameters: str = "") -> RegionModel:
    """The model of a region from its ``model``, ``preset`` and ``parameters`` keys; ValueError (naming the key) if they do not fit."""
    if model == "lif":
        if preset or parameters:
            raise ValueError("preset: a LIF region takes its parameters from [neurons] and its own keys, not a preset")
        return RegionModel("lif", "", None, (0.0,) * CONSTANTS)
    if model == "poisson":
        if preset:
            raise ValueError("preset: a poisson region has no presets; its one parameter is max_rate_hz")
        try:
            changes = parse_parameters(parameters)
        except ValueError as error:
            raise ValueError(f"parameters: {error}") from None
        if set(changes) - {"max_rate_hz"}:
            raise ValueError(f"parameters: poisson has no parameter {', '.join(sorted(set(changes) - {'max_rate_hz'}))}; it has max_rate_hz")
        rate = changes.get("max_rate_hz", POISSON_MAX_RATE_HZ)
        if not 0 < rate <= 1000:
            raise ValueError("parameters: max_rate_hz must be above 0 and at most 1000 (one spike per 1-ms step)")
        return RegionModel("poisson", "", None, (rate / 1000.0,) + (0.0,) * (CONSTANTS - 1))
    module = adex if model == "adex" else izhikevich
    name = preset or DEFAULT_PRESET[model]
    if name not in module.PRESETS:
        raise ValueError(f"preset: {model} has no preset {name!r}; presets: {', '.join(module.PRESETS)}")
    try:
        changes = parse_parameters(parameters)
    except ValueError as error:
        raise ValueError(f"parameters: {error}") from None
    known = [f.name for f in fields(module.PRESETS[name]) if f.name != "current_pA"]
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise ValueError(f"parameters: {model} has no parameter {', '.join(unknown)}; it has {', '.join(known)}")
    physical = module.preset(name, **changes)
    if model == "adex":
        p = physical
        if p.C_pF <= 0 or p.gL_nS <= 0 or p.DeltaT_mV <= 0 or p.tau_w_ms <= 0:
            raise ValueError("parameters: C_pF, gL_nS, DeltaT_mV and tau_w_ms must be greater than 0")
        if not p.EL_mV < p.VT_mV < p.V_peak_mV or not p.Vr_mV < p.V_peak_mV:
            raise ValueError("parameters: an AdEx neuron needs EL_mV < VT_mV < V_peak_mV and Vr_mV < V_peak_mV")
        constants = adex_constants(p)
    else:
        if not 0 < physical.a <= 1 or physical.c >= izhikevich.V_PEAK:
            raise ValueError("parameters: an Izhikevich neuron needs 0 < a <= 1 and c below 30 mV")
        constants = izhikevich_constants(physical)
    return RegionModel(model, name, physical, constants)


def arithmetic_constants(dtype: Any) -> np.ndarray:
    """What the fused kernels' model pass needs besides a region's constants, in ``dtype``: soft_exp's
    coefficients (1/720 .. 1/6, 1/2, 1), 1/64, the sub-step 1/SUBSTEPS, the exponent's clips, MAX_INPUT, MAX_RECOVERY."""
    return np.array([1 / 720, 1 / 120, 1 / 24, 1 / 6, 0.5, 1.0, 1 / 64, 1 / SUBSTEPS, EXP_LOW, EXP_HIGH, MAX_INPUT, MAX_RECOVERY], dtype=dtype)


def clean_input(xp: Any, x: Any) -> Any:
    """NaN as 0, everything within +-MAX_INPUT (infinities included), in ``x``'s dtype."""
    kind = x.dtype.type
    x = xp.where(x != x, kind(0.0), x)
    return xp.minimum(xp.maximum(x, kind(-MAX_INPUT)), kind(MAX_INPUT))


def uniform(word: Any) -> Any:
    """float32 uniforms on [0, 1) from the counter noise's 64-bit words: the top 24 bits, exact."""
    return (word >> np.uint64(40)).astype(np.float32) * np.float32(2.0**-24)


def poisson_step(xp: Any, constants: Any, input_current: Any, word: Any) -> Any:
    """A poisson region's spikes this step: neuron i fires if its uniform (from ``word``, the counter noise of (seed, step, i)) is below clip(input, 0, 1) x max_rate_hz / 1000.

    A sensor, not a membrane: its input (a stimulus: the pixel's intensity) is the rate, and
    nothing is kept from one step to the next (Poisson spike trains, as in Diehl & Cook 2015).
    """
    kind = np.float32
    rate = xp.minimum(xp.maximum(input_current.astype(kind), kind(0.0)), kind(1.0)) * kind(constants[0])
    rate = xp.where(rate != rate, kind(0.0), rate)
    return uniform(word) < rate


def model_step(xp: Any, kind_of: int, constants: Any, membrane: Any, recovery: Any, input_current: Any,
               threshold_offset: Any, floored: bool) -> Any:
    """One 1-ms step of a region of AdEx or Izhikevich neurons, in place (the NumPy reference of the fused kernels); returns spikes (bool).

    ``constants``: the region's :attr:`RegionModel.constants`; ``input_current``: threshold
    units, as a LIF region takes it; ``threshold_offset``: the homeostatic offsets.
    """
    work = np.float64 if membrane.dtype == np.float64 else np.float32
    t = work
    c = [t(v) for v in constants]
    m = membrane.astype(work)
    w = recovery.astype(work)
    x = clean_input(xp, input_current.astype(work))
    x = x - threshold_offset.astype(work) * c[8]
    h = t(1.0 / SUBSTEPS)
    lowest = t(0.0) if floored else c[9]
    fired_any = xp.zeros(m.shape, dtype=bool)
    for _ in range(SUBSTEPS):
        if kind_of == ADEX:
            argument = (m - t(1.0)) * c[2]
            argument = xp.minimum(xp.maximum(argument, t(EXP_LOW)), t(EXP_HIGH))
            dm = ((x - m * c[0]) + soft_exp(xp, argument) * c[1]) - w
            dw = (m * c[3] - w) * c[4]
            peak, reset, jump = c[5], c[6], c[7]
        else:
            dm = (((m * c[1] + c[0]) * m - w) + x) + c[7]
            dw = (m * c[3] - w) * c[2]
            peak, reset, jump = c[4], c[5], c[6]
        m = xp.maximum(m + dm * h, lowest)
        w = w + dw * h
        fired = m >= peak
        m = xp.where(fired, reset, m)
        w = xp.where(fired, w + jump, w)
        w = xp.minimum(xp.maximum(w, t(-MAX_RECOVERY)), t(MAX_RECOVERY))
        fired_any |= fired
    membrane[...] = m.astype(membrane.dtype)
    recovery[...] = w.astype(recovery.dtype)
    return fired_any
