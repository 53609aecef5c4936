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

    neurons: int = _setting(200_000, "number of neurons on the sheet", _at_least(1000))
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
    """Leaky integrate-and-fire neurons with an adaptive threshold (dt = 1 ms).

    Potentials are in units of the resting threshold (``threshold_rest = 1``).
    """

    excitatory_fraction: float = _setting(0.8, "fraction of neurons that are excitatory", _open_fraction)
    membrane_tau_ms: float = _setting(20.0, "membrane time constant, ms", _at_least(1.0))
    refractory_ms: int = _setting(2, "absolute refractory period after a spike, ms", _between(0, 1000))
    threshold_rest: float = _setting(1.0, "firing threshold before adaptation", _positive)
    reset: float = _setting(0.0, "membrane potential after a spike")
    threshold_jump: float = _setting(0.05, "threshold increase per spike (fast adaptation)", _non_negative)
    threshold_tau_ms: float = _setting(100.0, "decay time constant of the fast threshold adaptation, ms", _at_least(1.0))
    noise_sigma: float = _setting(0.2, "standard deviation of the membrane noise per step", _non_negative)


@dataclass(frozen=True)
class SynapseSection:
    """Fixed fan-out random recurrent synapses plus local excitation on the sheet."""

    per_neuron: int = _setting(32, "random outgoing synapses of every neuron (targets[N, K])", _at_least(1))
    weight_excitatory: float = _setting(0.03, "weight of an excitatory synapse (jump of the target's membrane)", _non_negative)
    weight_inhibitory: float = _setting(0.15, "magnitude of an inhibitory synapse's weight (applied negative)", _non_negative)
    neighbour_weight: float = _setting(0.02, "weight from an excitatory neuron to each of its 4 sheet neighbours", _non_negative)


@dataclass(frozen=True)
class PathwaySection:
    """The wiring that lets the brain hold a line and learn replies (see brainchat.model.synapses)."""

    enabled: bool = _setting(True, "working memory, association band and a readout onto the output patches; false = a purely random sheet")
    memory_weight: float = _setting(4.0, "weight of the synapses from each working-memory neuron to the next phase of its patch's loop", _non_negative)
    places: int = _setting(4, "the working memory holds each character with its place in the line, modulo this (fewer on small sheets: units keep 12+ neurons)", _between(1, 16))
    association_inputs: int = _setting(2, "synapses each association neuron gets from its one memory unit (a character at a place)", _at_least(0))
    memory_association_weight: float = _setting(1.2, "their weight (a memory neuron fires every third step)", _non_negative)
    memory_to_cortex: float = _setting(0.1, "weight of the working-memory neuron's other synapses, onto random cortex neurons", _non_negative)
    association_fraction: float = _setting(0.6, "fraction of the cortex rows that form the association band", _open_fraction)
    association_inhibition: float = _setting(2.0, "tonic inhibition of association neurons per step, lifted in one sector by the gate: only memory input and the gate together fire them", _non_negative)
    positions: int = _setting(9, "sectors of the association band, one per reply position: the characters of the longest reply and its end", _between(2, 64))
    readout_synapses: int = _setting(32, "of each association neuron's synapses, how many go to random output neurons (they learn)", _at_least(0))
    readout_weight: float = _setting(1.0, "starting weight of a readout synapse", _non_negative)
    output_threshold: float = _setting(0.0, "threshold offset of the output patches (no homeostasis there): quiet unless the readout drives them", _non_negative)


@dataclass(frozen=True)
class HomeostasisSection:
    """Per-neuron threshold adaptation and a global drive controller."""

    target_fraction: float = _setting(0.05, "target fraction of neurons firing per step", _open_fraction)
    threshold_rate: float = _setting(0.002, "homeostatic threshold change per surplus spike", _non_negative)
    threshold_interval: int = _setting(10, "steps between two homeostatic threshold updates", _between(1, 10_000))
    drive_gain: float = _setting(0.02, "integral gain of the drive controller, per step and unit of fraction error", _non_negative)
    drive_initial: float = _setting(0.0, "global drive at start", _non_negative)
    drive_max: float = _setting(1.0, "upper bound of the global drive", _positive)


@dataclass(frozen=True)
class SheetSection:
    """Layout of the 2-D sheet: input patches at the top, output patches at the bottom."""

    patch_band_fraction: float = _setting(0.1, "fraction of the sheet's rows given to each of the input and output bands", _open_fraction)


@dataclass(frozen=True)
class PlasticitySection:
    """Reward learning: STDP eligibility traces and dopamine (Izhikevich 2007; brainchat/model/plasticity.py)."""

    enabled: bool = _setting(True, "learn from rewards at all")
    plastic: str = _setting("output", '"output": excitatory synapses onto output patches learn; "all": every excitatory synapse', _one_of("output", "all"))
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
    teach_dopamine: float = _setting(1.0, "dopamine given after each teaching (/teach), as a reward of this strength", _non_negative)


