"""The GPU fast path: the step as a few fused CUDA kernels, replayed as CUDA graphs.

One step is R + P + 2 kernel launches (R regions, P pathways; + 3 + T with plasticity, T trace
ranges), none of which waits for the host:

1. :cuda:`neurons`, a launch per region (its LIF constants, living or quiet, as arguments) --
   one thread per neuron: counter noise (the hash of :mod:`brainchat.model.noise`), input,
   LIF update, fast threshold, spike counters (an AdEx or Izhikevich region launches
   :cuda:`model_neurons` instead: the same input, then the sub-steps of
   :mod:`brainchat.model.neurons.models` in registers); the spiking neurons are appended to the
   region's segment of the spike list (``spike_list[start ..]``) with one atomic per block
   (warp ballots, then a block total) on the region's count, and a living region's spikes are
   counted into the living total the same way;
2. :cuda:`deliver`, a launch per pathway -- event-driven: a group of lanes per spike of the
   pathway's source regions (a warp for a row of 32 synapses, 4 lanes for the 4 neighbours)
   adds the first ``lengths[j]`` synapses of row ``j`` to their targets with atomic adds,
   grid-stride over the spike count, which the kernel reads from device memory; an
   ``all_to_all`` pathway launches :cuda:`deliver_all` instead: each block counts the spikes
   by sign and adds count x weight to its share of the targets;
3. the plasticity kernels when a pathway learns: the tags (:cuda:`potentiate`, then
   :cuda:`depress`), the STDP traces (:cuda:`traces`, a launch per trace range) and the
   weight update every ``update_interval`` steps (:cuda:`update_weights`);
4. :cuda:`population` -- one thread: the living neurons' firing fraction into the vitals
   buffer, each living region's drive controller (from the region's own spike count, toward
   its target), the dopamine decay, the step counter;
5. :cuda:`thresholds` -- the homeostatic thresholds of the living regions, each toward its
   own target, a no-op except every ``threshold_interval`` steps.

The step number, the vitals position, the pairing mode, the eligible flag and the spike
counts live in a small device array (``ctl``), so one captured sequence of kernels is valid
at any step: batches of 1, 4, 16 and 64 steps are captured once as CUDA graphs and replayed
(a Python kernel launch costs several microseconds, more than a 200k-neuron step's kernels
take).

What it costs follows activity, as in the CPU kernel (:mod:`brainchat.model.kernels.fused_cpu`): a
tag is written only where it changes an eligibility, and sets the eligible flag; the weight
update is skipped while the flag is clear and every plastic weight is within [0,
weight_max] (the dopamine still decays). :meth:`FusedGpuStep.clear_eligible` clears the flag
when the brain zeroed every eligibility, :meth:`FusedGpuStep.refresh` recomputes it after a
snapshot load.

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

from brainchat.model.neurons import models
from brainchat.model.plasticity import ELIGIBILITY_FLOOR

STEP, FILLED, PAIRING, LIVING, IN_RANGE, ELIGIBLE = range(6)
REGION_COUNTS = 8  # ctl[REGION_COUNTS + r]: region r's spikes in this step
BATCHES = (64, 16, 4, 1)  # graph sizes; a call of n steps replays the largest that fit
BLOCK = 256
OPTIONS = ("--fmad=false", "--std=c++17")

SOURCE = r"""
#define FULL_MASK 0xffffffffu
#define STEP 0
#define FILLED 1
#define PAIRING 2
#define LIVING 3
#define IN_RANGE 4
#define ELIGIBLE 5
#define REGION_COUNTS 8

__device__ __forceinline__ unsigned long long splitmix(unsigned long long x) {
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    return x;
}

// the spikes of regions r_lo .. r_hi this step, in that order
__device__ __forceinline__ long long spike_total(const long long* ctl, int r_lo, int r_hi) {
    long long total = 0;
    for (int r = r_lo; r < r_hi; ++r) total += ctl[REGION_COUNTS + r];
    return total;
}

// spike s (0-based) of regions r .. : region r's spikes are spike_list[bounds[r] ..]
__device__ __forceinline__ int spike_at(const long long* ctl, const long long* bounds, const int* spike_list, int r, long long s) {
    long long count = ctl[REGION_COUNTS + r];
    while (s >= count) {
        s -= count;
        ++r;
        count = ctl[REGION_COUNTS + r];
    }
    return spike_list[bounds[r] + s];
}

