"""The CPU fast path: the whole step fused into numba-compiled code, many steps per call.

It computes exactly what the NumPy reference computes (:mod:`brainchat.model.brain`), in the
same order and the same float precision, so with one seed the spikes are bit-identical, with
any number of threads:

1. **Neurons** (:func:`_neuron_pass`): counter noise from the same hash as
   :mod:`brainchat.model.noise` (keys computed from the neuron index, not read from memory),
   input, LIF update, fast threshold, refractory counting, in one branch-free loop that LLVM
   vectorises; a second pass lists the spiking neurons in ascending order, 8 flags at a time.
2. **Delivery**: the recurrent and local rows of the spiking neurons are copied into a
   staging area in spike order, sorted by the thread that owns the target (:func:`_stage`),
   then each thread adds its own in that order (:func:`_scatter`), so every target's sum
   rounds as ``np.add.at`` rounds it in the reference. Copying first makes the row loads
   independent, so the memory system serves many at once: the rows are the one part of the
   step that does not fit in the caches.
3. **Population** (in :func:`_advance`): firing fraction, drive controller; every
   ``threshold_interval`` steps the homeostatic thresholds (:func:`_adapt_thresholds`);
   the plasticity when it is on.

Hot loops index with unsigned integers: with a signed index numba adds a wrap-around test
for negative indices to every access, and LLVM then leaves the loop scalar (measured at 200k
neurons: neuron pass 1.5 -> 0.23 ms, row copy 1.0 -> 0.36 ms).

Threads (``cpu_threads``): each thread owns a slice of the neurons; they meet at two spin
barriers per step (:mod:`brainchat.model.cpu_sync`) and split the row copies, sorting the
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

from brainchat.model import cpu_sync

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


def available() -> bool:
    return numba is not None


def _neuron_pass(
    lo, hi, step_key, zero, drive_cast,
    membrane, threshold_fast, threshold_homeostatic, refractory, synaptic, current, spiked, recent, counts, spike_list,
    stimulus_values, adapts, memory_end, quiet_end, association_drive,
    decay, rest, reset, refractory_steps, jump, threshold_decay, sigma, noise_mean, noise_scale,
):  # pragma: no cover - compiled by numba
    """Neurons ``lo..hi`` (uint64): input, LIF, fast threshold; lists the spikes from ``spike_list[lo]``.

    The input of each neuron is left in ``current`` (the vitals read its mean). Returns the
    spike count. The first loop is branch-free and indexed by unsigned integers, so LLVM
    vectorises it (AVX2/AVX-512: measured 0.23 ms for 200k neurons, 1.5 ms scalar): with a
    signed index numba adds a wrap-around test for negative indices at every load, and the
    loop stays scalar. Bookkeeping of the spikers is a second pass.
    """
    for i in range(lo, hi):
        x = i * _GOLDEN + step_key
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
        value += (association_drive if (i >= memory_end) & (i < quiet_end) else zero) if quiet else drive_cast
        value += stimulus_values[i]  # zero where no stimulus
        current[i] = value
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
    # the spikes, listed in ascending order: 8 flags are read at once, and most words are 0
    count = np.uint64(0)  # unsigned throughout: numba computes uint64 + int64 in float64
    living = 0
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
                    living += adapts[i]
    for i in range(whole, hi):
        if spiked[i]:
            spike_list[lo + count] = i
            count += np.uint64(1)
            counts[i] += 1
            recent[i] += 1
            living += adapts[i]
    return count, living


def _regions(total, team, fan_out, local_fan_out):
    """Entries per region of the staging area this step: (recurrent, local).

    Region ``(projection, source, owner)`` holds, in spike order, the synapses of thread
    ``source``'s share of the spikes that land on thread ``owner``'s neurons; a share is at
    most ``total // team + 1`` spikes. Recurrent regions come first, ``team * team`` of them.
    """
    share = total // team + 1
    return share * fan_out + 1, share * local_fan_out + 1  # one spare entry (see _stage with two threads)


def _stage(
    me, team, first, last, offsets, lows, spike_list, compact, excitatory, targets, weights, local_targets, local_weights,
    staged_targets, staged_weights, fills, total,
):  # pragma: no cover - compiled by numba
    """Sort the synapses of spikes ``first..last`` (of ``total`` this step) by the thread that owns their target.

    Spike ``n`` (0-based over the whole brain, ascending ids) is in the list segment of the
    thread whose neurons fired it: ``offsets`` are where each thread's spikes begin in the
    count, ``lows`` where each thread's neurons (and its segment of ``spike_list``) begin.
    Each synapse goes to the region of its target's owner (see :func:`_regions`), in spike
    order; ``fills`` gets how many went to each. The local projection is excitatory only.
    With one thread every synapse is its own, and the rows are copied whole (vectorised).
    """
    segment = 0
    for n in range(first, last):
        while n >= offsets[segment + 1]:
            segment += 1
        compact[n] = spike_list[lows[segment] + n - offsets[segment]]
    fan_out = targets.shape[1]
    local_fan_out = local_targets.shape[1]
    recurrent_size, local_size = _regions(total, team, fan_out, local_fan_out)
    local_start = team * team * recurrent_size
    cursor = np.empty(2 * team, dtype=np.int64)
    for owner in range(team):
        cursor[owner] = (me * team + owner) * recurrent_size
        cursor[team + owner] = local_start + (me * team + owner) * local_size
    if team == 1:
        # unsigned indices: the row copies vectorise, so that one row is a few instructions
        # and the out-of-order window holds many rows' loads at once
        at = np.uint64(cursor[0])
        for n in range(first, last):
            j = np.uint64(compact[n])
            for k in range(np.uint64(fan_out)):
                staged_targets[at + k] = targets[j, k]
                staged_weights[at + k] = weights[j, k]
            at += np.uint64(fan_out)
        cursor[0] = np.int64(at)
        at = np.uint64(cursor[1])
        for n in range(first, last):
            j = np.uint64(compact[n])
            if excitatory[j]:
                for k in range(np.uint64(local_fan_out)):
                    staged_targets[at + k] = local_targets[j, k]
                    staged_weights[at + k] = local_weights[j, k]
                at += np.uint64(local_fan_out)
        cursor[1] = np.int64(at)
    else:
        # two threads: each synapse is written to both owners' next places and only its own
        # owner's place advances: no branch (owners are random, it would be mispredicted half
        # the time) and the places stay in registers; a region has one spare entry for the
        # write past its end. Three or more: the places in memory, one store per synapse
        split = lows[1]
        for projection in range(2):
            table_targets = local_targets if projection else targets
            table_weights = local_weights if projection else weights
            width = np.uint64(table_targets.shape[1])
            first_place = np.uint64(cursor[team * projection])
            second_place = np.uint64(cursor[team * projection + 1])
            flat_targets = table_targets.reshape(table_targets.size)
            flat_weights = table_weights.reshape(table_weights.size)
            for n in range(first, last):
                if n + AHEAD < last:  # the rows a few spikes ahead, asked for now: see AHEAD
                    row = np.uint64(compact[n + AHEAD]) * width
                    for k in range(np.uint64(0), width, np.uint64(16)):
                        cpu_sync.prefetch(flat_targets, row + k)
                        cpu_sync.prefetch(flat_weights, row + k)
                j = np.uint64(compact[n])
                if projection == 1 and not excitatory[j]:
                    continue
                if team == 2:
                    for k in range(width):
                        target = table_targets[j, k]
                        weight = table_weights[j, k]
                        staged_targets[first_place] = target
                        staged_weights[first_place] = weight
                        staged_targets[second_place] = target
                        staged_weights[second_place] = weight
                        theirs = np.uint64(target >= split)
                        second_place += theirs
                        first_place += np.uint64(1) - theirs
                else:
                    for k in range(width):
                        target = table_targets[j, k]
                        owner = projection * team
                        for t in range(1, team):
                            owner += target >= lows[t]
                        at = cursor[owner]
                        staged_targets[at] = target
                        staged_weights[at] = table_weights[j, k]
                        cursor[owner] = at + 1
            if team == 2:
                cursor[2 * projection] = np.int64(first_place)
                cursor[2 * projection + 1] = np.int64(second_place)
    for owner in range(team):
        fills[(0 * team + me) * team + owner] = cursor[owner] - (me * team + owner) * recurrent_size
        fills[(1 * team + me) * team + owner] = cursor[team + owner] - local_start - (me * team + owner) * local_size


def _scatter(me, team, staged_targets, staged_weights, fills, synaptic, total, fan_out, local_fan_out):  # pragma: no cover
    """Add the synapses that land on thread ``me``'s neurons: recurrent, then local, each in spike order.

    The sources' shares are consecutive runs of the spikes, so taking their regions in source
    order adds every target's synapses in spike order, as ``np.add.at`` does in the
    reference: bit-identical for any number of threads, and each thread reads only its own.
    """
    recurrent_size, local_size = _regions(total, team, fan_out, local_fan_out)
    local_start = team * team * recurrent_size
    for projection in range(2):
        for source in range(team):
            if projection == 0:
                start = (source * team + me) * recurrent_size
            else:
                start = local_start + (source * team + me) * local_size
            count = fills[(projection * team + source) * team + me]
            for m in range(np.uint64(start), np.uint64(start + count)):
                synaptic[staged_targets[m]] += staged_weights[m]


def _adapt_thresholds(lo, hi, zero, recent, adapts, threshold_homeostatic, expected, threshold_rate):  # pragma: no cover
    for i in range(lo, hi):
        if adapts[i]:
            surplus = zero + np.float32(recent[i])  # small integers: exact in float32
            surplus -= expected
            surplus *= threshold_rate
            threshold_homeostatic[i] += surplus
        recent[i] = 0


def _potentiate(first, last, spikes, trace, eligibility, rows, by_target, target_start, ltp):  # pragma: no cover
    """The tag of spikes ``first..last``: each synapse onto a spiking neuron gains ``ltp`` x its source's trace.

    One entry per synapse and step at most (a synapse has one target), so threads taking
    different spikes never write the same eligibility.
    """
    for n in range(first, last):
        i = spikes[n]
        for q in range(target_start[i], target_start[i + 1]):
            p = by_target[q]
            eligibility[p] += ltp * np.float32(trace[rows[p]])


def _depress(first, last, spikes, trace, eligibility, plastic_targets, row_start, ltd, depression):  # pragma: no cover
    """Spikes ``first..last`` as sources: each of their plastic synapses loses ``ltd`` x its target's trace + ``depression``."""
    for n in range(first, last):
        j = spikes[n]
        for p in range(row_start[j], row_start[j + 1]):
            loss = ltd * np.float32(trace[plastic_targets[p]])
            loss += depression
            eligibility[p] -= loss