@dataclass(frozen=True)
class CodecSection:
    """How a typed line becomes stimulus and output spikes become a reply (brainchat/io/codec.py)."""

    char_steps: int = _setting(20, "steps each character of a line is presented on its input patch", _at_least(1))
    stimulus_current: float = _setting(1.0, "membrane jump per step on the neurons of the presented character's patch", _positive)
    gap_steps: int = _setting(20, "steps without input between the end of a line and the first reply window", _non_negative)
    window_steps: int = _setting(20, "steps per reply window; the busiest output patch of a window is one character", _at_least(1))
    silence_rate: float = _setting(0.01, "below this many spikes per neuron per step the busiest output patch is silence (ends the reply)", _non_negative)
    max_reply_chars: int = _setting(8, "longest reply, in characters (with the pathways: at most pathways.positions - 1)", _at_least(1))
    max_line_chars: int = _setting(200, "longer typed lines are cut to this many characters", _at_least(1))
    reset_steps: int = _setting(5, "steps of inhibition on the working memory before a line, so it holds only that line", _at_least(0))
    reset_current: float = _setting(30.0, "magnitude of that inhibition per step", _non_negative)
    gate_current: float = _setting(2.0, "membrane jump per step on the association sector of the reply position being read (lifts its tonic inhibition)", _non_negative)
    teach_current: float = _setting(0.5, "membrane jump per step on the output patch of the character being taught", _non_negative)
    echo_steps: int = _setting(10, "after each reply window, steps its winning patch is driven as in teaching (what a reward will act on); 0 = off", _at_least(0))
    teach_only_mistakes: bool = _setting(True, "a teaching first lets the brain answer; a right answer is left alone, a wrong one is punished before the reply is taught (error-driven, like the perceptron rule)")
    teach_inhibition: float = _setting(20.0, "membrane drop per step on every other output patch meanwhile (the teacher's winner-take-all)", _non_negative)


@dataclass(frozen=True)
class RuntimeSection:
    """The stepping thread."""

    speed: float = _setting(1.0, "brain ms per wall-clock ms; 0 = as fast as the machine can", _non_negative)
    history: str = _setting("", "REPL history file; empty = $XDG_DATA_HOME/brainchat/history")


@dataclass(frozen=True)
class Config:
    """The whole configuration; ``Config()`` is the defaults."""

    brain: BrainSection = field(default_factory=BrainSection)
    neurons: NeuronSection = field(default_factory=NeuronSection)
    synapses: SynapseSection = field(default_factory=SynapseSection)
    pathways: PathwaySection = field(default_factory=PathwaySection)
    homeostasis: HomeostasisSection = field(default_factory=HomeostasisSection)
    sheet: SheetSection = field(default_factory=SheetSection)
    plasticity: PlasticitySection = field(default_factory=PlasticitySection)
    codec: CodecSection = field(default_factory=CodecSection)
    runtime: RuntimeSection = field(default_factory=RuntimeSection)

    def replace(self, **dotted: Any) -> "Config":
        """A copy with ``section.key`` values replaced, e.g. ``replace(**{"brain.neurons": 20000})``.

        Keys may also be given as ``section__key`` keyword arguments.
        """
        values = {key.replace("__", "."): value for key, value in dotted.items()}
        return _build([(values, "replace()")], base=self)


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(Config)}  # type: ignore[misc]


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
    flat: dict[str, Any] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: unknown key '{section}' (every key belongs to a [section])")
        for key, value in table.items():
            flat[f"{section}.{key}"] = value
    return flat


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
    flat = {f"{section}.{key}": value for section, table in document.items() if isinstance(table, dict) for key, value in table.items()}
    return _build([(flat, source)], base=Config())


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
    for values, source in layers:
        for dotted, value in values.items():
            section, _, key = dotted.partition(".")
            if section not in SECTIONS or key not in section_fields(section):
                raise ConfigError(f"unknown config key '{dotted}' (from {source})")
            merged.setdefault(section, {})[key] = _coerce(dotted, value, section_fields(section)[key], source)
    sections = {
        name: dataclasses.replace(getattr(base, name), **merged.get(name, {})) for name in SECTIONS
    }
    config = Config(**sections)
    _check_together(config)
    return config


def _check_together(config: Config) -> None:
    """Constraints between keys, checked once all sources are merged."""
    from brainchat.model.geometry import layout

    if config.pathways.enabled and config.pathways.positions < config.codec.max_reply_chars + 1:
        raise ConfigError(
            f"config keys 'pathways.positions' = {config.pathways.positions} and 'codec.max_reply_chars' = "
            f"{config.codec.max_reply_chars} do not fit together: each reply character and the end need a sector of their own "
            f"(positions >= max_reply_chars + 1)"
        )

    try:
        layout(config.brain.neurons, config.sheet.patch_band_fraction)
    except ValueError as error:
        raise ConfigError(
            f"config keys 'brain.neurons' = {config.brain.neurons} and 'sheet.patch_band_fraction' = "
            f"{config.sheet.patch_band_fraction} do not fit together: {error}"
        ) from None


def _coerce(dotted: str, value: Any, spec: dataclasses.Field, source: str) -> Any:
    kind = type(spec.default)
    where = f"config key '{dotted}' (from {source})"
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


def as_dict(config: Config) -> dict[str, dict[str, Any]]:
    return dataclasses.asdict(config)


def render_toml(config: Config | None = None, *, commented: bool = False) -> str:
    """The configuration as TOML with a comment per key.

    ``render_toml(commented=True)`` is ``config.toml``: every key with its default, commented
    out, so that the file documents the settings without overriding a user's own file.
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
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    return repr(value)
