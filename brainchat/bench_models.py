"""What each neuron model costs, at each precision: what ``brainchat bench models`` runs and reports.

**Throughput.** For each model x dtype x size: the sheet layout (a random living network
with the codec's patches, brainchat's reference network for speed, docs/benchmarks.md) with
every region of that model, its default preset (AdEx "adapting", Izhikevich "RS"), built,
stepped ``warmup`` steps (compiling, settling), then ``steps`` steps timed in calls of
``chunk`` (:func:`brainchat.bench.time_brain`): neuron updates and synaptic events per
second, ms per step (median, p99), the state's bytes per neuron and per synapse, peak host
and device memory.

**Precision.** The spike-count error of a dtype is measured on the same input for every
dtype: ``PRECISION_NEURONS`` neurons of the model in one quiet region, no synapses, no
noise, neuron ``i`` held at the constant input ``CURRENT_MAX * i / (n - 1)`` (threshold
units per step: from silence to several times each model's rheobase) for
``PRECISION_STEPS`` steps; the error is ``sum |count - count_float64| / sum count_float64``
over the neurons. (In a recurrent network the spikes of two precisions part after a few
steps, as any two chaotic runs do, and homeostasis then holds both at the same rate: the
f-I sweep is where precision shows.)
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from brainchat.backend import Backend
from brainchat.bench import peak_rss_mb, time_brain
from brainchat.config import Config
from brainchat.model.brain import Brain, Stimulus

MODELS = ("lif", "adex", "izhikevich")
DTYPES = ("float16", "float32", "float64")
PRECISION_NEURONS = 2_000
PRECISION_STEPS = 1_000
CURRENT_MAX = 0.6
# the earlier system the issue compares against (a GPU neuron pool on an RTX 3060), neuron updates per second
EARLIER_SYSTEM = {"lif": 8.07e6, "adex": 4.03e6, "izhikevich": 1.68e6}


@dataclass(frozen=True)
class ModelResult:
    model: str
    dtype: str
    neurons: int
    device: str
    kernels: str
    steps: int
    ms_per_step_median: float
    ms_per_step_p99: float
    neuron_updates_per_s: float
    synaptic_events_per_s: float
    firing_fraction: float
    bytes_per_neuron: float
    bytes_per_synapse: float
    peak_host_mb: float
    peak_device_mb: float | None
    spike_count_error: float | None  # against float64, on the f-I sweep (0 for float64 itself)
    spikes_in_sweep: int

    def as_dict(self) -> dict:
        return asdict(self)


def model_config(base: Config, model: str, dtype: str, neurons: int) -> Config:
    """The sheet layout at ``neurons`` with every region of ``model``, in ``dtype``."""
    return base.replace(**{"brain.layout": "sheet", "brain.neurons": neurons, "brain.dtype": dtype,
                           **{f"regions.{name}.model": model for name in ("input", "cortex", "output")}})


def sweep_config(base: Config, model: str, dtype: str) -> Config:
    """One quiet region of ``PRECISION_NEURONS`` neurons of ``model``, no pathways (see the module's docstring)."""
    return base.replace(**{"brain.layout": "custom", "brain.neurons": PRECISION_NEURONS, "brain.dtype": dtype,
                           "codec.input_region": "", "codec.output_region": "", "codec.gate_region": "",
                           "regions.pool.size": "rest", "regions.pool.model": model, "regions.pool.excitatory": 1.0})


def sweep_counts(config: Config, backend: Backend) -> np.ndarray:
    """Spikes of each neuron of the f-I sweep over ``PRECISION_STEPS`` steps."""
    n = config.brain.neurons
    with Brain(config, backend) as brain:
        xp = backend.xp
        current = backend.asarray((CURRENT_MAX * np.arange(n) / (n - 1)).astype(brain.dtype))
        stimulus = Stimulus(backend.asarray(np.arange(n)), current)
        counts = xp.zeros(n, dtype=xp.int32)
        for _ in range(PRECISION_STEPS // 10):
            for _ in range(10):
                brain.step(stimulus)
                counts += brain.last_spikes
        return np.asarray(backend.to_host(counts))


def state_bytes(brain: Brain) -> tuple[float, float]:
    """Bytes of per-neuron state per neuron, and bytes of synapse storage (targets and weights, slots included) per synapse."""
    n = brain.size
    per_neuron = sum(int(a.nbytes) for name, a in brain.state_arrays().items() if not name.startswith(("pathways/", "vitals/")) and a.shape == (n,))
    synapses = sum(p.synapses for p in brain.pathways)
    storage = sum(int(a.nbytes) for name, a in brain.state_arrays().items() if name.startswith("pathways/") and name.endswith(("/targets", "/weights")))
    return per_neuron / n, storage / max(1, synapses)


def measure_model(
    base: Config, backend: Backend, model: str, dtype: str, neurons: int, steps: int, warmup: int, chunk: int,
    error: float | None, sweep_spikes: int, progress: Callable[[int], None] | None = None,
) -> ModelResult:
    """One model x dtype x size, with its sweep's error against float64 (``error``) and spike count."""
    config = model_config(base, model, dtype, neurons)
    peak_device = None
    with Brain(config, backend) as brain:
        kernels = brain.kernels
        per_neuron, per_synapse = state_bytes(brain)
        per_step, firing = time_brain(brain, steps, warmup, chunk, progress)
        fan_out = sum(p.synapses for p in brain.pathways) / brain.size
        if backend.is_gpu:
            peak_device = backend.xp.get_default_memory_pool().total_bytes() / 2**20
    median = statistics.median(per_step)
    return ModelResult(
        model=model, dtype=dtype, neurons=neurons, device=backend.device, kernels=kernels, steps=steps,
        ms_per_step_median=median, ms_per_step_p99=float(np.percentile(per_step, 99)),
        neuron_updates_per_s=neurons * 1000.0 / median, synaptic_events_per_s=firing * neurons * fan_out * 1000.0 / median,
        firing_fraction=firing, bytes_per_neuron=per_neuron, bytes_per_synapse=per_synapse,
        peak_host_mb=peak_rss_mb(), peak_device_mb=peak_device,
        spike_count_error=error, spikes_in_sweep=sweep_spikes,
    )


def sweep_error(counts: np.ndarray, reference: np.ndarray) -> float:
    """sum |counts - reference| / sum reference."""
    return float(np.abs(counts.astype(np.int64) - reference).sum() / max(1, int(reference.sum())))


def run(base: Config, backend: Backend, models: list[str], dtypes: list[str], sizes: list[int], warmup: int, chunk: int,
        steps_for: Callable[[str], int], progress: Callable[[int], None] | None = None) -> list[ModelResult]:
    """Every model x dtype x size (the float64 sweep of each model is run whatever the dtypes: it is the reference)."""
    results = []
    for model in models:
        reference = sweep_counts(sweep_config(base, model, "float64"), backend).astype(np.int64)
        for dtype in dtypes:
            counts = reference if dtype == "float64" else sweep_counts(sweep_config(base, model, dtype), backend)
            for size in sizes:
                results.append(measure_model(base, backend, model, dtype, size, steps_for(dtype), warmup, chunk,
                                             sweep_error(counts, reference), int(counts.sum()), progress))
    return results


def plot(results: list[ModelResult], path: str) -> bool:
    """Bars of neuron updates per second per model, one per precision (log scale), beside the earlier system's figures."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    models = [m for m in MODELS if any(r.model == m for r in results)]
    dtypes = [d for d in DTYPES if any(r.dtype == d for r in results)]
    largest = max(r.neurons for r in results)
    figure, axes = plt.subplots(figsize=(7, 4.6))
    width = 0.8 / (len(dtypes) + 1)
    for k, dtype in enumerate(dtypes):
        values = [next((r.neuron_updates_per_s for r in results if r.model == m and r.dtype == dtype and r.neurons == largest), 0) for m in models]
        axes.bar([i + k * width for i in range(len(models))], values, width, label=f"brainchat {dtype}")
    axes.bar([i + len(dtypes) * width for i in range(len(models))], [EARLIER_SYSTEM[m] for m in models], width,
             color="grey", label="earlier system (RTX 3060)")
    axes.set_xticks([i + len(dtypes) * width / 2 for i in range(len(models))], models)
    axes.set_yscale("log")
    axes.set_ylabel("neuron updates per second")
    axes.set_title(f"brainchat bench models: {largest:,} neurons, {results[0].device}")
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=len(dtypes) + 1, frameon=False)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True
