"""One LIF step at a time: integrate, fire, reset, refractory, threshold adaptation."""

from __future__ import annotations

import math

import numpy as np

from brainchat.config import NeuronSection
from brainchat.model.neurons import LIFParams, LIFState, lif_step, threshold

PARAMS = LIFParams.from_config(NeuronSection(refractory_ms=2, threshold_jump=0.1, threshold_tau_ms=50.0, membrane_tau_ms=20.0))


def state(backend, membrane):
    s = LIFState.at_rest(backend.xp, len(membrane), np.float32)
    s.membrane[...] = backend.asarray(np.asarray(membrane, np.float32))
    return s


def host(backend, array):
    return backend.to_host(array)


def test_membrane_leaks_and_integrates(backend):
    s = state(backend, [0.5, 0.0])
    spiked = lif_step(backend.xp, s, PARAMS, backend.asarray(np.array([0.0, 0.2], np.float32)))
    assert not host(backend, spiked).any()
    np.testing.assert_allclose(host(backend, s.membrane), [0.5 * math.exp(-1 / 20), 0.2], rtol=1e-6)


def test_crossing_the_threshold_fires_resets_and_adapts(backend):
    s = state(backend, [0.99, 0.5])
    spiked = lif_step(backend.xp, s, PARAMS, backend.asarray(np.array([0.1, 0.0], np.float32)))
    assert list(host(backend, spiked)) == [True, False]
    assert host(backend, s.membrane)[0] == PARAMS.reset
    assert list(host(backend, s.refractory)) == [2, 0]
    assert np.isclose(host(backend, s.threshold_fast)[0], 0.1)
    assert np.isclose(host(backend, threshold(backend.xp, s, PARAMS))[0], 1.1)


def test_refractory_neuron_is_held_at_reset_and_cannot_fire(backend):
    s = state(backend, [2.0])
    strong = backend.asarray(np.array([5.0], np.float32))
    fired = [bool(host(backend, lif_step(backend.xp, s, PARAMS, strong))[0]) for _ in range(7)]
    assert fired == [True, False, False, True, False, False, True], "a spike, then 2 ms refractory"


def test_fast_threshold_decays_between_spikes(backend):
    s = state(backend, [0.0])
    s.threshold_fast[...] = 0.5
    for _ in range(50):
        lif_step(backend.xp, s, PARAMS, backend.asarray(np.zeros(1, np.float32)))
    assert np.isclose(host(backend, s.threshold_fast)[0], 0.5 * math.exp(-1), rtol=1e-4)
