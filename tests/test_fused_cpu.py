"""The fused numba kernel computes exactly what the NumPy reference computes.

The kernel keeps the reference's order of operations and float precision (see
brainchat/model/kernels/fused_cpu.py), so the test asks for bit-identical results, not statistics.
"""

from __future__ import annotations

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.backend import numpy_backend
from brainchat.model.kernels import fused_cpu
from brain_history import teaching_history

pytestmark = pytest.mark.skipif(not fused_cpu.available(), reason="numba is not importable")


def brain(kernels: str, **settings) -> Brain:
    values = {"brain.neurons": 20_000, "brain.seed": 4, "brain.cpu_kernels": kernels, **settings}
    return Brain(Config().replace(**values), numpy_backend())


def life(b: Brain) -> list:
    """The teaching history with rewards, then the dopamine settled and an overdrive of 50 neurons."""
    records = teaching_history(b, rewards=True)
    b.new_episode()  # settles the dopamine left
    b.neurons.membrane[-50:] = 3.0
    records += b.run(900)
    records.append(b.read_vitals())
    return records


@pytest.mark.parametrize(("dtype", "threads"), [("float32", 1), ("float64", 1), ("float32", 2), ("float32", 3)])
def test_numba_kernel_is_bit_identical_to_the_numpy_reference(dtype, threads):
    """With any number of kernel threads: each target's sum is made in spike order, whoever fired."""
    # the default brain with its basket cells: their all_to_all pathways and slow inhibition too
    reference = brain("numpy", **{"brain.dtype": dtype})
    fused = brain("numba", **{"brain.dtype": dtype, "brain.cpu_threads": threads})
    assert reference.kernels == "numpy" and fused.kernels == "numba" and fused.threads == threads
    a, b = life(reference), life(fused)
    assert [r.step for r in a] == [r.step for r in b]
    for x, y in zip(a, b):
        assert np.array_equal(x.firing_fraction, y.firing_fraction)
        assert np.array_equal(x.group_spikes, y.group_spikes)
        assert x.drive == y.drive and x.mean_threshold == y.mean_threshold and x.mean_membrane == y.mean_membrane
        assert x.mean_input == pytest.approx(y.mean_input, rel=1e-6, abs=1e-9)  # summed in another order
    for name, array in reference.neurons.arrays().items():
        assert np.array_equal(array, fused.neurons.arrays()[name]), name
    assert np.array_equal(reference.synaptic_input, fused.synaptic_input)
    assert np.array_equal(reference.slow_input, fused.slow_input) and (reference.slow_input != 0).any(), "the basket cells' slow inhibition"
    assert np.array_equal(reference.homeostasis.recent_spikes, fused.homeostasis.recent_spikes)
    assert np.array_equal(reference.last_spikes, fused.last_spikes)
    assert np.array_equal(reference.synapses.weights, fused.synapses.weights), "the learned weights differ"
    for name, array in reference.plasticity.arrays().items():
        assert np.array_equal(array, fused.plasticity.arrays()[name]), name
    moved = reference.synapses.weights[reference.plastic.synapses] != reference.pathway("readout").spec.weight
    assert moved.any(), "the history taught nothing: the test would not see a difference in learning"


def test_float16_uses_the_numpy_path():
    assert brain("numba", **{"brain.dtype": "float16"}).kernels == "numpy"


def test_the_fused_brain_stays_in_its_band():
    with brain("numba", **{"brain.seed": 0, "brain.layout": "sheet"}) as b:
        trace = np.concatenate([r.firing_fraction for r in b.run(6000)])
    assert np.all(np.abs(trace[2000:] - 0.05) <= 0.01)


def test_a_failing_kernel_call_raises_instead_of_hanging_its_threads():
    team = fused_cpu.Team(2)
    try:
        with pytest.raises(Exception):
            team.run(("not", "a", "brain"))
        # the worker left its barrier and waits for the next call: a real brain still steps
        b = brain("numba", **{"brain.cpu_threads": 2})
        assert len(b.run(200)) == 2
    finally:
        team.close()


def test_weights_beyond_their_bounds_are_clipped_at_the_first_update_as_in_the_reference():
    """The fused kernel skips the weights when there is no dopamine only if they are all within [0, max]."""
    settings = {"pathways.readout.weight": 3.5, "plasticity.weight_max": 3.0}
    reference, fused = brain("numpy", **settings), brain("numba", **settings, **{"brain.cpu_threads": 2})
    assert not fused._in_range[0]
    for b in (reference, fused):
        b.run(25)
    assert np.array_equal(reference.synapses.weights, fused.synapses.weights)
    plastic = fused.synapses.weights[fused.plastic.synapses]
    assert plastic.max() == 3.0, "the update without dopamine clipped the readout to weight_max"
    assert fused._in_range[0], "and from then on the weights are known to be in range"
    assert np.array_equal(reference.last_spikes, fused.last_spikes)


