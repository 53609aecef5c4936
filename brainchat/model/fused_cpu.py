"""The CPU fast path: the whole step fused into numba-compiled code, many steps per call.

It computes exactly what the NumPy reference computes (:mod:`brainchat.model.brain`), in the
same order and the same float precision, so with one seed the spikes are bit-identical:

1. **Neurons** (:func:`_neuron_pass`): counter noise from the same hash as
   :mod:`brainchat.model.noise` (keys computed from the neuron index, not read from memory),
   input, LIF update, fast threshold, refractory counting; the synaptic input is read and
   zeroed in the same pass; a second pass lists the spiking neurons in ascending order.
2. **Delivery** (:func:`_deliver`): the rows of the spiking neurons are copied BLOCK rows at
   a time into a small buffer, then added from it. Copying first makes the row loads
   independent, so the memory system serves many at once; reading rows inside the add loop
   serialises on memory latency (measured 2.3 vs 1.4 ms for 10,000 rows of 32 at 200k
   neurons). Additions happen in spike order, as ``np.add.at`` over ``targets[fired].ravel()``
   does in the reference, so float sums round identically. Then the local projection.
3. **Population** (in :func:`_advance`): firing fraction, drive controller; every
   ``threshold_interval`` steps the homeostatic thresholds (:func:`_adapt_thresholds`).

The neuron pass and the threshold update take a neuron range ``lo..hi``, so a partition of
the brain across threads or processes can call them on its slice.

Compiled with ``nogil=True`` and serial: the stepping thread releases the GIL for the whole
call, so a REPL on the main thread costs it nothing. numba's ``parallel=True`` takes the GIL
at every call and, measured here on 2 cores with the delivery split by target range (which
keeps results bit-identical), was slower (4.8 vs 3.8 ms per step at 200k); that split was
removed. ``cache=True`` keeps the machine
code on disk so the second start does not compile; all settings are arguments because cached
code freezes global values.

float16 is not supported by numba's CPU arithmetic; a float16 brain uses the NumPy path.
"""

from __future__ import annotations

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; this guards broken installs
    numba = None

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MASK16 = np.uint64(0xFFFF)
_LOW32 = np.uint64(0xFFFFFFFF)
BLOCK = 64  # spiking rows gathered at a time: 64 x 32 synapses x 8 bytes = 16 KB, inside L1


def available() -> bool:
    return numba is not None


def _neuron_pass(
    lo, hi, step_key, last, zero, drive_cast,
    membrane, threshold_fast, threshold_homeostatic, refractory, synaptic, spiked, recent, counts, spike_list,
    stimulus_values, has_stimulus, adapts, memory_end, quiet_end, association_drive,
    decay, rest, reset, refractory_steps, jump, threshold_decay, sigma, noise_mean, noise_scale,
):  # pragma: no cover - compiled by numba
    """Neurons ``lo..hi``: input, LIF, fast threshold; lists the spikes from ``spike_list[lo]``.

    Returns (spike count, sum of the inputs if ``last`` else 0). The first loop is
    branch-free so that LLVM vectorises it; bookkeeping of the spikers is a second pass.
    """
    input_total = 0.0
    for i in range(lo, hi):
        x = np.uint64(i) * _GOLDEN + step_key
        x ^= x >> np.uint64(30)
        x *= _MIX1
        x ^= x >> np.uint64(27)
        x *= _MIX2
        x ^= x >> np.uint64(31)
        total = (x & _MASK16) + ((x >> np.uint64(16)) & _MASK16) + ((x >> np.uint64(32)) & _MASK16) + (x >> np.uint64(48))
        noise = (np.float32(np.int32(total)) - noise_mean) * noise_scale  # total < 2**18: exact
        quiet = not adapts[i]  # memory, association band, output patches: no noise, no drive
        value = zero if quiet else (zero + noise) * sigma
        value += synaptic[i]
        synaptic[i] = zero
        value += (association_drive if memory_end <= i < quiet_end else zero) if quiet else drive_cast
        value += stimulus_values[i] if has_stimulus else zero
        if last:
            input_total += value
        m = membrane[i] * decay
        m += value
        if quiet and m < reset:
            m = reset  # shunting: the quiet neurons' inhibition holds them at rest, no deeper
        ref = refractory[i]
        limit = threshold_fast[i] + threshold_homeostatic[i]
        limit += rest
        fires = (ref <= 0) & (m >= limit)
        membrane[i] = reset if (fires or ref > 0) else m
        refractory[i] = refractory_steps if fires else (ref - np.int16(1) if ref > 0 else ref)
        t = threshold_fast[i] * threshold_decay
        t += jump if fires else zero
        threshold_fast[i] = t
        spiked[i] = fires
    count = 0
    for i in range(lo, hi):
        if spiked[i]:
            spike_list[lo + count] = i
            count += 1
            counts[i] += 1
            recent[i] += 1
    return count, input_total


