"""The brain: regions joined by pathways, built once from a :class:`~brainchat.config.Config`, then only stepped.

The build (:class:`Brain`): the regions' id ranges (:mod:`brainchat.model.regions`), the
excitatory neurons of each region, then every pathway's synapses
(:mod:`brainchat.model.pathways`), all from one ``numpy.random.default_rng(seed)`` in
declaration order, and the plastic synapses (:mod:`brainchat.model.plasticity`).

One step (dt = 1 ms), all on the backend's device, no host synchronisation:

1. a neuron pass per region: input = synaptic input delivered by the previous step's spikes
   + (living regions) the region's drive + noise_sigma * counter noise(seed, step, neuron),
   (quiet regions) the region's tonic current, + stimulus; the LIF neurons integrate it and
   fire (:mod:`brainchat.model.neurons.lif`);
2. delivery per pathway: the rows of the sources that fired, into the next step's synaptic
   input;
3. homeostasis: each living region's drive every step from its firing, its thresholds every
   few steps, both toward the region's target (:mod:`brainchat.model.homeostasis`);
4. plasticity where a pathway learns;
5. the vitals counters, read back once per interval (:mod:`brainchat.model.vitals`).

The step depends only on the local state and the spikes coming in, with global neuron ids,
so a later partition of the neurons across processes is a slice of these arrays.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from brainchat.backend import Backend, select_backend
from brainchat.config import Config
from brainchat.errors import ConfigError
from brainchat.model import chemistry, homeostasis, lesions, neurons, pathways as connectors, plasticity, sleep as sleeping
from brainchat.model.critic import ARRAYS as CRITIC_ARRAYS, Critic
from brainchat.model.hippocampus import ARRAYS as HIPPOCAMPUS_ARRAYS, Hippocampus
from brainchat.model.kernels import fused_cpu, fused_gpu
from brainchat.model.homeostasis import HomeostasisState
from brainchat.model.neurons import LIFParams, LIFState, models
from brainchat.model.noise import CounterNoise
from brainchat.model.partition import Partition, canonical_positions, localize, owned_synapses
from brainchat.model.pathways import Pathway, Synapses
from brainchat.model.regions import END_PATCH, PRINTABLE, Layout, Region, resolve
from brainchat.model.vitals import Vitals, VitalsRecorder, raster_sample


@dataclass(frozen=True)
class Stimulus:
    """A current added to the membranes of some neurons during one step.

    ``neuron_ids``: int ``[M]`` device array, no id twice; ``current``: membrane jump per step,
    in units of the resting threshold, one for all or a device array ``[M]`` of the state dtype.
    The current is cleaned here, once, for every model and path: NaN becomes 0 and
    everything is held within +-``models.MAX_INPUT`` (infinities included), so no stimulus
    can put NaN or inf into a membrane, in float16 either.
    """

    neuron_ids: Any
    current: Any

    def __post_init__(self) -> None:
        current = self.current
        if getattr(current, "ndim", 0) > 0:
            current = current.copy()
            current[current != current] = 0
            current = current.clip(-models.MAX_INPUT, models.MAX_INPUT)
        else:
            current = 0.0 if current != current else min(max(float(current), -models.MAX_INPUT), models.MAX_INPUT)
        object.__setattr__(self, "current", current)


# the per-neuron arrays a rank of a brain over MPI ranks keeps for its own neurons only (the rest it computes for all)
RANK_OWNED = (
    "neurons/membrane", "neurons/threshold_fast", "neurons/threshold_homeostatic", "neurons/refractory", "neurons/synaptic_input",
    "neurons/recovery", "neurons/slow_input", "homeostasis/recent_spikes",
)
LESION_ARRAYS = ("neurons/died_at", "neurons/renewed_at")  # in a snapshot only where a neuron ever died
# the pools of model/chemistry.py: host values, in a snapshot since issue 15 (an older one leaves them at rest)
CHEMISTRY_ARRAYS = tuple(f"neuromodulators/{name}" for name in (*chemistry.POOLS, "mood", "pressure", "heard"))

Connectivity = dict  # pathway name -> (targets [n, K], weights [n, K], lengths [n]) host arrays, e.g. from a snapshot


class Brain:
    """A homeostatic spiking network of regions and pathways on one backend.

    ``connectivity`` gives some pathways' synapses instead of drawing them (a snapshot's:
    see :func:`from_snapshot`), ``memory_phase`` the working-memory phases and ``excitatory``
    the excitatory neurons that go with them.

    >>> from brainchat import Brain, Config
    >>> brain = Brain(Config().replace(**{"brain.neurons": 2000}))
    >>> records = brain.run(300)
    >>> len(records)
    3
    """

    def __init__(
        self, config: Config, backend: Backend | None = None,
        connectivity: Connectivity | None = None, memory_phase: np.ndarray | None = None, excitatory: np.ndarray | None = None,
        partition: Partition | None = None,
    ):
        self.config = config
        # one rank of a brain over several processes (model/partition.py), or None: the whole brain here
        self.partition = partition
        self.exchange_seconds = 0.0  # wall time a rank spent in the spike exchange (bench scale)
        self.backend = backend or select_backend(config.brain.device)
        xp = self.backend.xp
        self.dtype = np.dtype(config.brain.dtype)
        self.layout: Layout = resolve(config)
        n = self.layout.neurons
        rng = np.random.default_rng(config.brain.seed)
        drawn = np.concatenate([rng.random(r.size) < r.spec.excitatory for r in self.layout.regions])
        excitatory = drawn if excitatory is None else np.asarray(excitatory, dtype=bool)
        # int8 [N]: the phase (0, 1, 2) of each working-memory neuron in its unit's loop, -1 elsewhere
        self.memory_phase = np.full(n, -1, dtype=np.int8)
        projections = []
        for spec in self.layout.pathways:
            given = (connectivity or {}).get(spec.name)
            if given is not None:
                projections.append(connectors.Projection(*given))
            else:
                projections.append(connectors.build(rng, self.layout, spec, excitatory, self.dtype, self.memory_phase))
        if memory_phase is not None:
            self.memory_phase = np.asarray(memory_phase, dtype=np.int8).copy()
        self.memory_phase.setflags(write=False)
        spans = [(self.layout.span(s.source), self.layout.span(s.target)) for s in self.layout.pathways]
        host, places = Synapses.join(projections, spans, self.dtype)
        whole = host
        if partition is not None:  # this rank's own synapses first in every row, and only they count
            targets, weights, lengths, partition.slots = localize(host.targets, host.weights, host.lengths, host.table, partition.lo, partition.hi)
            host = Synapses(targets, weights, lengths, host.table)
        self.synapses = Synapses(self.backend.asarray(host.targets), self.backend.asarray(host.weights), self.backend.asarray(host.lengths), host.table)
        self.pathways = [
            Pathway(p, spec, span[0], span[1], self.synapses.views(p), offset, row)
            for p, (spec, span, (offset, row)) in enumerate(zip(self.layout.pathways, spans, places))
        ]
        self.excitatory = self.backend.asarray(excitatory)
        host_pathways = [Pathway(p.index, p.spec, p.source, p.target, host.views(p.index), p.offset, p.row_offset) for p in self.pathways]
        plastic = [p for p in host_pathways if p.spec.plastic and config.plasticity.enabled]
        self.plastic = plasticity.build_index(self.backend, plastic, excitatory, n)
        self.learns = self.plastic.size > 0  # on a rank: whether the whole brain has plastic synapses (its dopamine decays alike)
        if partition is not None:
            self._rank_plastic(whole, plastic, excitatory)
        self.plasticity = plasticity.PlasticityState.initial(xp, n, self.plastic.size, self.dtype)
        self.learning = plasticity.PlasticityParams.from_config(config.plasticity, config.homeostasis.target_fraction)
        # the neuromodulators (model/chemistry.py) and what they do now: ``modulation`` [2, R] of
        # the state dtype (row 0 each region's synaptic gain, row 1 its stimulus gain) and
        # ``learning_now`` float32 [2] (the eligibility decay and learning rate of an update),
        # read by every kernel at every step; ``modulated`` the learning constants they make
        self.chemistry = chemistry.Chemistry(config.chemistry)
        # the critic (model/critic.py): the reward expected after each line; the context is the line last said
        self.critic = Critic(config.plasticity.critic_rate)
        self.context: str | None = None
        # sleep (model/sleep.py): the cycle, the taught pairs it replays, the lines kept while asleep
        self.sleep = sleeping.Sleep(config.sleep, config.brain.seed)
        self.modulation = np.ones((2, len(self.layout.regions)), dtype=self.dtype)
        self.learning_now = np.array([self.learning.eligibility_decay, self.learning.learning_rate], dtype=np.float32)
        self.modulated = self.learning
        self._effects: chemistry.Effects | None = None
        # a region of another model keeps a LIF record for what the brain reads of every region
        # (its threshold is 1 + the homeostatic offset: docs/model.md)
        self.params = [LIFParams.from_config(r.neurons) if r.model.kind == models.LIF else
                       dataclasses.replace(LIFParams.from_config(r.neurons), threshold_rest=1.0) for r in self.layout.regions]
        self.neurons = LIFState.at_rest(xp, n, self.dtype)
        # the recovery variable of AdEx (w) and Izhikevich (u) regions, 0 at rest; unused by LIF regions
        self.recovery = xp.zeros(n, dtype=self.dtype)
        self.has_recovery = any(r.model.kind != models.LIF for r in self.layout.regions)
        for region in self.layout.regions:
            if region.spec.threshold_offset:
                self.neurons.threshold_homeostatic[region.start : region.stop] = region.spec.threshold_offset
        living = np.concatenate([np.full(r.size, r.living) for r in self.layout.regions])
        self.adapts = self.backend.asarray(living)  # noise, drive and homeostasis
        self.living_count = int(living.sum())
        self.targets = [self._target(r) for r in self.layout.regions]
        living_regions = [r for r in self.layout.regions if r.living]
        # the vitals' drive: the largest living region's
        self.main_region = max(living_regions, key=lambda r: r.size).index if living_regions else 0
        self.homeostasis = HomeostasisState.initial(xp, n, config.homeostasis, len(self.layout.regions))
        # death and renewal (model/lesions.py): the step each neuron died (-1: alive) and was last renewed (-1: never)
        self.died_at = np.full(n, lesions.DEAD, dtype=np.int64)
        self.renewed_at = np.full(n, lesions.DEAD, dtype=np.int64)
        self.dead_count = 0
        self.renewed_count = 0
        # float32 [R]: 1 / each region's living neurons, what its drive controller divides its spikes by
        self.inverse_alive = np.array([1.0 / r.size for r in self.layout.regions], dtype=np.float32)
        self.noise = CounterNoise(xp, config.brain.seed, np.arange(n, dtype=np.uint64))
        self.kernels = self._choose_kernels()
        self.threads = 1
        if self.kernels == "numba":
            self.threads = config.brain.cpu_threads or fused_cpu.default_threads(n)
        if partition is not None:
            if self.kernels != "numba":
                raise ConfigError("a brain over MPI ranks runs on the fused CPU kernels: set brain.cpu_kernels = \"numba\", device = \"cpu\" and dtype float32 or float64")
            if config.renewal.death_rate_per_hour > 0:
                raise ConfigError("a brain over MPI ranks has no neuron death yet: set renewal.death_rate_per_hour = 0")
            self.threads = 1  # one rank per core
        # the input the spikes deliver, [2N]: the first N the next step's jumps (consumed each
        # step), the last N the slow inhibitory current's charge still to come (PathwaySpec.
        # inhibitory_tau_ms): each step a neuron takes ``release`` of it, ``keep`` stays
        self.input_buffer = xp.zeros(2 * n, dtype=self.dtype)
        self.synaptic_input = self.input_buffer[:n]
        self.slow_input = self.input_buffer[n:]
        taus = [self.layout.inhibitory_tau_ms(r) for r in self.layout.regions]
        self.slow_keep = np.array([math.exp(-1.0 / tau) if tau else 0.0 for tau in taus], dtype=self.dtype)
        self.slow_release = np.array([1.0 - keep if tau else 0.0 for tau, keep in zip(taus, self.slow_keep.astype(np.float64))], dtype=self.dtype)
        # int64 [P]: where each pathway's inhibitory synapses land in input_buffer (N: the slow half)
        self.slow_offsets = np.array([n if p.spec.inhibitory_tau_ms else 0 for p in self.pathways], dtype=np.int64)
        # [P, 2] of the state dtype: an all_to_all pathway's weight per positive and per negative synapse (0: a pathway of rows)
        self.uniform_weights = connectors.uniform_weights(self.pathways, self.dtype)
        self.current = xp.zeros(n, dtype=self.dtype)
        self.step_count = 0
        # how spikes tag synapses now (plasticity.PAIRING_*): the runner turns it off while a
        # reply is only being read, to "tag" while the brain commits to a character (its echo)
        # and to "teach" while a teacher drives the output patches
        self.pairing = plasticity.PAIRING_TEACH
        # bool [N], the spikes of the last step: the NumPy path replaces it each step, the fused
        # kernel writes into it in place
        self.last_spikes = xp.zeros(n, dtype=bool)
        group_of, group_ranges = self.layout.groups()
        self.recorder = VitalsRecorder(
            self.backend, group_of, group_ranges, [r.name for r in self.layout.regions], [r.size for r in self.layout.regions],
            config.brain.stats_interval, config.brain.debug_log, self.living_count, tuple(r.name for r in self.layout.regions if r.living),
            raster_sample([(r.start, r.stop) for r in self.layout.regions]),
        )
        self.latest_vitals: Vitals | None = None
        # the codec's regions (None where the layout has none)
        codec = config.codec
        self.input_region: Region | None = self.layout.get(codec.input_region)
        self.output_region: Region | None = self.layout.get(codec.output_region)
        self.gate_region: Region | None = self.layout.get(codec.gate_region) if codec.gate_region else None
        self.visual_region: Region | None = self.layout.get(codec.visual_region) if codec.visual_region else None
        # the hippocampus (model/hippocampus.py): line detectors a teaching binds, and their recall neurons
        self.hippocampus = Hippocampus(config.hippocampus, self)
        self._eligible = np.zeros(max(1, self.threads), dtype=np.uint8)  # see fused_cpu._update_weights
        if self.kernels == "numba":
            fused_cpu.kernel()  # compiled (or loaded from the disk cache) now, not in the first step
            self._fused = fused_cpu.FusedCpuStep(self)
        # uint8 [1]: every plastic weight is known to be within [0, weight_max] (the fused CPU kernel sets it after a clipping update)
        self._in_range = np.array([self._plastic_weights_in_range()], dtype=np.uint8)
        self.kernel_note = ""  # why the fused GPU kernels are not used, where they could have been
        self._gpu: fused_gpu.FusedGpuStep | None = None
        if self.kernels == "cuda":
            try:
                self._gpu = fused_gpu.FusedGpuStep(self)
            except Exception as error:  # NVRTC missing or failing: the array path still works
                self.kernels = "cupy"
                self.kernel_note = f"fused GPU kernels unavailable ({str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}); using CuPy array kernels"
                warnings.warn(f"brainchat: {self.kernel_note}", RuntimeWarning, stacklevel=2)

    def _rank_plastic(self, whole: Synapses, plastic: list[Pathway], excitatory: np.ndarray) -> None:
        """Where each of this rank's plastic synapses sits in the whole brain's plasticity arrays (its eligibility in a snapshot)."""
        views = [Pathway(p.index, p.spec, p.source, p.target, whole.views(p.index), p.offset, p.row_offset) for p in plastic]
        everyone = np.asarray(plasticity.build_index(self.backend, views, excitatory, self.layout.neurons).synapses)
        self._whole_plastic = everyone.size
        self.learns = everyone.size > 0
        self._whole_lengths = whole.lengths.copy()
        mine = canonical_positions(whole.table, self.partition.slots)[np.asarray(self.plastic.synapses)]
        order = np.argsort(everyone, kind="stable")
        self._plastic_whole = order[np.searchsorted(everyone[order], mine)].astype(np.int64)

    def _target(self, region: Region) -> float:
        return (region.spec.target_fraction or self.config.homeostasis.target_fraction) if region.living else 0.0

    def _choose_kernels(self) -> str:
        """"numba" for the fused CPU kernel, "numpy" for the reference; on a GPU "cuda" (fused) or "cupy" (array operations)."""
        if self.backend.is_gpu:
            return "cuda" if self.config.brain.gpu_kernels == "fused" and self.dtype != np.float16 else "cupy"
        if self.config.brain.cpu_kernels == "numba" and fused_cpu.available() and self.dtype != np.float16:
            return "numba"
        return "numpy"

    @property
    def size(self) -> int:
        return self.layout.neurons

    def pathway(self, name: str) -> Pathway:
        return next(p for p in self.pathways if p.name == name)

    # ---- what the codec presents and reads ---------------------------------------------

    def _codec_region(self, which: str) -> Region:
        region = getattr(self, f"{which}_region")
        if region is None:
            name = getattr(self.config.codec, f"{which}_region")
            raise ConfigError(f"this brain has no region {name!r} (codec.{which}_region) to talk through")
        return region

    def check_talks(self) -> None:
        """Raise the one-line :class:`ConfigError` of a brain without the codec's input or output region."""
        self._codec_region("input")
        self._codec_region("output")

    @property
    def has_memory(self) -> bool:
        """The input region is quiet: it holds a line (the working memory) and is reset before the next."""
        return self.input_region is not None and not self.input_region.living

    def input_patch(self, char: str) -> np.ndarray:
        """Neuron ids of a printable ASCII character's input patch."""
        return self._codec_region("input").patch(PRINTABLE.index(char))

    def output_patch(self, char: str | None) -> np.ndarray:
        """Neuron ids of a character's output patch; ``None``: the end patch."""
        return self._codec_region("output").patch(END_PATCH if char is None else PRINTABLE.index(char))

    def other_outputs(self, patch: int) -> np.ndarray:
        """The output region's neurons outside its patch ``patch``."""
        region = self._codec_region("output")
        ids = np.arange(region.start, region.stop)
        return ids[(ids - region.start) // region.patch_size != patch]

    def sector(self, position: int, association: bool = True, recall: bool = True) -> np.ndarray:
        """The gated region's sector for reply position ``position`` (modulo its sectors) and the hippocampus's recall region's (``association`` or ``recall`` false: without that one); empty without a gate."""
        if self.gate_region is None:
            return np.zeros(0, dtype=np.int64)
        gated = self.gate_region.sector(position % self.gate_region.spec.sectors)
        region = self.hippocampus.recall
        if region is None or region is self.gate_region or self.hippocampus.muted or not recall:
            return gated
        recalled = region.sector(position % region.spec.sectors)
        return np.concatenate([gated, recalled]) if association else recalled

    def memory_ids(self) -> np.ndarray:
        """The working memory (the quiet input region), reset before a line; empty when there is none."""
        if not self.has_memory:
            return np.zeros(0, dtype=np.int64)
        return np.arange(self.input_region.start, self.input_region.stop)

    def stimulus(self, ids: np.ndarray, current: float) -> Stimulus:
        return self.stimuli([(ids, current)])

    def char_stimulus(self, char: str, place: int, current: float) -> Stimulus:
        """The stimulus of ``char`` at ``place`` of a line: its input patch, or with the working memory phase 0 of the patch's unit for that place.

        A unit too small for a loop (fewer than 3 neurons: patches of a brain below about
        2,100 neurons) is stimulated whole: the brain hears the character but holds nothing.
        """
        members = self.input_patch(char)
        if self.has_memory:
            region = self.input_region
            members = members[place % region.places :: region.places]
            starts = members[self.memory_phase[members] == 0]
            members = starts if starts.size else members
        return self.stimuli([(members, current)])

    def stimuli(self, parts: list[tuple[np.ndarray, float]]) -> Stimulus:
        """One stimulus of several parts, each (host neuron ids, current); the parts must not overlap."""
        ids = np.concatenate([np.asarray(members, dtype=np.int64) for members, _ in parts])
        values = np.concatenate([np.full(len(members), current, dtype=self.dtype) for members, current in parts])
        return Stimulus(self.backend.asarray(ids), self.backend.asarray(values))

    # ---- stepping ---------------------------------------------------------------------

    def step(self, stimulus: Stimulus | None = None) -> Vitals | None:
        """Advance one 1-ms step; returns the interval's vitals when this step completed one."""
        if self.kernels in ("numba", "cuda"):
            completed = self.run(1, stimulus)
            return completed[0] if completed else None
        xp = self.backend.xp
        config = self.config
        kind = self.dtype.type
        current = self.current
        self._modulate()
        gains = self.modulation
        noise = self.noise.normal(self.step_count, self.dtype)
        drive = self.homeostasis.drive.astype(self.dtype)
        for region in self.layout.regions:
            self._release_slow(region)
        for region, params in zip(self.layout.regions, self.params):
            part = slice(region.start, region.stop)
            # (the synaptic input times the region's gain: exact at 1, the pools at rest)
            if region.living:
                xp.multiply(noise[part], kind(region.neurons.noise_sigma), out=current[part])
                current[part] += self.synaptic_input[part] * kind(gains[0, region.index])
                current[part] += drive[region.index]
            else:
                xp.multiply(self.synaptic_input[part], kind(gains[0, region.index]), out=current[part])
                current[part] += kind(region.spec.tonic)
        if stimulus is not None:
            given = stimulus.current if hasattr(stimulus.current, "shape") else kind(stimulus.current)
            current[stimulus.neuron_ids] += given * self._stimulus_gain[stimulus.neuron_ids]
        spiked = xp.concatenate([self._neuron_pass(region, params, current) for region, params in zip(self.layout.regions, self.params)])
        self.last_spikes = spiked
        self.synaptic_input.fill(0)
        for pathway, slow, uniform in zip(self.pathways, self.slow_offsets, self.uniform_weights):
            projection = pathway.projection
            lo, hi = pathway.source
            if pathway.uniform:
                self._deliver_uniform(pathway, spiked[lo:hi], uniform, int(slow))
            else:
                self.backend.deliver_spikes(spiked[lo:hi], projection.targets, projection.weights, projection.lengths, self.input_buffer, int(slow))
        self.step_count += 1
        self.recorder.record(spiked, xp.count_nonzero(spiked & self.adapts))
        for region, target in zip(self.layout.regions, self.targets):
            if region.living:
                fraction = xp.count_nonzero(spiked[region.start : region.stop]).astype(xp.float32) * xp.float32(self.inverse_alive[region.index])
                homeostasis.control_drive(xp, self.homeostasis.drive[region.index : region.index + 1], fraction, config.homeostasis, target)
        homeostasis.count_spikes(self.homeostasis, spiked)
        if self.step_count % config.homeostasis.threshold_interval == 0:
            for region, target in zip(self.layout.regions, self.targets):
                part = slice(region.start, region.stop)
                if region.living:
                    homeostasis.adapt_thresholds(xp, self.homeostasis.recent_spikes[part], self.neurons.threshold_homeostatic[part], config.homeostasis, target)
            self.homeostasis.recent_spikes.fill(0)
        if self.plastic.size:
            plasticity.stdp_step(xp, self.plastic, self.plasticity, spiked, self.learning, self.pairing)
            if self.step_count % self.learning.interval == 0:
                plasticity.update_weights(xp, self.plastic, self.plasticity, self.synapses.weights, self.modulated)
        vitals = self.read_vitals() if self.recorder.pending >= self.recorder.interval else None
        if self._maintaining() and self.step_count % self.config.brain.stats_interval == 0:
            lesions.maintain(self, self.step_count)
        return vitals

    def _deliver_uniform(self, pathway: Pathway, fired: Any, weights: np.ndarray, slow: int) -> None:
        """An all_to_all pathway (the NumPy reference): its sources' spikes counted by the sign of their weight, times the weights, onto every target.

        The counts become the state dtype before the product, as in the kernels (whose sums
        are then the same in any order); with slow inhibition the negative part goes to the
        slow half of the input, as a pathway of rows sends it.
        """
        xp = self.backend.xp
        slot = pathway.projection.weights[:, 0]
        positive = xp.asarray(xp.count_nonzero(fired & (slot > 0)), dtype=self.dtype) * weights[0]
        negative = xp.asarray(xp.count_nonzero(fired & (slot < 0)), dtype=self.dtype) * weights[1]
        t_lo, t_hi = pathway.target
        if slow:
            self.input_buffer[t_lo:t_hi] += positive
            self.input_buffer[slow + t_lo : slow + t_hi] += negative
        else:
            self.input_buffer[t_lo:t_hi] += positive + negative

    def _release_slow(self, region: Region) -> None:
        """The slow inhibitory charge's share of this step joins the region's synaptic input; the rest of it stays, decaying."""
        if self.slow_release[region.index]:
            part = slice(region.start, region.stop)
            self.synaptic_input[part] += self.slow_input[part] * self.slow_release[region.index]
            self.slow_input[part] *= self.slow_keep[region.index]

    def _maintaining(self) -> bool:
        """Deaths or renewals may be due: neurons are dead, or a random death rate is set."""
        return bool(self.dead_count) or self.config.renewal.death_rate_per_hour > 0

    def image_stimulus(self, image: np.ndarray) -> Stimulus:
        """An image (intensities 0..1, any size) as the stimulus of the visual region: fitted to its grid, row by row."""
        from brainchat.vision.images import fit

        region = self.visual_region
        if region is None:
            raise ConfigError("this brain has no visual region: add a poisson region and name it in codec.visual_region (docs/model.md)")
        pixels = fit(np.asarray(image, dtype=np.float32), region.height, region.width).ravel()[: region.size]
        return Stimulus(self.backend.asarray(np.arange(region.start, region.stop)), self.backend.asarray(np.clip(pixels, 0, 1).astype(self.dtype)))

    def joined(self, first: Stimulus | None, second: Stimulus | None) -> Stimulus | None:
        """Both stimuli as one (their neurons must not overlap), or the one that is there."""
        if first is None or second is None:
            return first if second is None else second
        xp = self.backend.xp
        values = [s.current if getattr(s.current, "ndim", 0) else xp.full(len(s.neuron_ids), s.current, dtype=self.dtype) for s in (first, second)]
        return Stimulus(xp.concatenate([first.neuron_ids, second.neuron_ids]), xp.concatenate(values))

    def _neuron_pass(self, region: Region, params: LIFParams, current: Any) -> Any:
        """One region's neurons, by its model, under ``current`` (the NumPy reference); returns its spikes."""
        part = slice(region.start, region.stop)
        if region.model.kind == models.POISSON:
            return models.poisson_step(self.backend.xp, region.model.constants, current[part], self.noise.uint64(self.step_count, part))
        if region.model.kind == models.LIF:
            return neurons.lif_step(self.backend.xp, self.neurons.slice(region.start, region.stop), params, current[part], floored=region.floored)
        return models.model_step(self.backend.xp, region.model.kind, region.model.constants, self.neurons.membrane[part],
                                 self.recovery[part], current[part], self.neurons.threshold_homeostatic[part], floored=region.floored)

    def run(self, steps: int, stimulus: Stimulus | None = None) -> list[Vitals]:
        """Advance ``steps`` steps (the same stimulus in each, if any); returns the vitals completed meanwhile."""
        completed = []
        if self.kernels not in ("numba", "cuda"):
            for _ in range(steps):
                vitals = self.step(stimulus)
                if vitals is not None:
                    completed.append(vitals)
        else:
            every = self.config.brain.stats_interval
            while steps > 0:
                chunk = min(steps, self.recorder.interval - self.recorder.pending, chemistry.INTERVAL - self.step_count % chemistry.INTERVAL)
                self._modulate()  # the pools' uptake falls on multiples of their interval, as on the NumPy path
                if self._maintaining():  # deaths and renewals at the same steps as on the NumPy path
                    chunk = min(chunk, every - self.step_count % every)
                self._run_fused(chunk, stimulus)
                steps -= chunk
                if self.recorder.pending >= self.recorder.interval:
                    completed.append(self.read_vitals())
                if self._maintaining() and self.step_count % every == 0:
                    lesions.maintain(self, self.step_count)
        return completed

    def _modulate(self) -> None:
        """The pools' uptake due at this step, then their effects into the arrays every kernel reads (rewritten only when they changed).

        Noradrenaline's gain acts on the living regions (the cortex), acetylcholine's weight on
        every region's stimulus. The quiet regions that carry a line's code to the reply (the
        working memory, the association, the output) keep gain 1: a line taught during a
        novelty burst would otherwise be answered from another code once it is no longer new
        (measured, docs/benchmarks.md).
        """
        self.chemistry.relax(self.step_count, self.sleep.asleep)
        held = self.chemistry.holds.get("dopamine")
        if held is not None:
            self.plasticity.dopamine.fill(held[0])
        effects = self.chemistry.effects()
        if effects == self._effects:
            return
        self._effects = effects
        for region in self.layout.regions:
            gain = effects.gain if region.living else 1.0
            self.modulation[0, region.index] = gain
            self.modulation[1, region.index] = gain * effects.stimulus
        if self.kernels in ("numpy", "cupy"):  # the array path multiplies per neuron; the fused kernels read the table
            self._stimulus_gain = self.backend.asarray(np.repeat(self.modulation[1], [r.size for r in self.layout.regions]))
        tau = self.config.plasticity.eligibility_tau_ms * effects.patience
        self.modulated = dataclasses.replace(
            self.learning, eligibility_decay=math.exp(-self.learning.interval / tau), learning_rate=self.learning.learning_rate * effects.learning,
        )
        self.learning_now[:] = (self.modulated.eligibility_decay, self.modulated.learning_rate)
        if self._gpu is not None:
            self._gpu.modulation_changed(self)

    def population_changed(self) -> None:
        """After deaths or renewals: the living counts the drive controllers and the vitals divide by."""
        alive = self.died_at == lesions.DEAD
        self.dead_count = int(alive.size - alive.sum())
        self.renewed_count = int(np.count_nonzero(self.renewed_at != lesions.DEAD))
        counts = [int(alive[r.start : r.stop].sum()) for r in self.layout.regions]
        self.inverse_alive[:] = [1.0 / max(1, c) for c in counts]
        self.recorder.neurons = max(1, sum(c for c, r in zip(counts, self.layout.regions) if r.living))
        self.recorder.region_sizes_now(tuple(max(1, c) for c in counts))
        if self.kernels == "numba":
            self._fused.population_changed()
        if self._gpu is not None:
            self._gpu.population_changed(self)

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
        if predicted:  # the critic (model/critic.py): the surprise of this line's reward
            surprise = self.critic.surprise(self.context, surprise)
        self.plasticity.dopamine += self.backend.xp.float32(surprise * self.learning.reward_dopamine)
        if predicted:  # a reward, not a teaching: noradrenaline by its surprise, the mood by its sign (model/chemistry.py)
            self.chemistry.reward(value)
        return float(self.backend.to_host(self.plasticity.dopamine))

    def dose(self, name: str, level: float, seconds: float | None = None) -> None:
        """Set neuromodulator ``name`` to ``level`` now (model/chemistry.py); with ``seconds``, hold it there for that much brain time (``math.inf``: without end).

        ValueError for an unknown name or a level out of range.
        """
        if seconds is not None and not seconds > 0:
            raise ValueError(f"a dose lasts more than 0 s, not {seconds:g}")
        until = None if seconds is None else -1 if math.isinf(seconds) else self.step_count + max(1, round(seconds * 1000))
        self.chemistry.dose(name, float(level), until)
        if name == "dopamine":
            self.plasticity.dopamine.fill(float(level))

    def fall_asleep(self, minutes: float | None = None) -> dict[str, float]:
        """Begin a sleep now (model/sleep.py), for ``minutes`` or ``[sleep] asleep_minutes``; the plastic weights are downscaled. Returns the downscaling's figures."""
        self.sleep.fall_asleep(self.step_count, minutes)
        self.chemistry.fall_asleep()
        config = self.config.sleep
        if config.downscale >= 1 or not self.plastic.size:
            return {}
        figures = sleeping.downscale(self.backend.xp, self.synapses.weights, self.plastic.synapses, config.downscale,
                                     config.protected_weight * self.learning.weight_max)
        return figures

    def new_episode(self) -> None:
        """A new line is beginning: settle the last reward now, then start clean traces.

        A reward is about the last reply. Without this, the traces of earlier replies (they
        last seconds, so that a person has time to press ``+``) would take the next line's
        reward too, and a teaching's dopamine would reinforce whatever was said before it.
        The dopamine still present acts at once, as it would have over its decay
        (:func:`brainchat.model.plasticity.settle`).
        """
        plasticity.settle(self.backend.xp, self.plastic, self.plasticity, self.synapses.weights, self.modulated)
        self._eligible[:] = 0  # settle zeroed every eligibility
        if self._gpu is not None:
            self._gpu.clear_eligible()
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
        plastic = self.synapses.weights[self.plastic.synapses]
        return bool(self.backend.to_host(((plastic >= 0) & (plastic <= self.learning.weight_max)).all()))

    def _run_fused(self, steps: int, stimulus: Stimulus | None) -> None:
        """``steps`` steps in one call of the fused CPU kernel, or queued as fused GPU kernels (no vitals boundary inside)."""
        if self._gpu is not None:
            values = self._gpu.stimulus_values
            if stimulus is not None:
                values[stimulus.neuron_ids] = stimulus.current
            self._gpu.run(steps, self.step_count, self.recorder.pending, self.pairing, bool(self._in_range[0]))
            if stimulus is not None:
                values[stimulus.neuron_ids] = 0
        elif self.partition is not None:
            # a rank: its neurons, every rank's spikes, then the rest of the step (fused_cpu._advance's parts)
            lo, world, fused = self.partition.lo, self.partition.world, self._fused
            for _ in range(steps):
                count = fused.run(1, stimulus, part=1)
                began = time.perf_counter()
                total = world.allgather_spikes(fused.spike_list[lo : lo + count], fused.compact)
                self.exchange_seconds += time.perf_counter() - began
                fused.run(1, stimulus, part=2, given_total=total)
                self.step_count += 1
                self.recorder.recorded(1)
            return
        else:
            self._fused.run(steps, stimulus)
        self.step_count += steps
        self.recorder.recorded(steps)

    def read_vitals(self) -> Vitals:
        """Read the counters now (one transfer), ending the current interval early if need be."""
        if self.partition is not None:  # the means over every rank's neurons (a collective: every rank reads together)
            for array in (self.neurons.membrane, self.neurons.threshold_fast, self.neurons.threshold_homeostatic, self.current):
                self.partition.world.allgather_slices(array, self.partition.slices())
        vitals = self.recorder.read(
            self.step_count,
            self.neurons.membrane,
            self._living_thresholds(),
            self.current,
            self.homeostasis.drive[self.main_region],
            self.plasticity.dopamine,
            self.last_spikes,
        )
        self.latest_vitals = vitals
        return vitals

    # ---- snapshots ----------------------------------------------------------------------

    def _living_thresholds(self) -> Any:
        """Every neuron's effective threshold, the dead left out (theirs is +inf)."""
        total = neurons.thresholds(self.backend.xp, self.neurons, self.params, self.layout.bounds)
        if not self.dead_count:
            return total
        alive = self.died_at == lesions.DEAD
        return total[self.backend.asarray(alive)] if alive.any() else total[:1] * 0 + 1  # all dead: the resting threshold, not a NaN

    def state_arrays(self) -> dict[str, Any]:
        """Every array that makes this brain what it is, keyed by its snapshot path (``group/name``).

        These are the live device arrays; :mod:`brainchat.persistence.snapshot` copies them.
        A pathway's ``targets`` and ``lengths`` never change after the build; its weights do.
        """
        fractions, spike_counts, _ = self.recorder.buffers()
        arrays = {
            "neurons/membrane": self.neurons.membrane,
            "neurons/threshold_fast": self.neurons.threshold_fast,
            "neurons/threshold_homeostatic": self.neurons.threshold_homeostatic,
            "neurons/refractory": self.neurons.refractory,
            "neurons/excitatory": self.excitatory,
            "neurons/memory_phase": self.memory_phase,
            "neurons/synaptic_input": self.synaptic_input,
            "neurons/last_spikes": self.last_spikes,
            "homeostasis/drive": self.homeostasis.drive,
            "homeostasis/recent_spikes": self.homeostasis.recent_spikes,
            "plasticity/trace": self.plasticity.trace,
            "plasticity/eligibility": self.plasticity.eligibility,
            "neuromodulators/dopamine": self.plasticity.dopamine,
            "neuromodulators/reward_baseline": self.plasticity.reward_baseline,
            "vitals/firing_fraction": fractions,
            "vitals/spike_counts": spike_counts,
        }
        if self.has_recovery:  # AdEx or Izhikevich regions (a LIF brain's snapshot is as before)
            arrays["neurons/recovery"] = self.recovery
        if self.slow_release.any():  # slow inhibition (PathwaySpec.inhibitory_tau_ms): its charge still to come
            arrays["neurons/slow_input"] = self.slow_input
        arrays.update(self.chemistry.arrays())
        arrays.update(self.sleep.arrays())
        arrays.update(self.critic.arrays())
        arrays.update(self.hippocampus.arrays())
        if self.dead_count or self.renewed_count:  # only where a neuron ever died
            arrays["neurons/died_at"] = self.died_at
            arrays["neurons/renewed_at"] = self.renewed_at
        synapses = self.synapses if self.partition is None else self._whole_synapses(arrays)
        for p, pathway in enumerate(self.pathways):
            projection = synapses.views(p)
            arrays[f"pathways/{pathway.name}/targets"] = projection.targets
            arrays[f"pathways/{pathway.name}/weights"] = projection.weights
            arrays[f"pathways/{pathway.name}/lengths"] = projection.lengths
        return arrays

    def _whole_synapses(self, arrays: dict[str, Any]) -> Synapses:
        """A rank's part of a snapshot (a collective): every rank's neurons' state into ``arrays``, the whole brain's synapses returned.

        The per-neuron arrays each rank owns are gathered in place (the kernel reads only its
        own neurons'; the rest are copies); weights and eligibility, whose owners are the
        ranks of their targets, come as (place, value) pairs into the whole brain's order.
        """
        part, world = self.partition, self.partition.world
        for name in RANK_OWNED:
            if name in arrays:
                world.allgather_slices(arrays[name], part.slices())
        table = self.synapses.table
        places = canonical_positions(table, part.slots)
        targets = np.empty_like(self.synapses.targets)
        targets[places] = self.synapses.targets
        weights = np.empty_like(self.synapses.weights)
        weights[places] = self.synapses.weights
        owned = owned_synapses(table, self.synapses.lengths)
        at, values = world.gather_pairs(places[owned], self.synapses.weights[owned])
        weights[at] = values
        eligibility = np.zeros(self._whole_plastic, dtype=self.plasticity.eligibility.dtype)
        at, values = world.gather_pairs(self._plastic_whole, self.plasticity.eligibility)
        eligibility[at] = values
        arrays["plasticity/eligibility"] = eligibility
        return Synapses(targets, weights, self._whole_lengths, table)

    def _restore_rank(self, arrays: dict[str, np.ndarray]) -> None:
        """A rank takes its synapses' weights and eligibility from a whole brain's snapshot arrays."""
        whole = np.concatenate([np.asarray(arrays[f"pathways/{p.name}/weights"]).ravel() for p in self.pathways]) if self.pathways else self.synapses.weights
        self.synapses.weights[...] = whole[canonical_positions(self.synapses.table, self.partition.slots)]
        self.plasticity.eligibility[...] = np.asarray(arrays["plasticity/eligibility"])[self._plastic_whole]

    def restore_state(self, arrays: dict[str, np.ndarray], step: int, vitals_pending: int) -> None:
        """Replace the state with host ``arrays`` (as from :meth:`state_arrays`), or change nothing.

        Every name, shape and dtype is checked before the first array is touched; a mismatch
        raises ``ValueError`` naming it. The connectivity must be this brain's (the same
        config and seed); a snapshot of another brain is loaded into a brain built from it
        (:func:`from_snapshot`).
        """
        current = {name: value for name, value in self.state_arrays().items() if name not in LESION_ARRAYS + CHEMISTRY_ARRAYS + sleeping.ARRAYS + CRITIC_ARRAYS + HIPPOCAMPUS_ARRAYS}
        pools = chemistry.Chemistry(self.config.chemistry)
        pools.restore(arrays)  # checked now, kept only if everything else fits
        cycle = sleeping.Sleep(self.config.sleep, self.config.brain.seed, step)
        cycle.restore(arrays, int(step))  # the same
        critic = Critic(self.config.plasticity.critic_rate)
        critic.restore(arrays)  # the same
        hippocampus = Hippocampus(self.config.hippocampus, self)
        hippocampus.restore(arrays)  # the same
        for name in LESION_ARRAYS:
            if name in arrays:
                given = np.asarray(arrays[name])
                if given.shape != (self.size,) or given.dtype != np.int64 or (given.size and (given.min() < lesions.DEAD or given.max() > step)):
                    raise ValueError(f"{name} is {given.dtype}{list(given.shape)} in the snapshot (steps -1..{step} expected), int64[{self.size}] in this brain")
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
        slow_given = "neurons/slow_input" in arrays
        if not slow_given:  # a snapshot from before slow inhibition: no charge on its way
            current.pop("neurons/slow_input", None)
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
        for pathway in self.pathways:
            if not np.array_equal(arrays[f"pathways/{pathway.name}/targets"], self.backend.to_host(current[f"pathways/{pathway.name}/targets"])):
                raise ValueError(f"pathway {pathway.name!r} joins other neurons in the snapshot")
        if not np.array_equal(arrays["neurons/memory_phase"], self.memory_phase):
            raise ValueError("the snapshot's working-memory loops differ from this brain's")
        for name, live in current.items():
            if name != "neurons/memory_phase" and not name.endswith(("/targets", "/lengths")):
                live[...] = self.backend.asarray(arrays[name])
        if not slow_given:
            self.slow_input.fill(0)
        if self.partition is not None:
            self._restore_rank(arrays)
        self.died_at[...] = arrays.get("neurons/died_at", lesions.DEAD)
        self.renewed_at[...] = arrays.get("neurons/renewed_at", lesions.DEAD)
        self.chemistry = pools
        self.sleep = cycle
        pools.asleep = cycle.asleep  # (the pools hear of the sleep at their next update; /chem shows it at once)
        self.critic = critic
        self.hippocampus = hippocampus
        self.context = None
        self._effects = None  # their effects are written before the next step
        self.population_changed()
        self.step_count = int(step)
        self._in_range[0] = self._plastic_weights_in_range()
        self._eligible[:] = 1 if bool(self.backend.to_host((self.plasticity.eligibility != 0).any())) else 0
        if self._gpu is not None:
            self._gpu.refresh()
        if not vitals_fit:
            fractions, spike_counts, _ = self.recorder.buffers()
            fractions.fill(0)
            spike_counts.fill(0)
        self.recorder.restore(vitals_pending)

    def region_table(self) -> list[dict[str, Any]]:
        """One row per region: what ``brainchat regions`` shows (firing: per step, over the last vitals interval)."""
        excitatory = self.backend.to_host(self.excitatory)
        firing = dict(self.latest_vitals.region_firing) if self.latest_vitals is not None and self.latest_vitals.steps else {}
        damage = self.damage()
        return [
            {
                "name": r.name, "first_id": r.start, "last_id": r.stop - 1, "neurons": r.size, "model": r.spec.model, "preset": r.model.preset or None,
                "living": r.living, "excitatory_share": round(float(excitatory[r.start : r.stop].mean()), 4),
                "target_fraction": self._target(r) or None, "patches": r.spec.patches, "sectors": r.spec.sectors,
                "grid": [r.height, r.width], "firing": firing.get(r.name),
                **damage.get(r.name, {"dead_ids": [], "new_ids": []}),
            }
            for r in self.layout.regions
        ]

    def damage(self) -> dict[str, dict[str, list[int]]]:
        """Per region with any: the ids of its dead neurons and of those renewed (new neurons at old ids), for the region map."""
        found = {}
        for region in self.layout.regions:
            part = slice(region.start, region.stop)
            dead = np.flatnonzero(self.died_at[part] != lesions.DEAD) + region.start
            new = np.flatnonzero((self.renewed_at[part] != lesions.DEAD) & (self.died_at[part] == lesions.DEAD)) + region.start
            if dead.size or new.size:
                found[region.name] = {"dead_ids": dead.tolist(), "new_ids": new.tolist()}
        return found

    def pathway_table(self) -> list[dict[str, Any]]:
        """One row per pathway: what ``brainchat regions`` shows."""
        plastic_per = np.bincount(
            np.searchsorted(np.array([p.offset for p in self.pathways]), self.backend.to_host(self.plastic.synapses), side="right") - 1,
            minlength=len(self.pathways),
        ) if self.plastic.size else np.zeros(len(self.pathways), dtype=np.int64)
        return [
            {
                "name": p.name, "source": p.spec.source, "target": p.spec.target, "connector": p.spec.connector,
                # an all_to_all pathway: every source that sends (a weight of its sign) times every target
                "synapses": (int(np.count_nonzero(self.backend.to_host(p.projection.weights[:, 0]))) * (p.target[1] - p.target[0]) if p.uniform
                             else int(self.backend.to_host(p.projection.lengths).sum())),
                "fan_out": p.target[1] - p.target[0] if p.uniform else p.projection.fan_out,
                "plastic": bool(p.spec.plastic and self.config.plasticity.enabled), "plastic_synapses": int(plastic_per[p.index]),
            }
            for p in self.pathways
        ]

    def close(self) -> None:
        """Release the debug log and the kernel's threads; the arrays go with the object."""
        self.recorder.close()
        if self.kernels == "numba":
            self._fused.close()

    def __enter__(self) -> "Brain":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def from_snapshot(config: Config, arrays: dict[str, np.ndarray], backend: Backend | None = None, partition: Partition | None = None) -> Brain:
    """A brain (or a rank's part of it, with ``partition``) built from ``config`` with the snapshot's connectivity (for :meth:`Brain.restore_state`)."""
    connectivity = {}
    for spec in config.pathway_specs:
        names = [f"pathways/{spec.name}/{part}" for part in ("targets", "weights", "lengths")]
        if all(name in arrays for name in names):
            connectivity[spec.name] = tuple(np.asarray(arrays[name]) for name in names)
    return Brain(config, backend, connectivity=connectivity, memory_phase=arrays.get("neurons/memory_phase"), excitatory=arrays.get("neurons/excitatory"),
                 partition=partition)
