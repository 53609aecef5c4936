"""The GPU fast path: the step as a few fused CUDA kernels, replayed as CUDA graphs.

One step is four kernels (eight with plasticity), none of which waits for the host:

1. :cuda:`neurons` -- one thread per neuron: counter noise (the hash of
   :mod:`brainchat.model.noise`), input, LIF update, fast threshold, spike counters; the
   spiking neurons are appended to a spike list with one atomic per block (warp ballots,
   then a block total), and the living population's spikes are counted the same way;
2. :cuda:`deliver` -- event-driven: a warp per spike adds its row of synapses (recurrent, then
   local for an excitatory neuron) to the targets with atomic adds, grid-stride over the
   spike count, which the kernel reads from device memory;
3. the plasticity kernels when learning is on (eligibility from the spikes, traces, weight
   update every ``update_interval`` steps);
4. :cuda:`population` -- one thread: firing fraction into the vitals buffer, the drive
   controller, the dopamine decay, the step counter;
5. :cuda:`thresholds` -- the homeostatic thresholds, a no-op except every
   ``threshold_interval`` steps.

The step number, the vitals position, the pairing mode and the spike count live in a small
device array (``ctl``), so one captured sequence of kernels is valid at any step: batches of
1, 4, 16 and 64 steps are captured once as CUDA graphs and replayed (a Python kernel launch
costs several microseconds, more than a 200k-neuron step's kernels take).

The arithmetic is the reference's, operation by operation, compiled with ``--fmad=false``
(no fused multiply-adds, which round once where NumPy rounds twice). The one difference is
the order of the atomic adds in the delivery: a target's input is the same sum in another
order, so it can differ from the reference in the last bits, and the trajectories then part
after some steps. Where the synaptic sums are exact (weights that are multiples of 2**-8)
the fused path is bit-identical to NumPy; tests/test_fused_gpu.py checks both.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

STEP, FILLED, PAIRING, COUNT, LIVING, IN_RANGE = range(6)
CONTROL_SIZE = 8
BATCHES = (64, 16, 4, 1)  # graph sizes; a call of n steps replays the largest that fit
BLOCK = 256

SOURCE = r"""
#define FULL_MASK 0xffffffffu
#define STEP 0
#define FILLED 1
#define PAIRING 2
#define COUNT 3
#define LIVING 4
#define IN_RANGE 5

