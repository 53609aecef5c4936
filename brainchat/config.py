"""Configuration: frozen dataclasses are the single source of every default.

Sources, later ones winning: the defaults below, the user's config file
(``$XDG_CONFIG_HOME/brainchat/config.toml``), ``./config.toml``, a ``--config FILE``,
``BRAINCHAT_*`` environment variables, and command-line options. ``config.toml`` at the
repository root is :func:`render_toml` of the defaults, comments included.

Every key lives in a section (``[brain]``, ``[neurons]``, ...). Environment variables are
``BRAINCHAT_<KEY>`` for the ``[brain]`` section (``BRAINCHAT_NEURONS``) and
``BRAINCHAT_<SECTION>_<KEY>`` for the others (``BRAINCHAT_HOMEOSTASIS_TARGET_FRACTION``).
An unknown key or an invalid value raises :class:`~brainchat.errors.ConfigError` naming it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from brainchat.errors import ConfigError

DTYPES = ("float16", "float32", "float64")
DEVICES = ("auto", "cpu", "gpu")
LAYOUTS = ("chat", "sheet", "custom")
MODELS = ("lif", "adex", "izhikevich", "poisson")
CONNECTORS = ("random", "probability", "one_to_one", "neighbours", "patch", "every_patch", "loops", "units", "all_to_all", "detectors", "slots", "snapshot")

Check = Callable[[Any], "str | None"]


def _setting(default: Any, doc: str, check: Check | None = None) -> Any:
    """A config field: its default, a one-line comment for config.toml and a validator."""
    return field(default=default, metadata={"doc": doc, "check": check})


def _at_least(low: float) -> Check:
    return lambda value: None if value >= low else f"must be at least {low}"


def _between(low: float, high: float) -> Check:
    return lambda value: None if low <= value <= high else f"must be between {low} and {high}"


def _positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _non_negative(value: float) -> str | None:
    return None if value >= 0 else "must not be negative"


def _open_fraction(value: float) -> str | None:
    return None if 0 < value < 1 else "must be between 0 and 1 (exclusive)"


def _one_of(*choices: str) -> Check:
    return lambda value: None if value in choices else f"must be one of {', '.join(choices)}"


@dataclass(frozen=True)
class BrainSection:
    """What brain to build and where to run it."""

    neurons: int = _setting(200_000, "number of neurons of the whole brain (the regions' shares are of this); the chat and sheet layouts need 1,000 or more", _at_least(1))
    layout: str = _setting("chat", 'the regions and pathways declared before [[regions]] and [[pathways]] tables add to them or change them: "chat" (the brain you talk to), "sheet" (one random living sheet with the codec\'s patches) or "custom" (only the tables)', _one_of(*LAYOUTS))
    seed: int = _setting(0, "seed of the connectivity, the noise and every random choice", _non_negative)
    device: str = _setting("auto", 'where to step: "auto" (GPU when usable, else CPU), "cpu" or "gpu"', _one_of(*DEVICES))
    dtype: str = _setting("float32", 'numerical type of the neuron state: "float16", "float32" or "float64"', _one_of(*DTYPES))
    cpu_kernels: str = _setting("numba", 'CPU step: "numba" (fused kernel, fast) or "numpy" (the reference)', _one_of("numba", "numpy"))
    gpu_kernels: str = _setting("fused", 'GPU step: "fused" (CUDA kernels replayed as graphs, fast) or "cupy" (array operations)', _one_of("fused", "cupy"))
    cpu_threads: int = _setting(0, "threads of the numba kernel; 0 = 1 below 50,000 neurons, else the usable cores (at most 4)", _non_negative)
    snapshots: str = _setting("checkpoints", "folder of the snapshots (NAME.h5)")
    autosave: bool = _setting(True, "save the brain to <snapshots>/autosave.h5 when `brainchat run` ends")
    socket: str = _setting("", "control socket of a running brain; empty = $XDG_RUNTIME_DIR/brainchat/brain.sock (or /tmp/brainchat-<uid>/)")
    socket_idle_seconds: float = _setting(30.0, "a control-socket client that sends nothing for this long is disconnected", _positive)
    stats_interval: int = _setting(100, "steps between two read-backs of the vitals counters (one small transfer)", _at_least(1))
    debug_log: str = _setting("", "file the per-interval counters are appended to; empty = off")


@dataclass(frozen=True)
class NeuronSection:
    """Leaky integrate-and-fire neurons with an adaptive threshold (dt = 1 ms), for every region that does not say otherwise.

    Potentials are in units of the resting threshold (``threshold_rest = 1``).
    """

    membrane_tau_ms: float = _setting(20.0, "membrane time constant, ms", _at_least(1.0))
    refractory_ms: int = _setting(2, "absolute refractory period after a spike, ms", _between(0, 1000))
    threshold_rest: float = _setting(1.0, "firing threshold before adaptation", _positive)
    reset: float = _setting(0.0, "membrane potential after a spike")
    threshold_jump: float = _setting(0.05, "threshold increase per spike (fast adaptation)", _non_negative)
    threshold_tau_ms: float = _setting(100.0, "decay time constant of the fast threshold adaptation, ms", _at_least(1.0))
    noise_sigma: float = _setting(0.2, "standard deviation of the membrane noise per step", _non_negative)


@dataclass(frozen=True)
class HomeostasisSection:
    """Per-neuron threshold adaptation and a drive controller per living region."""

    target_fraction: float = _setting(0.05, "target fraction of neurons firing per step", _open_fraction)
    threshold_rate: float = _setting(0.002, "homeostatic threshold change per surplus spike", _non_negative)
    threshold_interval: int = _setting(10, "steps between two homeostatic threshold updates", _between(1, 10_000))
    drive_gain: float = _setting(0.02, "integral gain of the drive controller, per step and unit of fraction error", _non_negative)
    drive_initial: float = _setting(0.0, "every living region's drive at start", _non_negative)
    drive_max: float = _setting(1.0, "upper bound of a region's drive (and -drive_max the lower)", _positive)


@dataclass(frozen=True)
class PlasticitySection:
    """Reward learning: STDP eligibility traces and dopamine (Izhikevich 2007; brainchat/model/plasticity.py)."""

    enabled: bool = _setting(True, "learn from rewards at all (which synapses learn: each pathway's `plastic`)")
    rule: str = _setting("hebbian", '"hebbian": eligibility where a source fired before its target, and, while taught, loss towards held-down targets; "stdp": pair timing with LTD', _one_of("hebbian", "stdp"))
    stdp_tau_ms: float = _setting(20.0, "time constant of the STDP traces (the pairing window), ms", _at_least(1.0))
    ltp: float = _setting(1.0, "eligibility added per pre-before-post pairing (times the pre trace)", _non_negative)
    ltd_ratio: float = _setting(1.0, "LTD / LTP amplitude; 1.0 keeps chance pairings at 50 Hz neutral (1.5, the paper's, wiped all weights on one reward)", _non_negative)
    eligibility_tau_ms: float = _setting(3000.0, "decay time of the eligibility trace, ms (a reward 1-5 s after a reply must still find it)", _at_least(1.0))
    dopamine_tau_ms: float = _setting(200.0, "decay time of dopamine after a reward, ms", _at_least(1.0))
    learning_rate: float = _setting(0.005, "weight change per update per unit of dopamine x eligibility", _non_negative)
    weight_max: float = _setting(3.0, "upper bound of a plastic excitatory weight (the lower bound is 0)", _positive)
    update_interval: int = _setting(10, "steps between weight updates (10 ms as in Izhikevich 2007)", _between(1, 1000))
    reward_dopamine: float = _setting(1.0, "dopamine added by a reward of strength 1 (subtracted by a punishment)", _positive)
    reward_baseline_rate: float = _setting(0.0, "reward-prediction error: dopamine follows reward minus a running mean updated at this rate per reward; 0 = raw reward", _between(0.0, 1.0))
    critic_rate: float = _setting(0.2, "the critic (brainchat/model/critic.py): dopamine is a reward minus the reward expected after this line (when positive), and the expectation moves this share of the way toward each reward; 0 = off", _between(0.0, 1.0))
    teach_dopamine: float = _setting(1.0, "dopamine given after each teaching (/teach), as a reward of this strength", _non_negative)


@dataclass(frozen=True)
class CodecSection:
    """How a typed line becomes stimulus and output spikes become a reply (brainchat/io/codec.py)."""

    char_steps: int = _setting(20, "steps each character of a line is presented on its input patch", _at_least(1))
    stimulus_current: float = _setting(1.0, "membrane jump per step on the neurons of the presented character's patch", _positive)
    gap_steps: int = _setting(20, "steps without input between the end of a line and the first reply window", _non_negative)
    window_steps: int = _setting(20, "steps per reply window; the busiest output patch of a window is one character", _at_least(1))
    silence_rate: float = _setting(0.01, "below this many spikes per neuron per step the busiest output patch is silence (ends the reply)", _non_negative)
    max_reply_chars: int = _setting(8, "longest reply, in characters (with a gated region: at most its sectors - 1)", _at_least(1))
    max_line_chars: int = _setting(200, "longer typed lines are cut to this many characters", _at_least(1))
    reset_steps: int = _setting(5, "steps of inhibition on the working memory before a line, so it holds only that line", _at_least(0))
    reset_current: float = _setting(30.0, "magnitude of that inhibition per step", _non_negative)
    input_region: str = _setting("input", "region whose 95 patches take the typed characters (printable ASCII, space to ~); quiet: it is the working memory and is reset before each line")
    output_region: str = _setting("output", "region whose 96 patches say the reply: the 95 characters, then the end of the reply")
    gate_region: str = _setting("association", "region whose sectors are gated one per reply position; empty or absent: no gate")
    visual_region: str = _setting("", 'poisson region that sees the images of /see, /teach => REPLY after it, `brainchat see` and `brainchat teach --image` (a [[regions]] table with model = "poisson"); empty: none')
    gate_current: float = _setting(2.0, "membrane jump per step on the association sector of the reply position being read (lifts its tonic inhibition)", _non_negative)
    teach_current: float = _setting(0.5, "membrane jump per step on the output patch of the character being taught", _non_negative)
    answer_always: bool = _setting(True, "a free reply's first window names its busiest output patch even below silence_rate (if any of them fired): a reply is not empty while the output lives, and a punishment of it has a character to act on (without: a prompt the brain fell silent to stayed silent)")
    echo_steps: int = _setting(10, "after each reply window, steps its winning patch is driven as in teaching (what a reward will act on); 0 = off", _at_least(0))
    teach_only_mistakes: bool = _setting(True, "a teaching first lets the brain answer; a right answer is left alone, a wrong one is punished before the reply is taught (error-driven, like the perceptron rule)")
    teach_inhibition: float = _setting(20.0, "membrane drop per step on every other output patch meanwhile (the teacher's winner-take-all)", _non_negative)


@dataclass(frozen=True)
class RenewalSection:
    """Neuron death and replacement (brainchat/model/lesions.py): /lesion, /stroke, a slow random death, renewal from neighbours."""

    enabled: bool = _setting(True, "replace dead neurons after delay_ms (a new neuron at the same id, its values from its neighbours); false: the dead stay dead")
    delay_ms: float = _setting(1000.0, "brain time from a neuron's death to its replacement, ms", _non_negative)
    weight_scale: float = _setting(0.5, "a new neuron's outgoing weights: a neighbour's row times this", _between(0.0, 1.0))
    learned: str = _setting("zero", 'a new neuron\'s weights in plastic (learned) pathways: "zero" (it has learned nothing yet), "neighbour" (as in the others), "initial" (the pathway\'s untaught starting weight); measured in docs/benchmarks.md', _one_of("zero", "neighbour", "initial"))
    death_rate_per_hour: float = _setting(0.0, "share of the living regions' neurons that die at random per brain hour (0.01 = 1 %); 0 = none", _between(0.0, 1.0))


@dataclass(frozen=True)
class ChemistrySection:
    """Neuromodulators beside dopamine (brainchat/model/chemistry.py): noradrenaline, acetylcholine, serotonin; /chem, `brainchat chem`."""

    enabled: bool = _setting(True, "the pools act (false: every level stays at its rest, the brain as without them)")
    noradrenaline_tau_ms: float = _setting(2000.0, "uptake time constant of noradrenaline toward its rest (0), ms", _at_least(1.0))
    noradrenaline_novelty: float = _setting(0.2, "noradrenaline released by a line the brain has not heard before", _between(0.0, 4.0))
    noradrenaline_surprise: float = _setting(0.0, "noradrenaline released per unit of a reward's surprise (|reward - mood|, the mood being the running balance of rewards)", _between(0.0, 4.0))
    surprise_threshold: float = _setting(1.0, "a surprise (0..2) above this releases noradrenaline; smaller ones do not", _between(0.0, 2.0))
    noradrenaline_gain: float = _setting(0.5, "input gain per unit of noradrenaline: every neuron region's input x (1 + this x NE)", _between(0.0, 10.0))
    exploration: float = _setting(0.25, "temperature of the reply character's choice per unit of noradrenaline above exploration_above (0: always the busiest patch)", _between(0.0, 10.0))
    exploration_above: float = _setting(0.5, "noradrenaline above which replies explore (the sustained, 'exploring' mode; the default bursts stay below it)", _between(0.0, 4.0))
    acetylcholine_idle: float = _setting(0.7, "acetylcholine's rest between lines (1 while a line is presented and answered: the learning rate and input weight as configured)", _between(0.0, 4.0))
    acetylcholine_tau_ms: float = _setting(30000.0, "uptake time constant of acetylcholine toward its rest, ms", _at_least(1.0))
    acetylcholine_asleep: float = _setting(0.1, "acetylcholine's rest asleep, between replays (low in slow-wave sleep: Hasselmo 1999); a replay is attended at 1", _between(0.0, 4.0))
    drowsiness: float = _setting(0.5, "how far a full sleep pressure (time awake) lowers acetylcholine's idle rest: acetylcholine_idle x (1 - this x pressure)", _between(0.0, 1.0))
    pressure_rise_minutes: float = _setting(40.0, "time constant of the sleep pressure's rise toward 1 while awake, brain minutes (Borbely 1982's process S, 18 h in people, here the 40-minute day of [sleep])", _positive)
    pressure_fall_minutes: float = _setting(10.0, "time constant of the sleep pressure's fall toward 0 while asleep, brain minutes (4 h in people)", _positive)
    serotonin_tau_ms: float = _setting(60000.0, "time constant of serotonin toward its rest (1 + serotonin_mood x mood), ms", _at_least(1.0))
    serotonin_mood: float = _setting(0.25, "how far the mood moves serotonin's rest: 1 + this x mood (mood in -1..1)", _between(0.0, 1.0))
    mood_rate: float = _setting(0.1, "share of the way each reward (or punishment) moves the mood toward +1 (or -1)", _between(0.0, 1.0))
    mood_tau_s: float = _setting(600.0, "time the mood takes to fade toward 0 without rewards, brain seconds", _at_least(1.0))


@dataclass(frozen=True)
class SleepSection:
    """Sleep, the maintenance mode (brainchat/model/sleep.py): /sleep, /wake, `brainchat sleep`; replay of what was taught and synaptic downscaling."""

    auto: bool = _setting(True, "sleep and wake on a cycle by themselves; a sleep that falls due waits until nobody has said anything for quiet_s (false: only /sleep and `brainchat sleep`)")
    awake_minutes: float = _setting(40.0, "brain minutes awake before the next sleep falls due (the founding documents' 40)", _positive)
    asleep_minutes: float = _setting(20.0, "brain minutes a sleep lasts, automatic or by /sleep without MINUTES (the founding documents' 20)", _positive)
    quiet_s: float = _setting(60.0, "brain seconds without a line that a due sleep waits for", _non_negative)
    replay: bool = _setting(True, "while asleep, replay the taught pairs the brain keeps (prompt to the working memory, reply to the readout; only those it gets wrong are taught again)")
    replay_interval_ms: float = _setting(2000.0, "brain time from the start of one replay to the next, ms", _at_least(1.0))
    remembered_pairs: int = _setting(256, "taught pairs kept for replay (the oldest forgotten first); in the snapshot", _between(1, 100000))
    downscale: float = _setting(1.0, "factor on every unprotected plastic weight when a sleep begins (de Vivo et al. 2017: about 0.82); 1 = off", _between(0.0, 1.0))
    protected_weight: float = _setting(0.5, "plastic weights at or above this share of plasticity.weight_max are spared by the downscaling (the largest, learned ones)", _between(0.0, 1.0))


@dataclass(frozen=True)
class HippocampusSection:
    """The hippocampus (brainchat/model/hippocampus.py): a line detector bound to each taught prompt in one teaching, and the recall neurons that say its reply."""

    enabled: bool = _setting(True, "a teaching binds a free slot of line detectors to its prompt (false: the hippocampus regions stay silent)")
    recall_alone: bool = _setting(True, "when the detectors fire before a free reply (a bound line), the reply is read from the recall neurons alone: the association's sectors stay closed; a teaching opens both, so the association still learns what a line with a typo finds (false: both always answer together)")
    drive: float = _setting(6.0, "input per step of a bound detector while its whole line is held (each of its line's m units gives drive / m, each other held unit takes drive / m); the region's tonic (-5.4) sets the share of its units a line must match (0.9)", _positive)


@dataclass(frozen=True)
class RuntimeSection:
    """The stepping thread."""

    speed: float = _setting(1.0, "brain ms per wall-clock ms; 0 = as fast as the machine can", _non_negative)
    history: str = _setting("", "REPL history file; empty = $XDG_DATA_HOME/brainchat/history")



def _size(value: Any) -> str | None:
    if value == "rest" or (isinstance(value, float) and 0 < value < 1) or (isinstance(value, int) and value >= 0):
        return None
    return 'must be a number of neurons (1 or more), a share of brain.neurons between 0 and 1, or "rest"'


def _name(value: str) -> str | None:
    return None if value.replace("_", "").isalnum() and value[:1].isalpha() else "must be letters, digits and '_', beginning with a letter"


@dataclass(frozen=True)
class RegionSpec:
    """A region: a named, contiguous range of neuron ids with one neuron model (``[[regions]]``)."""

    name: str = _setting("", "what it is called; pathways, the codec and the snapshot name it", _name)
    size: Any = _setting(0, 'neurons: a number, a share of brain.neurons (0.45), or "rest" (what the other regions leave; one region at most); 0 with patches', _size)
    patches: int = _setting(0, "equal patches the region is cut into, in id order (the codec's characters); 0 = none", _non_negative)
    patch_size: Any = _setting(0, "neurons per patch: a number or a share of brain.neurons; the region's size is patches x patch_size", _size)
    places: int = _setting(0, "working-memory units per patch: a character at place p of a line is held by unit p mod places (units keep 12+ neurons)", _between(0, 16))
    sectors: int = _setting(0, "equal sectors in id order, gated one at a time by the codec (one per reply position); 0 = none", _between(0, 64))
    model: str = _setting("lif", 'neuron model: "lif" (leaky integrate-and-fire with an adaptive threshold), "adex" (Brette & Gerstner 2005), "izhikevich" (Izhikevich 2003) or "poisson" (a sensor: fires at random, at its input (0..1) x max_rate_hz); docs/model.md', _one_of(*MODELS))
    preset: str = _setting("", 'the model\'s named parameter set: adex tonic, adapting, initial_burst, regular_bursting, delayed_accelerating, delayed_regular_bursting, transient, irregular (Naud et al. 2008); izhikevich RS, IB, CH, FS, LTS, TC, RZ (Izhikevich 2003); "" = adapting / RS')
    parameters: str = _setting("", 'changes to the preset, in its units: "b_pA=30, tau_w_ms=100" (adex: C_pF gL_nS EL_mV VT_mV DeltaT_mV a_nS tau_w_ms b_pA Vr_mV V_peak_mV; izhikevich: a b c d), or an inline table')
    living: bool = _setting(False, "noise, a drive and homeostasis of its own toward target_fraction; false = quiet: fires only from synapses and stimuli")
    floor: bool = _setting(True, "a quiet region's membranes stay at or above reset (inhibition shunts: lifting it lets a neuron answer at once); false: inhibition hyperpolarises, as in a living region")
    excitatory: float = _setting(0.8, "share of its neurons that are excitatory", _between(0.0, 1.0))
    target_fraction: float = _setting(0.0, "homeostatic target (fraction firing per step) of a living region; 0 = homeostasis.target_fraction", _between(0.0, 0.999))
    threshold_offset: float = _setting(0.0, "starting threshold offset (above threshold_rest)")
    tonic: float = _setting(0.0, "constant current per step into a quiet region (negative: tonic inhibition, lifted by a gate)")
    width: int = _setting(0, "columns of its grid (neighbours, pictures); 0 = a grid about 5 wide by 4 high", _non_negative)
    noise_sigma: float = _setting(-1.0, "membrane noise of a living region; -1 = neurons.noise_sigma")
    membrane_tau_ms: float = _setting(0.0, "membrane time constant, ms; 0 = neurons.membrane_tau_ms", _non_negative)
    threshold_jump: float = _setting(-1.0, "fast threshold adaptation per spike; -1 = neurons.threshold_jump")
    threshold_tau_ms: float = _setting(0.0, "decay time of the fast threshold adaptation, ms; 0 = neurons.threshold_tau_ms (very long: the adaptive threshold theta of Diehl & Cook 2015)", _non_negative)
    enabled: bool = _setting(True, "false: the layout's region of this name is left out, and every pathway from or onto it")


@dataclass(frozen=True)
class PathwaySpec:
    """A pathway: the synapses from one region onto another, each its own projection ``[n_source, K]`` (``[[pathways]]``)."""

    name: str = _setting("", "what it is called; the snapshot stores its synapses under it", _name)
    source: str = _setting("", 'region the synapses leave ("*" = the whole brain)')
    target: str = _setting("", 'region the synapses end on ("*" = the whole brain)')
    connector: str = _setting("random", '"random" (fan_out per source), "probability", "one_to_one", "neighbours" (4 on the grid), "patch" (patch k to patch k), "every_patch" (fan_out neurons of each of the target\'s patches: every source can reach every character), "loops" (3-phase working-memory loops in each unit), "units" (each target listens to one unit of the source), "all_to_all" (every source onto every target: a target gets weight x the fraction of the sources that fired, one add per target whatever the sizes; cannot learn), "detectors" (the hippocampus: every working-memory unit onto every line detector, weights 0 until a teaching binds a detector to its line), "slots" (each line detector onto its slot\'s neurons in every sector of the target; fan_in: detectors per slot), "snapshot" (converted: only from a snapshot)', _one_of(*CONNECTORS))
    fan_out: int = _setting(0, "synapses per source neuron (random, patch, loops); per source and target patch (every_patch)", _non_negative)
    fan_in: int = _setting(0, "synapses per target neuron (units)", _non_negative)
    probability: float = _setting(0.0, "connection probability of each source-target pair (probability)", _between(0.0, 1.0))
    weight: float = _setting(0.0, "weight of an excitatory source's synapse (jump of the target's membrane); all_to_all: of all of them together (each is weight / the source's size)", _non_negative)
    inhibitory_weight: float = _setting(0.0, "magnitude of an inhibitory source's synapse (applied negative); 0 = inhibitory sources send nothing here", _non_negative)
    onto: str = _setting("all", 'which of the target region\'s neurons a random pathway reaches: "all", "excitatory" or "inhibitory" (e.g. pyramidal cells onto interneurons, PING)', _one_of("all", "excitatory", "inhibitory"))
    inhibitory_tau_ms: float = _setting(0.0, "decay time constant of the inhibitory synapses' current (GABA-A, PING: it sets the gamma period); 0 = the whole weight in the next step. All pathways onto a region share it", _non_negative)
    plastic: bool = _setting(False, "learns by the reward-modulated rule ([plasticity]); only excitatory synapses learn")
    enabled: bool = _setting(True, "false: the layout's pathway of this name is left out")


TABLES: dict[str, type] = {"regions": RegionSpec, "pathways": PathwaySpec}

# The brain you talk to (brain.layout = "chat"): the working memory holds a line, the gated
# association sectors turn (line, reply position) into a sparse code, and the readout learns
# which character each code says (brainchat/model/pathways.py, docs/model.md).
_CHAT_REGIONS = (
    {"name": "input", "patches": 95, "patch_size": 0.0012, "places": 4, "excitatory": 1.0},
    {"name": "association", "size": 0.3725, "sectors": 9, "excitatory": 1.0, "tonic": -2.0},
    {"name": "cortex", "size": "rest", "living": True},
    # fast-spiking basket cells: quiet (they fire only when the cortex drives them), all
    # inhibitory, their inhibition slow (GABA-A): the gamma rhythm (PING, docs/model.md)
    {"name": "basket", "size": 0.02, "excitatory": 0.0},
    {"name": "output", "patches": 96, "patch_size": 0.0012},
    # the hippocampus (brainchat/model/hippocampus.py): line detectors bound in one teaching
    # (tonic -5.4 against a drive of 6: a line must match 90 % of a detector's units) and the
    # recall neurons, gated by reply position like the association, that learn what it says
    {"name": "hippocampus", "size": 0.005, "excitatory": 1.0, "tonic": -5.4, "threshold_jump": 0.0},
    {"name": "recall", "size": 0.09, "sectors": 9, "excitatory": 1.0, "tonic": -2.0, "threshold_jump": 0.0},
)
_CHAT_PATHWAYS = (
    {"name": "working_memory", "source": "input", "target": "input", "connector": "loops", "fan_out": 3, "weight": 4.0},
    {"name": "memory_to_association", "source": "input", "target": "association", "connector": "units", "fan_in": 2, "weight": 1.2},
    {"name": "memory_to_cortex", "source": "input", "target": "cortex", "fan_out": 20, "weight": 0.1},
    {"name": "readout", "source": "association", "target": "output", "connector": "every_patch", "fan_out": 1, "weight": 1.0, "plastic": True},
    {"name": "cortex_recurrent", "source": "cortex", "target": "cortex", "fan_out": 26, "weight": 0.03, "inhibitory_weight": 0.15},
    {"name": "cortex_neighbours", "source": "cortex", "target": "cortex", "connector": "neighbours", "weight": 0.02},
    {"name": "cortex_to_output", "source": "cortex", "target": "output", "fan_out": 6, "weight": 0.03, "inhibitory_weight": 0.15},
    {"name": "output_to_cortex", "source": "output", "target": "cortex", "fan_out": 32, "weight": 0.03, "inhibitory_weight": 0.15},
    # all to all (delivered as counts: a few microseconds a step at 200k, docs/benchmarks.md)
    {"name": "cortex_to_basket", "source": "cortex", "target": "basket", "connector": "all_to_all", "weight": 3.1},
    {"name": "basket_to_cortex", "source": "basket", "target": "cortex", "connector": "all_to_all", "inhibitory_weight": 0.175, "inhibitory_tau_ms": 8.0},
    {"name": "memory_to_hippocampus", "source": "input", "target": "hippocampus", "connector": "detectors", "fan_in": 4},
    {"name": "hippocampus_to_recall", "source": "hippocampus", "target": "recall", "connector": "slots", "fan_in": 4, "weight": 0.6},
    {"name": "recall_readout", "source": "recall", "target": "output", "connector": "every_patch", "fan_out": 4, "weight": 0.05, "plastic": True},
)
# A random living sheet with the codec's patches (brain.layout = "sheet"): what the pathways are measured against.
_SHEET_REGIONS = (
    {"name": "input", "patches": 95, "patch_size": 0.0012, "living": True},
    {"name": "cortex", "size": "rest", "living": True},
    {"name": "output", "patches": 96, "patch_size": 0.0012, "living": True},
)
_SHEET_PATHWAYS = (
    {"name": "recurrent", "source": "*", "target": "*", "fan_out": 32, "weight": 0.03, "inhibitory_weight": 0.15},
    {"name": "neighbours", "source": "*", "target": "*", "connector": "neighbours", "weight": 0.02},
)
LAYOUT_TABLES: dict[str, dict[str, tuple[dict[str, Any], ...]]] = {
    "chat": {"regions": _CHAT_REGIONS, "pathways": _CHAT_PATHWAYS},
    "sheet": {"regions": _SHEET_REGIONS, "pathways": _SHEET_PATHWAYS},
    "custom": {"regions": (), "pathways": ()},
}

Overrides = tuple  # ((name, ((key, value), ...)), ...): declared tables, keys that differ from the layout's


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``Config()`` is the defaults.

    ``regions`` and ``pathways`` are what ``[[regions]]`` / ``[[pathways]]`` tables declared
    on top of ``brain.layout``'s own (keys equal to the layout's are dropped, so the same
    brain compares equal however it was written down); :attr:`region_specs` and
    :attr:`pathway_specs` are the effective lists.
    """

    brain: BrainSection = field(default_factory=BrainSection)
    neurons: NeuronSection = field(default_factory=NeuronSection)
    homeostasis: HomeostasisSection = field(default_factory=HomeostasisSection)
    plasticity: PlasticitySection = field(default_factory=PlasticitySection)
    codec: CodecSection = field(default_factory=CodecSection)
    renewal: RenewalSection = field(default_factory=RenewalSection)
    chemistry: ChemistrySection = field(default_factory=ChemistrySection)
    sleep: SleepSection = field(default_factory=SleepSection)
    hippocampus: HippocampusSection = field(default_factory=HippocampusSection)
    runtime: RuntimeSection = field(default_factory=RuntimeSection)
    regions: Overrides = ()
    pathways: Overrides = ()
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)  # "regions.x.size" -> where it was set

    def replace(self, **dotted: Any) -> "Config":
        """A copy with ``section.key`` values replaced, e.g. ``replace(**{"brain.neurons": 20000})``.

        Keys may also be given as ``section__key`` keyword arguments; a region's or
        pathway's key as ``regions.NAME.KEY`` / ``pathways.NAME.KEY``.
        """
        values = {key.replace("__", "."): value for key, value in dotted.items()}
        return _build([(values, "replace()")], base=self)

    @property
    def region_specs(self) -> tuple[RegionSpec, ...]:
        """The regions of this brain (not those left out with ``enabled = false``)."""
        return tuple(spec for spec in _effective(self, "regions") if spec.enabled)

    @property
    def pathway_specs(self) -> tuple[PathwaySpec, ...]:
        """The pathways of this brain (not those left out with ``enabled = false``, nor those from or onto a region left out)."""
        gone = {spec.name for spec in _effective(self, "regions") if not spec.enabled}
        return tuple(spec for spec in _effective(self, "pathways") if spec.enabled and spec.source not in gone and spec.target not in gone)

    def where(self, dotted: str) -> str:
        """Where a table key was set (for error messages)."""
        return self.sources.get(dotted) or self.sources.get(dotted.rsplit(".", 1)[0]) or f"brain.layout = {self.brain.layout!r}"


