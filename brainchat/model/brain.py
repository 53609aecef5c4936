"""The brain: built once from a :class:`~brainchat.config.Config`, then only stepped.

One step (dt = 1 ms), all on the backend's device, no host synchronisation:

1. input = synaptic input delivered by the previous step's spikes + global drive
   + noise_sigma * counter noise(seed, step, neuron) + stimulus;
2. the LIF neurons integrate it and fire (:mod:`brainchat.model.neurons`);
3. the spikes are delivered through the recurrent and the local projection into the next
   step's synaptic input (:mod:`brainchat.model.synapses`);
4. homeostasis updates the drive every step and the thresholds every few steps
   (:mod:`brainchat.model.homeostasis`);
5. the vitals counters are updated, and read back once per interval (:mod:`brainchat.model.vitals`).

The step depends only on the local state and the spikes coming in, with global neuron ids,
so a later partition of the neurons across processes is a slice of these arrays.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from brainchat.backend import Backend, select_backend
from brainchat.config import Config
from brainchat.model import fused_cpu, fused_gpu, homeostasis, neurons, plasticity, synapses
from brainchat.model.geometry import FIRST_OUTPUT_REGION, Sheet, input_region
from brainchat.model.homeostasis import HomeostasisState
from brainchat.model.neurons import LIFParams, LIFState
from brainchat.model.noise import CounterNoise
from brainchat.model.synapses import Projection
from brainchat.model.vitals import Vitals, VitalsRecorder


@dataclass(frozen=True)
class Stimulus:
    """A current added to the membranes of some neurons during one step.

    ``neuron_ids``: int ``[M]`` device array, no id twice; ``current``: membrane jump per step,
    in units of the resting threshold, one for all or a device array ``[M]`` of the state dtype.
    """

    neuron_ids: Any
    current: Any


MIN_UNIT_NEURONS = 12  # smallest working-memory unit (see Brain.places)


class Brain:
    """A homeostatic spiking network on one backend.

    >>> from brainchat import Brain, Config
    >>> brain = Brain(Config().replace(**{"brain.neurons": 2000}))
    >>> records = brain.run(300)
    >>> len(records)
    3
    """

    def __init__(self, config: Config, backend: Backend | None = None):
        self.config = config
        self.backend = backend or select_backend(config.brain.device)
        xp = self.backend.xp
        n = config.brain.neurons
        self.dtype = np.dtype(config.brain.dtype)
        pathways = config.pathways
        if pathways.enabled:
            self.sheet = Sheet.build(n, config.sheet.patch_band_fraction, pathways.positions, pathways.association_fraction)
        else:
            self.sheet = Sheet.build(n, config.sheet.patch_band_fraction)
        rng = np.random.default_rng(config.brain.seed)
        excitatory = rng.random(n) < config.neurons.excitatory_fraction
        # neurons 0 .. quiet_end: the working memory and the association band, all excitatory
        self.memory_end = self.sheet.memory_end if pathways.enabled else 0
        self.quiet_end = self.sheet.quiet_end if pathways.enabled else 0
        excitatory[: self.quiet_end] = True
        targets, weights = synapses.build_recurrent(rng, excitatory, config.synapses, self.dtype)
        self.memory_phase = np.zeros(0, dtype=np.int8)  # of each working-memory neuron in its unit's loop
        # places a patch is split into: a unit of fewer than 12 neurons reaches too few
        # association neurons (measured at 20k: 4 places of 6 neurons taught worse than 2 of
        # 12), so a small sheet remembers fewer places
        self.places = max(1, min(pathways.places, self.sheet.patch_size // MIN_UNIT_NEURONS))
        if pathways.enabled:
            self.memory_phase = synapses.wire_pathways(
                rng, targets, weights, self.sheet.region_of, self.memory_end, self.quiet_end, pathways, self.places
            )
        self.excitatory = self.backend.asarray(excitatory)
        self.recurrent = Projection(self.backend.asarray(targets), self.backend.asarray(weights))
        local_targets, local_weights = synapses.build_local(self.sheet.neighbour_targets(), excitatory, config.synapses, self.dtype)
        self.local = Projection(self.backend.asarray(local_targets), self.backend.asarray(local_weights))
        learning_mode = config.plasticity.plastic if config.plasticity.enabled else "none"
        sources = excitatory.copy()
        if pathways.enabled and learning_mode == "output":
            sources[: self.memory_end] = False
            sources[self.quiet_end :] = False
        self.plastic = plasticity.build_index(self.backend, targets, sources, self.sheet.region_of, learning_mode)
        self.plasticity = plasticity.PlasticityState.initial(xp, n, self.plastic.size, self.dtype)
        self.learning = plasticity.PlasticityParams.from_config(config.plasticity, config.homeostasis.target_fraction)
        self.params = LIFParams.from_config(config.neurons)
        self.neurons = LIFState.at_rest(xp, n, self.dtype)
        self.association_drive = self.dtype.type(-pathways.association_inhibition if pathways.enabled else 0.0)
        # the living population: noise, drive and homeostasis. The others are quiet: the
        # working memory, the association band and the output patches fire only from their
        # synapses and stimuli, so that what they do means something
        adapts = np.ones(n, dtype=bool)
        if pathways.enabled:
            adapts[: self.quiet_end] = False
            adapts[self.sheet.region_of >= FIRST_OUTPUT_REGION] = False
        self.adapts = self.backend.asarray(adapts)
        self.quiet_ids = self.backend.asarray(np.flatnonzero(~adapts))
        if pathways.enabled:
            outputs = self.backend.asarray(np.flatnonzero(self.sheet.region_of >= FIRST_OUTPUT_REGION))
            self.neurons.threshold_homeostatic[outputs] = pathways.output_threshold
        self.homeostasis = HomeostasisState.initial(xp, n, config.homeostasis)
        self.noise = CounterNoise(xp, config.brain.seed, np.arange(n, dtype=np.uint64))
        self.kernels = self._choose_kernels()
        self.threads = 1
        if self.kernels == "numba":
            self.threads = config.brain.cpu_threads or fused_cpu.default_threads(n)
        self.synaptic_input = xp.zeros(n, dtype=self.dtype)
        self.current = xp.zeros(n, dtype=self.dtype)
        self.step_count = 0
        # how spikes tag synapses now (plasticity.PAIRING_*): the runner turns it off while a
        # reply is only being read, to "tag" while the brain commits to a character (its echo)
        # and to "teach" while a teacher drives the output patches
        self.pairing = plasticity.PAIRING_TEACH
        # bool [N], the spikes of the last step: the NumPy path replaces it each step, the fused
        # kernel writes into it in place
        self.last_spikes = xp.zeros(n, dtype=bool)
        self.recorder = VitalsRecorder(self.backend, self.sheet.region_of, config.brain.stats_interval, config.brain.debug_log, int(np.count_nonzero(~adapts)))
        self.latest_vitals: Vitals | None = None
        if self.kernels == "numba":
            fused_cpu.kernel()  # compiled (or loaded from the disk cache) now, not in the first step
            self._team = fused_cpu.Team(self.threads)
            self._stimulus_values = np.zeros(n, dtype=self.dtype)
            self._spike_list = np.zeros(n, dtype=np.int32)
            self._compact = np.zeros(n, dtype=np.int32)
            # the synapses of a step's spikes, staged by owner thread (fused_cpu._regions):
            # virtual memory for the worst case (every neuron fires), touched only as far as
            # the spikes go
            staged = self.threads * (n + self.threads) * (self.recurrent.fan_out + self.local.targets.shape[1]) + 2 * self.threads**2
            self._staged_targets = np.empty(staged, dtype=np.int32)
            self._staged_weights = np.empty(staged, dtype=self.dtype)
            self._fills = np.zeros(2 * self.threads * self.threads, dtype=np.int64)
            self._scratch = np.zeros(self.threads * 16, dtype=self.dtype)
            self._constants = self._fused_constants()
        self._weights_in_range = self._plastic_weights_in_range()  # see fused_cpu._update_weights
        self.kernel_note = ""  # why the fused GPU kernels are not used, where they could have been
        self._gpu: fused_gpu.FusedGpuStep | None = None
        if self.kernels == "cuda":
            try:
                self._gpu = fused_gpu.FusedGpuStep(self)
            except Exception as error:  # NVRTC missing or failing: the array path still works
                self.kernels = "cupy"
                self.kernel_note = f"fused GPU kernels unavailable ({str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}); using CuPy array kernels"
                warnings.warn(f"brainchat: {self.kernel_note}", RuntimeWarning, stacklevel=2)

    def _choose_kernels(self) -> str:
        """"numba" for the fused CPU kernel, "numpy" for the reference; on a GPU "cuda" (fused) or "cupy" (array operations)."""
        if self.backend.is_gpu:
            return "cuda" if self.config.brain.gpu_kernels == "fused" and self.dtype != np.float16 else "cupy"
        if self.config.brain.cpu_kernels == "numba" and fused_cpu.available() and self.dtype != np.float16:
            return "numba"
        return "numpy"

    @property
    def size(self) -> int:
        return self.config.brain.neurons

    def stimulus(self, region: int, current: float) -> Stimulus:
        """A stimulus on every neuron of one region (see :mod:`brainchat.model.geometry`)."""
        return self.stimuli([(self.sheet.region_members(region), current)])

    def char_stimulus(self, char: str, place: int, current: float) -> Stimulus:
        """The stimulus of ``char`` at ``place`` of a line: its input patch, or with the working memory phase 0 of the patch's unit for that place."""
        members = self.sheet.region_members(input_region(char))
        if self.memory_end:
            members = synapses.place_members(members, place, self.places)
            members = members[self.memory_phase[members] == 0]
        return self.stimuli([(members, current)])

    def stimuli(self, parts: list[tuple[np.ndarray, float]]) -> Stimulus:
        """One stimulus of several parts, each (host neuron ids, current); the parts must not overlap."""
        ids = np.concatenate([np.asarray(members, dtype=np.int64) for members, _ in parts])
        values = np.concatenate([np.full(len(members), current, dtype=self.dtype) for members, current in parts])
        return Stimulus(self.backend.asarray(ids), self.backend.asarray(values))

    def step(self, stimulus: Stimulus | None = None) -> Vitals | None:
        """Advance one 1-ms step; returns the interval's vitals when this step completed one."""
        if self.kernels in ("numba", "cuda"):
            completed = self.run(1, stimulus)
            return completed[0] if completed else None
        xp = self.backend.xp
        config = self.config
        kind = self.dtype.type
        current = self.current
        noise = self.noise.normal(self.step_count, self.dtype)
        xp.multiply(noise, kind(config.neurons.noise_sigma), out=current)
        current += self.synaptic_input
        current += self.homeostasis.drive.astype(self.dtype)
        if self.quiet_ids.size:
            current[self.quiet_ids] = self.synaptic_input[self.quiet_ids]
            current[self.memory_end : self.quiet_end] += self.association_drive
        if stimulus is not None:
            current[stimulus.neuron_ids] += stimulus.current if hasattr(stimulus.current, "shape") else kind(stimulus.current)
        spiked = neurons.lif_step(xp, self.neurons, self.params, current, self.quiet_ids)
        self.last_spikes = spiked
        self.synaptic_input.fill(0)
        self.backend.deliver_spikes(spiked, self.recurrent.targets, self.recurrent.weights, self.synaptic_input)
        self.backend.deliver_spikes(spiked & self.excitatory, self.local.targets, self.local.weights, self.synaptic_input)
        self.step_count += 1
        fraction = self.recorder.record(spiked, xp.count_nonzero(spiked & self.adapts))
        homeostasis.control_drive(xp, self.homeostasis, fraction, config.homeostasis)
        homeostasis.count_spikes(self.homeostasis, spiked)
        if self.step_count % config.homeostasis.threshold_interval == 0:
            homeostasis.adapt_thresholds(xp, self.homeostasis, self.neurons.threshold_homeostatic, config.homeostasis, self.adapts)
        if self.plastic.size:
            plasticity.stdp_step(xp, self.plastic, self.plasticity, spiked, self.learning, self.pairing)
            if self.step_count % self.learning.interval == 0:
                plasticity.update_weights(xp, self.plastic, self.plasticity, self.recurrent.weights, self.learning)
        if self.recorder.pending >= self.recorder.interval:
            return self.read_vitals()
        return None

    def run(self, steps: int, stimulus: Stimulus | None = None) -> list[Vitals]:
        """Advance ``steps`` steps (the same stimulus in each, if any); returns the vitals completed meanwhile."""
        if self.kernels not in ("numba", "cuda"):
            completed = []
            for _ in range(steps):
                vitals = self.step(stimulus)
                if vitals is not None:
                    completed.append(vitals)
            return completed
        completed = []
        while steps > 0:
            chunk = min(steps, self.recorder.interval - self.recorder.pending)
            self._run_fused(chunk, stimulus)
            steps -= chunk
            if self.recorder.pending >= self.recorder.interval:
                completed.append(self.read_vitals())
        return completed

    def reward(self, value: float, predicted: bool = True) -> float:
        """Add ``value`` (x ``reward_dopamine``) to the dopamine level; returns the new level.

        Positive rewards the activity of the last seconds, negative punishes it: the eligible
        synapses grow, or shrink, as the dopamine decays (:mod:`brainchat.model.plasticity`).
        With ``reward_baseline_rate`` > 0 the dopamine is the reward-prediction error, the
        reward minus the running mean of past rewards (Schultz et al. 1997, Science 275:1593;
        for reward-modulated STDP Frémaux et al. 2010, J Neurosci 30:13326): a brain that is
        mostly right learns little from one more ``+`` and much from a ``-``. ``predicted =
        False`` (teaching) leaves the running mean alone.
        """
        rate = self.learning.reward_baseline_rate
        baseline = float(self.backend.to_host(self.plasticity.reward_baseline))
        surprise = value - baseline if rate > 0 and predicted else value
        if rate > 0 and predicted:
            self.plasticity.reward_baseline += self.backend.xp.float32(rate * (value - baseline))
        self.plasticity.dopamine += self.backend.xp.float32(surprise * self.learning.reward_dopamine)
        return float(self.backend.to_host(self.plasticity.dopamine))

    def new_episode(self) -> None:
        """A new line is beginning: settle the last reward now, then start clean traces.

        A reward is about the last reply. Without this, the traces of earlier replies (they
        last seconds, so that a person has time to press ``+``) would take the next line's
        reward too, and a teaching's dopamine would reinforce whatever was said before it.
        The dopamine still present acts at once, as it would have over its decay
        (:func:`brainchat.model.plasticity.settle`).
        """
        plasticity.settle(self.backend.xp, self.plastic, self.plasticity, self.recurrent.weights, self.learning)
        self.clear_traces()

    def clear_traces(self) -> None:
        """Zero the STDP traces: pairings before this moment do not count after it.

        The runner calls it when a reply moves on to its next position, so that the sources
        of one character are not paired with the next character's patch.
        """
        self.plasticity.trace.fill(0)

    def _plastic_weights_in_range(self) -> bool:
        """Every plastic weight within [0, weight_max]: then an update without dopamine leaves the weights alone (fused kernels)."""
        if not self.plastic.size:
            return True
        plastic = self.recurrent.weights[self.plastic.rows, self.plastic.slots]
        return bool(self.backend.to_host(((plastic >= 0) & (plastic <= self.learning.weight_max)).all()))

    def _fused_constants(self) -> tuple:
        kind = self.dtype.type
        c, h = self.config, self.config.homeostasis
        p = self.params
        return (
            kind(p.membrane_decay), kind(p.threshold_rest), kind(p.reset), np.int16(p.refractory_steps),
            kind(p.threshold_jump), kind(p.threshold_decay), kind(c.neurons.noise_sigma),
            np.float32(2.0 * 65535.0), np.float32(1.0 / (65536.0 / np.sqrt(3.0))), np.float32(1.0 / self.recorder.neurons),
            np.float32(h.target_fraction), np.float32(h.drive_gain), np.float32(h.drive_max),
            h.threshold_interval, kind(h.threshold_rate), kind(h.target_fraction * h.threshold_interval),
            self.memory_end, self.quiet_end, self.association_drive,
            self.plastic.size > 0, kind(self.learning.trace_decay), np.float32(self.learning.ltp), np.float32(self.learning.ltd),
            np.float32(self.learning.pre_spike_depression),
            np.float32(self.learning.eligibility_decay), np.float32(self.learning.dopamine_decay),
            np.float32(self.learning.learning_rate), kind(self.learning.weight_max), self.learning.interval,
        )

    def _run_fused(self, steps: int, stimulus: Stimulus | None) -> None:
        """``steps`` steps in one call of the fused CPU kernel, or queued as fused GPU kernels (no vitals boundary inside)."""
        if self._gpu is not None:
            values = self._gpu.stimulus_values
            if stimulus is not None:
                values[stimulus.neuron_ids] = stimulus.current
            self._gpu.run(steps, self.step_count, self.recorder.pending, self.pairing, self._weights_in_range)
            if stimulus is not None:
                values[stimulus.neuron_ids] = 0
            self.step_count += steps
            self.recorder.recorded(steps)
            return
        fractions, counts, filled = self.recorder.buffers()
        values = self._stimulus_values
        if stimulus is not None:
            values[stimulus.neuron_ids] = stimulus.current
        state = self.neurons
        self._team.run((
            steps, self.step_count, self.size,
            state.membrane, state.threshold_fast, state.threshold_homeostatic, state.refractory,
            self.synaptic_input, self.current, self.last_spikes,
            self.homeostasis.recent_spikes, counts, fractions, filled, self.homeostasis.drive.reshape(1),
            self.noise.seed_offset, self.excitatory, self.adapts, self.recurrent.targets, self.recurrent.weights,
            self.local.targets, self.local.weights,
            values, self.pairing,
            *self._constants,
            self.plasticity.trace, self.plasticity.eligibility, self.plasticity.dopamine.reshape(1),
            self.plastic.rows, self.plastic.slots, self.plastic.targets, self.plastic.row_start,
            self.plastic.by_target, self.plastic.target_start,
            self._spike_list, self._compact, self._staged_targets, self._staged_weights, self._fills, self._scratch, self._weights_in_range,
        ))
        if stimulus is not None:
            values[stimulus.neuron_ids] = 0
        self.step_count += steps
        self.recorder.recorded(steps)

    def read_vitals(self) -> Vitals:
        """Read the counters now (one transfer), ending the current interval early if need be."""
        vitals = self.recorder.read(
            self.step_count,
            self.neurons.membrane,
            neurons.threshold(self.backend.xp, self.neurons, self.params),
            self.current,
            self.homeostasis.drive,
            self.plasticity.dopamine,
        )
        self.latest_vitals = vitals
        return vitals

    def state_arrays(self) -> dict[str, Any]:
        """Every array that makes this brain what it is, keyed by its snapshot path (``group/name``).

        These are the live device arrays; :mod:`brainchat.persistence.snapshot` copies them.
        ``synapses/*_targets`` never change after the build; everything else does.
        """
        fractions, spike_counts, _ = self.recorder.buffers()
        return {
            "neurons/membrane": self.neurons.membrane,
            "neurons/threshold_fast": self.neurons.threshold_fast,
            "neurons/threshold_homeostatic": self.neurons.threshold_homeostatic,
            "neurons/refractory": self.neurons.refractory,
            "neurons/excitatory": self.excitatory,
            "synapses/recurrent_targets": self.recurrent.targets,
            "synapses/recurrent_weights": self.recurrent.weights,
            "synapses/local_targets": self.local.targets,
            "synapses/local_weights": self.local.weights,
            "synapses/synaptic_input": self.synaptic_input,
            "synapses/last_spikes": self.last_spikes,
            "homeostasis/drive": self.homeostasis.drive,
            "homeostasis/recent_spikes": self.homeostasis.recent_spikes,
            "plasticity/trace": self.plasticity.trace,
            "plasticity/eligibility": self.plasticity.eligibility,
            "neuromodulators/dopamine": self.plasticity.dopamine,
            "neuromodulators/reward_baseline": self.plasticity.reward_baseline,
            "vitals/firing_fraction": fractions,
            "vitals/spike_counts": spike_counts,
            "codec/region_of": self.sheet.region_of,
        }

    def restore_state(self, arrays: dict[str, np.ndarray], step: int, vitals_pending: int) -> None:
        """Replace the state with host ``arrays`` (as from :meth:`state_arrays`), or change nothing.

        Every name, shape and dtype is checked before the first array is touched; a mismatch
        raises ``ValueError`` naming it.
        """
        current = self.state_arrays()
        # the vitals counters are about reporting, not the brain: a snapshot from a run with
        # another stats_interval loads, and its counters start afresh
        vitals_fit = all(
            name in arrays and tuple(arrays[name].shape) == tuple(current[name].shape)
            for name in ("vitals/firing_fraction", "vitals/spike_counts")
        )
        if not vitals_fit:
            arrays = {name: value for name, value in arrays.items() if not name.startswith("vitals/")}
            current = {name: value for name, value in current.items() if not name.startswith("vitals/")}
            vitals_pending = 0
        missing = sorted(set(current) - set(arrays))
        if missing:
            raise ValueError(f"the snapshot lacks {', '.join(missing)}")
        for name, live in current.items():
            given = arrays[name]
            if tuple(given.shape) != tuple(live.shape) or np.dtype(given.dtype) != np.dtype(live.dtype):
                raise ValueError(
                    f"{name} is {np.dtype(given.dtype)}{list(given.shape)} in the snapshot, "
                    f"{np.dtype(live.dtype)}{list(live.shape)} in this brain"
                )
        if not 0 <= vitals_pending <= self.recorder.interval or (vitals_fit is False and vitals_pending):
            raise ValueError(f"vitals counters of {vitals_pending} steps do not fit an interval of {self.recorder.interval}")
        if not np.array_equal(arrays["codec/region_of"], self.sheet.region_of):
            raise ValueError("the snapshot's sheet layout differs from this brain's")
        for name, live in current.items():
            if name != "codec/region_of":
                live[...] = self.backend.asarray(arrays[name])
        self.step_count = int(step)
        self._weights_in_range = self._plastic_weights_in_range()
        if not vitals_fit:
            fractions, spike_counts, _ = self.recorder.buffers()
            fractions.fill(0)
            spike_counts.fill(0)
        self.recorder.restore(vitals_pending)

    def close(self) -> None:
        """Release the debug log and the kernel's threads; the arrays go with the object."""
        self.recorder.close()
        if self.kernels == "numba":
            self._team.close()

    def __enter__(self) -> "Brain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
