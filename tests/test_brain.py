"""The network stays alive on its own: homeostasis from any start, after a stimulus, in every dtype.

These run a 20,000-neuron brain (the size the issue names) for up to 12,000 steps on each
usable backend. The band is the target fraction 0.05 +- 0.01 of neurons firing in a step.
Most run the plain random sheet (``brain.layout = "sheet"``), whose every neuron is in the
homeostatic population; the last test runs the default brain with its quiet working memory,
association region and output patches, where the living population is about a third as large.
"""

from __future__ import annotations

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.backend import numpy_backend
from brainchat.model.regions import PRINTABLE

NEURONS = 20_000
TARGET = 0.05
BAND = 0.01


def make_brain(backend, **settings) -> Brain:
    values = {"brain.neurons": NEURONS, "brain.layout": "sheet", **settings}
    return Brain(Config().replace(**values), backend)


def fractions(brain: Brain, steps: int, stimulus=None) -> np.ndarray:
    """Per-step firing fractions of the next ``steps`` steps (interval reads included)."""
    assert brain.recorder.pending == 0
    records = brain.run(steps, stimulus)
    if brain.recorder.pending:
        records.append(brain.read_vitals())
    return np.concatenate([r.firing_fraction for r in records])


def in_band(values: np.ndarray) -> np.ndarray:
    return np.abs(values - TARGET) <= BAND


def settling_step(values: np.ndarray) -> int:
    """First step from which every later step is in the band (len(values) if never)."""
    outside = np.flatnonzero(~in_band(values))
    return int(outside[-1] + 1) if outside.size else 0


def assert_finite(brain: Brain) -> None:
    host = brain.backend.to_host
    for name, array in brain.neurons.arrays().items():
        assert np.isfinite(host(array)).all(), f"{name} holds NaN or inf"
    assert np.isfinite(host(brain.homeostasis.drive)).all()


def input_groups(brain: Brain, chars: str) -> list[int]:
    """The vitals groups (patches) of these characters' input patches."""
    first = brain.recorder.region_groups[brain.input_region.index][0]
    return [first + PRINTABLE.index(c) for c in chars]


def overdrive(brain: Brain) -> None:
    """Every membrane at twice the threshold and the drive at its maximum."""
    brain.neurons.membrane[...] = 2.0 * brain.config.neurons.threshold_rest
    brain.homeostasis.drive[...] = brain.config.homeostasis.drive_max


def test_silent_start_reaches_band_within_2000_steps_and_stays_for_10000(backend):
    with make_brain(backend) as brain:
        assert not backend.to_host(brain.homeostasis.drive).any()
        assert not backend.to_host(brain.neurons.membrane).any(), "a silent start has every membrane at rest"
        trace = fractions(brain, 12_000)
        assert trace[0] < 0.01, "the first step of a silent brain is (almost) silent"
        settled = settling_step(trace)
        assert settled <= 2000, f"still leaving the band at step {settled}; min {trace[2000:].min():.4f} max {trace[2000:].max():.4f}"
        assert_finite(brain)


def test_over_driven_start_reaches_band_within_2000_steps_and_stays_for_10000(backend):
    with make_brain(backend) as brain:
        overdrive(brain)
        trace = fractions(brain, 12_000)
        assert trace[0] > 0.9, "an over-driven brain fires almost entirely at first"
        settled = settling_step(trace)
        assert settled <= 2000, f"still leaving the band at step {settled}; min {trace[2000:].min():.4f} max {trace[2000:].max():.4f}"
        assert_finite(brain)


@pytest.mark.parametrize("patch_chars", [PRINTABLE[33], PRINTABLE], ids=["one-patch", "all-input-patches"])
def test_strong_50_step_stimulus_is_absorbed_within_1000_steps(backend, patch_chars):
    with make_brain(backend) as brain:
        fractions(brain, 2000)
        members = np.concatenate([brain.input_patch(c) for c in patch_chars])
        stimulus = brain.stimulus(members, 3.0)
        during = brain.run(50, stimulus) + [brain.read_vitals()]
        stimulated = sum(int(v.group_spikes[input_groups(brain, patch_chars)].sum()) for v in during)
        # Refractory for 2 steps after each spike, so a driven neuron fires every third step.
        assert stimulated >= 0.9 * members.size * 50 / 3, "the stimulus drives its patch at the maximal rate"
        after = fractions(brain, 2000)
        settled = settling_step(after)
        assert settled <= 1000, f"back in the band only at step {settled} after the stimulus"
        assert_finite(brain)


def test_all_input_patches_stimulus_really_perturbs_the_population(backend):
    """The recovery test above is meaningful: this stimulus pushes the firing out of the band."""
    with make_brain(backend) as brain:
        fractions(brain, 2000)
        members = np.concatenate([brain.input_patch(c) for c in PRINTABLE])
        stimulus = brain.stimulus(members, 3.0)
        during = np.concatenate([v.firing_fraction for v in brain.run(50, stimulus) + [brain.read_vitals()]])
        assert during.max() > TARGET + BAND


