"""The fused GPU kernels compute what the NumPy reference computes.

Their one departure is the order of the atomic adds in the delivery (brainchat/model/fused_gpu.py).
So the exact test makes every synaptic sum exact: weights rounded to multiples of 2**-8
sum without rounding in any order, and then the GPU must match NumPy bit for bit -- noise,
LIF, thresholds, homeostasis, eligibility, traces and the weight update included. With the
brain's own weights the statistics must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.backend import numpy_backend, select_backend
from brain_history import teaching_history

pytestmark = pytest.mark.gpu


def dyadic(b: Brain) -> Brain:
    """Round every weight to a multiple of 2**-8, so that any order of adding them is exact."""
    for projection in (b.recurrent, b.local):
        projection.weights[...] = b.backend.xp.round(projection.weights * 256) / 256
    return b


def brains(dtype: str, **settings) -> tuple[Brain, Brain]:
    values = {"brain.neurons": 20_000, "brain.seed": 4, "brain.dtype": dtype, **settings}
    config = Config().replace(**values)
    reference = Brain(config.replace(**{"brain.cpu_kernels": "numpy"}), numpy_backend())
    fused = Brain(config.replace(**{"brain.gpu_kernels": "fused"}), select_backend("gpu"))
    assert reference.kernels == "numpy" and fused.kernels == "cuda", fused.kernel_note
    return dyadic(reference), dyadic(fused)


def history(b: Brain) -> list:
    """The teaching history without rewards: the weights stay multiples of 2**-8 throughout."""
    records = teaching_history(b, rewards=False)
    records.append(b.read_vitals())
    return records


def host(b: Brain, array) -> np.ndarray:
    return b.backend.to_host(array)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_gpu_is_bit_identical_where_the_synaptic_sums_are_exact(dtype):
    reference, fused = brains(dtype)
    a, b = history(reference), history(fused)
    assert [r.step for r in a] == [r.step for r in b]
    for x, y in zip(a, b):
        assert np.array_equal(x.firing_fraction, y.firing_fraction), f"firing differs in the interval ending at {x.step}"
        assert np.array_equal(x.region_spikes, y.region_spikes)
        assert x.drive == y.drive
    for name, array in reference.neurons.arrays().items():
        assert np.array_equal(array, host(fused, fused.neurons.arrays()[name])), name
    assert np.array_equal(reference.synaptic_input, host(fused, fused.synaptic_input))
    assert np.array_equal(reference.current, host(fused, fused.current))
    assert np.array_equal(reference.homeostasis.recent_spikes, host(fused, fused.homeostasis.recent_spikes))
    assert np.array_equal(reference.last_spikes, host(fused, fused.last_spikes))
    for name, array in reference.plasticity.arrays().items():
        assert np.array_equal(array, host(fused, fused.plasticity.arrays()[name])), name
    assert np.count_nonzero(reference.plasticity.eligibility), "nothing was tagged: the test would not see a difference"
    # a reward: the weights move at the next update (every 10 steps), with sums still exact until then
    before = reference.recurrent.weights.copy()
    for b in (reference, fused):
        b.reward(1.0)
        b.run(reference.learning.interval - reference.step_count % reference.learning.interval)
    assert np.array_equal(reference.recurrent.weights, host(fused, fused.recurrent.weights)), "the learned weights differ"
    assert (reference.recurrent.weights != before).any(), "the reward moved no weight: the test would not see a difference in learning"


def test_fused_gpu_firing_statistics_agree_with_numpy():
    """With the brain's own weights: the sums differ in the last bits, trajectories part, the statistics stay.

    Homeostasis holds both at the target rate; the tolerances are those of the CuPy array path
    (tests/test_brain.py): 0.001 on the mean firing fraction, 0.0005 on its spread.
    """
    config = Config().replace(**{"brain.neurons": 20_000, "brain.seed": 2})
    stats = {}
    for name, backend in (("numpy", numpy_backend()), ("cuda", select_backend("gpu"))):
        with Brain(config.replace(**{"brain.cpu_kernels": "numpy"}), backend) as b:
            assert b.kernels == name
            b.run(1000)
            fractions = np.concatenate([r.firing_fraction for r in b.run(2000)])
            stats[name] = (fractions.mean(), fractions.std())
    assert abs(stats["numpy"][0] - stats["cuda"][0]) < 0.001
    assert abs(stats["numpy"][1] - stats["cuda"][1]) < 0.0005


def test_fused_gpu_brain_saves_and_loads_its_state(tmp_path):
    """A snapshot of a fused GPU brain loads into a NumPy brain and into another GPU brain, and both live on."""
    from brainchat.persistence import snapshot

    config = Config().replace(**{"brain.neurons": 20_000, "brain.seed": 3})
    path = tmp_path / "gpu.h5"
    with Brain(config, select_backend("gpu")) as b:
        assert b.kernels == "cuda"
        b.run(250)
        snapshot.write(snapshot.capture(b), path)
        saved = snapshot.read(path)
        assert saved.step == 250
    for backend in (numpy_backend(), select_backend("gpu")):
        with Brain(config, backend) as loaded:
            loaded.restore_state(saved.arrays, saved.step, saved.vitals_pending)
            assert np.array_equal(host(loaded, loaded.neurons.membrane), saved.arrays["neurons/membrane"])
            record = loaded.run(100)[-1]
            assert loaded.step_count == 350
            assert 0.03 < record.fraction_mean < 0.07, (loaded.kernels, record.fraction_mean)