__device__ __forceinline__ unsigned long long splitmix(unsigned long long x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

template <typename T>
__global__ void neurons(
    int n, long long* ctl, unsigned long long seed_offset,
    T* membrane, T* threshold_fast, const T* threshold_homeostatic, short* refractory,
    T* synaptic, T* current, bool* spiked, int* recent, int* counts, int* spike_list,
    const float* drive, const T* stimulus, const bool* adapts,
    int memory_end, int quiet_end, T association_drive,
    T decay, T rest, T reset, short refractory_steps, T jump, T threshold_decay, T sigma,
    float noise_mean, float noise_scale)
{
    __shared__ int block_count, block_living, block_base;
    if (threadIdx.x == 0) { block_count = 0; block_living = 0; }
    __syncthreads();
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    bool fires = false, alive = false;
    if (i < n) {
        const unsigned long long step = (unsigned long long)ctl[STEP];
        const unsigned long long golden = 0x9E3779B97F4A7C15ull;
        unsigned long long x = splitmix((unsigned long long)i * golden + (((step & 0xFFFFFFFFull) << 32) * golden + seed_offset));
        const unsigned long long total = (x & 0xFFFFull) + ((x >> 16) & 0xFFFFull) + ((x >> 32) & 0xFFFFull) + (x >> 48);
        const float noise = ((float)(int)total - noise_mean) * noise_scale;
        const bool quiet = !adapts[i];
        T value = quiet ? T(0) : T(noise) * sigma;
        value += synaptic[i];
        synaptic[i] = T(0);
        value += quiet ? ((i >= memory_end && i < quiet_end) ? association_drive : T(0)) : T(drive[0]);
        value += stimulus[i];
        current[i] = value;
        T m = membrane[i] * decay;
        m += value;
        if (quiet && m < reset) m = reset;
        const short ref = refractory[i];
        T limit = threshold_fast[i] + threshold_homeostatic[i];
        limit += rest;
        fires = (ref <= 0) && (m >= limit);
        membrane[i] = (fires || ref > 0) ? reset : m;
        refractory[i] = fires ? refractory_steps : (ref > 0 ? (short)(ref - 1) : ref);
        T t = threshold_fast[i] * threshold_decay;
        t += fires ? jump : T(0);
        threshold_fast[i] = t;
        spiked[i] = fires;
        if (fires) { counts[i] += 1; recent[i] += 1; }
        alive = fires && !quiet;
    }
    const unsigned lane = threadIdx.x & 31u;
    const unsigned fired = __ballot_sync(FULL_MASK, fires);
    const unsigned living = __ballot_sync(FULL_MASK, alive);
    int warp_offset = 0;
    if (lane == 0 && fired) {
        warp_offset = atomicAdd(&block_count, __popc(fired));
        atomicAdd(&block_living, __popc(living));
    }
    warp_offset = __shfl_sync(FULL_MASK, warp_offset, 0);
    __syncthreads();
    if (threadIdx.x == 0 && block_count) {
        block_base = (int)atomicAdd((unsigned long long*)&ctl[COUNT], (unsigned long long)block_count);
        atomicAdd((unsigned long long*)&ctl[LIVING], (unsigned long long)block_living);
    }
    __syncthreads();
    if (fires) spike_list[block_base + warp_offset + __popc(fired & ((1u << lane) - 1u))] = i;
}

template <typename T>
__global__ void deliver(
    const long long* ctl, const int* spike_list, const bool* excitatory,
    const int* targets, const T* weights, int fan_out,
    const int* local_targets, const T* local_weights, int local_fan_out, T* synaptic)
{
    const int count = (int)ctl[COUNT];
    const int lane = threadIdx.x & 31;
    const int warps = (gridDim.x * blockDim.x) >> 5;
    const int row_length = fan_out + local_fan_out;
    for (int s = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; s < count; s += warps) {
        const long long j = spike_list[s];
        const bool local = excitatory[j];
        for (int k = lane; k < row_length; k += 32) {
            if (k < fan_out) {
                atomicAdd(&synaptic[targets[j * fan_out + k]], weights[j * fan_out + k]);
            } else if (local) {
                const long long at = j * local_fan_out + (k - fan_out);
                atomicAdd(&synaptic[local_targets[at]], local_weights[at]);
            }
        }
    }
}

extern "C" __global__ void population(
    long long* ctl, float* fractions, float* drive, float inverse_neurons, float target, float gain, float drive_max,
    float* dopamine, float dopamine_decay, int learn_interval, int learns)
{
    const long long step = ctl[STEP];
    const float fraction = (float)ctl[LIVING] * inverse_neurons;
    fractions[ctl[FILLED]] = fraction;
    ctl[FILLED] += 1;
    float d = drive[0];
    d += gain * (target - fraction);
    if (d > drive_max) d = drive_max;
    else if (d < -drive_max) d = -drive_max;
    drive[0] = d;
    if (learns && (step + 1) % learn_interval == 0) dopamine[0] *= dopamine_decay;
    ctl[COUNT] = 0;
    ctl[LIVING] = 0;
    ctl[STEP] = step + 1;
}

template <typename T>
__global__ void thresholds(int n, const long long* ctl, int interval, int* recent, const bool* adapts, T* threshold_homeostatic, T expected, T rate)
{
    if (ctl[STEP] % interval != 0) return;  // most steps: a small grid that exits at once
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        if (adapts[i]) {
            T surplus = (T)recent[i];
            surplus -= expected;
            surplus *= rate;
            threshold_homeostatic[i] += surplus;
        }
        recent[i] = 0;
    }
}

template <typename T>
__global__ void potentiate(
    const long long* ctl, const int* spike_list, const T* trace, float* eligibility, const int* rows,
    const long long* by_target, const long long* target_start, float ltp)
{
    if (ctl[PAIRING] == 0) return;
    const int count = (int)ctl[COUNT];
    for (int s = blockIdx.x * blockDim.x + threadIdx.x; s < count; s += gridDim.x * blockDim.x) {
        const int i = spike_list[s];
        for (long long q = target_start[i]; q < target_start[i + 1]; ++q) {
            const long long p = by_target[q];
            eligibility[p] += ltp * (float)trace[rows[p]];
        }
    }
}

template <typename T>
__global__ void depress(
    const long long* ctl, const int* spike_list, const T* trace, float* eligibility, const int* plastic_targets,
    const long long* row_start, float ltd, float pre_depression)
{
    const long long pairing = ctl[PAIRING];
    if (pairing == 0) return;
    const float depression = pairing == 2 ? pre_depression : 0.0f;
    const int count = (int)ctl[COUNT];
    for (int s = blockIdx.x * blockDim.x + threadIdx.x; s < count; s += gridDim.x * blockDim.x) {
        const int j = spike_list[s];
        for (long long p = row_start[j]; p < row_start[j + 1]; ++p) {
            float loss = ltd * (float)trace[plastic_targets[p]];
            loss += depression;
            eligibility[p] -= loss;
        }
    }
}

