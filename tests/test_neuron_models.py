"""AdEx and Izhikevich as brainchat steps them (1-ms steps of 10 Euler sub-steps) against a fine-step reference of the same equations.

The reference here is written apart from the models (plain Python floats, dt = 0.01 ms,
spike times to 0.01 ms), so a mistake in a model's code does not reappear in its oracle.
Tolerance of the spike counts: 8 % or 2 spikes, whichever is more. Euler at dt = 0.1 ms is
within 2-6 % of dt = 0.01 ms for these models (shared/research/models.md: Izhikevich FS 131
vs 136, TC 260 vs 275 at I = 10; AdEx tonic 60 vs 62), and the counts of a 1-s run are
whole numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from brainchat.model.neurons import adex, izhikevich

SECOND = 1000  # brain steps


def reference_adex(p: adex.AdExParams, current: float, ms: int, dt: float = 0.01) -> list[float]:
    V, w, times = p.EL_mV, 0.0, []
    for k in range(round(ms / dt)):
        dV = (-p.gL_nS * (V - p.EL_mV) + p.gL_nS * p.DeltaT_mV * math.exp(min((V - p.VT_mV) / p.DeltaT_mV, 30.0)) - w + current) / p.C_pF
        dw = (p.a_nS * (V - p.EL_mV) - w) / p.tau_w_ms
        V, w = V + dt * dV, w + dt * dw
        if V >= p.V_peak_mV:
            V, w = p.Vr_mV, w + p.b_pA
            times.append(k * dt)
    return times


def reference_izhikevich(p: izhikevich.IzhikevichParams, current: float, ms: int, dt: float = 0.01) -> list[float]:
    v, u, times = -65.0, p.b * -65.0, []
    for k in range(round(ms / dt)):
        dv = 0.04 * v * v + 5 * v + 140 - u + current
        du = p.a * (p.b * v - u)
        v, u = v + dt * dv, u + dt * du
        if v >= 30.0:
            v, u = p.c, u + p.d
            times.append(k * dt)
    return times


def brainchat_counts(model: str, params, current: float, steps: int, dtype=np.float32, n: int = 1) -> np.ndarray:
    """Spikes per 1-ms step ``[steps]`` of one neuron (``n`` identical ones: they must agree)."""
    if model == "adex":
        state = adex.AdExState.resting(np, n, params, dtype)
        step = adex.adex_step
    else:
        state = izhikevich.IzhikevichState.resting(np, n, params, dtype)
        step = izhikevich.izhikevich_step
    drive = np.full(n, current, dtype=dtype)
    counts = np.stack([step(np, state, params, drive) for _ in range(steps)])
    assert (counts == counts[:, :1]).all(), "identical neurons do the same"
    return counts[:, 0]


def spike_steps(counts: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(counts.size), counts)


def adaptation_index(times) -> float:
    """Naud et al. 2008: the mean of (ISI[i+1] - ISI[i]) / (ISI[i+1] + ISI[i])."""
    isi = np.diff(np.asarray(times, dtype=np.float64))
    if isi.size < 2:
        return float("nan")
    return float(np.mean((isi[1:] - isi[:-1]) / (isi[1:] + isi[:-1])))


def close(count: int, reference: int) -> bool:
    return abs(count - reference) <= max(2, 0.08 * reference)


ADEX = [name for name in adex.PRESETS]
IZHIKEVICH = list(izhikevich.PRESETS)


@pytest.mark.parametrize("name", ADEX)
def test_adex_presets_count_like_the_fine_step_reference(name):
    p = adex.PRESETS[name]
    reference = reference_adex(p, p.current_pA, SECOND)
    counts = brainchat_counts("adex", p, p.current_pA, SECOND)
    assert close(int(counts.sum()), len(reference)), f"{name}: {counts.sum()} spikes, reference {len(reference)}"
    assert len(reference) >= 1


@pytest.mark.parametrize("name", IZHIKEVICH)
def test_izhikevich_presets_count_like_the_fine_step_reference(name):
    p = izhikevich.PRESETS[name]
    reference = reference_izhikevich(p, 10.0, SECOND)
    counts = brainchat_counts("izhikevich", p, 10.0, SECOND)
    assert close(int(counts.sum()), len(reference)), f"{name}: {counts.sum()} spikes, reference {len(reference)}"


def test_adex_firing_pattern_classes():
    def pattern(name):
        p = adex.PRESETS[name]
        return spike_steps(brainchat_counts("adex", p, p.current_pA, SECOND)), reference_adex(p, p.current_pA, SECOND)

    tonic, tonic_ref = pattern("tonic")
    assert abs(adaptation_index(tonic)) < 0.02 and abs(adaptation_index(tonic_ref)) < 0.02, "tonic: no adaptation"
    adapting, adapting_ref = pattern("adapting")
    assert adaptation_index(adapting) > 0.03 and adaptation_index(adapting_ref) > 0.03, "adapting: intervals grow"
    accelerating, accelerating_ref = pattern("delayed_accelerating")
    for times in (accelerating, accelerating_ref):
        isi = np.diff(times)
        assert times[0] > 20 and isi[-1] < 0.8 * isi[0], "delayed accelerating: a late start, then intervals shrink"
    transient, transient_ref = pattern("transient")
    assert 1 <= len(transient) <= 3 and len(transient_ref) <= 3, "transient: a spike or two at the onset, then silence"
    for name in ("regular_bursting", "initial_burst"):
        times, _ = pattern(name)
        isi = np.diff(times)
        assert isi.min() < 0.25 * isi.max(), f"{name}: short intervals within bursts, long ones between"
    bursting, _ = pattern("regular_bursting")
    isi = np.diff(bursting)
    assert np.count_nonzero(isi > 0.5 * isi.max()) >= 2, "regular bursting: bursts again and again"


def test_izhikevich_firing_pattern_classes():
    def times(name, current=10.0):
        return spike_steps(brainchat_counts("izhikevich", izhikevich.PRESETS[name], current, SECOND))

    assert adaptation_index(times("RS")) > 0, "regular spiking adapts"
    chattering = np.diff(times("CH"))
    assert chattering.min() < 0.25 * chattering.max(), "chattering: bursts"
    assert len(times("FS")) > 3 * len(times("RS")), "fast spiking fires far faster than regular spiking"
    ib = np.diff(times("IB"))
    assert ib[0] < 0.5 * ib[-1], "intrinsically bursting: a burst at the onset, then single spikes"


@pytest.mark.parametrize("model, name", [("adex", "tonic"), ("adex", "adapting"), ("izhikevich", "RS"), ("izhikevich", "FS")])
def test_f_i_curves_are_monotone(model, name):
    params = (adex.PRESETS if model == "adex" else izhikevich.PRESETS)[name]
    currents = np.linspace(0, 2 * params.current_pA, 9) if model == "adex" else np.linspace(0, 20, 9)
    rates = [int(brainchat_counts(model, params, float(i), 500).sum()) for i in currents]
    assert rates[0] == 0 and rates[-1] > 5, rates
    assert all(b >= a for a, b in zip(rates, rates[1:])), f"{model} {name}: {rates}"


def test_float32_counts_as_float64_does():
    for name, p in adex.PRESETS.items():
        a = brainchat_counts("adex", p, p.current_pA, SECOND, np.float32).sum()
        b = brainchat_counts("adex", p, p.current_pA, SECOND, np.float64).sum()
        assert abs(int(a) - int(b)) <= 1, f"adex {name}: float32 {a}, float64 {b}"
    for name, p in izhikevich.PRESETS.items():
        a = brainchat_counts("izhikevich", p, 10.0, SECOND, np.float32).sum()
        b = brainchat_counts("izhikevich", p, 10.0, SECOND, np.float64).sum()
        assert abs(int(a) - int(b)) <= max(1, 0.02 * int(b)), f"izhikevich {name}: float32 {a}, float64 {b}"


CURRENTS = st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e30, -1e30, 0.0])), min_size=8, max_size=8)


@settings(max_examples=60, deadline=None)
@given(CURRENTS, st.sampled_from(ADEX), st.sampled_from(IZHIKEVICH), st.sampled_from([np.float32, np.float64]))
def test_no_input_puts_nan_or_inf_into_the_state(currents, adex_name, izhikevich_name, dtype):
    drive = np.array(currents, dtype=np.float64)
    a = adex.AdExState.resting(np, 8, adex.PRESETS[adex_name], dtype)
    z = izhikevich.IzhikevichState.resting(np, 8, izhikevich.PRESETS[izhikevich_name], dtype)
    with np.errstate(all="ignore"):  # the casts of 1e30 to float32 overflow; the models must not
        for _ in range(20):
            adex.adex_step(np, a, adex.PRESETS[adex_name], drive.astype(dtype))
            izhikevich.izhikevich_step(np, z, izhikevich.PRESETS[izhikevich_name], drive.astype(dtype))
    for array in (a.V, a.w, z.v, z.u):
        assert np.isfinite(array).all(), array


def test_unknown_presets_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown AdEx preset 'bursty'; presets: tonic, adapting"):
        adex.preset("bursty")
    with pytest.raises(ValueError, match="unknown Izhikevich preset 'XX'"):
        izhikevich.preset("XX")
    assert adex.preset("adapting", b_pA=30.0).b_pA == 30.0