def _deliver(spikes, count, targets, weights, synaptic, gathered_targets, gathered_weights):  # pragma: no cover
    """Add the rows of ``spikes[:count]`` into ``synaptic``.

    Rows are copied BLOCK at a time into a small buffer (independent loads, served in
    parallel by the memory system), then added from it in spike order, so every target's
    sum rounds as in the reference.
    """
    fan_out = targets.shape[1]
    for first in range(0, count, BLOCK):
        size = min(BLOCK, count - first)
        for n in range(size):
            j = spikes[first + n]
            base = n * fan_out
            for k in range(fan_out):
                gathered_targets[base + k] = targets[j, k]
                gathered_weights[base + k] = weights[j, k]
        for m in range(size * fan_out):
            synaptic[gathered_targets[m]] += gathered_weights[m]


def _deliver_local(spikes, count, excitatory, targets, weights, synaptic):  # pragma: no cover
    """The local projection, from the excitatory ones of ``spikes[:count]``."""
    for n in range(count):
        j = spikes[n]
        if excitatory[j]:
            for k in range(targets.shape[1]):
                synaptic[targets[j, k]] += weights[j, k]


def _adapt_thresholds(lo, hi, zero, recent, adapts, threshold_homeostatic, expected, threshold_rate):  # pragma: no cover
    for i in range(lo, hi):
        if adapts[i]:
            surplus = zero + np.float32(recent[i])  # small integers: exact in float32
            surplus -= expected
            surplus *= threshold_rate
            threshold_homeostatic[i] += surplus
        recent[i] = 0


def _stdp(
    spikes, count, trace, eligibility, rows, plastic_targets, row_start, by_target, target_start,
    ltp, ltd, pre_depression, trace_decay, pairing,
):  # pragma: no cover
    """Eligibility from this step's spikes (``pairing`` 1: tag, 2: teach), then the traces take them (as plasticity.stdp_step)."""
    depression = pre_depression if pairing == 2 else np.float32(0.0)
    for n in range(count if pairing else 0):
        i = spikes[n]
        for q in range(target_start[i], target_start[i + 1]):
            p = by_target[q]
            eligibility[p] += ltp * np.float32(trace[rows[p]])
    for n in range(count if pairing else 0):
        j = spikes[n]
        for p in range(row_start[j], row_start[j + 1]):
            loss = ltd * np.float32(trace[plastic_targets[p]])
            loss += depression
            eligibility[p] -= loss
    for i in range(trace.shape[0]):
        trace[i] *= trace_decay
    for n in range(count):
        trace[spikes[n]] += 1  # exact: x + 1 is computed in float64 and rounded once, as NumPy does


def _update_weights(eligibility, dopamine, rows, slots, weights, eligibility_decay, learning_rate, weight_max, zero):  # pragma: no cover
    """Decay eligibility, move weights by dopamine x eligibility within [0, max] (as plasticity.update_weights)."""
    gain = learning_rate * dopamine
    for p in range(eligibility.shape[0]):
        c = eligibility[p] * eligibility_decay
        eligibility[p] = c
        moved = weights[rows[p], slots[p]] + (zero + c * gain)
        if moved < 0:
            moved = zero
        elif moved > weight_max:
            moved = weight_max
        weights[rows[p], slots[p]] = moved