def _effective(config: Config, table: str) -> tuple:
    spec_type = TABLES[table]
    base = {item["name"]: item for item in LAYOUT_TABLES[config.brain.layout][table]}
    order = list(base)
    declared = dict(getattr(config, table))
    order += [name for name in declared if name not in base]
    return tuple(spec_type(**{**base.get(name, {}), **dict(declared.get(name, ())), "name": name}) for name in order)


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(Config) if f.name not in (*TABLES, "sources")}  # type: ignore[misc]


def section_fields(section: str) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(SECTIONS[section])}


def env_var(section: str, key: str) -> str:
    """The environment variable that sets ``section.key``."""
    if section == "brain":
        return f"BRAINCHAT_{key.upper()}"
    return f"BRAINCHAT_{section.upper()}_{key.upper()}"


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "brainchat" / "config.toml"


def user_data_folder() -> Path:
    """``$XDG_DATA_HOME/brainchat`` (``~/.local/share/brainchat`` when it is unset): history, conversation log."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "brainchat"


def load_config(
    config_file: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    user_file: str | os.PathLike | None = None,
) -> Config:
    """The effective configuration.

    ``overrides`` are command-line values keyed ``"section.key"``; ``None`` values are skipped.
    """
    environ = os.environ if environ is None else environ
    layers: list[tuple[dict[str, Any], str]] = []
    user = Path(user_file) if user_file is not None else user_config_path()
    local = Path(cwd or ".") / "config.toml"
    for path in (user, local):
        if path.is_file():
            layers.append((_read_toml(path), str(path)))
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        layers.append((_read_toml(path), str(path)))
    layers.append((_from_environ(environ), "environment"))
    if overrides:
        layers.append(({k: v for k, v in overrides.items() if v is not None}, "command line"))
    return _build(layers, base=Config())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    return _flatten(document, str(path))


def _flatten(document: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``{"section.key": value}``; ``[[regions]]`` / ``[[pathways]]`` tables as ``regions.NAME.key``."""
    flat: dict[str, Any] = {}
    for section, table in document.items():
        if section in TABLES and isinstance(table, list):
            if not all(isinstance(item, dict) for item in table):
                raise ConfigError(f"{source}: '{section}' must be [[{section}]] tables")
            seen = set()
            for item in table:
                name = item.get("name")
                if not isinstance(name, str) or not name:
                    raise ConfigError(f"{source}: a [[{section}]] table has no name (every region and pathway is named)")
                if name in seen:
                    raise ConfigError(f"{source}: two [[{section}]] tables are named '{name}'")
                seen.add(name)
                flat[f"{section}.{name}"] = None  # declared, even with no key of its own
                for key, value in item.items():
                    if key != "name":
                        flat[f"{section}.{name}.{key}"] = value
            continue
        if section in RETIRED:
            raise ConfigError(f"{source}: the [{section}] section is gone: {RETIRED[section]}")
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: unknown key '{section}' (every key belongs to a [section])")
        for key, value in table.items():
            flat[f"{section}.{key}"] = value
    return flat


