"""The CPU fast path: the whole step fused into numba-compiled code, many steps per call.

It computes exactly what the NumPy reference computes (:mod:`brainchat.model.brain`), in the
same order and the same float precision, so with one seed the spikes are bit-identical, with
any number of threads:

1. **Neurons** (:func:`_neuron_pass`, an AdEx or Izhikevich region :func:`_model_pass`): counter noise from the same hash as
   :mod:`brainchat.model.noise` (keys computed from the neuron index, not read from memory),
   input, LIF update, fast threshold, refractory counting, in one branch-free loop that LLVM
   vectorises; a second pass lists the spiking neurons in ascending order, 8 flags at a time.
2. **Delivery**: the recurrent and local rows of the spiking neurons are copied into a
   staging area in spike order, sorted by the thread that owns the target (:func:`_stage`),
   then each thread adds its own in that order (:func:`_scatter`), so every target's sum
   rounds as ``np.add.at`` rounds it in the reference. Copying first makes the row loads
   independent, so the memory system serves many at once: the rows are the one part of the
   step that does not fit in the caches.
3. **Population** (in :func:`_advance`): firing fraction, a drive controller per living region; every
   ``threshold_interval`` steps the homeostatic thresholds (:func:`_adapt_thresholds`);
   the plasticity when it is on.

Hot loops index with unsigned integers: with a signed index numba adds a wrap-around test
for negative indices to every access, and LLVM then leaves the loop scalar (measured at 200k
neurons: neuron pass 1.5 -> 0.23 ms, row copy 1.0 -> 0.36 ms).

Threads (``cpu_threads``): each thread owns a slice of the neurons, of equal cost rather than
equal count (:func:`thread_bounds`); they meet at two spin
barriers per step (:mod:`brainchat.model.kernels.cpu_sync`) and split the row copies, sorting the
synapses by the thread that owns their target; each adds those that land on its own neurons,
reading only those (measured at 200k neurons, no pathways, 2 threads: 0.92-0.99 ms per step,
1.45 when every thread read every synapse). The caller is thread 0; the others are
:class:`Team` workers. Compiled with ``nogil=True``: the stepping threads release the GIL for
the whole call, so a REPL on the main thread costs them nothing. (numba's own
``parallel=True`` takes the GIL at every call: measured 24-27 ms per step beside a busy main
thread.) ``cache=True`` keeps the machine code on disk so the second start does not compile;
all settings are arguments because cached code freezes global values.

float16 is not supported by numba's CPU arithmetic; a float16 brain uses the NumPy path.
"""

from __future__ import annotations

import os
import queue
import threading
import weakref

import numpy as np

from brainchat.model.kernels import cpu_sync
from brainchat.model.neurons import models
from brainchat.model.plasticity import ELIGIBILITY_FLOOR
from brainchat.model.regions import WHOLE

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; this guards broken installs
    numba = None

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_MASK16 = np.uint64(0xFFFF)
_LOW32 = np.uint64(0xFFFFFFFF)
# spikes ahead whose rows the two-thread staging prefetches: its stores wait on the loaded
# targets, so without prefetching the out-of-order window holds about one row's misses
AHEAD = 16
SUBSTEPS = models.SUBSTEPS  # a constant of the compiled code (numba freezes globals)
CHUNK = 256  # neurons of an AdEx or Izhikevich region stepped together (see _model_pass)


def available() -> bool:
    return numba is not None


def _hash(i, step_key):  # pragma: no cover - compiled by numba
    """The counter noise's 64-bit word of neuron ``i`` (uint64) this step: SplitMix64's finaliser of its key."""
    x = i * _GOLDEN + step_key
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


def _poisson_pass(lo, hi, step_key, zero, base_current, synaptic, stimulus_values, current, spiked, rate_max, syn_gain, stim_gain):  # pragma: no cover
    """Neurons ``lo..hi`` of a poisson region: neuron i fires if the top 24 bits of its word, as a uniform on [0, 1), are below clip(input, 0, 1) x rate_max.

    As :func:`brainchat.model.neurons.models.poisson_step`, in float32 whatever the dtype.
    """
    for i in range(lo, hi):
        value = _input(i, step_key, zero, base_current, False, synaptic, stimulus_values, zero, np.float32(0.0), np.float32(0.0), syn_gain, stim_gain)
        current[i] = value
        rate = min(max(np.float32(value), np.float32(0.0)), np.float32(1.0)) * rate_max
        if rate != rate:
            rate = np.float32(0.0)
        spiked[i] = np.float32(_hash(i, step_key) >> np.uint64(40)) * np.float32(2.0**-24) < rate


def _input(i, step_key, zero, base_current, living, synaptic, stimulus_values, sigma, noise_mean, noise_scale, syn_gain, stim_gain):  # pragma: no cover
    """Neuron ``i``'s input this step, as the reference adds it (the synaptic input is consumed).

    Living regions: counter noise x sigma (the hash of :mod:`brainchat.model.noise`, keys
    from the index), synapses, drive, stimulus; quiet ones: synapses, tonic, stimulus.
    ``base_current`` is the drive or the tonic current. The synaptic input and the stimulus
    are multiplied by the region's gains (``Brain.modulation``: the neuromodulators; 1 at rest).
    """
    x = _hash(i, step_key)
    total = (x & _MASK16) + ((x >> np.uint64(16)) & _MASK16) + ((x >> np.uint64(32)) & _MASK16) + (x >> np.uint64(48))
    noise = (np.float32(np.int32(total)) - noise_mean) * noise_scale  # total < 2**18: exact
    value = (zero + noise) * sigma if living else zero  # quiet regions: no noise, no drive
    value += synaptic[i] * syn_gain
    synaptic[i] = zero
    value += base_current
    value += stimulus_values[i] * stim_gain  # zero where no stimulus
    return value


def _release_slow(lo, hi, synaptic, slow_at, release, keep):  # pragma: no cover - compiled by numba
    """Neurons ``lo..hi`` (uint64) of a region with slow inhibition: ``release`` of the charge at ``i + slow_at`` joins the synaptic input, ``keep`` of it stays.

    ``synaptic`` is the brain's whole input buffer ``[2N]`` and ``slow_at`` is N (``Brain.slow_input``).
    """
    for i in range(lo, hi):
        charge = synaptic[i + slow_at]
        released = charge * release
        synaptic[i] += released
        synaptic[i + slow_at] = charge * keep


