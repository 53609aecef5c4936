"""Snapshots: a brain's whole state in one HDF5 file, written atomically, checked before use.

The schema (``docs/snapshot-format.md``): root attributes ``format = "brainchat"``,
``schema_version``, ``brainchat_version``, ``created_utc``, ``step``, ``seed``, ``neurons``,
``device``, ``dtype``, ``config`` (the full configuration as TOML), ``vitals_pending``; one
dataset per entry of :meth:`brainchat.model.brain.Brain.state_arrays`, grouped as there
(``neurons/``, ``homeostasis/``, ``plasticity/``, ``neuromodulators/``, ``vitals/``, and
``pathways/NAME/`` with each pathway's ``targets``, ``weights`` and ``lengths``); a
``regions`` group with a group per region whose attributes say its id range, model and
kind (the regions and pathways by name, for anyone reading the file); a ``history`` group
(rewards received as ``[step, value]`` rows, steps lived); an ``rng`` group whose attributes
say how the noise is drawn (counter-based: seed and step are the whole generator state).

Writing goes to a hidden temporary file in the same folder, is flushed and fsynced, then
``os.replace``-d over the real name, and the folder is fsynced: a crash or a full disk never
leaves a half-written snapshot under the real name. No pickle anywhere.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from brainchat import __version__
from brainchat.config import Config, config_from_toml, render_toml
from brainchat.errors import ConfigError, SnapshotError
from brainchat.model.regions import LayoutError, resolve
from brainchat.persistence import schema2

FORMAT = "brainchat"
SCHEMA_VERSION = 6  # 2: the working memory, association band and end patch (regions 0-191); 3: regions and pathways; 4: the chat layout's basket cells; 5: all_to_all pathways and the sleep pressure; 6: the hippocampus (LAYOUT_ADDITIONS: an older chat file loads with what the layout gained since left out), so that an older brainchat refuses a file it cannot read in one line
SUFFIX = ".h5"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def snapshot_path(folder: str | os.PathLike, name: str) -> Path:
    """``folder/NAME.h5``; a name is letters, digits, ``_ . -`` (no paths), ``.h5`` optional."""
    if name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
    if not _NAME.match(name):
        raise SnapshotError(f"'{name}' is not a snapshot name: use letters, digits, '_', '.' and '-' (at most 100)")
    return Path(folder).expanduser() / f"{name}{SUFFIX}"


def timestamp_name() -> str:
    """A default snapshot name from the current UTC time, e.g. ``2026-11-23T15-30-12Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H-%M-%SZ")


@dataclass
class Snapshot:
    """A brain's state on the host: what is written and what is read back."""

    config: Config
    step: int
    vitals_pending: int
    arrays: dict[str, np.ndarray]
    device: str = "cpu"
    rewards: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=np.float64))  # [step, value] rows
    created_utc: str = ""
    brainchat_version: str = __version__
    converted: str = ""  # from which older schema it was converted on reading, e.g. "schema 2"
    # what a program built on the brain keeps beside it (the digit classifier's labels and
    # training history): arrays under history/, text as attributes of history/
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def neurons(self) -> int:
        return self.config.brain.neurons


def capture(brain: Any, rewards: np.ndarray | None = None) -> Snapshot:
    """Copy the brain's state to the host: call it on the thread that steps the brain.

    This is the only pause a save costs. The connectivity targets never change after the
    build, so they are shared, not copied.
    """
    to_host = brain.backend.to_host
    arrays = {}
    for name, array in brain.state_arrays().items():
        immutable = name.endswith(("/targets", "/lengths")) or name == "neurons/memory_phase"
        if isinstance(array, np.ndarray):
            arrays[name] = array if immutable else array.copy()
        else:
            arrays[name] = to_host(array)
    return Snapshot(
        config=brain.config,
        step=brain.step_count,
        vitals_pending=brain.recorder.pending,
        arrays=arrays,
        device=brain.backend.device,
        rewards=np.zeros((0, 2)) if rewards is None else np.asarray(rewards, dtype=np.float64).reshape(-1, 2),
    )


