"""Regions of AdEx and Izhikevich neurons: what the paper's neurons do, in the brain's units, on every path, never NaN."""

from __future__ import annotations

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.backend import numpy_backend
from brainchat.errors import SnapshotError
from brainchat.model.brain import Stimulus
from brainchat.model.kernels import fused_cpu
from brainchat.model.neurons import adex, izhikevich, models
from brainchat.persistence import snapshot as snapshots
from brain_history import teaching_history

MIXED = {  # the chat brain with an adapting AdEx cortex and fast-spiking Izhikevich output patches
    "brain.neurons": 20_000, "brain.seed": 5,
    "regions.cortex.model": "adex", "regions.cortex.preset": "adapting",
    "regions.output.model": "izhikevich", "regions.output.preset": "FS",
}


def mixed(kernels: str = "numpy", **settings) -> Brain:
    return Brain(Config().replace(**{**MIXED, "brain.cpu_kernels": kernels, **settings}), numpy_backend())


def test_soft_exp_is_within_1_2e_5_of_exp_over_its_range():
    x = np.linspace(models.EXP_LOW, models.EXP_HIGH, 200_001)
    for dtype, tolerance in ((np.float64, 6e-6), (np.float32, 1.2e-5)):
        got = models.soft_exp(np, x.astype(dtype)).astype(np.float64)
        assert np.max(np.abs(got / np.exp(x) - 1)) < tolerance, dtype


def run_scaled(model: str, preset: str, current: float, steps: int = 1000) -> int:
    """Spikes of one neuron of a region model under ``current`` in the model's own units, through the brain's scaled equations."""
    region = models.region_model(model, preset)
    m, w = np.zeros(1, np.float32), np.zeros(1, np.float32)
    x = np.array([current / region.input_unit], np.float32)
    return sum(int(models.model_step(np, region.kind, region.constants, m, w, x, np.zeros(1, np.float32), False)[0]) for _ in range(steps))


@pytest.mark.parametrize("name", list(adex.PRESETS))
def test_an_adex_region_fires_as_the_papers_neuron_under_the_same_current(name):
    """The scaled equations are the paper's: the same spikes as adex.adex_step (physical units, float64) over 1 s."""
    p = adex.PRESETS[name]
    state = adex.AdExState.resting(np, 1, p, np.float64)
    physical = sum(int(adex.adex_step(np, state, p, np.array([p.current_pA]))[0]) for _ in range(1000))
    assert physical > 0
    assert abs(run_scaled("adex", name, p.current_pA) - physical) <= max(1, 0.02 * physical)


@pytest.mark.parametrize("name", list(izhikevich.PRESETS))
@pytest.mark.parametrize("current", [5.0, 10.0])
def test_an_izhikevich_region_fires_as_the_papers_neuron_under_the_same_current(name, current):
    p = izhikevich.PRESETS[name]
    state = izhikevich.IzhikevichState.resting(np, 1, p, np.float64)
    physical = sum(int(izhikevich.izhikevich_step(np, state, p, np.array([current]))[0]) for _ in range(1000))
    assert physical > 0
    # the paper's neuron starts at -65 mV, the region's at its rest: a spike of difference at most
    assert abs(run_scaled("izhikevich", name, current) - physical) <= max(1, 0.03 * physical)