def _settle(m, w, dm, dw, h, lowest, peak, reset, jump, max_recovery):  # pragma: no cover - compiled by numba
    """The end of a sub-step of an AdEx or Izhikevich neuron: Euler, the floor, the spike and its reset, the clip of w."""
    m = max(m + dm * h, lowest)
    w = w + dw * h
    fired = m >= peak
    m = reset if fired else m
    w = w + jump if fired else w
    return m, min(max(w, -max_recovery), max_recovery), fired


def _neuron_pass(
    lo, hi, step_key, zero, base_current, living, floored,
    membrane, threshold_fast, threshold_homeostatic, refractory, synaptic, current, spiked, stimulus_values,
    decay, rest, reset, refractory_steps, jump, threshold_decay, sigma, noise_mean, noise_scale, syn_gain, stim_gain,
):  # pragma: no cover - compiled by numba
    """Neurons ``lo..hi`` (uint64) of one region: input, LIF, fast threshold.

    ``base_current`` is the drive of a living region or the tonic current of a quiet one.
    The input of each neuron is left in ``current`` (the vitals read its mean). The loop is
    branch-free (``living`` is the same for the whole loop) and indexed by unsigned
    integers, so LLVM vectorises it (AVX2/AVX-512: measured 0.23 ms for 200k neurons, 1.5 ms
    scalar): with a signed index numba adds a wrap-around test for negative indices at every
    load, and the loop stays scalar.
    """
    for i in range(lo, hi):
        value = _input(i, step_key, zero, base_current, living, synaptic, stimulus_values, sigma, noise_mean, noise_scale, syn_gain, stim_gain)
        current[i] = value
        m = membrane[i] * decay
        m += value
        if floored and m < reset:
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


def _model_pass(
    lo, hi, step_key, zero, base_current, living, floored, kind_of, constants, poly,
    membrane, recovery, threshold_homeostatic, synaptic, current, spiked, stimulus_values,
    sigma, noise_mean, noise_scale, chunk_m, chunk_w, chunk_x, chunk_fired, syn_gain, stim_gain,
):  # pragma: no cover - compiled by numba
    """Neurons ``lo..hi`` (uint64) of one AdEx (``kind_of`` 1) or Izhikevich (2) region: input, then SUBSTEPS Euler steps.

    The operations of :func:`brainchat.model.neurons.models.model_step`, in its order and
    its dtype (``constants``: the region's row of ``RegionModel.constants``; ``poly``: the
    coefficients of ``soft_exp``, then 1/SUBSTEPS, then the clips). The input is the LIF
    pass's (same noise, drive or tonic, synapses, stimulus). The neurons go in chunks of
    ``chunk_m.size``: each sub-step is then a loop over the chunk without a branch, which
    LLVM vectorises (the exponential included: ``soft_exp`` is multiplications and additions).
    """
    c0, c1, c2, c3, c4 = constants[0], constants[1], constants[2], constants[3], constants[4]
    c5, c6, c7, c8, c9 = constants[5], constants[6], constants[7], constants[8], constants[9]
    k720, k120, k24, k6, half, one = poly[0], poly[1], poly[2], poly[3], poly[4], poly[5]
    inverse_64, h, exp_low, exp_high, max_input, max_recovery = poly[6], poly[7], poly[8], poly[9], poly[10], poly[11]
    lowest = zero if floored else c9
    size = np.uint64(chunk_m.size)
    for start in range(lo, hi, size):
        n = min(size, hi - start)
        for j in range(n):
            i = start + j
            value = _input(i, step_key, zero, base_current, living, synaptic, stimulus_values, sigma, noise_mean, noise_scale, syn_gain, stim_gain)
            current[i] = value
            if value != value:
                value = zero
            value = min(max(value, -max_input), max_input)
            chunk_x[j] = value - threshold_homeostatic[i] * c8
            chunk_m[j] = membrane[i]
            chunk_w[j] = recovery[i]
            chunk_fired[j] = False
        for _ in range(SUBSTEPS):
            if kind_of == 1:
                for j in range(n):
                    m = chunk_m[j]
                    w = chunk_w[j]
                    argument = min(max((m - one) * c2, exp_low), exp_high)
                    y = argument * inverse_64
                    e = k720 * y + k120
                    e = e * y + k24
                    e = e * y + k6
                    e = e * y + half
                    e = e * y + one
                    e = e * y + one
                    e = e * e
                    e = e * e
                    e = e * e
                    e = e * e
                    e = e * e
                    e = e * e
                    dm = ((chunk_x[j] - m * c0) + e * c1) - w
                    dw = (m * c3 - w) * c4
                    chunk_m[j], chunk_w[j], fired = _settle(m, w, dm, dw, h, lowest, c5, c6, c7, max_recovery)
                    chunk_fired[j] |= fired
            else:
                for j in range(n):
                    m = chunk_m[j]
                    w = chunk_w[j]
                    dm = (((m * c1 + c0) * m - w) + chunk_x[j]) + c7
                    dw = (m * c3 - w) * c2
                    chunk_m[j], chunk_w[j], fired = _settle(m, w, dm, dw, h, lowest, c4, c5, c6, max_recovery)
                    chunk_fired[j] |= fired
        for j in range(n):
            i = start + j
            membrane[i] = chunk_m[j]
            recovery[i] = chunk_w[j]
            spiked[i] = chunk_fired[j]


def _list_spikes(lo, hi, spiked, spike_list, counts, recent):  # pragma: no cover - compiled by numba
    """The spikes of neurons ``lo..hi`` (uint64), listed from ``spike_list[lo]`` in ascending order; returns their count.

    8 flags are read at once, and most words are 0.
    """
    count = np.uint64(0)  # unsigned throughout: numba computes uint64 + int64 in float64
    whole = lo + (hi - lo) // np.uint64(8) * np.uint64(8)
    words = spiked[lo:whole].view(np.uint64)
    for w in range(np.uint64(words.size)):
        word = words[w]
        if word:
            for b in range(np.uint64(8)):
                if (word >> (b * np.uint64(8))) & np.uint64(0xFF):
                    i = lo + w * np.uint64(8) + b
                    spike_list[lo + count] = i
                    count += np.uint64(1)
                    counts[i] += 1
                    recent[i] += 1
    for i in range(whole, hi):
        if spiked[i]:
            spike_list[lo + count] = i
            count += np.uint64(1)
            counts[i] += 1
            recent[i] += 1
    return count