def test_same_seed_gives_bit_identical_spike_counts():
    """A CPU run is exactly reproducible (DESIGN.md). On a GPU, atomic sums vary in order; see below."""
    backend = numpy_backend()
    runs = []
    for _ in range(2):
        with make_brain(backend, **{"brain.seed": 11}) as brain:
            records = brain.run(1500)
            runs.append((np.stack([r.group_spikes for r in records]), np.concatenate([r.firing_fraction for r in records])))
    (regions_a, trace_a), (regions_b, trace_b) = runs
    assert np.array_equal(regions_a, regions_b)
    assert np.array_equal(trace_a, trace_b)
    with make_brain(backend, **{"brain.seed": 12}) as other:
        other_regions = np.stack([r.group_spikes for r in other.run(1500)])
    assert not np.array_equal(regions_a, other_regions), "another seed gives another run"


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_every_dtype_stays_alive(backend, dtype):
    with make_brain(backend, **{"brain.dtype": dtype}) as brain:
        assert brain.neurons.membrane.dtype == np.dtype(dtype)
        trace = fractions(brain, 5000)
        assert settling_step(trace) <= 2000, f"{dtype}: min {trace[2000:].min():.4f} max {trace[2000:].max():.4f}"
        assert_finite(brain)


def test_counters_are_read_once_per_interval(backend):
    with make_brain(backend, **{"brain.stats_interval": 250}) as brain:
        records = brain.run(1000)
        assert [r.step for r in records] == [250, 500, 750, 1000]
        assert all(r.steps == 250 and r.firing_fraction.shape == (250,) for r in records)
        assert all(r.spikes == round(float(r.firing_fraction.sum()) * NEURONS) for r in records)
        with pytest.raises(ValueError):
            records[0].firing_fraction[0] = 1.0  # records are immutable


@pytest.mark.gpu
@pytest.mark.parametrize("gpu_kernels", ["fused", "cupy"])
def test_gpu_firing_statistics_agree_with_the_cpu(gpu_kernels):
    """Same seed, same connectivity and noise; only the order of atomic sums differs on the GPU.

    The per-step fraction has a spread of about 0.0018 at 20k neurons; means over 4,000
    settled steps differ by far less than that unless the model itself differs.
    """
    from brainchat.backend import select_backend

    stats = {}
    for backend in (numpy_backend(), select_backend("gpu")):
        with make_brain(backend, **{"brain.gpu_kernels": gpu_kernels}) as brain:
            if backend.is_gpu:
                assert brain.kernels == {"fused": "cuda", "cupy": "cupy"}[gpu_kernels], brain.kernel_note
            trace = fractions(brain, 6000)[2000:]
            stats[backend.name] = (trace.mean(), trace.std(), settling_step(trace), float(backend.to_host(brain.homeostasis.drive)[brain.main_region]))
    cpu, gpu = stats["numpy"], stats["cupy"]
    assert abs(cpu[0] - gpu[0]) < 0.001
    assert abs(cpu[1] - gpu[1]) < 0.0005
    assert gpu[2] == 0, "the GPU run stays in the band after step 2,000"
    assert abs(cpu[3] - gpu[3]) < 0.01, "the drive settles at the same level"


@pytest.mark.slow
def test_stays_in_band_for_100_000_steps(backend):
    with make_brain(backend) as brain:
        trace = fractions(brain, 100_000)
        assert settling_step(trace) <= 2000
        assert_finite(brain)


def test_the_default_brain_holds_its_living_population_in_the_band(backend):
    """With the pathways the firing fraction is that of the 5,666 living neurons at 20k (the cortex).

    Its binomial spread per step is sqrt(0.05 * 0.95 / 5666) = 0.0029, and the basket cells'
    gamma rhythm swings it further within each ~16-ms cycle (by design: docs/model.md), so
    DESIGN.md's +-0.01 holds for its 10-ms means, not for every step. Here: every 10-step mean
    within +-0.01, every step within +-0.02 (nothing runs away), and the mean of every 100
    steps within +-0.005 of the target.
    """
    with make_brain(backend, **{"brain.layout": "chat"}) as brain:
        assert brain.recorder.neurons < NEURONS / 2
        trace = fractions(brain, 6000)[2000:]
        assert np.all(np.abs(trace - TARGET) <= 0.02), f"min {trace.min():.4f} max {trace.max():.4f}"
        tens = trace.reshape(-1, 10).mean(axis=1)
        assert np.all(np.abs(tens - TARGET) <= 0.01), f"10-step means {tens.min():.4f}..{tens.max():.4f}"
        means = trace.reshape(-1, 100).mean(axis=1)
        assert np.all(np.abs(means - TARGET) <= 0.005), f"interval means {means.min():.4f}..{means.max():.4f}"