def write(snapshot: Snapshot, path: str | os.PathLike) -> int:
    """Write atomically; returns the size in bytes. Raises :class:`SnapshotError` on failure."""
    import h5py

    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SnapshotError(f"cannot create the snapshot folder {final.parent}: {error.strerror}") from None
    temporary = final.parent / f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    # HDF5 builds the file in memory; plain Python writes it out. When HDF5 itself met a full
    # disk it crashed the process in h5py's cleanup (seen: SIGSEGV after EFBIG); from Python
    # the same failure is an OSError like any other.
    image = io.BytesIO()
    with h5py.File(image, "w") as handle:
        attrs = handle.attrs
        attrs["format"] = FORMAT
        attrs["schema_version"] = SCHEMA_VERSION
        attrs["brainchat_version"] = __version__
        attrs["created_utc"] = created
        attrs["step"] = snapshot.step
        attrs["seed"] = snapshot.config.brain.seed
        attrs["neurons"] = snapshot.neurons
        attrs["device"] = snapshot.device
        attrs["dtype"] = snapshot.config.brain.dtype
        attrs["config"] = render_toml(snapshot.config)
        attrs["vitals_pending"] = snapshot.vitals_pending
        layout = resolve(snapshot.config)
        for region in layout.regions:
            group = handle.create_group(f"regions/{region.name}")
            group.attrs.update({"first_id": region.start, "stop_id": region.stop, "model": region.spec.model, "living": region.living,
                                "patches": region.spec.patches, "sectors": region.spec.sectors, "width": region.width})
        for spec in layout.pathways:
            group = handle.require_group(f"pathways/{spec.name}")
            group.attrs.update({"source": spec.source, "target": spec.target, "connector": spec.connector,
                                "plastic": spec.plastic and snapshot.config.plasticity.enabled})
        for name, array in snapshot.arrays.items():
            if array.ndim == 0:
                handle.create_dataset(name, data=array)
            else:
                handle.create_dataset(name, data=array, chunks=True, compression="gzip", compression_opts=1, shuffle=True)
        history = handle.create_group("history")
        history.create_dataset("rewards", data=snapshot.rewards.reshape(-1, 2), maxshape=(None, 2), chunks=(256, 2))
        history.attrs["steps_lived"] = snapshot.step
        for name, array in snapshot.extras.items():
            history.create_dataset(name, data=np.asarray(array))
        for name, text in snapshot.notes.items():
            history.attrs[f"note_{name}"] = str(text)
        rng = handle.create_group("rng")
        rng.attrs["kind"] = "counter-based: SplitMix64 finaliser of (step << 32 | neuron) keyed by the seed"
        rng.attrs["seed"] = snapshot.config.brain.seed
        rng.attrs["step"] = snapshot.step
    try:
        with open(temporary, "wb") as out:
            out.write(image.getbuffer())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, final)
        _fsync_folder(final.parent)
    except BaseException as error:
        try:
            temporary.unlink()
        except OSError:
            pass
        if isinstance(error, OSError):
            raise SnapshotError(f"cannot write snapshot {final}: {error.strerror or error}") from None
        raise
    snapshot.created_utc = created
    return final.stat().st_size


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def read(path: str | os.PathLike) -> Snapshot:
    """Read and check a snapshot: format, schema version, config, and every array's shape.

    Raises :class:`SnapshotError` with one line for a missing, truncated, foreign, newer or
    inconsistent file. Whether it fits a particular running brain is checked on restore.
    """
    import h5py

    source = Path(path)
    if not source.is_file():
        raise SnapshotError(f"no snapshot at {source}")
    try:
        with h5py.File(source, "r") as handle:
            attrs = dict(handle.attrs)
            if attrs.get("format") != FORMAT:
                raise SnapshotError(f"{source} is an HDF5 file but not a brainchat snapshot")
            version = int(attrs.get("schema_version", -1))
            if version > SCHEMA_VERSION:
                raise SnapshotError(
                    f"{source} has snapshot schema {version}, newer than this brainchat's {SCHEMA_VERSION}; upgrade brainchat"
                )
            if version < 1:
                raise SnapshotError(f"{source} has no valid schema_version")
            if version < 2:
                raise SnapshotError(
                    f"{source} has snapshot schema {version}, from a brainchat before the working memory and the "
                    f"learning readout (schema 2); its brain cannot be carried over"
                )
            step = int(attrs["step"])
            arrays: dict[str, np.ndarray] = {}

            def collect(name: str, item: Any) -> None:
                if isinstance(item, h5py.Dataset) and not name.startswith(("history/", "rng/")):
                    arrays[name] = item[()]

            handle.visititems(collect)
            rewards = handle["history/rewards"][()] if "history/rewards" in handle else np.zeros((0, 2))
            extras, notes = {}, {}
            if "history" in handle:
                extras = {name: np.asarray(item[()]) for name, item in handle["history"].items() if name != "rewards" and isinstance(item, h5py.Dataset)}
                notes = {key[5:]: str(value) for key, value in handle["history"].attrs.items() if key.startswith("note_")}
        converted = ""
        if version == 2:
            config, arrays = schema2.convert(str(attrs["config"]), arrays, f"{source}")
            converted = "schema 2"
        elif version < SCHEMA_VERSION:
            text, converted = _older_layout(str(attrs["config"]), version, source)
            config = config_from_toml(text, f"{source}")
        else:
            config = config_from_toml(str(attrs["config"]), f"{source}")
        snapshot = Snapshot(
            config=config,
            step=step,
            vitals_pending=int(attrs.get("vitals_pending", 0)),
            arrays={name: np.asarray(value) for name, value in arrays.items()},
            device=str(attrs.get("device", "cpu")),
            rewards=np.asarray(rewards, dtype=np.float64).reshape(-1, 2),
            created_utc=str(attrs.get("created_utc", "")),
            brainchat_version=str(attrs.get("brainchat_version", "")),
            converted=converted,
            extras=extras,
            notes=notes,
        )
    except (SnapshotError, ConfigError):
        raise
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise SnapshotError(f"{source} is not a readable snapshot ({_first_line(error)})") from None
    _check_shapes(snapshot, source)
    return snapshot