def _staging(team, table, region_spikes, before, sizes, bases):  # pragma: no cover - compiled by numba
    """This step's staging layout: each pathway's spikes (``before``: how many spikes precede its sources', and its count) and its regions.

    Region ``(pathway p, source thread, owner thread)`` holds, in spike order, the synapses of
    the source thread's share of pathway ``p``'s spikes that land on the owner's neurons; a
    share is at most ``count // team + 1`` spikes of ``K_p`` synapses, plus one spare entry
    (see :func:`_stage` with two threads). Pathway ``p``'s ``team * team`` regions begin at
    ``bases[p]``, each ``sizes[p]`` long.
    """
    at = 0
    for p in range(table.shape[0]):
        first = 0
        for r in range(table[p, 7]):
            first += region_spikes[r]
        count = 0
        for r in range(table[p, 7], table[p, 8]):
            count += region_spikes[r]
        before[2 * p] = first
        before[2 * p + 1] = count
        sizes[p] = (count // team + 1) * table[p, 4] + 1
        bases[p] = at
        at += team * team * sizes[p]


def _copy_row(row, length, at, syn_targets, syn_weights, staged_targets, staged_weights):  # pragma: no cover - compiled by numba
    """A row's first ``length`` synapses staged from ``at`` (unsigned indices: the copy vectorises); returns the next place."""
    for k in range(length):
        staged_targets[at + k] = syn_targets[row + k]
        staged_weights[at + k] = syn_weights[row + k]
    return at + length


def _stage(
    me, team, p, table, offsets, lows, spike_list, syn_targets, syn_weights, syn_lengths,
    staged_targets, staged_weights, fills, before, sizes, bases,
):  # pragma: no cover - compiled by numba
    """Sort the synapses of this thread's share of pathway ``p``'s spikes by the thread that owns their target.

    Spike ``n`` (0-based over the whole brain, ascending ids) is in the list segment of the
    thread whose neurons fired it: ``offsets`` are where each thread's spikes begin in the
    count, ``lows`` where each thread's neurons (and its segment of ``spike_list``) begin. A
    pathway's sources are a range of regions, so its spikes are a run of that order. Each
    synapse goes to the region of its target's owner (see :func:`_staging`), in spike order;
    ``fills`` gets how many went to each. Row ``j`` holds ``syn_lengths[j]`` synapses.
    """
    source_lo = table[p, 0]
    width = np.uint64(table[p, 4])
    synapse_offset = np.uint64(table[p, 5])
    row_offset = table[p, 6]
    count = before[2 * p + 1]
    first = before[2 * p] + count * me // team
    last = before[2 * p] + count * (me + 1) // team
    size = sizes[p]
    cursor = np.empty(team, dtype=np.int64)
    for owner in range(team):
        cursor[owner] = bases[p] + (me * team + owner) * size
    segment = 0
    ahead_segment = 0
    if team == 1:
        # unsigned indices: the row copies vectorise, so that one row is a few instructions
        # and the out-of-order window holds many rows' loads at once
        at = np.uint64(cursor[0])
        for n in range(first, last):
            while n >= offsets[segment + 1]:
                segment += 1
            j = spike_list[lows[segment] + n - offsets[segment]] - source_lo
            at = _copy_row(synapse_offset + np.uint64(j) * width, np.uint64(syn_lengths[row_offset + j]), at,
                           syn_targets, syn_weights, staged_targets, staged_weights)
        cursor[0] = np.int64(at)
    else:
        # two threads: each synapse is written to both owners' next places and only its own
        # owner's place advances: no branch (owners are random, it would be mispredicted half
        # the time) and the places stay in registers; a region has one spare entry for the
        # write past its end. Three or more: the places in memory, one store per synapse
        split = lows[1]
        first_place = np.uint64(cursor[0])
        second_place = np.uint64(cursor[1])
        for n in range(first, last):
            if n + AHEAD < last:  # the row a few spikes ahead, asked for now: see AHEAD
                ahead = n + AHEAD
                while ahead >= offsets[ahead_segment + 1]:
                    ahead_segment += 1
                later = spike_list[lows[ahead_segment] + ahead - offsets[ahead_segment]] - source_lo
                row = synapse_offset + np.uint64(later) * width
                for k in range(np.uint64(0), width, np.uint64(16)):
                    cpu_sync.prefetch(syn_targets, row + k)
                    cpu_sync.prefetch(syn_weights, row + k)
            while n >= offsets[segment + 1]:
                segment += 1
            j = spike_list[lows[segment] + n - offsets[segment]] - source_lo
            row = synapse_offset + np.uint64(j) * width
            length = np.uint64(syn_lengths[row_offset + j])
            if team == 2:
                for k in range(length):
                    target = syn_targets[row + k]
                    weight = syn_weights[row + k]
                    staged_targets[first_place] = target
                    staged_weights[first_place] = weight
                    staged_targets[second_place] = target
                    staged_weights[second_place] = weight
                    theirs = np.uint64(target >= split)
                    second_place += theirs
                    first_place += np.uint64(1) - theirs
            else:
                for k in range(length):
                    target = syn_targets[row + k]
                    owner = 0
                    for t in range(1, team):
                        owner += target >= lows[t]
                    at = cursor[owner]
                    staged_targets[at] = target
                    staged_weights[at] = syn_weights[row + k]
                    cursor[owner] = at + 1
        if team == 2:
            cursor[0] = np.int64(first_place)
            cursor[1] = np.int64(second_place)
    for owner in range(team):
        fills[(p * team + me) * team + owner] = cursor[owner] - bases[p] - (me * team + owner) * size


def _stage_rank(p, table, total, compact, syn_targets, syn_weights, syn_lengths, staged_targets, staged_weights, fills, before, bases):  # pragma: no cover
    """:func:`_stage` for a rank (one thread, part 2 of :func:`_advance`): pathway ``p``'s share of the gathered spikes ``compact``.

    A rank's rows hold its own synapses first and mostly few of them, so the time goes in
    reaching the rows: it asks for the rows a few spikes ahead (see AHEAD), the row's length
    twice as far ahead, then as many of the row's lines as it has synapses. (In one process
    the same prefetching made the one-thread step slower: it stays out of :func:`_stage`.)
    """
    source_lo = table[p, 0]
    width = np.uint64(table[p, 4])
    synapse_offset = np.uint64(table[p, 5])
    row_offset = table[p, 6]
    first = before[2 * p]
    last = first + before[2 * p + 1]
    at = np.uint64(bases[p])
    for n in range(first, last):
        if n + 2 * AHEAD < last:
            cpu_sync.prefetch(syn_lengths, row_offset + compact[n + 2 * AHEAD] - source_lo)
        if n + AHEAD < last:
            later = compact[n + AHEAD] - source_lo
            row = synapse_offset + np.uint64(later) * width
            for k in range(np.uint64(0), np.uint64(syn_lengths[row_offset + later]), np.uint64(16)):
                cpu_sync.prefetch(syn_targets, row + k)
                cpu_sync.prefetch(syn_weights, row + k)
        j = compact[n] - source_lo
        at = _copy_row(synapse_offset + np.uint64(j) * width, np.uint64(syn_lengths[row_offset + j]), at,
                       syn_targets, syn_weights, staged_targets, staged_weights)
    fills[p] = np.int64(at) - bases[p]


def _is_uniform(uniform, p):  # pragma: no cover - compiled by numba
    """Pathway ``p`` is all_to_all (it has a weight per positive or negative source: ``Brain.uniform_weights``)."""
    return uniform[p, 0] != 0 or uniform[p, 1] != 0


def _deliver_uniform(p, lo, hi, table, uniform, before, compact, syn_weights, synaptic, slow, counted):  # pragma: no cover
    """An all_to_all pathway onto this thread's neurons ``lo..hi``: its spikes counted by their weight's sign, times the weights (as ``Brain._deliver_uniform``).

    Every thread counts all of the pathway's spikes (a few thousand reads) and adds to its
    own targets only. ``counted`` (two values of the state dtype) casts the counts as NumPy does.
    """
    source_lo = table[p, 0]
    offset = table[p, 5]
    first = before[2 * p]
    positive = 0
    negative = 0
    for n in range(first, first + before[2 * p + 1]):
        weight = syn_weights[offset + compact[n] - source_lo]
        if weight > 0:
            positive += 1
        elif weight < 0:
            negative += 1
    counted[0] = positive
    counted[1] = negative
    up = counted[0] * uniform[p, 0]
    down = counted[1] * uniform[p, 1]
    a = np.uint64(max(lo, table[p, 2]))
    b = np.uint64(min(hi, table[p, 3]))
    if slow:
        for i in range(a, b):
            synaptic[i] += up
        for i in range(a + np.uint64(slow), b + np.uint64(slow)):
            synaptic[i] += down
    else:
        both = up + down
        for i in range(a, b):
            synaptic[i] += both


def _scatter(me, team, pathways, staged_targets, staged_weights, fills, sizes, bases, synaptic, slow_offsets,
             lo, hi, table, uniform, before, compact, syn_weights):  # pragma: no cover
    """Add the synapses that land on thread ``me``'s neurons (``lo..hi``): pathway by pathway, each in spike order.

    A pathway whose ``slow_offsets`` entry is N puts its inhibitory (negative) synapses into
    the slow half of the input buffer, ``synaptic[N + target]`` (``Brain.slow_input``). An
    all_to_all pathway adds its counts in its turn (:func:`_deliver_uniform`).

    The sources' shares are consecutive runs of the spikes, so taking their regions in source
    order adds every target's synapses in spike order, as ``np.add.at`` does in the
    reference: bit-identical for any number of threads, and each thread reads only its own.
    """
    counted = np.empty_like(uniform[0]) if pathways else np.empty_like(synaptic[:2])
    for p in range(pathways):
        if _is_uniform(uniform, p):
            _deliver_uniform(p, lo, hi, table, uniform, before, compact, syn_weights, synaptic, slow_offsets[p], counted)
            continue
        for source in range(team):
            start = bases[p] + (source * team + me) * sizes[p]
            count = fills[(p * team + source) * team + me]
            slow = np.uint64(slow_offsets[p])
            if slow:
                for m in range(np.uint64(start), np.uint64(start + count)):
                    weight = staged_weights[m]
                    synaptic[np.uint64(staged_targets[m]) + slow * np.uint64(weight < 0)] += weight
            else:
                for m in range(np.uint64(start), np.uint64(start + count)):
                    synaptic[staged_targets[m]] += staged_weights[m]


def _fill_compact(first, last, offsets, lows, spike_list, compact):  # pragma: no cover
    """Spikes ``first..last`` of the whole brain's ascending order, from the threads' list segments."""
    segment = 0
    for n in range(first, last):
        while n >= offsets[segment + 1]:
            segment += 1
        compact[n] = spike_list[lows[segment] + n - offsets[segment]]


def _adapt_thresholds(lo, hi, zero, recent, threshold_homeostatic, expected, threshold_rate, living):  # pragma: no cover
    for i in range(lo, hi):
        if living:
            surplus = zero + np.float32(recent[i])  # small integers: exact in float32
            surplus -= expected
            surplus *= threshold_rate
            threshold_homeostatic[i] += surplus
        recent[i] = 0


def _potentiate(first, last, spikes, trace, eligibility, sources, by_target, target_start, ltp):  # pragma: no cover
    """The tag of spikes ``first..last``: each synapse onto a spiking neuron gains ``ltp`` x its source's trace.

    One entry per synapse and step at most (a synapse has one target), so threads taking
    different spikes never write the same eligibility. Only a tag that changes something is
    written; returns whether one was.
    """
    tagged = False
    for n in range(first, last):
        i = spikes[n]
        for q in range(target_start[i], target_start[i + 1]):
            p = by_target[q]
            gain = ltp * np.float32(trace[sources[p]])
            if gain != 0:
                eligibility[p] += gain
                tagged = True
    return tagged


def _depress(first, last, spikes, trace, eligibility, plastic_targets, row_start, ltd, depression):  # pragma: no cover
    """Spikes ``first..last`` as sources: each of their plastic synapses loses ``ltd`` x its target's trace + ``depression``; returns whether one did."""
    tagged = False
    for n in range(first, last):
        j = spikes[n]
        for p in range(row_start[j], row_start[j + 1]):
            loss = ltd * np.float32(trace[plastic_targets[p]])
            loss += depression
            if loss != 0:
                eligibility[p] -= loss
                tagged = True
    return tagged


def _traces(lo, hi, trace, spiked, trace_decay):  # pragma: no cover
    """Neurons ``lo..hi`` (uint64): the STDP trace decays, then takes this step's spike."""
    for i in range(lo, hi):
        trace[i] *= trace_decay
        if spiked[i]:
            trace[i] += 1  # exact: x + 1 is computed in float64 and rounded once, as NumPy does


def _update_weights(
    first, last, eligibility, dopamine, synapses, weights, eligibility_decay, floor, learning_rate, weight_max, zero, weights_in_range,
):  # pragma: no cover
    """Plastic synapses ``first..last``: decay eligibility, move weights by dopamine x eligibility within [0, max] (as plasticity.update_weights).

    Without dopamine a weight within [0, max] stays as it is: w + 0 is w and the clip keeps
    it, so only the eligibility is swept -- a quarter of the memory traffic (3M plastic
    synapses at 200k neurons: measured 0.6 ms per step otherwise). ``weights_in_range`` says
    the plastic weights are known to be within [0, max]. (While no eligibility can be
    non-zero the caller skips the sweep altogether.) An eligibility below ``floor`` becomes
    0 (plasticity.ELIGIBILITY_FLOOR). Returns whether one is left non-zero.
    """
    gain = learning_rate * dopamine
    left = False
    if gain == 0 and weights_in_range:
        for p in range(first, last):
            c = eligibility[p] * eligibility_decay
            if abs(c) < floor:
                c = np.float32(0.0)
            eligibility[p] = c
            left |= c != 0
        return left
    for p in range(first, last):
        c = eligibility[p] * eligibility_decay
        if abs(c) < floor:
            c = np.float32(0.0)
        eligibility[p] = c
        left |= c != 0
        synapse = synapses[p]
        moved = weights[synapse] + (zero + c * gain)
        if moved < 0:
            moved = zero
        elif moved > weight_max:
            moved = weight_max
        weights[synapse] = moved
    return left


# what a neuron of each model costs a step, relative to a LIF neuron, and what a living
# neuron costs beside a quiet one (noise, its spikes' rows, its synapses' adds): the weights of
# the split of the neurons among the threads (see thread_bounds; measured at 200k on 2 cores)
MODEL_COST = {models.LIF: 1.0, models.IZHIKEVICH: 4.0, models.ADEX: 8.0, models.POISSON: 1.0}
LIVING_COST = 3.0


def thread_bounds(brain, team: int) -> np.ndarray:
    """int64 ``[team + 1]``: thread ``t`` owns neurons ``bounds[t] .. bounds[t + 1]``, cut at multiples of 64 into shares of equal cost.

    A neuron's cost is MODEL_COST of its region's model, times LIVING_COST in a living region.
    Any split gives the same spikes (each target's sum is made in spike order whoever owns it);
    an even one keeps one thread from waiting for the other at the barriers.
    """
    regions = brain.layout.regions
    cost = np.repeat([MODEL_COST[r.model.kind] * (LIVING_COST if r.living else 1.0) for r in regions], [r.size for r in regions])
    return cut_by_cost(cost, team)


def cut_by_cost(cost: np.ndarray, parts: int) -> np.ndarray:
    """int64 ``[parts + 1]``: contiguous ranges of the ids of ``cost`` (one entry per neuron), cut at multiples of 64 into shares of equal cost."""
    total = np.cumsum(cost)
    bounds = np.zeros(parts + 1, dtype=np.int64)
    for t in range(1, parts):
        cut = int(np.searchsorted(total, total[-1] * t / parts)) // 64 * 64
        bounds[t] = min(max(cut, bounds[t - 1]), cost.size)
    bounds[parts] = cost.size
    return bounds


def _take_remote(lo, hi, compact, total, spiked, counts):  # pragma: no cover - compiled by numba
    """A rank's step (see :func:`_advance`, part 2): the other ranks' spikes in ``compact[:total]`` become this step's flags and counts here too."""
    for i in range(0, lo):
        spiked[i] = False
    for i in range(hi, spiked.shape[0]):
        spiked[i] = False
    for n in range(total):
        i = compact[n]
        if i < lo or i >= hi:
            spiked[i] = True
            counts[i] += 1


def _advance(
    me, team, slots, steps, part, given_total, first_step, neurons,
    membrane, threshold_fast, threshold_homeostatic, refractory, synaptic, current, spiked,
    recent, counts, fractions, fraction_at, drive, seed_offset,
    bounds, living_of, floored_of, decay_of, rest_of, reset_of, refractory_of, jump_of, threshold_decay_of, sigma_of, tonic_of, expected_of,
    release_of, keep_of, model_of, model_constants, poly, recovery, chunks, chunk_fired, lows,
    table, syn_targets, syn_weights, syn_lengths, slow_offsets, uniform,
    stimulus_values, pairing, modulation, learning_now,
    noise_mean, noise_scale, inverse_neurons, inverse_size_of, target_of, gain, drive_max, threshold_interval, threshold_rate,
    learns, trace_decay, ltp, ltd, pre_depression, eligibility_floor, dopamine_decay, weight_max, learn_interval,
    trace, trace_ranges, eligibility, dopamine, sources, synapses, plastic_targets, row_start, by_target, target_start, eligible,
    spike_list, compact, region_spikes, staged_targets, staged_weights, fills, scratch, in_range,
):  # pragma: no cover - compiled by numba; exercised through Brain with cpu_kernels = "numba"
    """``steps`` steps, as thread ``me`` of ``team`` (every thread calls it with the same arguments).

    Per step: (1) each thread updates its neurons, region by region, and lists its spikes;
    barrier; (2) each copies its share of every pathway's spikes' synapses into the staging
    area; barrier; (3) each adds the staged synapses onto its own neurons, adapts its own
    thresholds, and the threads share the plasticity. Phase 3 touches only the thread's own
    neurons and the staging area is not written again before the next step's first barrier,
    so two barriers per step suffice. Every thread computes the drive from the same counts,
    in the same order (each region's drive). Returns the last step's spike count (thread 0), or -1 if a thread
    gave up.

    ``part`` splits one step for a rank of a brain over MPI ranks (:mod:`brainchat.model.partition`;
    one thread, ``lows`` the rank's neurons): 1 updates the neurons and returns the count of
    their spikes, listed from ``spike_list[lo]``; 2, once the caller has gathered every
    rank's spikes into ``compact[:given_total]`` (ascending), does the rest of the step:
    delivery onto this rank's neurons (its synapses are only those), the drive from the whole
    brain's counts, thresholds, traces of every neuron, plasticity. 0 is the whole step.
    """
    # scratch holds one value of the state dtype per thread: storing into an array casts
    # exactly as NumPy's astype does (adding a typed zero would promote float32 + int32 to float64)
    mine = me * cpu_sync.SLOT
    scratch[mine] = 0
    zero = scratch[mine]
    lo, hi = lows[me], lows[me + 1]
    regions = bounds.size - 1
    pathways = table.shape[0]
    offsets = np.zeros(team + 1, dtype=np.int64)
    totals = np.zeros(regions, dtype=np.int64)
    before = np.zeros(2 * pathways, dtype=np.int64)
    sizes = np.zeros(pathways, dtype=np.int64)
    bases = np.zeros(pathways, dtype=np.int64)
    drive_now = drive.copy()
    whole_list = np.zeros(2, dtype=np.int64)  # part 2: the gathered spikes are one segment from 0
    trace_lo, trace_hi = (0, neurons) if part == 2 else (lo, hi)  # part 2: every neuron's trace (the sources are anywhere)
    arrival = 0
    total = 0
    tagged = False
    for s in range(steps):
        step = first_step + s
        step_key = ((np.uint64(step) & _LOW32) << np.uint64(32)) * _GOLDEN + seed_offset
        if part != 2:
            for r in range(regions):
                a = max(lo, bounds[r])
                b = min(hi, bounds[r + 1])
                if a < b:
                    scratch[mine] = drive_now[r] if living_of[r] else tonic_of[r]
                    base_current = scratch[mine]
                    if release_of[r] != 0:
                        _release_slow(np.uint64(a), np.uint64(b), synaptic, np.uint64(neurons), release_of[r], keep_of[r])
                    if model_of[r] == 3:
                        _poisson_pass(np.uint64(a), np.uint64(b), step_key, zero, base_current, synaptic, stimulus_values, current, spiked,
                                      np.float32(model_constants[r, 0]), modulation[0, r], modulation[1, r])
                    elif model_of[r] == 0:
                        _neuron_pass(
                            np.uint64(a), np.uint64(b), step_key, zero, base_current, living_of[r], floored_of[r],
                            membrane, threshold_fast, threshold_homeostatic, refractory, synaptic, current, spiked, stimulus_values,
                            decay_of[r], rest_of[r], reset_of[r], refractory_of[r], jump_of[r], threshold_decay_of[r], sigma_of[r],
                            noise_mean, noise_scale, modulation[0, r], modulation[1, r],
                        )
                    else:
                        _model_pass(
                            np.uint64(a), np.uint64(b), step_key, zero, base_current, living_of[r], floored_of[r], model_of[r], model_constants[r], poly,
                            membrane, recovery, threshold_homeostatic, synaptic, current, spiked, stimulus_values,
                            sigma_of[r], noise_mean, noise_scale, chunks[me, 0], chunks[me, 1], chunks[me, 2], chunk_fired[me],
                            modulation[0, r], modulation[1, r],
                        )
            count = _list_spikes(np.uint64(lo), np.uint64(hi), spiked, spike_list, counts, recent)
            mine_list = spike_list[lo : lo + np.int64(count)]
            for r in range(regions):
                region_spikes[me * regions + r] = np.searchsorted(mine_list, bounds[r + 1]) - np.searchsorted(mine_list, bounds[r])
            slots[mine + 1] = np.int64(count)
            arrival += 1
            if not cpu_sync.barrier(slots, me, team, arrival):
                return -1
            if part == 1:
                return np.int64(count)
            for r in range(regions):
                totals[r] = 0
                for t in range(team):
                    totals[r] += region_spikes[t * regions + r]
            for t in range(team):
                offsets[t + 1] = offsets[t] + slots[t * cpu_sync.SLOT + 1]
            total = offsets[team]
            _fill_compact(total * me // team, total * (me + 1) // team, offsets, lows, spike_list, compact)
            listed, list_lows = spike_list, lows
        else:
            total = given_total
            _take_remote(lo, hi, compact, total, spiked, counts)
            given = compact[:total]
            for r in range(regions):
                totals[r] = np.searchsorted(given, bounds[r + 1]) - np.searchsorted(given, bounds[r])
            offsets[1] = total
            listed, list_lows = compact, whole_list
        living = 0
        for r in range(regions):
            if living_of[r]:
                living += totals[r]
        _staging(team, table, totals, before, sizes, bases)
        if part == 2:  # a rank: one thread; a pathway none of whose targets it owns has not one row to visit
            for p in range(pathways):
                if table[p, 3] <= lo or table[p, 2] >= hi or _is_uniform(uniform, p):
                    fills[p] = 0
                else:
                    _stage_rank(p, table, total, compact, syn_targets, syn_weights, syn_lengths, staged_targets, staged_weights, fills, before, bases)
        else:
            for p in range(pathways):
                if _is_uniform(uniform, p):  # delivered as counts (_deliver_uniform): no rows to stage
                    for owner in range(team):
                        fills[(p * team + me) * team + owner] = 0
                else:
                    _stage(me, team, p, table, offsets, list_lows, listed, syn_targets, syn_weights, syn_lengths,
                           staged_targets, staged_weights, fills, before, sizes, bases)
        arrival += 1
        if not cpu_sync.barrier(slots, me, team, arrival):
            return -1
        _scatter(me, team, pathways, staged_targets, staged_weights, fills, sizes, bases, synaptic, slow_offsets,
                 lo, hi, table, uniform, before, compact, syn_weights)
        fraction = np.float32(living) * inverse_neurons
        for r in range(regions):
            if living_of[r]:
                moved = drive_now[r] + gain * (target_of[r] - np.float32(totals[r]) * inverse_size_of[r])
                if moved > drive_max:
                    moved = drive_max
                elif moved < -drive_max:
                    moved = -drive_max
                drive_now[r] = moved
        if (step + 1) % threshold_interval == 0:
            for r in range(regions):
                a = max(lo, bounds[r])
                b = min(hi, bounds[r + 1])
                if a < b:
                    _adapt_thresholds(np.uint64(a), np.uint64(b), zero, recent, threshold_homeostatic, expected_of[r], threshold_rate, living_of[r])
        if me == 0:
            fractions[fraction_at + s] = fraction
            drive[:] = drive_now
        if learns:
            # as plasticity.stdp_step and update_weights, split over the threads: the tags,
            # then the losses (a synapse can take both in one step, in this order), then the
            # traces, once no thread reads them any more; the weights every learn_interval
            # steps, and the dopamine decays once every thread has read it
            first, last = total * me // team, total * (me + 1) // team
            if pairing:
                tagged |= _potentiate(first, last, compact, trace, eligibility, sources, by_target, target_start, ltp)
                arrival += 1
                if not cpu_sync.barrier(slots, me, team, arrival):
                    return -1
                tagged |= _depress(first, last, compact, trace, eligibility, plastic_targets, row_start, ltd,
                                   pre_depression if pairing == 2 else np.float32(0.0))
                if tagged:
                    eligible[me] = 1
                arrival += 1
                if not cpu_sync.barrier(slots, me, team, arrival):
                    return -1
            for t in range(trace_ranges.shape[0]):
                a = max(trace_lo, trace_ranges[t, 0])
                b = min(trace_hi, trace_ranges[t, 1])
                if a < b:
                    _traces(np.uint64(a), np.uint64(b), trace, spiked, trace_decay)
            if (step + 1) % learn_interval == 0:
                # every thread decides alike: the flags were written before the last barrier
                anything = False
                for t in range(team):
                    anything |= eligible[t] != 0
                weights_in_range = in_range[0] != 0
                swept = anything or not weights_in_range
                left = False
                if swept:
                    plastic = eligibility.shape[0]
                    left = _update_weights(plastic * me // team, plastic * (me + 1) // team, eligibility, dopamine[0], synapses,
                                           syn_weights, learning_now[0], eligibility_floor, learning_now[1], weight_max, zero, weights_in_range)
                arrival += 1
                if not cpu_sync.barrier(slots, me, team, arrival):
                    return -1
                if swept:
                    # nothing eligible left in my share: my flag goes down until a tag raises it;
                    # a full update clipped every weight into [0, max]
                    eligible[me] = 1 if left else 0
                    tagged = left
                    if me == 0:
                        in_range[0] = 1
                if me == 0:
                    dopamine[0] *= dopamine_decay
    return total


_compiled = None


class Team:
    """The threads that run the kernel together: the caller is thread 0, ``size - 1`` workers the rest.

    A worker sleeps on its queue (no CPU, no GIL) until a call hands it the arguments, runs
    the kernel with the GIL released, and reports back; threads meet inside the kernel at
    spin barriers (:mod:`brainchat.model.kernels.cpu_sync`). A call costs two queue hand-offs per
    worker (tens of microseconds), so callers run several steps per call. The workers are
    daemon threads, stopped by :meth:`close` or when the team is collected.
    """

    def __init__(self, size: int):
        self.size = size
        self.slots = cpu_sync.new_slots(size)
        self._jobs: list[queue.SimpleQueue] = []
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = []
        for me in range(1, size):
            jobs: queue.SimpleQueue = queue.SimpleQueue()
            thread = threading.Thread(target=_work, args=(me, size, self.slots, jobs, self._done), name=f"brainchat-kernel-{me}", daemon=True)
            thread.start()
            self._jobs.append(jobs)
            self._threads.append(thread)
        self._finalizer = weakref.finalize(self, _stop, self._jobs)

    def run(self, arguments: tuple) -> int:
        """One call of the kernel on every thread; returns thread 0's result (the last step's spike count)."""
        compiled = kernel()
        self.slots[:] = 0
        for jobs in self._jobs:
            jobs.put(arguments)
        try:
            result = compiled(0, self.size, self.slots, *arguments)
        except BaseException:
            self.slots[0] = -1  # the workers leave their barriers
            raise
        finally:
            failures = [self._done.get() for _ in self._jobs]
        failure = next((f for f in failures if f is not None), None)
        if failure is not None:
            raise RuntimeError("a kernel thread failed") from failure
        if result < 0:
            raise RuntimeError("a kernel thread left the step")
        return result

    def close(self) -> None:
        self._finalizer()


class FusedCpuStep:
    """The fused CPU kernel bound to one brain: its team of threads, its buffers and its arguments.

    Holds only host arrays of the brain (the kernel writes them in place) and the per-region
    and per-pathway tables derived from its layout.
    """

    def __init__(self, brain) -> None:
        n = brain.size
        kind = brain.dtype.type
        threads = brain.threads
        self.team = Team(threads)
        self.stimulus_values = np.zeros(n, dtype=brain.dtype)
        regions = brain.layout.regions
        c, h, learning = brain.config, brain.config.homeostasis, brain.learning
        table = brain.synapses.table
        region_range = np.array([_region_span(brain.layout, spec.source) for spec in brain.layout.pathways], dtype=np.int64).reshape(-1, 2)
        self.table = np.ascontiguousarray(np.concatenate([table, region_range], axis=1))
        # the synapses of a step's spikes, staged by owner thread (see _staging): virtual
        # memory for the worst case (every source fires), touched only as far as the spikes go
        staged = sum(threads * threads * ((int(row[1] - row[0]) // threads + 1) * int(row[4]) + 1) for row in self.table)
        self.staged_targets = np.empty(max(1, staged), dtype=np.int32)
        self.staged_weights = np.empty(max(1, staged), dtype=brain.dtype)
        self.fills = np.zeros(max(1, len(self.table)) * threads * threads, dtype=np.int64)
        self.spike_list = np.zeros(n, dtype=np.int32)
        self.compact = np.zeros(n, dtype=np.int32)
        self.region_spikes = np.zeros(threads * len(regions), dtype=np.int64)
        self.scratch = np.zeros(threads * cpu_sync.SLOT, dtype=brain.dtype)
        self.brain = weakref.proxy(brain)
        per_region = [
            np.array([r.living for r in regions], dtype=np.bool_),
            np.array([r.floored for r in regions], dtype=np.bool_),
            *(np.array([getattr(p, name) for p in brain.params], dtype=brain.dtype)
              for name in ("membrane_decay", "threshold_rest", "reset")),
            np.array([p.refractory_steps for p in brain.params], dtype=np.int16),
            *(np.array([getattr(p, name) for p in brain.params], dtype=brain.dtype) for name in ("threshold_jump", "threshold_decay")),
            np.array([r.neurons.noise_sigma for r in regions], dtype=brain.dtype),
            np.array([r.spec.tonic for r in regions], dtype=brain.dtype),
            np.array([t * h.threshold_interval for t in brain.targets], dtype=brain.dtype),
            brain.slow_release, brain.slow_keep,
            np.array([r.model.kind for r in regions], dtype=np.int8),
            np.array([r.model.constants for r in regions], dtype=brain.dtype).reshape(len(regions), models.CONSTANTS),
            models.arithmetic_constants(brain.dtype),
            brain.recovery,
            np.zeros((threads, 3, CHUNK), dtype=brain.dtype),
            np.zeros((threads, CHUNK), dtype=np.bool_),
            thread_bounds(brain, threads) if brain.partition is None else brain.partition.own_bounds(),
        ]
        self.regions = (brain.layout.bounds, *per_region)
        self.constants = (
            np.float32(2.0 * 65535.0), np.float32(1.0 / (65536.0 / np.sqrt(3.0))), np.float32(1.0 / brain.recorder.neurons),
            brain.inverse_alive, np.array(brain.targets, dtype=np.float32), np.float32(h.drive_gain), np.float32(h.drive_max), h.threshold_interval, kind(h.threshold_rate),
            brain.learns, kind(learning.trace_decay), np.float32(learning.ltp), np.float32(learning.ltd),
            np.float32(learning.pre_spike_depression), np.float32(ELIGIBILITY_FLOOR), np.float32(learning.dopamine_decay),
            kind(learning.weight_max), learning.interval,
        )

    def population_changed(self) -> None:
        """Neurons died or were renewed: the vitals' firing fraction divides by the living population's survivors.

        (The drive controllers' ``brain.inverse_alive`` is passed as the array itself, updated in place.)
        """
        self.constants = (*self.constants[:2], np.float32(1.0 / self.brain.recorder.neurons), *self.constants[3:])

    def run(self, steps: int, stimulus, part: int = 0, given_total: int = 0) -> int:
        """``steps`` whole steps (``part`` 0), or one half of one step of a rank (1 or 2: see :func:`_advance`); returns its spike count."""
        brain = self.brain
        fractions, counts, filled = brain.recorder.buffers()
        values = self.stimulus_values
        if stimulus is not None:
            values[stimulus.neuron_ids] = stimulus.current
        state, plastic, learning = brain.neurons, brain.plastic, brain.plasticity
        synapses = brain.synapses
        try:
            return self.team.run((
                steps, part, given_total, brain.step_count, brain.size,
                state.membrane, state.threshold_fast, state.threshold_homeostatic, state.refractory,
                brain.input_buffer, brain.current, brain.last_spikes,
                brain.homeostasis.recent_spikes, counts, fractions, filled, brain.homeostasis.drive, brain.noise.seed_offset,
                *self.regions,
                self.table, synapses.targets, synapses.weights, synapses.lengths, brain.slow_offsets, brain.uniform_weights,
                values, brain.pairing, brain.modulation, brain.learning_now,
                *self.constants,
                learning.trace, plastic.trace_ranges, learning.eligibility, learning.dopamine.reshape(1),
                plastic.sources, plastic.synapses, plastic.targets, plastic.row_start, plastic.by_target, plastic.target_start, brain._eligible,
                self.spike_list, self.compact, self.region_spikes, self.staged_targets, self.staged_weights, self.fills, self.scratch,
                brain._in_range,
            ))
        finally:
            if stimulus is not None:
                values[stimulus.neuron_ids] = 0

    def close(self) -> None:
        self.team.close()


def _region_span(layout, name: str) -> tuple[int, int]:
    """The regions ``r_lo .. r_hi`` a pathway's source covers (all of them for the whole brain)."""
    if name == WHOLE:
        return 0, len(layout.regions)
    index = layout[name].index
    return index, index + 1


def _work(me: int, size: int, slots: np.ndarray, jobs: queue.SimpleQueue, done: queue.SimpleQueue) -> None:
    while True:
        arguments = jobs.get()
        if arguments is None:
            return
        try:
            kernel()(me, size, slots, *arguments)
        except BaseException as error:  # noqa: BLE001 - handed to the caller of Team.run
            slots[me * cpu_sync.SLOT] = -1
            done.put(error)
        else:
            done.put(None)
        del arguments


def _stop(queues: list) -> None:
    for jobs in queues:
        jobs.put(None)


def default_threads(neurons: int) -> int:
    """Threads for ``cpu_threads = 0``: one below 50,000 neurons, else the usable cores, at most 4.

    Measured on 2 cores, 2026-11-30 (docs/benchmarks.md), calls of 5 steps, plasticity off:
    20k 0.061 ms (1 thread) vs 0.070 (2), 50k 0.167 vs 0.146, 100k 0.352 vs 0.267, 200k
    0.77 vs 0.49; in the REPL at 200k, 1,277 vs 1,741 steps/s with the prompt open. Below
    about 50k a step is too short to pay for the barriers.
    """
    if neurons < 50_000:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


_INLINED = ("_hash", "_input", "_settle", "_copy_row", "_is_uniform")
_HELPERS = ("_hash", "_input", "_settle", "_copy_row", "_release_slow", "_poisson_pass", "_potentiate", "_depress", "_traces", "_update_weights", "_take_remote", "_neuron_pass", "_model_pass", "_list_spikes", "_staging",
            "_fill_compact", "_stage", "_stage_rank", "_is_uniform", "_deliver_uniform", "_scatter", "_adapt_thresholds")


def kernel():
    """The compiled kernel (compiled, or loaded from numba's disk cache, on first use)."""
    global _compiled
    if _compiled is None:
        options = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
        # the helpers are compiled in place (module globals), so that _advance calls the compiled ones
        module = globals()
        for name in _HELPERS:
            # the per-neuron pieces are inlined by numba itself (in its IR), so that the loops they are in still vectorise
            inline = {"inline": "always"} if name in _INLINED else {}
            module[name] = numba.njit(**options, **inline)(module[name])
        _compiled = numba.njit(**options)(_advance)
    return _compiled
