"""Slow inhibition (a pathway's ``inhibitory_tau_ms``), ``onto``, and regions left out (``enabled = false``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.backend import numpy_backend
from brainchat.model.kernels import fused_cpu
from brainchat.errors import ConfigError
from brainchat.model.regions import resolve

TWO = {
    "brain.layout": "custom", "brain.neurons": 20, "brain.device": "cpu", "codec.gate_region": "",
    "regions.a.size": 10, "regions.a.excitatory": 0.0,
    "regions.b.size": 10, "regions.b.floor": False,
    "pathways.ab.source": "a", "pathways.ab.target": "b", "pathways.ab.connector": "one_to_one",
    "pathways.ab.inhibitory_weight": 0.5, "pathways.ab.inhibitory_tau_ms": 5.0,
}
KERNELS = ["numpy"] + (["numba"] if fused_cpu.available() else [])


@pytest.mark.parametrize("kernels", KERNELS)
def test_one_inhibitory_spike_arrives_as_a_decaying_current_whose_sum_is_its_weight(kernels):
    with Brain(Config().replace(**TWO, **{"brain.cpu_kernels": kernels}), numpy_backend()) as brain:
        brain.step(brain.stimulus(np.array([0]), 5.0))
        assert brain.last_spikes[0] and brain.last_spikes.sum() == 1
        currents = []
        for _ in range(80):
            brain.step()
            currents.append(float(brain.current[10]))
        assert not brain.current[11:].any(), "only neuron 0's partner hears it"
    keep = math.exp(-1 / 5)
    assert currents[0] == pytest.approx(-0.5 * (1 - keep), rel=1e-6), "the first step takes 1 - exp(-1/tau) of it"
    assert currents[1] / currents[0] == pytest.approx(keep, rel=1e-5) and currents[10] / currents[9] == pytest.approx(keep, rel=1e-5)
    assert sum(currents) == pytest.approx(-0.5, rel=1e-3), "all of the weight arrives, spread over tau"


def test_the_slow_current_is_the_same_in_the_fused_kernel_and_the_reference():
    if not fused_cpu.available():
        pytest.skip("numba is not importable")
    traces = []
    for kernels in ("numpy", "numba"):
        with Brain(Config().replace(**TWO, **{"brain.cpu_kernels": kernels}), numpy_backend()) as brain:
            brain.step(brain.stimulus(np.arange(10), 5.0))
            traces.append([brain.step() or brain.current.copy() for _ in range(40)])
    assert all(np.array_equal(x, y) for x, y in zip(*traces))


def test_fast_inhibition_is_the_whole_weight_in_one_step():
    with Brain(Config().replace(**{**TWO, "pathways.ab.inhibitory_tau_ms": 0.0}), numpy_backend()) as brain:
        assert brain.slow_input.size == 20 and not brain.slow_release.any()
        brain.step(brain.stimulus(np.array([3]), 5.0))
        brain.step()
        assert brain.current[13] == pytest.approx(-0.5)
        brain.step()
        assert brain.current[13] == 0


def test_the_pathways_onto_a_region_must_agree_on_its_inhibitory_tau():
    with pytest.raises(ConfigError, match=r"keys 'pathways.ab.inhibitory_tau_ms' and 'pathways.ba.inhibitory_tau_ms' .*different inhibitory_tau_ms \(ab 5, ba 10\)"):
        Config().replace(**TWO, **{
            "pathways.ba.source": "a", "pathways.ba.target": "b", "pathways.ba.fan_out": 2,
            "pathways.ba.inhibitory_weight": 0.1, "pathways.ba.inhibitory_tau_ms": 10.0,
        })


def test_onto_chooses_the_excitatory_or_the_inhibitory_targets_of_a_random_pathway():
    settings = {"brain.neurons": 20_000, "pathways.to_inhibitory.source": "cortex", "pathways.to_inhibitory.target": "cortex",
                "pathways.to_inhibitory.fan_out": 10, "pathways.to_inhibitory.weight": 0.01, "pathways.to_inhibitory.onto": "inhibitory"}
    with Brain(Config().replace(**settings), numpy_backend()) as brain:
        projection = brain.pathway("to_inhibitory").projection
        targets = np.asarray(projection.targets)[np.asarray(projection.lengths) > 0]
        cortex = brain.layout["cortex"]
        assert targets.size and not np.asarray(brain.excitatory)[targets].any(), "only inhibitory neurons are reached"
        assert (targets >= cortex.start).all() and (targets < cortex.stop).all()
        sources = np.arange(cortex.start, cortex.stop)[np.asarray(projection.lengths) > 0]
        assert not (np.asarray(projection.targets)[np.asarray(projection.lengths) > 0] == sources[:, None]).any(), "never itself"
    with pytest.raises(ConfigError, match="'pathways.cortex_neighbours.onto' .*chooses among a random pathway's targets"):
        Config().replace(**{"pathways.cortex_neighbours.onto": "excitatory"})


def test_a_region_left_out_takes_its_pathways_with_it():
    config = Config().replace(**{"brain.neurons": 20_000, "regions.basket.enabled": False})
    names = [p.name for p in config.pathway_specs]
    assert "cortex_to_basket" not in names and "basket_to_cortex" not in names and "readout" in names, "left out, with its pathways"
    layout = resolve(config)
    assert "basket" not in [r.name for r in layout.regions] and layout["cortex"].size == 6066
    with_them = resolve(Config().replace(**{"brain.neurons": 20_000}))
    assert with_them["basket"].size == 400 and with_them["cortex"].size == 5666, "on by default, they take their 2 % from the cortex"
    assert {p.name for p in with_them.pathways} >= {"cortex_to_basket", "basket_to_cortex"}


def test_the_slow_charge_on_its_way_is_saved_and_loaded(tmp_path):
    from brainchat.persistence import snapshot as snapshots

    config = Config().replace(**{"brain.neurons": 20_000, "brain.seed": 1, "brain.device": "cpu"})
    with Brain(config) as brain:
        brain.run(500)
        assert (brain.slow_input != 0).any()
        snapshots.write(snapshots.capture(brain, np.zeros((0, 2))), tmp_path / "ping.h5")
        going_on = [int(v.group_spikes.sum()) for v in brain.run(300)]
    read = snapshots.read(tmp_path / "ping.h5")
    assert read.arrays["neurons/slow_input"].shape == (20_000,)
    with Brain(read.config) as again:
        again.restore_state(read.arrays, read.step, read.vitals_pending)
        assert [int(v.group_spikes.sum()) for v in again.run(300)] == going_on, "the same spikes after loading"
        without = {name: value for name, value in read.arrays.items() if name != "neurons/slow_input"}
        again.restore_state(without, read.step, read.vitals_pending)  # a file from before slow inhibition
        assert not again.slow_input.any()