// the counter noise's 64-bit word of neuron i this step (brainchat/model/noise.py)
__device__ __forceinline__ unsigned long long counter_word(int i, const long long* ctl, unsigned long long seed_offset) {
    const unsigned long long step = (unsigned long long)ctl[STEP];
    const unsigned long long golden = 0x9E3779B97F4A7C15ull;
    return splitmix((unsigned long long)i * golden + (((step & 0xFFFFFFFFull) << 32) * golden + seed_offset));
}

// the input of neuron i this step, as the reference adds it: living regions noise, synaptic,
// drive, stimulus; quiet ones synaptic, tonic, stimulus. The synaptic input is consumed. gains:
// the region's row of Brain.modulation ([0] synaptic, [1] stimulus; the neuromodulators, 1 at rest).
// synaptic is the whole input buffer [2N]: slow_at = N where the region takes slow inhibition
// (its share `release` of the charge at i + N joins the synaptic input, `keep` of it stays), else 0
template <typename T>
__device__ __forceinline__ T neuron_input(
    int i, int region, int living, const long long* ctl, unsigned long long seed_offset,
    T* synaptic, const float* drive, const T* stimulus, T tonic, T sigma, float noise_mean, float noise_scale, const T* gains,
    int slow_at, T release, T keep)
{
    const unsigned long long x = counter_word(i, ctl, seed_offset);
    const unsigned long long total = (x & 0xFFFFull) + ((x >> 16) & 0xFFFFull) + ((x >> 32) & 0xFFFFull) + (x >> 48);
    const float noise = ((float)(int)total - noise_mean) * noise_scale;  // total < 2**18: exact
    T value = living ? T(noise) * sigma : T(0);
    T arrived = synaptic[i];
    if (slow_at) {  // first the slow charge's share joins the synaptic input (Brain._release_slow)
        const T charge = synaptic[i + slow_at];
        const T released = charge * release;
        arrived += released;
        synaptic[i + slow_at] = charge * keep;
    }
    value += arrived * gains[0];
    synaptic[i] = T(0);
    value += living ? T(drive[region]) : tonic;
    value += stimulus[i] * gains[1];  // zero where no stimulus
    return value;
}

// every thread of the block calls it: the block's spikes are appended to the region's segment
// of the spike list with one atomic per block (warp ballots, then a block total), and a living
// region's spikes are counted into the living total
__device__ __forceinline__ void append_spikes(bool fires, int i, int start, int region, int living, long long* ctl, int* spike_list)
{
    __shared__ int block_count, block_base;
    if (threadIdx.x == 0) block_count = 0;
    __syncthreads();
    const unsigned lane = threadIdx.x & 31u;
    const unsigned fired = __ballot_sync(FULL_MASK, fires);
    int warp_offset = 0;
    if (lane == 0 && fired) warp_offset = atomicAdd(&block_count, __popc(fired));
    warp_offset = __shfl_sync(FULL_MASK, warp_offset, 0);
    __syncthreads();
    if (threadIdx.x == 0 && block_count) {
        block_base = (int)atomicAdd((unsigned long long*)&ctl[REGION_COUNTS + region], (unsigned long long)block_count);
        if (living) atomicAdd((unsigned long long*)&ctl[LIVING], (unsigned long long)block_count);
    }
    __syncthreads();
    if (fires) spike_list[start + block_base + warp_offset + __popc(fired & ((1u << lane) - 1u))] = i;
}

template <typename T>
__global__ void neurons(
    int start, int stop, int region, int living, int floored, long long* ctl, unsigned long long seed_offset,
    T* membrane, T* threshold_fast, const T* threshold_homeostatic, short* refractory,
    T* synaptic, T* current, bool* spiked, int* recent, int* counts, int* spike_list,
    const float* drive, const T* stimulus, T tonic,
    T decay, T rest, T reset, short refractory_steps, T jump, T threshold_decay, T sigma,
    float noise_mean, float noise_scale, const T* gains, int slow_at, T release, T keep)
{
    const int i = start + blockIdx.x * blockDim.x + threadIdx.x;
    bool fires = false;
    if (i < stop) {
        const T value = neuron_input(i, region, living, ctl, seed_offset, synaptic, drive, stimulus, tonic, sigma, noise_mean, noise_scale, gains,
                                     slow_at, release, keep);
        current[i] = value;
        T m = membrane[i] * decay;
        m += value;
        if (floored && m < reset) m = reset;  // quiet: inhibition shunts, holds the membrane at reset
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
    }
    append_spikes(fires, i, start, region, living, ctl, spike_list);
}