template <typename T>
__global__ void traces(int n, T* trace, const bool* spiked, T decay)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    T t = trace[i] * decay;
    t += spiked[i] ? T(1) : T(0);
    trace[i] = t;
}

template <typename T>
__global__ void update_weights(
    const long long* ctl, int interval, long long synapses, float* eligibility, const float* dopamine,
    const int* rows, const int* slots, T* weights, int fan_out, float eligibility_decay, float learning_rate, T weight_max)
{
    if ((ctl[STEP] + 1) % interval != 0) return;
    const float gain = learning_rate * dopamine[0];
    if (gain == 0.0f && ctl[IN_RANGE]) {  // no dopamine: weights within [0, max] stay as they are
        for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < synapses; p += (long long)gridDim.x * blockDim.x)
            eligibility[p] *= eligibility_decay;
        return;
    }
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < synapses; p += (long long)gridDim.x * blockDim.x) {
        const float c = eligibility[p] * eligibility_decay;
        eligibility[p] = c;
        const long long at = (long long)rows[p] * fan_out + slots[p];
        T moved = weights[at] + (T)(c * gain);
        if (moved < T(0)) moved = T(0);
        else if (moved > weight_max) moved = weight_max;
        weights[at] = moved;
    }
}

extern "C" __global__ void setup(long long* ctl, long long step, long long filled, long long pairing, long long in_range)
{
    ctl[STEP] = step;
    ctl[FILLED] = filled;
    ctl[PAIRING] = pairing;
    ctl[IN_RANGE] = in_range;
    ctl[COUNT] = 0;
    ctl[LIVING] = 0;
}
"""

TEMPLATED = ("neurons", "deliver", "thresholds", "potentiate", "depress", "traces", "update_weights")
_modules: dict[str, Any] = {}


def compile_module(dtype: np.dtype) -> dict[str, Any]:
    """The kernels for state ``dtype`` (float32 or float64), compiled by NVRTC once per process.

    CuPy keeps the compiled binary in its disk cache (``~/.cupy/kernel_cache``), so a second
    start does not compile.
    """
    import cupy

    name = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}[np.dtype(dtype)]
    if name not in _modules:
        expressions = [f"{kernel}<{name}>" for kernel in TEMPLATED]
        module = cupy.RawModule(code=SOURCE, options=("--fmad=false", "--std=c++17"), name_expressions=expressions)
        functions = {kernel: module.get_function(f"{kernel}<{name}>") for kernel in TEMPLATED}
        functions["population"] = module.get_function("population")
        functions["setup"] = module.get_function("setup")
        _modules[name] = functions
    return _modules[name]


def _blocks(items: int) -> int:
    return max(1, (items + BLOCK - 1) // BLOCK)


class FusedGpuStep:
    """The fused kernels of one :class:`~brainchat.model.brain.Brain`, and its captured graphs.

    Built from the brain's live device arrays: their addresses go into the graphs, so the
    brain must change its state in place (it does: a snapshot load writes into the arrays).
    """

    def __init__(self, brain: Any):
        import cupy

        self.functions = compile_module(brain.dtype)
        n = brain.size
        self.ctl = cupy.zeros(CONTROL_SIZE, dtype=cupy.int64)
        self.spike_list = cupy.zeros(n, dtype=cupy.int32)
        self.stimulus_values = cupy.zeros(n, dtype=brain.dtype)
        processors = cupy.cuda.Device().attributes["MultiProcessorCount"]
        self.deliver_blocks = min(_blocks(n), processors * 16)
        self.spike_blocks = min(_blocks(n), processors * 4)
        self.sweep_blocks = processors * 8  # grid-stride kernels that most steps leave at once
        self.graph_error = ""  # why the graphs could not be captured, if they could not
        self.launches = self._launches(brain)
        self._graphs: dict[int, Any] = {}
        self._stream = cupy.cuda.Stream(non_blocking=True)
        self.graphs_enabled = True

    def _launches(self, b: Any) -> list[tuple[Any, tuple, tuple]]:
        """(kernel, blocks, arguments) of one step, in order; blocks 0 means one thread."""
        kind = b.dtype.type
        n = b.size
        c, h = b.config, b.config.homeostasis
        p, state, learning = b.params, b.neurons, b.learning
        fractions, counts, _ = b.recorder.buffers()
        f = self.functions
        steps = [
            (f["neurons"], _blocks(n), (
                np.int32(n), self.ctl, np.uint64(b.noise.seed_offset),
                state.membrane, state.threshold_fast, state.threshold_homeostatic, state.refractory,
                b.synaptic_input, b.current, b.last_spikes, b.homeostasis.recent_spikes, counts, self.spike_list,
                b.homeostasis.drive, self.stimulus_values, b.adapts,
                np.int32(b.memory_end), np.int32(b.quiet_end), kind(b.association_drive),
                kind(p.membrane_decay), kind(p.threshold_rest), kind(p.reset), np.int16(p.refractory_steps),
                kind(p.threshold_jump), kind(p.threshold_decay), kind(c.neurons.noise_sigma),
                np.float32(2.0 * 65535.0), np.float32(1.0 / (65536.0 / np.sqrt(3.0))),
            )),
            (f["deliver"], self.deliver_blocks, (
                self.ctl, self.spike_list, b.excitatory, b.recurrent.targets, b.recurrent.weights, np.int32(b.recurrent.fan_out),
                b.local.targets, b.local.weights, np.int32(b.local.fan_out), b.synaptic_input,
            )),
        ]
        learns = b.plastic.size > 0
        if learns:
            index, plastic = b.plastic, b.plasticity
            steps += [
                (f["potentiate"], self.spike_blocks, (
                    self.ctl, self.spike_list, plastic.trace, plastic.eligibility, index.rows, index.by_target, index.target_start,
                    np.float32(learning.ltp),
                )),
                (f["depress"], self.spike_blocks, (
                    self.ctl, self.spike_list, plastic.trace, plastic.eligibility, index.targets, index.row_start,
                    np.float32(learning.ltd), np.float32(learning.pre_spike_depression),
                )),
                (f["traces"], _blocks(n), (np.int32(n), plastic.trace, b.last_spikes, kind(learning.trace_decay))),
                (f["update_weights"], min(_blocks(index.size), self.sweep_blocks), (
                    self.ctl, np.int32(learning.interval), np.int64(index.size), plastic.eligibility, plastic.dopamine,
                    index.rows, index.slots, b.recurrent.weights, np.int32(b.recurrent.fan_out),
                    np.float32(learning.eligibility_decay), np.float32(learning.learning_rate), kind(learning.weight_max),
                )),
            ]
        steps += [
            (f["population"], 0, (
                self.ctl, fractions, b.homeostasis.drive, np.float32(1.0 / b.recorder.neurons),
                np.float32(h.target_fraction), np.float32(h.drive_gain), np.float32(h.drive_max),
                b.plasticity.dopamine, np.float32(learning.dopamine_decay), np.int32(learning.interval), np.int32(learns),
            )),
            (f["thresholds"], min(_blocks(n), self.sweep_blocks), (
                np.int32(n), self.ctl, np.int32(h.threshold_interval), b.homeostasis.recent_spikes, b.adapts,
                state.threshold_homeostatic, kind(h.target_fraction * h.threshold_interval), kind(h.threshold_rate),
            )),
        ]
        return steps

    def _launch_steps(self, steps: int) -> None:
        for _ in range(steps):
            for function, grid, arguments in self.launches:
                # grid 0: a single thread (the population kernel)
                function((max(grid, 1),), (BLOCK if grid else 1,), arguments)

    def _graph(self, steps: int) -> Any:
        graph = self._graphs.get(steps)
        if graph is None:
            stream = self._stream
            with stream:
                stream.begin_capture()
                try:
                    self._launch_steps(steps)
                finally:
                    graph = stream.end_capture()
            self._graphs[steps] = graph
        return graph

    def run(self, steps: int, step: int, filled: int, pairing: int, weights_in_range: bool) -> None:
        """Queue ``steps`` steps from ``step`` on the current stream (nothing waits for them)."""
        self.functions["setup"]((1,), (1,), (self.ctl, np.int64(step), np.int64(filled), np.int64(pairing), np.int64(weights_in_range)))
        left = steps
        for size in BATCHES:
            while left >= size:
                if self.graphs_enabled:
                    try:
                        self._graph(size).launch()
                    except Exception as error:  # a CuPy or driver without stream capture: launch one by one
                        self.graphs_enabled = False
                        self.graph_error = f"{type(error).__name__}: {error}"
                        warnings.warn(f"brainchat: CUDA graphs unavailable ({self.graph_error}); launching the kernels one by one", RuntimeWarning, stacklevel=2)
                        self._launch_steps(size)
                else:
                    self._launch_steps(size)
                left -= size
