"""The fused GPU kernels compute what the NumPy reference computes.

Their one departure is the order of the atomic adds in the delivery (brainchat/model/kernels/fused_gpu.py).
So the exact tests make every synaptic sum exact: the brain's flat synapse weights rounded to
multiples of 2**-8 sum without rounding in any order, and then the GPU must match NumPy bit
for bit -- noise, LIF, each region's drive and thresholds, eligibility, traces and the weight
update included -- in the brain you talk to (four regions, eight pathways, a plastic readout)
and in the random sheet. With the brain's own weights the statistics must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.backend import numpy_backend, select_backend
from brainchat.model.kernels import fused_gpu
from brain_history import teaching_history

pytestmark = pytest.mark.gpu


def dyadic(b: Brain) -> Brain:
    """Round every weight to a multiple of 2**-8, so that any order of adding them is exact."""
    weights = b.synapses.weights
    weights[...] = b.backend.xp.round(weights * 256) / 256
    return b


def config(dtype: str = "float32", **settings) -> Config:
    return Config().replace(**{"brain.neurons": 20_000, "brain.seed": 4, "brain.dtype": dtype, **settings})


def reference_brain(dtype: str = "float32", **settings) -> Brain:
    b = Brain(config(dtype, **settings).replace(**{"brain.cpu_kernels": "numpy"}), numpy_backend())
    assert b.kernels == "numpy"
    return dyadic(b)


def brains(dtype: str = "float32", **settings) -> tuple[Brain, Brain]:
    """The NumPy reference and the fused GPU brain of one config, both with dyadic weights."""
    fused = Brain(config(dtype, **settings).replace(**{"brain.gpu_kernels": "fused"}), select_backend("gpu"))
    assert fused.kernels == "cuda", fused.kernel_note
    return reference_brain(dtype, **settings), dyadic(fused)


def history(b: Brain) -> list:
    """The teaching history without rewards: the weights stay multiples of 2**-8 throughout."""
    records = teaching_history(b, rewards=False)
    records.append(b.read_vitals())
    return records


def host(b: Brain, array) -> np.ndarray:
    return b.backend.to_host(array)


def until_update(b: Brain) -> int:
    """Steps to the end of the next weight update."""
    return b.learning.interval - b.step_count % b.learning.interval


def eligible_flag(b: Brain) -> int:
    return int(host(b, b._gpu.ctl)[fused_gpu.ELIGIBLE])


LAYOUTS = {
    "chat": {"brain.layout": "chat"},
    "sheet": {"brain.layout": "sheet"},
    # an adapting AdEx cortex and fast-spiking Izhikevich output patches (the model_neurons kernel)
    "mixed": {"regions.cortex.model": "adex", "regions.output.model": "izhikevich", "regions.output.preset": "FS"},
}


@pytest.mark.parametrize(("layout", "dtype"), [("chat", "float32"), ("chat", "float64"), ("sheet", "float32"), ("mixed", "float32"), ("mixed", "float64")])
def test_fused_gpu_is_bit_identical_where_the_synaptic_sums_are_exact(layout, dtype):
    reference, fused = brains(dtype, **LAYOUTS[layout])
    assert len(reference.layout.regions) > 1 and len(reference.pathways) > 1
    a, b = history(reference), history(fused)
    assert [r.step for r in a] == [r.step for r in b]
    for x, y in zip(a, b):
        assert np.array_equal(x.firing_fraction, y.firing_fraction), f"firing differs in the interval ending at {x.step}"
        assert np.array_equal(x.group_spikes, y.group_spikes)
        assert np.array_equal(x.region_spikes, y.region_spikes)
        assert x.drive == y.drive
    for name, array in reference.neurons.arrays().items():
        assert np.array_equal(array, host(fused, fused.neurons.arrays()[name])), name
    for name, array in reference.homeostasis.arrays().items():
        assert np.array_equal(array, host(fused, fused.homeostasis.arrays()[name])), name
    assert np.array_equal(reference.recovery, host(fused, fused.recovery))
    assert np.array_equal(reference.synaptic_input, host(fused, fused.synaptic_input))
    assert np.array_equal(reference.current, host(fused, fused.current))
    assert np.array_equal(reference.last_spikes, host(fused, fused.last_spikes))
    for name, array in reference.plasticity.arrays().items():
        assert np.array_equal(array, host(fused, fused.plasticity.arrays()[name])), name
    assert np.array_equal(reference.synapses.weights, host(fused, fused.synapses.weights))
    if not reference.plastic.size:
        return
    assert np.count_nonzero(reference.plasticity.eligibility), "nothing was tagged: the test would not see a difference"
    assert eligible_flag(fused) == 1
    # a reward: the weights move at the next update (every 10 steps), with sums still exact until then
    before = reference.synapses.weights.copy()
    for b in (reference, fused):
        b.reward(1.0)
        b.run(until_update(b))
    assert np.array_equal(reference.synapses.weights, host(fused, fused.synapses.weights)), "the learned weights differ"
    assert (reference.synapses.weights[reference.plastic.synapses] != before[reference.plastic.synapses]).any(), \
        "the reward moved no weight: the test would not see a difference in learning"
    assert np.array_equal(reference.plasticity.dopamine, host(fused, fused.plasticity.dopamine))


def test_a_restored_fused_gpu_brain_takes_its_eligibility_into_the_next_update():
    """After a load the eligible flag comes from the loaded eligibility (``refresh``), so the next update is not skipped."""
    source = reference_brain()
    history(source)
    arrays = {name: np.array(host(source, array)) for name, array in source.state_arrays().items()}
    assert np.count_nonzero(arrays["plasticity/eligibility"])
    reference, fused = brains()
    fused.new_episode()
    assert eligible_flag(fused) == 0
    for b in (reference, fused):
        b.restore_state(arrays, source.step_count, source.recorder.pending)
    assert eligible_flag(fused) == 1
    loaded = reference.synapses.weights.copy()
    for b in (reference, fused):
        b.reward(1.0)
        b.run(until_update(b))
    assert (reference.synapses.weights != loaded).any(), "the reward moved no weight: the test would not see a skipped update"
    assert np.array_equal(reference.synapses.weights, host(fused, fused.synapses.weights)), "the restored brain learned otherwise"
    assert np.array_equal(reference.last_spikes, host(fused, fused.last_spikes))


def test_weights_beyond_their_bounds_are_clipped_at_the_first_update_as_in_the_reference():
    """The fused kernels skip the weights when there is no eligibility only if they are all within [0, max]."""
    reference, fused = brains(**{"pathways.readout.weight": 3.5, "plasticity.weight_max": 3.0})
    assert not fused._weights_in_range
    for b in (reference, fused):
        b.run(25)
    assert np.array_equal(reference.synapses.weights, host(fused, fused.synapses.weights))
    assert host(fused, fused.synapses.weights[fused.plastic.synapses]).max() == 3.0, "the update clipped the readout to weight_max"
    assert np.array_equal(reference.last_spikes, host(fused, fused.last_spikes))


@pytest.mark.parametrize("layout", ["chat", "sheet"])
def test_fused_gpu_firing_statistics_agree_with_numpy(layout):
    """With the brain's own weights: the sums differ in the last bits, trajectories part, the statistics stay.

    Homeostasis holds both at the target rate; the tolerances are those of the CuPy array path
    (tests/test_brain.py): 0.001 on the mean firing fraction, 0.0005 on its spread.
    """
    settings = config(**{"brain.seed": 2, "brain.layout": layout})
    stats = {}
    for name, backend in (("numpy", numpy_backend()), ("cuda", select_backend("gpu"))):
        with Brain(settings.replace(**{"brain.cpu_kernels": "numpy"}), backend) as b:
            assert b.kernels == name
            b.run(1000)
            fractions = np.concatenate([r.firing_fraction for r in b.run(2000)])
            stats[name] = (fractions.mean(), fractions.std())
    assert abs(stats["numpy"][0] - stats["cuda"][0]) < 0.001
    assert abs(stats["numpy"][1] - stats["cuda"][1]) < 0.0005


def test_fused_gpu_brain_saves_and_loads_its_state(tmp_path):
    """A snapshot of a fused GPU brain loads into a NumPy brain and into another GPU brain, and both live on."""
    from brainchat.persistence import snapshot

    settings = config(**{"brain.seed": 3})
    path = tmp_path / "gpu.h5"
    with Brain(settings, select_backend("gpu")) as b:
        assert b.kernels == "cuda"
        b.run(250)
        snapshot.write(snapshot.capture(b), path)
        saved = snapshot.read(path)
        assert saved.step == 250
    for backend in (numpy_backend(), select_backend("gpu")):
        with Brain(settings, backend) as loaded:
            loaded.restore_state(saved.arrays, saved.step, saved.vitals_pending)
            assert np.array_equal(host(loaded, loaded.neurons.membrane), saved.arrays["neurons/membrane"])
            record = loaded.run(100)[-1]
            assert loaded.step_count == 350
            assert 0.03 < record.fraction_mean < 0.07, (loaded.kernels, record.fraction_mean)


@pytest.mark.parametrize("gpu_kernels", ["fused", "cupy"])
def test_the_basket_cells_give_the_gpu_brain_its_gamma_rhythm_too(gpu_kernels):
    """The slow inhibition on the GPU (the fused kernels' slow half of the input buffer, CuPy's offset delivery).

    Atomic sums onto a decayed (not dyadic) charge vary in the last bit, so the test asks what
    the CPU test asks (tests/test_rhythm.py), not for the reference's spikes.
    """
    from brainchat import rhythm

    settings = config(**{"brain.seed": 0, "brain.gpu_kernels": gpu_kernels})
    with Brain(settings, select_backend("gpu")) as b:
        assert b.kernels == ("cuda" if gpu_kernels == "fused" else "cupy"), b.kernel_note
        b.run(1000)
        signal = np.concatenate([np.asarray(v.firing_fraction) for v in b.run(5000)])
        slow = host(b, b.slow_input)
        assert np.isfinite(slow).all() and (slow < 0).any() and (slow <= 0).all(), "inhibitory charge only"
    result = rhythm.report(signal)
    assert 30 <= result["peak_hz"] <= 80 and result["peak_ratio"] >= 3, result["peak_ratio"]
    assert 0.045 < signal.mean() < 0.055