// max and min as the reference takes them (no NaN reaches them)
template <typename T> __device__ __forceinline__ T larger(T a, T b) { return b > a ? b : a; }
template <typename T> __device__ __forceinline__ T smaller(T a, T b) { return b < a ? b : a; }

// one region of AdEx (model 1) or Izhikevich (model 2) neurons, in threshold units: the input
// of the LIF kernel, then SUBSTEPS Euler steps of brainchat/model/neurons/models.py, operation
// by operation (c: the region's 10 constants; poly: soft_exp's coefficients, 1/SUBSTEPS, clips)
template <typename T>
__global__ void model_neurons(
    int start, int stop, int region, int living, int floored, int model, long long* ctl, unsigned long long seed_offset,
    T* membrane, T* recovery, const T* threshold_homeostatic,
    T* synaptic, T* current, bool* spiked, int* recent, int* counts, int* spike_list,
    const float* drive, const T* stimulus, T tonic, T sigma, float noise_mean, float noise_scale,
    const T* c, const T* poly, int substeps, const T* gains, int slow_at, T release, T keep)
{
    const int i = start + blockIdx.x * blockDim.x + threadIdx.x;
    bool fires = false;
    if (i < stop) {
        T value = neuron_input(i, region, living, ctl, seed_offset, synaptic, drive, stimulus, tonic, sigma, noise_mean, noise_scale, gains,
                               slow_at, release, keep);
        current[i] = value;
        if (model == 3) {  // poisson: fires if the word's top 24 bits, as a uniform, are below clip(input, 0, 1) x the rate per step (float)
            float rate = smaller(larger((float)value, 0.0f), 1.0f) * (float)c[0];
            if (rate != rate) rate = 0.0f;
            fires = (float)(counter_word(i, ctl, seed_offset) >> 40) * 5.9604644775390625e-08f < rate;
            spiked[i] = fires;
            if (fires) { counts[i] += 1; recent[i] += 1; }
        }
    }
    if (model == 3) {
        append_spikes(fires, i, start, region, living, ctl, spike_list);
        return;
    }
    if (i < stop) {
        T value = current[i];
        const T one = poly[5], h = poly[7], max_input = poly[10], max_recovery = poly[11];
        if (value != value) value = T(0);
        value = smaller(larger(value, -max_input), max_input);
        const T x = value - threshold_homeostatic[i] * c[8];
        const T lowest = floored ? T(0) : c[9];
        T m = membrane[i];
        T w = recovery[i];
        for (int k = 0; k < substeps; ++k) {
            T dm, dw, peak, reset, jump;
            if (model == 1) {
                const T argument = smaller(larger((m - one) * c[2], poly[8]), poly[9]);
                const T y = argument * poly[6];
                T e = poly[0] * y + poly[1];
                e = e * y + poly[2];
                e = e * y + poly[3];
                e = e * y + poly[4];
                e = e * y + one;
                e = e * y + one;
                for (int q = 0; q < 6; ++q) e = e * e;
                dm = ((x - m * c[0]) + e * c[1]) - w;
                dw = (m * c[3] - w) * c[4];
                peak = c[5]; reset = c[6]; jump = c[7];
            } else {
                dm = (((m * c[1] + c[0]) * m - w) + x) + c[7];
                dw = (m * c[3] - w) * c[2];
                peak = c[4]; reset = c[5]; jump = c[6];
            }
            m = larger(m + dm * h, lowest);
            w = w + dw * h;
            const bool fired = m >= peak;
            m = fired ? reset : m;
            w = fired ? w + jump : w;
            w = smaller(larger(w, -max_recovery), max_recovery);
            fires |= fired;
        }
        membrane[i] = m;
        recovery[i] = w;
        spiked[i] = fires;
        if (fires) { counts[i] += 1; recent[i] += 1; }
    }
    append_spikes(fires, i, start, region, living, ctl, spike_list);
}

