"""The all_to_all connector: every source onto every target, delivered as counts (brainchat/model/pathways.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.backend import numpy_backend
from brainchat.errors import ConfigError
from brainchat.model.kernels import fused_cpu

# a: 10 sources, 6 of them excitatory (seeded draw, checked below); b: 8 quiet targets
TWO = {
    "brain.layout": "custom", "brain.neurons": 18, "brain.device": "cpu", "brain.seed": 1, "codec.gate_region": "",
    "regions.a.size": 10, "regions.a.excitatory": 0.6,
    "regions.b.size": 8, "regions.b.floor": False,
    "pathways.ab.source": "a", "pathways.ab.target": "b", "pathways.ab.connector": "all_to_all",
    "pathways.ab.weight": 2.0, "pathways.ab.inhibitory_weight": 3.0,
}
KERNELS = ["numpy"] + (["numba"] if fused_cpu.available() else [])


def _input_after(brain: Brain, fired: np.ndarray) -> np.ndarray:
    """b's input in the step after ``fired`` (ids in a) spiked alone (after a rest: none of them refractory)."""
    for _ in range(20):
        brain.step()
    brain.step(brain.stimulus(fired, 5.0))
    assert set(np.flatnonzero(brain.last_spikes)) == set(fired.tolist())
    brain.step()
    return np.asarray(brain.current[10:18]).copy()


@pytest.mark.parametrize("kernels", KERNELS)
def test_every_target_gets_the_weight_times_the_share_of_sources_that_fired(kernels):
    with Brain(Config().replace(**TWO, **{"brain.cpu_kernels": kernels}), numpy_backend()) as brain:
        excitatory = np.asarray(brain.excitatory[:10])
        up, down = np.flatnonzero(excitatory), np.flatnonzero(~excitatory)
        assert up.size >= 2 and down.size >= 2
        got = _input_after(brain, up[:2])
        assert got == pytest.approx(np.full(8, 2.0 * 2 / 10), rel=1e-6), "two excitatory sources of ten: 2.0 x 0.2 onto every target"
        got = _input_after(brain, np.concatenate([up[:1], down[:2]]))
        assert got == pytest.approx(np.full(8, 2.0 / 10 - 3.0 * 2 / 10), rel=1e-6), "inhibitory sources count negative"
        row = brain.pathway_table()[0]
        assert row["synapses"] == 80 and row["fan_out"] == 8, "shown as what it is: 10 x 8 synapses"
        assert brain.pathways[0].synapses == 0, "none of them stored in rows (the speed benchmarks count those)"
        assert brain.synapses.weights.size == 10, "but only one weight per source is stored"


def test_its_slow_inhibition_arrives_spread_over_tau():
    config = Config().replace(**TWO, **{"pathways.ab.inhibitory_tau_ms": 4.0})
    with Brain(config, numpy_backend()) as brain:
        down = np.flatnonzero(~np.asarray(brain.excitatory[:10]))
        brain.step(brain.stimulus(down[:1], 5.0))
        currents = []
        for _ in range(60):
            brain.step()
            currents.append(float(brain.current[12]))
    assert currents[0] == pytest.approx(-0.3 * (1 - math.exp(-1 / 4)), rel=1e-5)
    assert sum(currents) == pytest.approx(-0.3, rel=1e-3), "one inhibitory source of ten: 3.0 x 0.1, all of it, over tau"


def test_the_fused_kernel_delivers_it_bit_for_bit_as_the_reference_in_the_default_brain():
    """The default chat brain's basket pathways are all_to_all; with 1 and 2 threads every step's spikes and input agree."""
    if not fused_cpu.available():
        pytest.skip("numba is not importable")
    runs = {}
    for kernels, threads in (("numpy", 1), ("numba", 1), ("numba", 2)):
        config = Config().replace(**{"brain.neurons": 4000, "brain.seed": 3, "brain.device": "cpu", "brain.cpu_kernels": kernels, "brain.cpu_threads": threads})
        with Brain(config) as brain:
            assert any(p.uniform for p in brain.pathways), "the default brain has all_to_all pathways"
            spikes = []
            for _ in range(300):
                brain.step()
                spikes.append(np.asarray(brain.last_spikes).copy())
            runs[kernels, threads] = (np.array(spikes), np.asarray(brain.input_buffer).copy())
    reference = runs["numpy", 1]
    assert reference[0].sum() > 10_000, "the brain was alive"
    for key in (("numba", 1), ("numba", 2)):
        assert np.array_equal(runs[key][0], reference[0]) and np.array_equal(runs[key][1], reference[1]), key


@pytest.mark.parametrize("setting, message", [
    ({"pathways.ab.plastic": True}, "cannot learn"),
    ({"pathways.ab.fan_out": 4}, "fan_out does not apply"),
])
def test_what_an_all_to_all_pathway_cannot_have_is_refused_in_one_line(setting, message):
    with pytest.raises(ConfigError, match=message) as error:
        Brain(Config().replace(**TWO, **setting), numpy_backend())
    assert "\n" not in str(error.value) and "pathways.ab" in str(error.value)


@pytest.mark.gpu
@pytest.mark.parametrize("gpu_kernels", ["fused", "cupy"])
def test_on_the_gpu_every_target_gets_the_same_counts_times_weights(gpu_kernels):
    """The fused CUDA kernel (deliver_all) and the CuPy array path deliver the pathway as the reference does, bit for bit (integer counts)."""
    from brainchat.backend import select_backend

    got = {}
    for kernels, backend in (("numpy", numpy_backend()), ("gpu", select_backend("gpu"))):
        config = Config().replace(**TWO, **{"brain.device": "cpu" if kernels == "numpy" else "gpu", "brain.gpu_kernels": gpu_kernels,
                                            "pathways.ab.inhibitory_tau_ms": 4.0})
        with Brain(config, backend) as brain:
            if kernels == "gpu":
                assert brain.kernels == ("cuda" if gpu_kernels == "fused" else "cupy"), brain.kernel_note
            fired = np.arange(7)
            brain.step(brain.stimulus(fired, 5.0))
            trace = []
            for _ in range(12):
                brain.step()
                trace.append(brain.backend.to_host(brain.current)[10:18].copy())
            got[kernels] = np.array(trace)
    assert np.array_equal(got["gpu"], got["numpy"]) and (got["numpy"] != 0).all()