CUSTOM = {
    "brain.layout": "custom", "codec.gate_region": "",
    "regions.sensory.size": 0.3, "regions.sensory.living": True, "regions.sensory.membrane_tau_ms": 10.0, "regions.sensory.target_fraction": 0.03,
    "regions.relay.size": 0.2, "regions.relay.tonic": -0.3, "regions.relay.excitatory": 1.0,
    "regions.deep.size": "rest", "regions.deep.living": True, "regions.deep.noise_sigma": 0.3, "regions.deep.threshold_jump": 0.1,
    "pathways.s_s.source": "sensory", "pathways.s_s.target": "sensory", "pathways.s_s.fan_out": 40, "pathways.s_s.weight": 0.03, "pathways.s_s.inhibitory_weight": 0.15,
    "pathways.s_r.source": "sensory", "pathways.s_r.target": "relay", "pathways.s_r.connector": "probability", "pathways.s_r.probability": 0.002, "pathways.s_r.weight": 0.4,
    "pathways.r_d.source": "relay", "pathways.r_d.target": "deep", "pathways.r_d.fan_out": 8, "pathways.r_d.weight": 0.2, "pathways.r_d.plastic": True,
    "pathways.d_d.source": "deep", "pathways.d_d.target": "deep", "pathways.d_d.connector": "neighbours", "pathways.d_d.weight": 0.05, "pathways.d_d.inhibitory_weight": 0.1,
    "pathways.d_s.source": "deep", "pathways.d_s.target": "*", "pathways.d_s.fan_out": 5, "pathways.d_s.weight": 0.02, "pathways.d_s.inhibitory_weight": 0.1,
}
EXTRA_REGION = {
    "regions.store.size": 96 * 14, "regions.store.living": True, "regions.store.target_fraction": 0.02,  # the output region's size at 12k: one_to_one onto it
    "pathways.into_store.source": "association", "pathways.into_store.target": "store", "pathways.into_store.fan_out": 3, "pathways.into_store.weight": 0.3, "pathways.into_store.plastic": True,
    "pathways.store_back.source": "store", "pathways.store_back.target": "output", "pathways.store_back.connector": "one_to_one", "pathways.store_back.weight": 0.0, "pathways.store_back.inhibitory_weight": 0.05,
    "pathways.patches.source": "input", "pathways.patches.target": "output", "pathways.patches.connector": "patch", "pathways.patches.fan_out": 2, "pathways.patches.weight": 0.01,
}


def custom_life(b: Brain) -> list:
    """Steps across interval boundaries, a stimulus on two regions, dopamine both ways, pairing off and on."""
    records = b.run(777)
    second = b.layout.regions[1].start
    records += b.run(60, b.stimuli([(np.arange(second, second + 300), 1.5), (np.arange(50), 2.0)]))
    b.reward(1.0)
    records += b.run(230)
    b.pairing = 0
    records += b.run(41)
    b.pairing = 2
    b.reward(-0.7)
    records += b.run(400)
    b.new_episode()
    records += b.run(123)
    records.append(b.read_vitals())
    return records


@pytest.mark.parametrize("layout", ["sheet", "chat+region", "custom"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_any_layout_of_regions_and_pathways_is_bit_identical_to_the_reference(layout, threads):
    """A neuron pass per region (each with its own constants), delivery per pathway (each its own K), learning where a pathway is plastic."""
    settings = {"sheet": {"brain.layout": "sheet"}, "chat+region": EXTRA_REGION, "custom": CUSTOM}[layout]
    reference = brain("numpy", **{"brain.neurons": 12_000, **settings})
    fused = brain("numba", **{"brain.neurons": 12_000, "brain.cpu_threads": threads, **settings})
    assert fused.threads == threads
    histories = [teaching_history(b, rewards=True) + custom_life(b) if layout == "chat+region" else custom_life(b) for b in (reference, fused)]
    for x, y in zip(*histories):
        assert x.step == y.step and np.array_equal(x.firing_fraction, y.firing_fraction) and np.array_equal(x.group_spikes, y.group_spikes)
    assert np.array_equal(reference.homeostasis.drive, fused.homeostasis.drive)
    for name, array in reference.neurons.arrays().items():
        assert np.array_equal(array, fused.neurons.arrays()[name]), name
    assert np.array_equal(reference.synapses.weights, fused.synapses.weights), "the learned weights differ"
    assert np.array_equal(reference.plasticity.trace, fused.plasticity.trace)
    living = [r for r in reference.layout.regions if r.living]
    assert all(histories[0][-2].region_firing[r.name] > 0 for r in living), "every living region fires"
    if layout != "sheet":
        plastic = reference.synapses.weights[reference.plastic.synapses]
        initial = Brain(reference.config, numpy_backend()).synapses.weights[reference.plastic.synapses]
        assert (plastic != initial).any(), "the rewards moved plastic weights: the test would see a difference in learning"


def test_learning_stops_costing_once_nothing_is_eligible():
    """After a reply the tags decay; below plasticity.ELIGIBILITY_FLOOR they are 0 and the kernel's flags go down (no more sweeps)."""
    b = brain("numba", **{"brain.cpu_threads": 2})
    teaching_history(b, rewards=False)
    assert b._eligible.any() and np.any(b.plasticity.eligibility), "the history tagged the readout"
    b.run(20_000)
    assert b._eligible.any(), "20 s later some tags are still above the floor"
    b.run(30_000)
    assert not np.any(b.plasticity.eligibility) and not b._eligible.any(), "50 s after its last pairing nothing is eligible"
    assert b._in_range[0]