// one pathway: `group` lanes (a power of two, at most 32) per spike of its source regions
// r_lo .. r_hi; row j = source - source_start is targets[synapse_offset + j * fan_out ..],
// lengths[row_offset + j] long; slow = N puts its inhibitory synapses into the slow half of the
// input buffer (synaptic[N + target]), 0 keeps them with the others
template <typename T>
__global__ void deliver(
    const long long* ctl, const long long* bounds, const int* spike_list, int r_lo, int r_hi,
    long long source_start, long long fan_out, long long synapse_offset, long long row_offset, int group,
    const int* targets, const T* weights, const int* lengths, T* synaptic, long long slow)
{
    const long long count = spike_total(ctl, r_lo, r_hi);
    const long long thread = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int lane = (int)(thread % group);
    const long long groups = (long long)gridDim.x * blockDim.x / group;
    for (long long s = thread / group; s < count; s += groups) {
        const long long j = spike_at(ctl, bounds, spike_list, r_lo, s) - source_start;
        const long long row = synapse_offset + j * fan_out;
        const int length = lengths[row_offset + j];
        for (int k = lane; k < length; k += group) {
            const T weight = weights[row + k];
            atomicAdd(&synaptic[targets[row + k] + (weight < T(0) ? slow : 0ll)], weight);
        }
    }
}

// an all_to_all pathway: every block counts the spikes of its source regions r_lo .. r_hi by
// the sign of their one weight slot (weights[synapse_offset + j]), then adds count x weight to
// its share of the targets t_lo .. t_hi (Brain._deliver_uniform); slow = N: the negative part
// into the slow half. Integer counts: the same sums as the reference, bit for bit. Launched
// after and before the other pathways' kernels, so no other thread writes these targets now
template <typename T>
__global__ void deliver_all(
    const long long* ctl, const long long* bounds, const int* spike_list, int r_lo, int r_hi,
    long long source_start, long long synapse_offset, const T* weights, T up_weight, T down_weight,
    long long t_lo, long long t_hi, T* synaptic, long long slow)
{
    __shared__ int ups, downs;
    if (threadIdx.x == 0) { ups = 0; downs = 0; }
    __syncthreads();
    const long long count = spike_total(ctl, r_lo, r_hi);
    int up = 0, down = 0;
    for (long long s = threadIdx.x; s < count; s += blockDim.x) {
        const T weight = weights[synapse_offset + spike_at(ctl, bounds, spike_list, r_lo, s) - source_start];
        up += weight > T(0);
        down += weight < T(0);
    }
    atomicAdd(&ups, up);
    atomicAdd(&downs, down);
    __syncthreads();
    const T positive = (T)ups * up_weight;
    const T negative = (T)downs * down_weight;
    const T both = positive + negative;
    for (long long i = t_lo + (long long)blockIdx.x * blockDim.x + threadIdx.x; i < t_hi; i += (long long)gridDim.x * blockDim.x) {
        if (slow) {
            synaptic[i] += positive;
            synaptic[i + slow] += negative;
        } else {
            synaptic[i] += both;
        }
    }
}

// each living region's drive toward its target from its own firing fraction
extern "C" __global__ void population(
    long long* ctl, int regions, float* fractions, const float* inverse_neurons, float* drive, const int* living,
    const float* inverse_size, const float* target, float gain, float drive_max,
    float* dopamine, float dopamine_decay, int learn_interval, int learns)
{
    const long long step = ctl[STEP];
    fractions[ctl[FILLED]] = (float)ctl[LIVING] * inverse_neurons[0];
    ctl[FILLED] += 1;
    for (int r = 0; r < regions; ++r) {
        if (!living[r]) continue;
        float d = drive[r];
        d += gain * (target[r] - (float)ctl[REGION_COUNTS + r] * inverse_size[r]);
        if (d > drive_max) d = drive_max;
        else if (d < -drive_max) d = -drive_max;
        drive[r] = d;
    }
    if (learns && (step + 1) % learn_interval == 0) dopamine[0] *= dopamine_decay;
    ctl[LIVING] = 0;
    for (int r = 0; r < regions; ++r) ctl[REGION_COUNTS + r] = 0;
    ctl[STEP] = step + 1;
}