@pytest.mark.skipif(not fused_cpu.available(), reason="numba is not importable")
@pytest.mark.parametrize(("dtype", "threads"), [("float32", 1), ("float64", 1), ("float32", 2), ("float32", 3)])
def test_the_fused_kernel_is_bit_identical_to_the_reference_with_adex_and_izhikevich_regions(dtype, threads):
    """A living AdEx cortex and quiet FS output patches (taught, rewarded): the same spikes, states and weights."""
    reference = mixed("numpy", **{"brain.dtype": dtype})
    fused = mixed("numba", **{"brain.dtype": dtype, "brain.cpu_threads": threads})
    assert reference.kernels == "numpy" and fused.kernels == "numba"
    a, b = teaching_history(reference, rewards=True), teaching_history(fused, rewards=True)
    for x, y in zip(a, b):
        assert np.array_equal(x.firing_fraction, y.firing_fraction)
        assert np.array_equal(x.group_spikes, y.group_spikes)
    for name, array in reference.neurons.arrays().items():
        assert np.array_equal(array, fused.neurons.arrays()[name]), name
    assert np.array_equal(reference.recovery, fused.recovery)
    assert np.array_equal(reference.synapses.weights, fused.synapses.weights)
    cortex = reference.layout["cortex"]
    assert np.abs(reference.recovery[cortex.start : cortex.stop]).max() > 0, "the adaptation never moved: the test would not see it"
    assert sum(r.region_firing["output"] for r in a) > 0, "the FS patches never fired"


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_no_input_puts_nan_or_inf_into_the_state(kernels, dtype):
    """Huge, negative, infinite and NaN stimuli into every region: every membrane and recovery variable stays finite."""
    if kernels == "numba" and not fused_cpu.available():
        pytest.skip("numba is not importable")
    brain = mixed(kernels, **{"brain.dtype": dtype, "brain.neurons": 5_000})
    ids = np.arange(brain.size)
    for value in (1e30, -1e30, np.inf, -np.inf, np.nan, 3e4, -3e4):
        with np.errstate(over="ignore"):  # 1e30 is inf in float16: that is one of the inputs
            current = np.full(brain.size, value).astype(brain.dtype)
        current[::7] = np.nan
        records = brain.run(20, Stimulus(ids, current))
        assert all(np.isfinite(r.mean_membrane) for r in records)
        for array in (brain.neurons.membrane, brain.recovery, brain.neurons.threshold_homeostatic):
            assert np.isfinite(array.astype(np.float64)).all(), value
    assert np.isfinite(brain.read_vitals().mean_membrane)


def test_a_float16_brain_stores_its_models_in_float16_and_they_still_integrate_small_inputs():
    """The policy: float16 storage of the scaled state (0 at rest), float32 arithmetic."""
    config = Config().replace(**{"brain.layout": "custom", "brain.neurons": 1000, "brain.dtype": "float16",
                                 "codec.input_region": "", "codec.output_region": "", "codec.gate_region": "",
                                 "regions.pool.size": "rest", "regions.pool.model": "adex", "regions.pool.preset": "tonic"})
    brain = Brain(config, numpy_backend())
    assert brain.neurons.membrane.dtype == np.float16 and brain.recovery.dtype == np.float16
    # tonic's rheobase is about 0.06 threshold units per step; 0.08 integrates over many steps to a spike
    brain.run(300, Stimulus(np.arange(1000), np.float16(0.08)))
    assert 0 < float(brain.neurons.membrane.astype(np.float32).mean())
    spikes = 0
    for _ in range(300):
        brain.step(Stimulus(np.arange(1000), np.float16(0.08)))
        spikes += int(brain.last_spikes.sum())
    assert spikes > 0


def test_a_mixed_brains_snapshot_keeps_the_recovery_variables_and_a_lif_brains_has_none(tmp_path):
    brain = mixed("numpy" if not fused_cpu.available() else "numba")
    brain.run(1500)
    snapshots.write(snapshots.capture(brain), tmp_path / "mixed.h5")
    uninterrupted = brain.run(500) + [brain.read_vitals()]
    loaded = snapshots.read(tmp_path / "mixed.h5")
    assert loaded.config.region_specs[2].model == "adex" and "neurons/recovery" in loaded.arrays
    resumed = Brain(loaded.config, numpy_backend())
    resumed.restore_state(loaded.arrays, loaded.step, loaded.vitals_pending)
    continued = resumed.run(500) + [resumed.read_vitals()]
    assert np.array_equal(np.concatenate([r.firing_fraction for r in continued]), np.concatenate([r.firing_fraction for r in uninterrupted]))
    lif = Brain(Config().replace(**{"brain.neurons": 5_000}), numpy_backend())
    assert "neurons/recovery" not in lif.state_arrays()
    # a snapshot of a mixed brain without its recovery variables is refused in one line
    import h5py

    with h5py.File(tmp_path / "mixed.h5", "a") as file:
        del file["neurons/recovery"]
    with pytest.raises(SnapshotError, match="lacks neurons/recovery"):
        snapshots.read(tmp_path / "mixed.h5")