def _advance(
    steps, first_step, neurons,
    membrane, threshold_fast, threshold_homeostatic, refractory, synaptic, spiked,
    recent, counts, fractions, fraction_at, drive, input_sum,
    seed_offset, excitatory, adapts, targets, weights, local_targets, local_weights,
    stimulus_values, has_stimulus, pairing,
    decay, rest, reset, refractory_steps, jump, threshold_decay, sigma,
    noise_mean, noise_scale, inverse_neurons,
    target, gain, drive_max, threshold_interval, threshold_rate, expected, memory_end, quiet_end, association_drive,
    learns, trace_decay, ltp, ltd, pre_depression, eligibility_decay, dopamine_decay, learning_rate, weight_max, learn_interval,
    trace, eligibility, dopamine, rows, slots, plastic_targets, row_start, by_target, target_start,
    spike_list, gathered_targets, gathered_weights, scratch,
):  # pragma: no cover - compiled by numba; exercised through Brain with cpu_kernels = "numba"
    # scratch holds one value of the state dtype: storing into an array casts exactly as
    # NumPy's astype does (adding a typed zero would promote float32 + int32 to float64).
    scratch[0] = 0
    zero = scratch[0]
    fired = 0
    input_total = 0.0
    for s in range(steps):
        step = first_step + s
        step_key = ((np.uint64(step) & _LOW32) << np.uint64(32)) * _GOLDEN + seed_offset
        drive_now = drive[0]
        scratch[0] = drive_now
        drive_cast = scratch[0]
        fired, input_total = _neuron_pass(
            0, neurons, step_key, s == steps - 1, zero, drive_cast,
            membrane, threshold_fast, threshold_homeostatic, refractory, synaptic, spiked, recent, counts, spike_list,
            stimulus_values, has_stimulus, adapts, memory_end, quiet_end, association_drive,
            decay, rest, reset, refractory_steps, jump, threshold_decay, sigma, noise_mean, noise_scale,
        )
        _deliver(spike_list, fired, targets, weights, synaptic, gathered_targets, gathered_weights)
        _deliver_local(spike_list, fired, excitatory, local_targets, local_weights, synaptic)
        living = 0
        for n in range(fired):
            living += adapts[spike_list[n]]
        fraction = np.float32(living) * inverse_neurons
        fractions[fraction_at + s] = fraction
        drive_now += gain * (target - fraction)
        if drive_now > drive_max:
            drive_now = drive_max
        elif drive_now < -drive_max:
            drive_now = -drive_max
        drive[0] = drive_now
        if (step + 1) % threshold_interval == 0:
            _adapt_thresholds(0, neurons, zero, recent, adapts, threshold_homeostatic, expected, threshold_rate)
        if learns:
            _stdp(
                spike_list, fired, trace, eligibility, rows, plastic_targets, row_start, by_target, target_start,
                ltp, ltd, pre_depression, trace_decay, pairing,
            )
            if (step + 1) % learn_interval == 0:
                _update_weights(eligibility, dopamine[0], rows, slots, weights, eligibility_decay, learning_rate, weight_max, zero)
                dopamine[0] *= dopamine_decay
    input_sum[0] = input_total
    return fired


_compiled = None


def kernel():
    """The compiled kernel (compiled, or loaded from numba's disk cache, on first use)."""
    global _compiled, _neuron_pass, _deliver, _deliver_local, _adapt_thresholds, _stdp, _update_weights
    if _compiled is None:
        options = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
        _stdp = numba.njit(**options)(_stdp)
        _update_weights = numba.njit(**options)(_update_weights)
        _neuron_pass = numba.njit(**options)(_neuron_pass)
        _deliver = numba.njit(**options)(_deliver)
        _deliver_local = numba.njit(**options)(_deliver_local)
        _adapt_thresholds = numba.njit(**options)(_adapt_thresholds)
        _compiled = numba.njit(**options)(_advance)
    return _compiled