// after population: ctl[STEP] is the number of steps done
template <typename T>
__global__ void thresholds(
    long long n, const long long* ctl, int interval, const long long* bounds, const int* living, const T* expected,
    int* recent, T* threshold_homeostatic, T rate)
{
    if (ctl[STEP] % interval != 0) return;  // most steps: a small grid that exits at once
    int r = 0;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        while (i >= bounds[r + 1]) ++r;  // i only grows
        if (living[r]) {
            T surplus = (T)recent[i];  // small integers: exact
            surplus -= expected[r];
            surplus *= rate;
            threshold_homeostatic[i] += surplus;
        }
        recent[i] = 0;
    }
}

// the tags of the spikes of every region as targets: a group of `group` lanes per spike; each
// plastic synapse has one target, so no two lanes write the same eligibility
template <typename T>
__global__ void potentiate(
    long long* ctl, const long long* bounds, const int* spike_list, int regions, int group,
    const T* trace, float* eligibility, const int* sources, const long long* by_target, const long long* target_start, float ltp)
{
    if (ctl[PAIRING] == 0) return;
    const long long count = spike_total(ctl, 0, regions);
    const long long thread = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int lane = (int)(thread % group);
    const long long groups = (long long)gridDim.x * blockDim.x / group;
    bool tagged = false;
    for (long long s = thread / group; s < count; s += groups) {
        const int i = spike_at(ctl, bounds, spike_list, 0, s);
        for (long long q = target_start[i] + lane; q < target_start[i + 1]; q += group) {
            const long long p = by_target[q];
            const float gain = ltp * (float)trace[sources[p]];
            if (gain != 0.0f) {
                eligibility[p] += gain;
                tagged = true;
            }
        }
    }
    if (tagged) ctl[ELIGIBLE] = 1;
}

// then the same spikes as sources: each plastic synapse has one source
template <typename T>
__global__ void depress(
    long long* ctl, const long long* bounds, const int* spike_list, int regions, int group,
    const T* trace, float* eligibility, const int* plastic_targets, const long long* row_start, float ltd, float pre_depression)
{
    const long long pairing = ctl[PAIRING];
    if (pairing == 0) return;
    const float depression = pairing == 2 ? pre_depression : 0.0f;
    const long long count = spike_total(ctl, 0, regions);
    const long long thread = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const int lane = (int)(thread % group);
    const long long groups = (long long)gridDim.x * blockDim.x / group;
    bool tagged = false;
    for (long long s = thread / group; s < count; s += groups) {
        const int j = spike_at(ctl, bounds, spike_list, 0, s);
        for (long long p = row_start[j] + lane; p < row_start[j + 1]; p += group) {
            float loss = ltd * (float)trace[plastic_targets[p]];
            loss += depression;
            if (loss != 0.0f) {
                eligibility[p] -= loss;
                tagged = true;
            }
        }
    }
    if (tagged) ctl[ELIGIBLE] = 1;
}

// neurons lo .. hi (one trace range): the trace decays, then takes this step's spike
template <typename T>
__global__ void traces(long long lo, long long hi, T* trace, const bool* spiked, T decay)
{
    const long long i = lo + (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= hi) return;
    T t = trace[i] * decay;
    if (spiked[i]) t += T(1);
    trace[i] = t;
}

// before population: ctl[STEP] is this step's number
template <typename T>
__global__ void update_weights(
    const long long* ctl, int interval, long long plastic, float* eligibility, const float* dopamine,
    const long long* synapses, T* weights, const float* learning_now, float eligibility_floor, T weight_max)
{
    if ((ctl[STEP] + 1) % interval != 0) return;
    // learning_now: Brain.learning_now, the eligibility decay and learning rate the neuromodulators make
    const float eligibility_decay = learning_now[0], learning_rate = learning_now[1];
    if (!ctl[ELIGIBLE] && ctl[IN_RANGE]) return;  // every eligibility is 0, every weight within [0, max]: nothing moves
    const float gain = learning_rate * dopamine[0];
    const long long stride = (long long)gridDim.x * blockDim.x;
    if (gain == 0.0f && ctl[IN_RANGE]) {  // no dopamine: weights within [0, max] stay as they are
        for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < plastic; p += stride) {
            float c = eligibility[p] * eligibility_decay;
            if (fabsf(c) < eligibility_floor) c = 0.0f;  // plasticity.ELIGIBILITY_FLOOR
            eligibility[p] = c;
        }
        return;
    }
    for (long long p = (long long)blockIdx.x * blockDim.x + threadIdx.x; p < plastic; p += stride) {
        float c = eligibility[p] * eligibility_decay;
        if (fabsf(c) < eligibility_floor) c = 0.0f;
        eligibility[p] = c;
        const long long at = synapses[p];
        T moved = weights[at] + (T)(c * gain);
        if (moved < T(0)) moved = T(0);
        else if (moved > weight_max) moved = weight_max;
        weights[at] = moved;
    }
}