# regions the chat layout gained, and the schema that brought them: a chat brain of an older
# schema is today's layout with them left out (its config lists every other table in full)
LAYOUT_ADDITIONS = ((4, ("basket",), "basket cells"), (6, ("hippocampus", "recall"), "a hippocampus"))


def _older_layout(text: str, version: int, source: Path) -> tuple[str, str]:
    """A config of schema ``version`` as the same brain now: (TOML, what was converted: "" if nothing).

    A chat brain of schema 3 is today's chat layout without the ``basket`` region, one of
    schema 3-5 without the ``hippocampus`` and ``recall`` regions (and so without their
    pathways): the conversion declares them left out, and nothing else changes. Another
    layout is kept as it is; a chat config that declared a region of its own by one of those
    names is refused in one line (today that name would change the layout's region).
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return text, ""  # config_from_toml says what is wrong with it
    brain, regions = document.get("brain", {}), document.get("regions", [])
    if not isinstance(brain, dict) or not isinstance(regions, list) or not all(isinstance(table, dict) for table in regions):
        return text, ""  # not a config of ours: config_from_toml says why
    if brain.get("layout", "chat") != "chat":
        return text, ""
    declared = {table.get("name") for table in regions}
    for since, names, what in LAYOUT_ADDITIONS:
        if version >= since:
            continue
        for name in names:
            if name in declared:
                raise SnapshotError(f"{source}: its config declares a region named {name!r}, a name the chat layout has used for {what} since schema {since}; "
                                    f"this brainchat cannot load it as it was (rename the region in a brainchat of schema {version} and save again)")
        text = text.rstrip("\n") + f"\n\n# converted from snapshot schema {version}: the chat layout had no {what} then\n"
        text += "".join(f'[[regions]]\nname = "{name}"\nenabled = false\n' for name in names)
    return text, f"schema {version}"


def _check_shapes(snapshot: Snapshot, source: Path) -> None:
    """Every array its config implies, of the right shape; every synapse onto its pathway's target region."""
    n = snapshot.neurons
    try:
        layout = resolve(snapshot.config)
    except LayoutError as error:
        raise SnapshotError(f"{source}: its config describes no brain this version can build ({error})") from None
    expected = {f"neurons/{name}": (n,) for name in ("membrane", "threshold_fast", "threshold_homeostatic", "refractory", "excitatory", "memory_phase")}
    expected["homeostasis/drive"] = (len(layout.regions),)
    if any(region.spec.model != "lif" for region in layout.regions):
        expected["neurons/recovery"] = (n,)
    for name, shape in expected.items():
        if name not in snapshot.arrays:
            raise SnapshotError(f"{source} lacks {name}")
        if tuple(snapshot.arrays[name].shape) != shape:
            raise SnapshotError(f"{source}: {name} has shape {snapshot.arrays[name].shape}, its config says {shape}")
    dtype = np.dtype(snapshot.config.brain.dtype)
    if snapshot.arrays["neurons/membrane"].dtype != dtype:
        raise SnapshotError(f"{source}: membranes are {snapshot.arrays['neurons/membrane'].dtype}, its config says {dtype}")
    for spec in layout.pathways:
        prefix = f"pathways/{spec.name}"
        parts = [snapshot.arrays.get(f"{prefix}/{part}") for part in ("targets", "weights", "lengths")]
        if any(part is None for part in parts):
            raise SnapshotError(f"{source} lacks the synapses of pathway {spec.name!r}")
        targets, weights, lengths = parts
        lo, hi = layout.span(spec.source)
        t_lo, t_hi = layout.span(spec.target)
        if targets.ndim != 2 or targets.shape != weights.shape or targets.shape[0] != hi - lo or lengths.shape != (hi - lo,):
            raise SnapshotError(f"{source}: pathway {spec.name!r} has synapses of shape {targets.shape}, its source region {hi - lo} neurons")
        if lengths.size and (lengths.min() < 0 or lengths.max() > targets.shape[1]):
            raise SnapshotError(f"{source}: pathway {spec.name!r} has rows longer than its {targets.shape[1]} slots")
        live = targets[np.arange(targets.shape[1])[None, :] < lengths[:, None]]
        if live.size and (live.min() < t_lo or live.max() >= t_hi):
            raise SnapshotError(f"{source}: pathway {spec.name!r} has synapses outside its target region {spec.target!r} (ids {t_lo}..{t_hi - 1})")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