# sections of brainchat before the regions (snapshot schema 2), and where their keys went
RETIRED = {
    "synapses": "the synapses are [[pathways]] tables now (fan_out, weight, inhibitory_weight); see config.toml and docs/model.md",
    "pathways": "the wiring is declared as [[regions]] and [[pathways]] tables now; see config.toml and docs/model.md",
    "sheet": "patch sizes are region keys now (regions 'input' and 'output': patch_size); see config.toml",
}


RUNTIME_KEYS = ("brain.device", "brain.cpu_kernels", "brain.gpu_kernels", "brain.cpu_threads", "brain.stats_interval", "brain.debug_log", "brain.snapshots",
                "brain.autosave", "brain.socket", "brain.socket_idle_seconds", "runtime.speed", "runtime.history")


def with_runtime_of(model: Config, runtime: Config) -> Config:
    """``model``'s brain (a snapshot's), run where and how ``runtime`` (this run) says.

    The keys in :data:`RUNTIME_KEYS` are about the running process, not the brain: they come
    from ``runtime``; everything else from ``model``.
    """
    values = {}
    for dotted in RUNTIME_KEYS:
        section, key = dotted.split(".")
        values[dotted] = getattr(getattr(runtime, section), key)
    return model.replace(**values)


def config_from_toml(text: str, source: str) -> Config:
    """A configuration from TOML text (as stored in a snapshot), over the defaults."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: the stored config is not valid TOML: {error}") from None
    return _build([(_flatten(document, source), source)], base=Config())


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for section in SECTIONS:
        for key in section_fields(section):
            name = env_var(section, key)
            if name in environ:
                values[f"{section}.{key}"] = environ[name]
    return values


def _build(layers: list[tuple[Mapping[str, Any], str]], base: Config) -> Config:
    merged: dict[str, dict[str, Any]] = {}
    tables: dict[str, dict[str, dict[str, Any]]] = {table: {name: dict(keys) for name, keys in getattr(base, table)} for table in TABLES}
    sources = dict(base.sources)
    for values, source in layers:
        for dotted, value in values.items():
            section, _, key = dotted.partition(".")
            if section in TABLES:
                name, _, key = key.partition(".")
                problem = _name(name)
                if problem:
                    raise ConfigError(f"config key '{dotted}' (from {source}): the name {name!r} {problem}")
                declared = tables[section].setdefault(name, {})
                sources.setdefault(f"{section}.{name}", source)
                if key:
                    fields = {f.name: f for f in dataclasses.fields(TABLES[section])}
                    if key not in fields or key == "name":
                        raise ConfigError(f"unknown config key '{dotted}' (from {source}); a {section[:-1]} has: {', '.join(f for f in fields if f != 'name')}")
                    declared[key] = _coerce(dotted, value, fields[key], source)
                    sources[dotted] = source
                continue
            if section not in SECTIONS or key not in section_fields(section):
                raise ConfigError(f"unknown config key '{dotted}' (from {source})")
            merged.setdefault(section, {})[key] = _coerce(dotted, value, section_fields(section)[key], source)
            sources[dotted] = source
    sections = {
        name: dataclasses.replace(getattr(base, name), **merged.get(name, {})) for name in SECTIONS
    }
    layout = sections["brain"].layout
    normalised = {}
    for table, declared in tables.items():
        defaults = {item["name"]: item for item in LAYOUT_TABLES[layout][table]}
        blank = TABLES[table]()
        kept = []
        for name, keys in declared.items():
            base_values = defaults.get(name, {})
            differ = {k: v for k, v in keys.items() if v != base_values.get(k, getattr(blank, k)) or type(v) is not type(base_values.get(k, getattr(blank, k)))}
            if differ or name not in defaults:  # a table of the layout's that changes nothing is the layout's
                kept.append((name, tuple(sorted(differ.items()))))
        normalised[table] = tuple(kept)
    config = Config(**sections, **normalised, sources=sources)
    _check_together(config)
    return config


def _check_together(config: Config) -> None:
    """Constraints between keys, checked once all sources are merged."""
    from brainchat.model.regions import LayoutError, resolve

    try:
        resolve(config)
    except LayoutError as error:
        keys = " and ".join(f"'{key}'" for key in error.keys)
        where = config.where(error.keys[0]) if error.keys else "the defaults"
        raise ConfigError(f"config key{'s' if len(error.keys) > 1 else ''} {keys} (from {where}): {error}") from None


def _coerce(dotted: str, value: Any, spec: dataclasses.Field, source: str) -> Any:
    kind = type(spec.default)
    where = f"config key '{dotted}' (from {source})"
    if dotted.endswith(".parameters") and isinstance(value, dict):  # parameters = {b_pA = 30}
        value = ", ".join(f"{name}={number}" for name, number in value.items())
    if dotted.endswith((".size", ".patch_size")):  # a count, a share or "rest"
        if isinstance(value, str) and value != "rest":
            value = _parse_text(value, float if "." in value else int, where)
        kind = type(value) if type(value) in (int, float, str) else kind
    if isinstance(value, str) and kind is not str:
        value = _parse_text(value, kind, where)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if type(value) is not kind:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ConfigError(f"{where}: {value!r} is not a finite number")
    check = spec.metadata.get("check")
    problem = check(value) if check else None
    if problem:
        raise ConfigError(f"{where} = {value!r} {problem}")
    return value


def _parse_text(text: str, kind: type, where: str) -> Any:
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        return kind(text.strip().replace("_", ""))
    except ValueError:
        raise ConfigError(f"{where}: expected {kind.__name__}, got {text!r}") from None


def as_dict(config: Config) -> dict[str, Any]:
    values: dict[str, Any] = {name: dataclasses.asdict(getattr(config, name)) for name in SECTIONS}
    values["regions"] = [dataclasses.asdict(spec) for spec in config.region_specs]
    values["pathways"] = [dataclasses.asdict(spec) for spec in config.pathway_specs]
    return values


def render_toml(config: Config | None = None, *, commented: bool = False) -> str:
    """The configuration as TOML with a comment per key.

    ``render_toml(commented=True)`` is ``config.toml``: every key with its default, commented
    out, so that the file documents the settings without overriding a user's own file. The
    layout's regions and pathways follow as commented ``[[regions]]`` / ``[[pathways]]``
    tables; ``render_toml(config)`` (what a snapshot stores) writes every table with every key.
    """
    config = config or Config()
    prefix = "# " if commented else ""
    lines = [
        "# brainchat configuration: every key, with its default value commented out."
        if commented
        else "# brainchat configuration: the effective settings.",
        "# Precedence: command line > BRAINCHAT_* environment > --config FILE > ./config.toml",
        "# > $XDG_CONFIG_HOME/brainchat/config.toml > built-in defaults. Unknown keys are an error.",
    ]
    for section in SECTIONS:
        doc = (SECTIONS[section].__doc__ or "").strip().splitlines()[0]
        lines += ["", f"# {doc}", f"[{section}]"]
        for key, spec in section_fields(section).items():
            lines.append(f"# {spec.metadata['doc']}  (env {env_var(section, key)})")
            lines.append(f"{prefix}{key} = {_toml_value(getattr(getattr(config, section), key))}")
    for table in TABLES:
        specs = _effective(config, table)  # with the pathways left out, so that the text means the same brain
        spec_type = TABLES[table]
        blank = spec_type()
        lines += ["", f"# {(spec_type.__doc__ or '').strip().splitlines()[0]}"]
        if commented:
            lines.append("# A table named as one of the layout's changes the keys it gives; a new name adds one. Keys:")
            lines += [f"#   {f.name}: {f.metadata['doc']} (default {_toml_value(f.default)})" for f in dataclasses.fields(spec_type) if f.name != "name"]
        for spec in specs:
            lines += [f"{prefix}[[{table}]]"]
            for f in dataclasses.fields(spec_type):
                value = getattr(spec, f.name)
                if f.name == "name" or not commented or value != getattr(blank, f.name):
                    lines.append(f"{prefix}{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    return repr(value)