extern "C" __global__ void setup(long long* ctl, int regions, long long step, long long filled, long long pairing, long long in_range)
{
    ctl[STEP] = step;
    ctl[FILLED] = filled;
    ctl[PAIRING] = pairing;
    ctl[IN_RANGE] = in_range;
    ctl[LIVING] = 0;
    for (int r = 0; r < regions; ++r) ctl[REGION_COUNTS + r] = 0;
}
"""

TEMPLATED = ("neurons", "model_neurons", "deliver", "deliver_all", "thresholds", "potentiate", "depress", "traces", "update_weights")
PLAIN = ("population", "setup")
TYPE_NAMES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_modules: dict[str, Any] = {}


def compile_module(dtype: np.dtype) -> dict[str, Any]:
    """The kernels for state ``dtype`` (float32 or float64), compiled by NVRTC once per process.

    CuPy keeps the compiled binary in its disk cache (``~/.cupy/kernel_cache``), so a second
    start does not compile.
    """
    import cupy

    name = TYPE_NAMES[np.dtype(dtype)]
    if name not in _modules:
        expressions = [f"{kernel}<{name}>" for kernel in TEMPLATED]
        module = cupy.RawModule(code=SOURCE, options=OPTIONS, name_expressions=expressions)
        functions = {kernel: module.get_function(f"{kernel}<{name}>") for kernel in TEMPLATED}
        functions.update({kernel: module.get_function(kernel) for kernel in PLAIN})
        _modules[name] = functions
    return _modules[name]


def _blocks(items: int) -> int:
    return max(1, (items + BLOCK - 1) // BLOCK)


def _lanes(row: int) -> int:
    """Lanes per spike for rows of ``row`` synapses: the power of two that covers it, 1 to 32."""
    lanes = 1
    while lanes < min(max(row, 1), 32):
        lanes *= 2
    return lanes


def _region_range(bounds: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
    """The regions ``r_lo .. r_hi`` whose neurons are exactly ``lo .. hi``."""
    r_lo, r_hi = int(np.searchsorted(bounds, lo)), int(np.searchsorted(bounds, hi))
    if bounds[r_lo] != lo or bounds[r_hi] != hi:
        raise ValueError(f"neurons {lo}..{hi} are not a run of whole regions")
    return r_lo, r_hi


class FusedGpuStep:
    """The fused kernels of one :class:`~brainchat.model.brain.Brain`, and its captured graphs.

    Built from the brain's live device arrays: their addresses go into the graphs, so the
    brain must change its state in place (it does: a snapshot load writes into the arrays).
    It keeps no reference to the brain, only the launch list built from it.
    """

    def __init__(self, brain: Any):
        import cupy

        regions = brain.layout.regions
        if tuple(brain.homeostasis.drive.shape) != (len(regions),):
            raise ValueError(f"the fused kernels take a drive per region, [{len(regions)}], not {list(brain.homeostasis.drive.shape)}")
        self.functions = compile_module(brain.dtype)
        n = brain.size
        self.regions = len(regions)
        self.ctl = cupy.zeros(REGION_COUNTS + self.regions, dtype=cupy.int64)
        # per region: its first id (and the end), living or quiet, 1 / size, target fraction, expected spikes per threshold update
        self.bounds = cupy.asarray(brain.layout.bounds)
        self.living = cupy.asarray(np.array([r.living for r in regions], dtype=np.int32))
        self.inverse_size = cupy.asarray(np.array([1.0 / r.size for r in regions], dtype=np.float32))
        # 1 / the living population (the vitals' firing fraction): a device array, so that deaths change it without new graphs
        self.inverse_neurons = cupy.asarray(np.array([1.0 / brain.recorder.neurons], dtype=np.float32))
        self.target = cupy.asarray(np.array(brain.targets, dtype=np.float32))
        self.expected = cupy.asarray(np.array([t * brain.config.homeostasis.threshold_interval for t in brain.targets], dtype=brain.dtype))
        self.spike_list = cupy.zeros(n, dtype=cupy.int32)
        # the constants of AdEx and Izhikevich regions (rows of RegionModel.constants) and of their arithmetic
        self.model_constants = cupy.asarray(np.array([r.model.constants for r in regions], dtype=brain.dtype).reshape(len(regions), models.CONSTANTS))
        self.poly = cupy.asarray(models.arithmetic_constants(brain.dtype))
        self.stimulus_values = cupy.zeros(n, dtype=brain.dtype)
        # Brain.modulation transposed ([R, 2]: each region's synaptic and stimulus gain, contiguous) and Brain.learning_now
        self.gains = cupy.asarray(np.ascontiguousarray(brain.modulation.T))
        self.learning_now = cupy.asarray(brain.learning_now)
        processors = cupy.cuda.Device().attributes["MultiProcessorCount"]
        self.processors = processors
        self.deliver_blocks = processors * 16
        self.spike_blocks = processors * 4
        self.sweep_blocks = processors * 8  # grid-stride kernels that most steps leave at once
        self.graph_error = ""  # why the graphs could not be captured, if they could not
        self._eligibility = brain.plasticity.eligibility
        self.launches = self._launches(brain)
        self._graphs: dict[int, Any] = {}
        self._stream = cupy.cuda.Stream(non_blocking=True)
        self.graphs_enabled = True
        self.refresh()

    def _launches(self, b: Any) -> list[tuple[Any, int, tuple]]:
        """(kernel, blocks, arguments) of one step, in order; blocks 0 means one thread."""
        kind = b.dtype.type
        n = b.size
        h = b.config.homeostasis
        state, learning, synapses = b.neurons, b.learning, b.synapses
        regions = b.layout.regions
        bounds = b.layout.bounds
        fractions, counts, _ = b.recorder.buffers()
        f = self.functions
        noise = (np.float32(2.0 * 65535.0), np.float32(1.0 / (65536.0 / np.sqrt(3.0))))
        steps = [
            (f["neurons"], _blocks(region.size), (
                np.int32(region.start), np.int32(region.stop), np.int32(region.index), np.int32(region.living), np.int32(region.floored),
                self.ctl, np.uint64(b.noise.seed_offset),
                state.membrane, state.threshold_fast, state.threshold_homeostatic, state.refractory,
                b.input_buffer, b.current, b.last_spikes, b.homeostasis.recent_spikes, counts, self.spike_list,
                b.homeostasis.drive, self.stimulus_values, kind(region.spec.tonic),
                kind(p.membrane_decay), kind(p.threshold_rest), kind(p.reset), np.int16(p.refractory_steps),
                kind(p.threshold_jump), kind(p.threshold_decay), kind(region.neurons.noise_sigma), *noise, self.gains[region.index],
                *self._slow(b, region),
            )) if region.model.kind == models.LIF else
            (f["model_neurons"], _blocks(region.size), (
                np.int32(region.start), np.int32(region.stop), np.int32(region.index), np.int32(region.living), np.int32(region.floored), np.int32(region.model.kind),
                self.ctl, np.uint64(b.noise.seed_offset),
                state.membrane, b.recovery, state.threshold_homeostatic,
                b.input_buffer, b.current, b.last_spikes, b.homeostasis.recent_spikes, counts, self.spike_list,
                b.homeostasis.drive, self.stimulus_values, kind(region.spec.tonic), kind(region.neurons.noise_sigma), *noise,
                self.model_constants[region.index], self.poly, np.int32(models.SUBSTEPS), self.gains[region.index],
                *self._slow(b, region),
            ))
            for region, p in zip(regions, b.params)
        ]
        for (s_lo, s_hi, t_lo, t_hi, fan_out, offset, row), slow, pathway in zip((tuple(int(x) for x in entry) for entry in synapses.table), b.slow_offsets, b.pathways):
            r_lo, r_hi = _region_range(bounds, s_lo, s_hi)
            if pathway.uniform:  # counts times weights onto every target: a block per multiprocessor at most
                up, down = b.uniform_weights[pathway.index]
                steps.append((f["deliver_all"], min(_blocks(t_hi - t_lo), self.processors), (
                    self.ctl, self.bounds, self.spike_list, np.int32(r_lo), np.int32(r_hi), np.int64(s_lo), np.int64(offset),
                    synapses.weights, kind(up), kind(down), np.int64(t_lo), np.int64(t_hi), b.input_buffer, np.int64(slow),
                )))
                continue
            lanes = _lanes(fan_out)
            steps.append((f["deliver"], min(_blocks((s_hi - s_lo) * lanes), self.deliver_blocks), (
                self.ctl, self.bounds, self.spike_list, np.int32(r_lo), np.int32(r_hi),
                np.int64(s_lo), np.int64(fan_out), np.int64(offset), np.int64(row), np.int32(lanes),
                synapses.targets, synapses.weights, synapses.lengths, b.input_buffer, np.int64(slow),
            )))
        learns = b.plastic.size > 0
        if learns:
            index, plastic = b.plastic, b.plasticity
            spikes = (self.ctl, self.bounds, self.spike_list, np.int32(self.regions), np.int32(32))
            steps += [
                (f["potentiate"], self.spike_blocks, (
                    *spikes, plastic.trace, plastic.eligibility, index.sources, index.by_target, index.target_start, np.float32(learning.ltp),
                )),
                (f["depress"], self.spike_blocks, (
                    *spikes, plastic.trace, plastic.eligibility, index.targets, index.row_start,
                    np.float32(learning.ltd), np.float32(learning.pre_spike_depression),
                )),
            ]
            steps += [
                (f["traces"], _blocks(int(hi - lo)), (np.int64(lo), np.int64(hi), plastic.trace, b.last_spikes, kind(learning.trace_decay)))
                for lo, hi in index.trace_ranges
            ]
            steps.append((f["update_weights"], min(_blocks(index.size), self.sweep_blocks), (
                self.ctl, np.int32(learning.interval), np.int64(index.size), plastic.eligibility, plastic.dopamine,
                index.synapses, synapses.weights,
                self.learning_now, np.float32(ELIGIBILITY_FLOOR), kind(learning.weight_max),
            )))
        steps += [
            (f["population"], 0, (
                self.ctl, np.int32(self.regions), fractions, self.inverse_neurons, b.homeostasis.drive, self.living,
                self.inverse_size, self.target, np.float32(h.drive_gain), np.float32(h.drive_max),
                b.plasticity.dopamine, np.float32(learning.dopamine_decay), np.int32(learning.interval), np.int32(learns),
            )),
            (f["thresholds"], min(_blocks(n), self.sweep_blocks), (
                np.int64(n), self.ctl, np.int32(h.threshold_interval), self.bounds, self.living, self.expected,
                b.homeostasis.recent_spikes, state.threshold_homeostatic, kind(h.threshold_rate),
            )),
        ]
        return steps

    @staticmethod
    def _slow(b: Any, region: Any) -> tuple:
        """A neuron kernel's last arguments: where the region's slow inhibitory charge is (N, or 0: none) and its release and keep per step."""
        kind = b.dtype.type
        release = b.slow_release[region.index]
        return np.int32(b.size if release else 0), kind(release), kind(b.slow_keep[region.index])

    def population_changed(self, brain: Any) -> None:
        """Neurons died or were renewed: new living counts for the drive controllers and the vitals (device arrays the graphs read: written in place)."""
        import cupy

        self.inverse_size[...] = cupy.asarray(brain.inverse_alive)
        self.inverse_neurons[...] = cupy.asarray(np.array([1.0 / brain.recorder.neurons], dtype=np.float32))

    def modulation_changed(self, brain: Any) -> None:
        """The neuromodulators' gains and learning constants changed: device arrays the graphs read, written in place on the current stream."""
        import cupy

        self.gains[...] = cupy.asarray(np.ascontiguousarray(brain.modulation.T))
        self.learning_now[...] = cupy.asarray(brain.learning_now)

    def clear_eligible(self) -> None:
        """The brain zeroed every eligibility: weight updates may be skipped again (on the device, no transfer)."""
        self.ctl[ELIGIBLE] = 0

    def refresh(self) -> None:
        """After the brain's state arrays were overwritten (a snapshot load): recompute the eligible flag from the eligibility.

        The arrays were written in place, so the graphs' addresses still hold; nothing else
        is cached from the state.
        """
        self.ctl[ELIGIBLE : ELIGIBLE + 1] = (self._eligibility != 0).any().astype(self.ctl.dtype)

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
        self.functions["setup"]((1,), (1,), (
            self.ctl, np.int32(self.regions), np.int64(step), np.int64(filled), np.int64(pairing), np.int64(weights_in_range),
        ))
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