@dataclass(frozen=True)
class SnapshotInfo:
    """What ``brainchat snapshots`` lists, read from the root attributes only."""

    name: str
    path: Path
    created_utc: str
    neurons: int
    steps: int
    rewards: int
    size: int
    problem: str = ""


def list_snapshots(folder: str | os.PathLike) -> list[SnapshotInfo]:
    """Every ``*.h5`` in ``folder`` (not the hidden temporaries), newest first; broken ones say why."""
    import h5py

    base = Path(folder).expanduser()
    if not base.is_dir():
        return []
    found = []
    for path in base.glob(f"*{SUFFIX}"):
        if path.name.startswith(".") or not path.is_file():
            continue
        try:
            size = path.stat().st_size
            with h5py.File(path, "r") as handle:
                attrs = handle.attrs
                if attrs.get("format") != FORMAT:
                    raise ValueError("not a brainchat snapshot")
                rewards = handle["history/rewards"].shape[0] if "history/rewards" in handle else 0
                found.append(SnapshotInfo(path.stem, path, str(attrs["created_utc"]), int(attrs["neurons"]), int(attrs["step"]), int(rewards), size))
        except (OSError, KeyError, ValueError, TypeError) as error:
            found.append(SnapshotInfo(path.stem, path, "", 0, 0, 0, 0, _first_line(error)))
    return sorted(found, key=lambda info: (info.created_utc, info.name), reverse=True)