def test_the_homeostatic_offset_slows_a_model_region_as_it_slows_a_lif_region():
    """A raised offset is an outward current: fewer spikes under the same input."""
    region = models.region_model("izhikevich", "RS")
    counts = []
    for offset in (0.0, 0.5):
        m, w = np.zeros(200, np.float32), np.zeros(200, np.float32)
        x = np.linspace(0.2, 0.8, 200).astype(np.float32)
        counts.append(sum(int(models.model_step(np, region.kind, region.constants, m, w, x, np.full(200, offset, np.float32), False).sum())
                          for _ in range(500)))
    assert counts[1] < 0.9 * counts[0]


def sensor(kernels: str, dtype: str = "float32") -> Brain:
    """64 poisson neurons onto 20 LIF neurons that do not floor (inhibition may hyperpolarise them)."""
    return Brain(Config().replace(**{
        "brain.layout": "custom", "brain.neurons": 84, "brain.cpu_kernels": kernels, "brain.dtype": dtype, "brain.seed": 2,
        "codec.input_region": "", "codec.output_region": "", "codec.gate_region": "",
        "regions.eye.size": 64, "regions.eye.model": "poisson", "regions.eye.excitatory": 0.5, "regions.eye.parameters": "max_rate_hz=100",
        "regions.cells.size": 20, "regions.cells.floor": False, "regions.cells.threshold_tau_ms": 1e6,
        "pathways.see.source": "eye", "pathways.see.target": "cells", "pathways.see.connector": "probability", "pathways.see.probability": 1.0,
        "pathways.see.weight": 0.05, "pathways.see.inhibitory_weight": 0.05, "pathways.see.plastic": True,
    }), numpy_backend())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_poisson_region_fires_at_its_input_times_its_rate_on_both_paths_alike(dtype):
    rates = np.linspace(0, 1, 64).astype(dtype)
    runs = {}
    for kernels in ("numpy", "numba") if fused_cpu.available() else ("numpy",):
        brain = sensor(kernels, dtype)
        counts = np.zeros(84)
        lowest = 0.0
        for _ in range(2000):
            brain.step(Stimulus(np.arange(64), rates))
            counts += brain.last_spikes
            lowest = min(lowest, float(brain.neurons.membrane[64:].min()))
        runs[kernels] = (counts, brain.neurons.membrane.copy(), brain.neurons.threshold_fast.copy(), brain.synapses.weights.copy())
        # 2 s at up to 100 Hz: each input's count within 5 sd of its Poisson mean
        expected = rates.astype(np.float64) * 0.1 * 2000
        assert np.all(np.abs(counts[:64] - expected) <= 5 * np.sqrt(expected) + 1), kernels
        assert counts[0] == 0, "rate 0 never fires"
        assert lowest < -0.05, "the cells without a floor are hyperpolarised by the inhibitory inputs"
    if "numba" in runs:
        for a, b in zip(runs["numpy"], runs["numba"]):
            assert np.array_equal(a, b)


def test_the_poisson_and_floor_keys_are_checked():
    from brainchat.errors import ConfigError

    base = {"brain.layout": "custom", "brain.neurons": 100, "codec.input_region": "", "codec.output_region": "", "codec.gate_region": "",
            "regions.eye.size": "rest"}
    for key, value, message in (("regions.eye.parameters", "max_rate_hz=5000", "at most 1000"),
                                ("regions.eye.parameters", "rate=5", "poisson has no parameter rate"),
                                ("regions.eye.preset", "fast", "no presets"),
                                ("regions.eye.living", True, "a poisson region is a sensor")):
        with pytest.raises(ConfigError, match=message):
            Config().replace(**{**base, "regions.eye.model": "poisson", key: value})
    with pytest.raises(ConfigError, match="the chat layout needs 1,000 neurons or more"):
        Config().replace(**{"brain.neurons": 500})