def _traces(lo, hi, trace, spiked, trace_decay):  # pragma: no cover
    """Neurons ``lo..hi`` (uint64): the STDP trace decays, then takes this step's spike."""
    for i in range(lo, hi):
        trace[i] *= trace_decay
        if spiked[i]:
            trace[i] += 1  # exact: x + 1 is computed in float64 and rounded once, as NumPy does


def _update_weights(
    first, last, eligibility, dopamine, rows, slots, weights, eligibility_decay, learning_rate, weight_max, zero, weights_in_range,
):  # pragma: no cover
    """Plastic synapses ``first..last``: decay eligibility, move weights by dopamine x eligibility within [0, max] (as plasticity.update_weights).

    Without dopamine (most of the time) a weight within [0, max] stays as it is: w + 0 is w
    and the clip keeps it, so only the eligibility is swept -- a quarter of the memory
    traffic (3M plastic synapses at 200k neurons: measured 0.6 ms per step otherwise).
    ``weights_in_range`` says the plastic weights are known to be within [0, max].
    """
    gain = learning_rate * dopamine
    if gain == 0 and weights_in_range:
        for p in range(first, last):
            eligibility[p] *= eligibility_decay
        return
    for p in range(first, last):
        c = eligibility[p] * eligibility_decay
        eligibility[p] = c
        moved = weights[rows[p], slots[p]] + (zero + c * gain)
        if moved < 0:
            moved = zero
        elif moved > weight_max:
            moved = weight_max
        weights[rows[p], slots[p]] = moved


