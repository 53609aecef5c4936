"""Choosing the array backend."""

from __future__ import annotations

import numpy as np
import pytest

from brainchat.backend import numpy_backend, probe_gpu, select_backend
from brainchat.errors import DeviceUnavailableError


def test_cpu_is_numpy():
    backend = select_backend("cpu")
    assert backend.name == "numpy" and backend.device == "cpu" and backend.xp is np


def test_auto_says_why_it_fell_back_to_the_cpu():
    probe = probe_gpu()
    backend = select_backend("auto")
    if probe.usable:
        assert backend.is_gpu
    else:
        assert backend.name == "numpy" and backend.note == probe.reason and backend.note


def test_gpu_without_a_device_is_a_one_line_error():
    if probe_gpu().usable:
        pytest.skip("a GPU is usable here")
    with pytest.raises(DeviceUnavailableError) as caught:
        select_backend("gpu")
    assert "\n" not in str(caught.value) and caught.value.exit_code == 2
    assert "--device cpu" in str(caught.value)


def test_delivery_adds_only_the_rows_of_neurons_that_fired_and_only_their_synapses(backend):
    targets = backend.asarray(np.array([[1, 2], [0, 2], [0, 1]], np.int32))
    weights = backend.asarray(np.array([[0.5, 0.25], [1.0, 1.0], [-2.0, 4.0]], np.float32))
    full = backend.asarray(np.array([2, 2, 2], np.int32))
    out = backend.xp.zeros(3, dtype=np.float32)
    backend.deliver_spikes(backend.asarray(np.array([True, False, True])), targets, weights, full, out)
    np.testing.assert_allclose(backend.to_host(out), [-2.0, 4.5, 0.25])
    out[...] = 0
    shorter = backend.asarray(np.array([1, 2, 0], np.int32))  # row 0 holds one synapse, row 2 none
    backend.deliver_spikes(backend.asarray(np.array([True, False, True])), targets, weights, shorter, out)
    np.testing.assert_allclose(backend.to_host(out), [0.0, 0.5, 0.0])


def test_numpy_backend_round_trip():
    backend = numpy_backend()
    host = np.arange(5.0)
    assert np.array_equal(backend.to_host(backend.asarray(host)), host)