def thread_range(me, team, neurons):
    """Neurons ``lo..hi`` of thread ``me`` of ``team``: equal shares, cut at multiples of 64."""
    lo = (neurons * me // team) // 64 * 64
    hi = neurons if me == team - 1 else (neurons * (me + 1) // team) // 64 * 64
    return lo, hi


def _advance(
    me, team, slots, steps, first_step, neurons,
    membrane, threshold_fast, threshold_homeostatic, refractory, synaptic, current, spiked,
    recent, counts, fractions, fraction_at, drive,
    seed_offset, excitatory, adapts, targets, weights, local_targets, local_weights,
    stimulus_values, pairing,
    decay, rest, reset, refractory_steps, jump, threshold_decay, sigma,
    noise_mean, noise_scale, inverse_neurons,
    target, gain, drive_max, threshold_interval, threshold_rate, expected, memory_end, quiet_end, association_drive,
    learns, trace_decay, ltp, ltd, pre_depression, eligibility_decay, dopamine_decay, learning_rate, weight_max, learn_interval,
    trace, eligibility, dopamine, rows, slots_of, plastic_targets, row_start, by_target, target_start,
    spike_list, compact, staged_targets, staged_weights, fills, scratch, weights_in_range,
):  # pragma: no cover - compiled by numba; exercised through Brain with cpu_kernels = "numba"
    """``steps`` steps, as thread ``me`` of ``team`` (every thread calls it with the same arguments).

    Per step: (1) each thread updates its neurons and lists its spikes; barrier; (2) each
    copies its share of the spikes' synapses into the staging area; barrier; (3) each adds
    the staged synapses onto its own neurons, adapts its own thresholds, and thread 0 does the
    plasticity. Phase 3 touches only the thread's own neurons and the staging area is not
    written again before the next step's first barrier, so two barriers per step suffice.
    Every thread computes the drive from the same counts, in the same order. Returns the last
    step's spike count (thread 0), or -1 if a thread gave up.
    """
    # scratch holds one value of the state dtype per thread: storing into an array casts
    # exactly as NumPy's astype does (adding a typed zero would promote float32 + int32 to float64)
    mine = me * cpu_sync.SLOT
    scratch[mine] = 0
    zero = scratch[mine]
    lo, hi = thread_range(me, team, neurons)
    lows = np.empty(team + 1, dtype=np.int64)
    for t in range(team):
        lows[t] = thread_range(t, team, neurons)[0]
    lows[team] = neurons
    offsets = np.zeros(team + 1, dtype=np.int64)
    memory_end = np.uint64(memory_end)
    quiet_end = np.uint64(quiet_end)
    drive_now = drive[0]
    arrival = 0
    total = 0
    for s in range(steps):
        step = first_step + s
        step_key = ((np.uint64(step) & _LOW32) << np.uint64(32)) * _GOLDEN + seed_offset
        scratch[mine] = drive_now
        drive_cast = scratch[mine]
        count, living = _neuron_pass(
            np.uint64(lo), np.uint64(hi), step_key, zero, drive_cast,
            membrane, threshold_fast, threshold_homeostatic, refractory, synaptic, current, spiked, recent, counts, spike_list,
            stimulus_values, adapts, memory_end, quiet_end, association_drive,
            decay, rest, reset, refractory_steps, jump, threshold_decay, sigma, noise_mean, noise_scale,
        )
        slots[mine + 1] = np.int64(count)
        slots[mine + 2] = living
        arrival += 1
        if not cpu_sync.barrier(slots, me, team, arrival):
            return -1
        living = 0
        for t in range(team):
            offsets[t + 1] = offsets[t] + slots[t * cpu_sync.SLOT + 1]
            living += slots[t * cpu_sync.SLOT + 2]
        total = offsets[team]
        _stage(
            me, team, total * me // team, total * (me + 1) // team, offsets, lows, spike_list, compact, excitatory,
            targets, weights, local_targets, local_weights, staged_targets, staged_weights, fills, total,
        )
        arrival += 1
        if not cpu_sync.barrier(slots, me, team, arrival):
            return -1
        _scatter(me, team, staged_targets, staged_weights, fills, synaptic, total, targets.shape[1], local_targets.shape[1])
        fraction = np.float32(living) * inverse_neurons
        drive_now += gain * (target - fraction)
        if drive_now > drive_max:
            drive_now = drive_max
        elif drive_now < -drive_max:
            drive_now = -drive_max
        if (step + 1) % threshold_interval == 0:
            _adapt_thresholds(np.uint64(lo), np.uint64(hi), zero, recent, adapts, threshold_homeostatic, expected, threshold_rate)
        if me == 0:
            fractions[fraction_at + s] = fraction
            drive[0] = drive_now
        if learns:
            # as plasticity.stdp_step and update_weights, split over the threads: the tags,
            # then the losses (a synapse can take both in one step, in this order), then the
            # traces, once no thread reads them any more; the weights every learn_interval
            # steps, and the dopamine decays once every thread has read it
            first, last = total * me // team, total * (me + 1) // team
            if pairing:
                _potentiate(first, last, compact, trace, eligibility, rows, by_target, target_start, ltp)
                arrival += 1
                if not cpu_sync.barrier(slots, me, team, arrival):
                    return -1
                _depress(first, last, compact, trace, eligibility, plastic_targets, row_start, ltd,
                         pre_depression if pairing == 2 else np.float32(0.0))
                arrival += 1
                if not cpu_sync.barrier(slots, me, team, arrival):
                    return -1
            _traces(np.uint64(lo), np.uint64(hi), trace, spiked, trace_decay)
            if (step + 1) % learn_interval == 0:
                synapses = eligibility.shape[0]
                _update_weights(synapses * me // team, synapses * (me + 1) // team, eligibility, dopamine[0], rows, slots_of,
                                weights, eligibility_decay, learning_rate, weight_max, zero, weights_in_range)
                arrival += 1
                if not cpu_sync.barrier(slots, me, team, arrival):
                    return -1
                if me == 0:
                    dopamine[0] *= dopamine_decay
    return total


_compiled = None


class Team:
    """The threads that run the kernel together: the caller is thread 0, ``size - 1`` workers the rest.

    A worker sleeps on its queue (no CPU, no GIL) until a call hands it the arguments, runs
    the kernel with the GIL released, and reports back; threads meet inside the kernel at
    spin barriers (:mod:`brainchat.model.cpu_sync`). A call costs two queue hand-offs per
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


def kernel():
    """The compiled kernel (compiled, or loaded from numba's disk cache, on first use)."""
    global _compiled, _neuron_pass, _regions, _stage, _scatter, _adapt_thresholds, _potentiate, _depress, _traces, _update_weights, thread_range
    if _compiled is None:
        options = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
        _potentiate = numba.njit(**options)(_potentiate)
        _depress = numba.njit(**options)(_depress)
        _traces = numba.njit(**options)(_traces)
        _update_weights = numba.njit(**options)(_update_weights)
        _neuron_pass = numba.njit(**options)(_neuron_pass)
        _regions = numba.njit(**options)(_regions)
        _stage = numba.njit(**options)(_stage)
        _scatter = numba.njit(**options)(_scatter)
        _adapt_thresholds = numba.njit(**options)(_adapt_thresholds)
        thread_range = numba.njit(**options)(thread_range)
        _compiled = numba.njit(**options)(_advance)
    return _compiled
