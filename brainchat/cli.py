"""The ``brainchat`` command line (Typer). ``python -m brainchat`` is the same program.

Every error a user can cause ends in one line on stderr and a non-zero exit code
(:mod:`brainchat.errors`); machine-readable output (``--json``) goes alone to stdout.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import typer
from typer.core import TyperGroup
from rich import box
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from brainchat import __version__
from brainchat.backend import Backend, select_backend
from brainchat.config import Config, load_config, render_toml, with_runtime_of
from brainchat.errors import BrainchatError, ConfigError, SnapshotError
from brainchat.model.brain import Brain
from brainchat.model.vitals import Vitals

stdout = Console()
stderr = Console(stderr=True)


class _Commands(TyperGroup):
    """Turns a :class:`BrainchatError` from any command into one line on stderr and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BrainchatError as error:
            stderr.print(f"brainchat: error: {error}", highlight=False, markup=False, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=_Commands,
    name="brainchat",
    help="A living spiking brain you talk to from a terminal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class GlobalOptions:
    config_file: Optional[Path]
    device: Optional[str]


def _version(value: bool) -> None:
    if value:
        print(f"brainchat {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    config_file: Optional[Path] = typer.Option(
        None, "--config", help="Read settings from this TOML file (see config.toml).", envvar="BRAINCHAT_CONFIG", show_envvar=True
    ),
    device: Optional[str] = typer.Option(None, "--device", metavar="auto|cpu|gpu", help='Where to step (env BRAINCHAT_DEVICE).'),
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version, is_eager=True),
) -> None:
    """A living spiking brain you talk to from a terminal."""
    ctx.obj = GlobalOptions(config_file, device)


def _config(ctx: typer.Context, **overrides: Any) -> Config:
    options: GlobalOptions = ctx.obj
    if overrides.get("brain.device") is None:
        overrides["brain.device"] = options.device
    return load_config(options.config_file, overrides)


def _backend(config: Config, announce: bool = True) -> Backend:
    backend = select_backend(config.brain.device)
    if announce:
        if backend.is_gpu:
            kernels = " with fused CUDA kernels" if config.brain.gpu_kernels == "fused" and config.brain.dtype != "float16" else " with CuPy array kernels"
        else:
            kernels = f" with {config.brain.cpu_kernels} kernels" if config.brain.dtype != "float16" else " with numpy kernels (float16)"
        note = f"; no GPU: {backend.note}" if backend.note else ""
        stderr.print(f"brainchat: stepping on {backend.description}{kernels}{note}", highlight=False, markup=False, soft_wrap=True)
    return backend


NEURONS = typer.Option(None, "--neurons", "-n", metavar="N", help="Neurons on the sheet (env BRAINCHAT_NEURONS; default 200,000).")
SEED = typer.Option(None, "--seed", metavar="X", help="Seed of connectivity and noise (env BRAINCHAT_SEED; default 0).")
DEVICE = typer.Option(None, "--device", metavar="auto|cpu|gpu", help='"auto", "cpu" or "gpu" (env BRAINCHAT_DEVICE).')
DTYPE = typer.Option(None, "--dtype", metavar="float16|float32|float64", help='"float16", "float32" or "float64" (env BRAINCHAT_DTYPE).')
AUTOSAVE = "autosave"
SOCKET = typer.Option(None, "--socket", metavar="PATH", help="Control socket (env BRAINCHAT_SOCKET; default in $XDG_RUNTIME_DIR).")
SNAPSHOTS = typer.Option(None, "--snapshots", metavar="DIR", help="Folder of the snapshots (env BRAINCHAT_SNAPSHOTS; default ./checkpoints).")
KERNELS = typer.Option(
    None, "--cpu-kernels", metavar="numba|numpy", help='CPU step: fused "numba" kernel or the "numpy" reference (env BRAINCHAT_CPU_KERNELS).'
)
JSON_OBJECT = typer.Option(False, "--json", help="One JSON object.")


def _brain_options(neurons: Optional[str], seed: Optional[str], device: Optional[str], dtype: Optional[str], kernels: Optional[str]) -> dict:
    return {"brain.neurons": neurons, "brain.seed": seed, "brain.device": device, "brain.dtype": dtype, "brain.cpu_kernels": kernels}


@app.command()
def vitals(
    ctx: typer.Context,
    neurons: Optional[str] = NEURONS,
    steps: int = typer.Option(5000, "--steps", "-s", min=1, help="Steps (ms of brain time) to run."),
    seed: Optional[str] = SEED,
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE,
    cpu_kernels: Optional[str] = KERNELS,
    warmup: int = typer.Option(2000, "--warmup", min=0, help="Steps left out of the firing min/max (settling time)."),
    every: int = typer.Option(500, "--every", min=1, help="Steps per row of the table."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout instead of tables."),
) -> None:
    """Run the brain headless for a while and report how alive it is (firing, thresholds, speed)."""
    config = _config(ctx, **_brain_options(neurons, seed, device, dtype, cpu_kernels))
    backend = _backend(config)
    with Brain(config, backend) as brain:
        records, interrupted = _run_vitals(brain, steps, every, as_json)
        kernels = brain.kernels
        finite = bool(backend.to_host(backend.xp.isfinite(brain.neurons.membrane).all()))
    report = _vitals_report(config, backend, kernels, records, warmup, finite, interrupted)
    if as_json:
        print(_json(report))
    else:
        _print_summary(report)


def _run_vitals(brain: Brain, steps: int, every: int, quiet: bool) -> tuple[list[Vitals], bool]:
    """Step ``brain`` ``steps`` times; a live table (or, with ``quiet``, a progress bar on stderr)."""
    records: list[Vitals] = []
    table = _vitals_table()
    pending: list[Vitals] = []
    display: Any
    if quiet:
        display = Progress(
            TextColumn("stepping"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True
        )
        task = display.add_task("steps", total=steps)
    else:
        display = Live(table, console=stdout, auto_refresh=False, vertical_overflow="visible")
    interrupted = False
    with display:
        try:
            done = 0
            while done < steps:
                chunk = min(brain.recorder.interval - brain.recorder.pending, steps - done)
                fresh = brain.run(chunk)
                done += chunk
                if done == steps and brain.recorder.pending:
                    fresh.append(brain.read_vitals())
                records += fresh
                pending += fresh
                if quiet:
                    display.update(task, completed=done)
                elif pending and (sum(v.steps for v in pending) >= every or done == steps):
                    table.add_row(*_row(pending))
                    pending = []
                    display.refresh()
        except KeyboardInterrupt:
            interrupted = True
    return records, interrupted


def _vitals_table() -> Table:
    table = Table(title="brain vitals", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("step", "brain s", "fire %", "min %", "max %", "thresh", "drive", "ms/step", "speed"):
        table.add_column(name, justify="right", no_wrap=True)
    return table


def _row(records: list[Vitals]) -> list[str]:
    fractions = np.concatenate([v.firing_fraction for v in records])
    wall = sum(v.wall_seconds for v in records)
    steps = sum(v.steps for v in records)
    last = records[-1]
    ms = 1000 * wall / steps
    return [
        f"{last.step:,}",
        f"{last.step / 1000:.1f}",
        f"{100 * fractions.mean():.2f}",
        f"{100 * fractions.min():.2f}",
        f"{100 * fractions.max():.2f}",
        f"{last.mean_threshold:.3f}",
        f"{last.drive:+.3f}",
        f"{ms:.2f}",
        f"{1 / ms:.2f}x",
    ]


def _vitals_report(
    config: Config, backend: Backend, kernels: str, records: list[Vitals], warmup: int, finite: bool, interrupted: bool
) -> dict[str, Any]:
    fractions = np.concatenate([v.firing_fraction for v in records]) if records else np.zeros(0, np.float32)
    settled = fractions[warmup:] if fractions.size > warmup else fractions
    per_step_ms = [v.ms_per_step for v in records]
    median_ms = statistics.median(per_step_ms) if per_step_ms else float("nan")
    target = config.homeostasis.target_fraction
    return {
        "neurons": config.brain.neurons,
        "steps": int(fractions.size),
        "seed": config.brain.seed,
        "device": backend.device,
        "backend": backend.description,
        "dtype": config.brain.dtype,
        "kernels": kernels,
        "target_fraction": target,
        "warmup_steps": int(fractions.size - settled.size),
        "firing_fraction_mean": float(settled.mean()) if settled.size else None,
        "firing_fraction_min": float(settled.min()) if settled.size else None,
        "firing_fraction_max": float(settled.max()) if settled.size else None,
        "steps_in_band": int(np.count_nonzero(np.abs(settled - target) <= 0.01)),
        "spikes": int(sum(v.spikes for v in records)),
        "mean_threshold": records[-1].mean_threshold if records else None,
        "drive": records[-1].drive if records else None,
        "finite": finite,
        "ms_per_step_median": median_ms,
        "realtime_factor": 1.0 / median_ms if median_ms > 0 else None,
        "interrupted": interrupted,
    }


def _print_summary(report: dict[str, Any]) -> None:
    if report["steps"] == 0:
        stdout.print("no step completed")
        return
    settled = report["steps"] - report["warmup_steps"]
    lines = [
        "",
        f"{report['neurons']:,} neurons, {report['steps']:,} steps on {report['backend']}, {report['kernels']} kernels, {report['dtype']}",
        (f"firing after step {report['warmup_steps']:,}" if report["warmup_steps"] else "firing over all steps")
        + f": mean {100 * report['firing_fraction_mean']:.2f} %, "
        f"min {100 * report['firing_fraction_min']:.2f} %, max {100 * report['firing_fraction_max']:.2f} % "
        f"(target {100 * report['target_fraction']:.1f} +- 1 %; {report['steps_in_band']:,} of {settled:,} steps in band)",
        f"speed: {report['ms_per_step_median']:.2f} ms per step (median), {report['realtime_factor']:.2f} x real time",
    ]
    if not report["finite"]:
        lines.append("[red]the membrane holds NaN or inf values[/red]")
    if report["interrupted"]:
        lines.append("interrupted: the figures cover the steps that ran")
    stdout.print("\n".join(lines), highlight=False)


def _speed_value(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    if text.strip().lower() == "max":
        return 0.0
    try:
        speed = float(text)
    except ValueError:
        raise ConfigError(f"--speed {text!r}: give a number of brain-ms per wall-ms (1 = real time) or 'max'") from None
    if not (speed >= 0 and math.isfinite(speed)):
        raise ConfigError(f"--speed {text!r}: must be 0 or more (or 'max')")
    return speed


@app.command()
def run(
    ctx: typer.Context,
    neurons: Optional[str] = NEURONS,
    seed: Optional[str] = SEED,
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE,
    cpu_kernels: Optional[str] = KERNELS,
    speed: Optional[str] = typer.Option(None, "--speed", metavar="X|max", help="Brain-ms per wall-ms: 1 = real time (default), 'max' = as fast as possible."),
    load: Optional[str] = typer.Option(None, "--load", metavar="NAME", help="Start from the snapshot <snapshots>/NAME.h5."),
    resume: bool = typer.Option(False, "--resume", help="Start from the autosave of the last run."),
    snapshots_dir: Optional[str] = SNAPSHOTS,
    socket_path: Optional[str] = SOCKET,
    headless: bool = typer.Option(False, "--headless", help="No prompt: serve the control socket until SIGTERM or Ctrl-C."),
) -> None:
    """Talk to a living brain: a prompt with live vitals, or one reply per line from a pipe.

    The brain also listens on a control socket (not in pipe mode), so `brainchat say`,
    `reward`, `save`, `load` and `status` reach it from any other terminal.
    """
    from brainchat.persistence import snapshot as snapshots
    from brainchat.repl import history_path, run_interactive, run_piped
    from brainchat.runtime.runner import Runner

    options = _brain_options(neurons, seed, device, dtype, cpu_kernels)
    options["brain.snapshots"] = snapshots_dir
    options["brain.socket"] = socket_path
    config = _config(ctx, **options)
    pace = _speed_value(speed)
    if load and resume:
        raise ConfigError("--load and --resume both name a start; give one")
    start = None
    if load or resume:
        start = snapshots.read(snapshots.snapshot_path(config.brain.snapshots, load or AUTOSAVE))
        config = _snapshot_config(start, config, neurons)
    interactive = sys.stdin.isatty() and not headless
    listens = interactive or headless
    control = _socket_path(config)
    if listens:
        _check_socket_free(control)
    backend = _backend(config)
    with Brain(config, backend) as brain:
        if start is not None:
            try:
                brain.restore_state(start.arrays, start.step, start.vitals_pending)
            except ValueError as error:
                raise SnapshotError(f"the snapshot does not fit: {error}") from None
            stderr.print(f"brainchat: loaded {load or AUTOSAVE} (step {start.step:,})", highlight=False, markup=False)
        # a brain started from a snapshot goes on exactly where it stopped: no settling
        runner = Runner(brain, speed=pace, lockstep=not listens, settle_steps=0 if start is not None else 1000)
        if start is not None:
            runner.rewards = [(int(step), float(value)) for step, value in start.rewards]
        with runner, _control_server(runner, control if listens else None):
            try:
                if headless:
                    _serve_headless(runner, control)
                elif interactive:
                    run_interactive(runner, history_path(config.runtime.history))
                else:
                    runner.wait_ready()
                    run_piped(runner, sys.stdin)
            finally:
                if config.brain.autosave and runner.alive and runner.error is None:
                    _autosave(runner, config)
        if runner.error is not None:
            raise runner.error


def _socket_path(config: Config) -> Path:
    from brainchat.control.server import default_socket_path

    return Path(config.brain.socket).expanduser() if config.brain.socket else default_socket_path()


def _check_socket_free(path: Path) -> None:
    """Refuse early (before building a brain) when another brain answers on the socket."""
    from brainchat.control.client import NoBrainRunning, request
    from brainchat.control.server import SocketInUse

    try:
        request(path, "status", timeout=5)
    except NoBrainRunning:
        return
    except BrainchatError:
        pass
    raise SocketInUse(f"a brain is already running at {path}; talk to it with `brainchat say`, or choose --socket PATH")


@contextlib.contextmanager
def _control_server(runner: Any, path: Optional[Path]):
    if path is None:
        yield None
        return
    from brainchat.control.handlers import make_handler
    from brainchat.control.server import ControlServer

    with ControlServer(path, make_handler(runner), runner.brain.config.brain.socket_idle_seconds) as server:
        yield server


def _serve_headless(runner: Any, path: Path) -> None:
    """Until SIGTERM or SIGINT: the brain lives and answers on its socket."""
    import signal
    import threading

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stderr.print(f"brainchat: headless brain listening on {path}; SIGTERM or Ctrl-C to stop", highlight=False, markup=False)
        while not stop.wait(0.5):
            if not runner.alive:
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _client(ctx: typer.Context, socket_path: Optional[str]) -> Path:
    return _socket_path(_config(ctx, **{"brain.socket": socket_path}))


@app.command()
def say(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="What to say to the running brain."),
    socket_path: Optional[str] = SOCKET,
    as_json: bool = typer.Option(False, "--json", help="Print the brain's whole response as JSON."),
) -> None:
    """Say a line to the running brain and print its reply."""
    from brainchat.control.client import request

    response = request(_client(ctx, socket_path), "say", text=text)
    if as_json:
        print(_json(response))
        return
    for notice in response.get("notices", []):
        stderr.print(f"note: {notice}", highlight=False, markup=False)
    print(response["reply"])


@app.command()
def teach(
    ctx: typer.Context,
    prompt: str = typer.Argument(..., help="The line to say."),
    reply: str = typer.Argument(..., help="The reply the brain should give to it (up to max_reply_chars)."),
    socket_path: Optional[str] = SOCKET,
    as_json: bool = typer.Option(False, "--json", help="Print the brain's whole response as JSON."),
) -> None:
    """Teach the running brain to answer PROMPT with REPLY (repeat a few times; `brainchat say` checks)."""
    from brainchat.control.client import request

    response = request(_client(ctx, socket_path), "teach", text=prompt, reply=reply)
    if as_json:
        print(_json(response))
        return
    for notice in response.get("notices", []):
        stderr.print(f"note: {notice}", highlight=False, markup=False)
    from brainchat.runtime.runner import teaching_summary

    print(teaching_summary(response["said"], response["taught"], response.get("before")))


@app.command()
def reward(
    ctx: typer.Context,
    sign: str = typer.Argument(..., metavar="+|-", help="+ rewards the brain's last reply, - punishes it."),
    strength: float = typer.Option(1.0, "--strength", min=0.0, max=10.0, help="Size of the dopamine pulse (0-10]."),
    socket_path: Optional[str] = SOCKET,
) -> None:
    """Reward (+) or punish (-) the running brain's last reply."""
    from brainchat.control.client import request

    if sign not in ("+", "-"):
        raise ConfigError(f"reward takes + or -, not {sign!r}")
    if strength <= 0:
        raise ConfigError("--strength must be greater than 0")
    response = request(_client(ctx, socket_path), "reward", value=1 if sign == "+" else -1, strength=strength)
    print(f"{'rewarded' if sign == '+' else 'punished'}: dopamine {response['dopamine']:+.2f}")


@app.command()
def save(
    ctx: typer.Context,
    name: Optional[str] = typer.Argument(None, help="Snapshot name (default: the time)."),
    socket_path: Optional[str] = SOCKET,
) -> None:
    """Make the running brain write a snapshot of itself."""
    from brainchat.control.client import request

    response = request(_client(ctx, socket_path), "save", name=name)
    print(f"saved {response['path']} ({response['bytes'] / 1e6:.1f} MB, step {response['step']:,}; the brain paused {response['pause_ms']:.0f} ms)")


@app.command("load")
def load_snapshot(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Snapshot name (see `brainchat snapshots`)."),
    socket_path: Optional[str] = SOCKET,
) -> None:
    """Make the running brain replace its state with a snapshot."""
    from brainchat.control.client import request

    response = request(_client(ctx, socket_path), "load", name=name)
    print(f"loaded {name}: the brain goes on from step {response['step']:,}")


@app.command()
def pause(ctx: typer.Context, socket_path: Optional[str] = SOCKET) -> None:
    """Make the running brain hold still (it keeps its state; `brainchat resume` goes on)."""
    from brainchat.control.client import request

    request(_client(ctx, socket_path), "pause")
    print("paused")


@app.command()
def resume(ctx: typer.Context, socket_path: Optional[str] = SOCKET) -> None:
    """Make a paused brain step again."""
    from brainchat.control.client import request

    request(_client(ctx, socket_path), "resume")
    print("resumed")


@app.command()
def status(
    ctx: typer.Context,
    socket_path: Optional[str] = SOCKET,
    as_json: bool = JSON_OBJECT,
) -> None:
    """Vitals of the running brain."""
    from brainchat.control.client import request

    response = request(_client(ctx, socket_path), "status")
    response.pop("ok", None)
    if as_json:
        print(_json(response))
        return
    table = Table(box=box.SIMPLE_HEAD, show_header=False, title="running brain", title_justify="left")
    for key, value in response.items():
        table.add_row(key, _cell(value))
    stdout.print(table)


def _json(value: Any) -> str:
    """Strict JSON on one line: NaN and infinities become null."""
    from brainchat.control.server import finite

    return json.dumps(finite(value), allow_nan=False)


def _cell(value: Any) -> str:
    """A value for a key/value table: thousands separators for counts, 4 digits for floats."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def _snapshot_config(start: Any, config: Config, neurons: Optional[str]) -> Config:
    """The snapshot's own model, run where and how this command says."""
    if neurons is not None and config.brain.neurons != start.neurons:
        raise ConfigError(f"--neurons {neurons} asked for, but the snapshot has {start.neurons:,} neurons")
    return with_runtime_of(start.config, config)


def _autosave(runner: Any, config: Config) -> None:
    """Save <snapshots>/autosave.h5; a Ctrl-C meanwhile is ignored rather than left to lose it."""
    import signal
    import threading

    from brainchat.persistence.snapshot import snapshot_path

    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if on_main else None
    try:
        saved = runner.save(snapshot_path(config.brain.snapshots, AUTOSAVE), timeout=600)
    except BrainchatError as error:
        stderr.print(f"brainchat: autosave failed: {error}", highlight=False, markup=False)
        return
    finally:
        if on_main:
            signal.signal(signal.SIGINT, previous)
    stderr.print(f"brainchat: autosaved to {saved.path}", highlight=False, markup=False)


@app.command("snapshots")
def list_snapshots(
    ctx: typer.Context,
    snapshots_dir: Optional[str] = SNAPSHOTS,
    as_json: bool = typer.Option(False, "--json", help="One JSON list instead of a table."),
) -> None:
    """List the saved snapshots: name, created, neurons, steps lived, rewards, size."""
    from brainchat.persistence.snapshot import list_snapshots as found

    config = _config(ctx, **{"brain.snapshots": snapshots_dir})
    infos = found(config.brain.snapshots)
    if as_json:
        print(_json([{"name": i.name, "created_utc": i.created_utc, "neurons": i.neurons, "steps": i.steps,
                           "rewards": i.rewards, "bytes": i.size, "problem": i.problem} for i in infos]))
        return
    if not infos:
        stdout.print(f"no snapshots in {config.brain.snapshots}", highlight=False)
        return
    table = Table(title=f"snapshots in {config.brain.snapshots}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("name", "created (UTC)", "neurons", "steps lived", "rewards", "size"):
        table.add_column(column, justify="left" if column in ("name", "created (UTC)") else "right")
    for info in infos:
        if info.problem:
            table.add_row(info.name, f"[red]unreadable: {info.problem}[/red]", "", "", "", f"{info.size / 1e6:.1f} MB")
        else:
            table.add_row(info.name, info.created_utc.replace("+00:00", ""), f"{info.neurons:,}", f"{info.steps:,}", f"{info.rewards:,}", f"{info.size / 1e6:.1f} MB")
    stdout.print(table)


@app.command()
def inspect(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Snapshot name (as in `brainchat snapshots`) or a path to an .h5 file."),
    snapshots_dir: Optional[str] = SNAPSHOTS,
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables."),
) -> None:
    """Show a snapshot's metadata and statistics of its weights and thresholds."""
    from brainchat.persistence import snapshot as snapshots

    config = _config(ctx, **{"brain.snapshots": snapshots_dir})
    path = Path(name) if name.endswith(".h5") and Path(name).exists() else snapshots.snapshot_path(config.brain.snapshots, name)
    snap = snapshots.read(path)
    weights = snap.arrays["synapses/recurrent_weights"].astype(np.float64)
    excitatory = snap.arrays["neurons/excitatory"].astype(bool) if "neurons/excitatory" in snap.arrays else weights[:, 0] > 0
    thresholds = (snap.config.neurons.threshold_rest + snap.arrays["neurons/threshold_fast"].astype(np.float64)
                  + snap.arrays["neurons/threshold_homeostatic"].astype(np.float64))

    def summary(values: np.ndarray) -> dict[str, float]:
        if values.size == 0:
            return {"count": 0}
        return {"count": int(values.size), "mean": float(values.mean()), "sd": float(values.std()),
                "min": float(values.min()), "max": float(values.max())}

    report = {
        "name": path.stem, "path": str(path), "created_utc": snap.created_utc, "brainchat_version": snap.brainchat_version,
        "neurons": snap.neurons, "synapses_per_neuron": snap.config.synapses.per_neuron, "steps_lived": snap.step,
        "brain_seconds": snap.step / 1000.0, "seed": snap.config.brain.seed, "dtype": snap.config.brain.dtype,
        "device": snap.device, "rewards": int(snap.rewards.shape[0]), "bytes": path.stat().st_size,
        "drive": float(snap.arrays["homeostasis/drive"]),
        "excitatory_weights": summary(weights[excitatory].ravel()),
        "inhibitory_weights": summary(weights[~excitatory].ravel()),
        "thresholds": summary(thresholds),
    }
    if as_json:
        print(_json(report))
        return
    meta = Table(title=f"snapshot {report['name']}", title_justify="left", box=box.SIMPLE_HEAD, show_header=False)
    for key in ("path", "created_utc", "brainchat_version", "neurons", "synapses_per_neuron", "steps_lived", "brain_seconds",
                "seed", "dtype", "device", "rewards", "bytes", "drive"):
        meta.add_row(key, _cell(report[key]))
    stats = Table(box=box.SIMPLE_HEAD)
    for column in ("", "count", "mean", "sd", "min", "max"):
        stats.add_column(column, justify="right")
    for key in ("excitatory_weights", "inhibitory_weights", "thresholds"):
        row = report[key]
        stats.add_row(key.replace("_", " "), f"{row.get('count', 0):,}", *(f"{row[k]:.4f}" if k in row else "" for k in ("mean", "sd", "min", "max")))
    stdout.print(meta)
    stdout.print(stats)


@app.command()
def chat(
    ctx: typer.Context,
    line: str = typer.Argument(..., help="What to say to the brain."),
    neurons: Optional[str] = NEURONS,
    seed: Optional[str] = SEED,
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE,
    cpu_kernels: Optional[str] = KERNELS,
) -> None:
    """Build a brain, say one line, print its reply and exit (same seed, same reply)."""
    from brainchat.runtime.runner import Runner

    config = _config(ctx, **_brain_options(neurons, seed, device, dtype, cpu_kernels))
    backend = _backend(config)
    with Brain(config, backend) as brain, Runner(brain, lockstep=True) as runner:
        reply = runner.say(line)
    for notice in reply.notices:
        stderr.print(f"note: {notice}", highlight=False, markup=False)
    print(reply.text)


bench_app = typer.Typer(help="Measured speed and learning of the brain, as JSON or tables.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _sizes(text: Optional[str], gpu: bool) -> list[int]:
    from brainchat.bench import DEFAULT_CPU_SIZES, DEFAULT_GPU_SIZES

    if text is None:
        return list(DEFAULT_GPU_SIZES if gpu else DEFAULT_CPU_SIZES)
    sizes = []
    for part in text.split(","):
        word = part.strip().lower().replace("_", "")
        scale = {"k": 1_000, "m": 1_000_000}.get(word[-1:], 1)
        try:
            sizes.append(int(float(word[:-1] if scale > 1 else word) * scale))
        except (ValueError, OverflowError):
            raise ConfigError(f"--neurons {text!r}: give sizes like 200000 or 1k,10k,200k,1m") from None
    return sizes


@bench_app.command("speed")
def bench_speed(
    ctx: typer.Context,
    neurons: Optional[str] = typer.Option(None, "--neurons", "-n", metavar="N[,N...]", help="One size or a sweep (1k,10k,200k,1m); default 1k..1M on a CPU, on to 20M on a GPU."),
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE,
    cpu_kernels: Optional[str] = KERNELS,
    steps: int = typer.Option(1000, "--steps", min=10, help="Timed steps per size."),
    warmup: int = typer.Option(300, "--warmup", min=0, help="Untimed steps first (compilation, settling)."),
    chunk: int = typer.Option(10, "--chunk", min=1, help="Steps per timed call."),
    compare: bool = typer.Option(False, "--compare", help="Also run the NumPy reference path on the same network; report the ratio."),
    plot_path: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="Plot ms per step against neurons (needs matplotlib)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object with a list `results`."),
) -> None:
    """ms per step (median, p99), updates and events per second, real-time factor, memory."""
    from brainchat.bench import measure, plot

    base = _config(ctx, **_brain_options(None, None, device, dtype, cpu_kernels))
    backend = _backend(base)
    sizes = _sizes(neurons, backend.is_gpu)
    for size in sizes:
        base.replace(**{"brain.neurons": size})  # every size is checked before the first runs
    results = []
    runs = len(sizes) * (warmup + steps) * (2 if compare else 1)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True) as progress:
        task = progress.add_task("bench speed", total=runs)
        for size in sizes:
            progress.update(task, description=f"{size:,} neurons")
            config = base.replace(**{"brain.neurons": size})
            result = measure(config, backend, steps, warmup, chunk, compare, lambda n: progress.advance(task, n))
            progress.advance(task, warmup * (2 if compare else 1))
            results.append(result)
    if plot_path and not plot(results, plot_path):
        stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); no plot written", highlight=False, markup=False)
    if as_json:
        print(_json({"results": [r.as_dict() for r in results]}))
        return
    first = results[0]
    table = Table(title=f"brainchat bench speed: {first.device}, {first.kernels} kernels, {first.dtype}", title_justify="left", box=box.SIMPLE_HEAD)
    columns = ["neurons", "ms/step", "p99", "x real", "events/s", "RSS MB"] + (["numpy ms", "speed-up"] if compare else [])
    for column in columns:
        table.add_column(column, justify="right")
    for r in results:
        row = [f"{r.neurons:,}", f"{r.ms_per_step_median:.3f}", f"{r.ms_per_step_p99:.3f}", f"{r.realtime_factor:.2f}",
               f"{r.synaptic_events_per_s:.2e}", f"{r.peak_rss_mb:,.0f}"]
        if compare:
            row += [f"{r.numpy_ms_per_step_median:.3f}", f"{r.speedup_vs_numpy:.2f}x"]
        table.add_row(*row)
    stdout.print(table)


def _learning_report(report: dict, plot_path: Optional[str], as_json: bool, keys: tuple[str, ...]) -> None:
    """Print a learning benchmark's report: JSON, or its headline figures and a curve."""
    from brainchat.bench_learning import plot, terminal_chart

    if plot_path and not plot(report, plot_path):
        stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); the curve is drawn in the terminal instead", highlight=False, markup=False)
        plot_path = None
    if as_json:
        print(_json(report))
        return
    table = Table(title=f"brainchat bench {report['benchmark']}: {report['neurons']:,} neurons, seed {report['seed']}", title_justify="left", box=box.SIMPLE_HEAD, show_header=False)
    for key in keys:
        if key in report:
            table.add_row(key, _cell(report[key]))
    stdout.print(table)
    if not plot_path:
        for line in terminal_chart(report):
            print(line)


def _run_learning(description: str, total: int, work: Callable[[Callable[[int], None]], dict]) -> dict:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True) as progress:
        task = progress.add_task(description, total=total)
        return work(lambda n: progress.advance(task, n))


LEARN_NEURONS = typer.Option(200_000, "--neurons", "-n", min=1000, help="Size of the brain.")
LEARN_SEED = typer.Option(0, "--seed", min=0, help="Seed of the brain and of the pairs.")
PLOT = typer.Option(None, "--plot", metavar="FILE.png", help="Draw the learning curve into a PNG (needs matplotlib); otherwise it is drawn in the terminal.")


def _learning_config(ctx: typer.Context, neurons: int, seed: int, device: Optional[str], cpu_kernels: Optional[str]) -> Config:
    """The brain a learning benchmark builds; the device is checked before the run starts."""
    config = _config(ctx, **_brain_options(str(neurons), str(seed), device, None, cpu_kernels))
    _backend(config)
    return config


@bench_app.command("teach")
def bench_teach(
    ctx: typer.Context,
    pairs: int = typer.Option(10, "--pairs", min=1, max=200, help="Prompt -> reply pairs (random lowercase; replies of 3-8 characters)."),
    teachings: int = typer.Option(10, "--teachings", min=1, max=1000, help="Teachings of each pair, round-robin."),
    neurons: int = LEARN_NEURONS,
    seed: int = LEARN_SEED,
    second_set: bool = typer.Option(False, "--second-set", help="Then teach a second set of pairs and test the first again."),
    device: Optional[str] = DEVICE,
    cpu_kernels: Optional[str] = KERNELS,
    plot_path: Optional[str] = PLOT,
    as_json: bool = JSON_OBJECT,
) -> None:
    """Teach prompt -> reply pairs, then measure exact-match and character accuracy."""
    from brainchat.bench_learning import teach_benchmark

    config = _learning_config(ctx, neurons, seed, device, cpu_kernels)
    total = pairs * teachings * (2 if second_set else 1)
    report = _run_learning("bench teach", total, lambda advance: teach_benchmark(config, pairs, teachings, seed, second_set, advance))
    _learning_report(report, plot_path, as_json, ("pairs", "teachings", "exact_match_accuracy", "char_accuracy", "second_set",
                                                  "first_set_after_second", "firing_min", "firing_max", "brain_seconds", "wall_seconds"))


@bench_app.command("reward")
def bench_reward(
    ctx: typer.Context,
    pairs: int = typer.Option(5, "--pairs", min=1, max=95, help="Prompts, each with a target first character among the 95 printable ones."),
    trials: int = typer.Option(1000, "--trials", min=1, max=100_000, help="Trials: say a prompt, + if the reply starts with its target, - if not."),
    neurons: int = LEARN_NEURONS,
    seed: int = LEARN_SEED,
    device: Optional[str] = DEVICE,
    cpu_kernels: Optional[str] = KERNELS,
    plot_path: Optional[str] = PLOT,
    as_json: bool = JSON_OBJECT,
) -> None:
    """Learn a first character per prompt from rewards and punishments alone."""
    from brainchat.bench_learning import reward_benchmark

    config = _learning_config(ctx, neurons, seed, device, cpu_kernels)
    report = _run_learning("bench reward", trials, lambda advance: reward_benchmark(config, pairs, trials, seed, advance))
    _learning_report(report, plot_path, as_json, ("pairs", "trials", "final_accuracy", "trials_to_criterion", "firing_min", "firing_max",
                                                  "brain_seconds", "wall_seconds"))


@bench_app.command("memory")
def bench_memory(
    ctx: typer.Context,
    words: int = typer.Option(5, "--words", min=2, max=100, help="Words to tell apart."),
    repeats: int = typer.Option(5, "--repeats", min=2, max=50, help="Times each word is said (one is held out for testing, in turn)."),
    horizon_ms: int = typer.Option(5000, "--horizon-ms", min=100, max=600_000, help="How long after each word the activity is recorded."),
    bin_ms: int = typer.Option(100, "--bin-ms", min=1, max=10_000, help="Width of a time bin of the read-out."),
    neurons: int = LEARN_NEURONS,
    seed: int = LEARN_SEED,
    device: Optional[str] = DEVICE,
    cpu_kernels: Optional[str] = KERNELS,
    plot_path: Optional[str] = PLOT,
    as_json: bool = JSON_OBJECT,
) -> None:
    """How long after a word a linear read-out of the activity still tells which word it was."""
    from brainchat.bench_learning import memory_benchmark

    if bin_ms > horizon_ms:
        raise ConfigError(f"--bin-ms {bin_ms} is longer than --horizon-ms {horizon_ms}")
    config = _learning_config(ctx, neurons, seed, device, cpu_kernels)
    report = _run_learning(
        "bench memory", words * repeats,
        lambda advance: memory_benchmark(config, words, seed, repeats, bin_ms, horizon_ms, advance),
    )
    _learning_report(report, plot_path, as_json, ("words", "repeats", "memory_span_ms", "span_reaches_horizon", "firing_min", "firing_max",
                                                  "brain_seconds", "wall_seconds"))


@app.command("config")
def show_config(
    ctx: typer.Context,
    defaults: bool = typer.Option(False, "--defaults", help="Show the built-in defaults instead of the effective settings."),
) -> None:
    """Print the effective configuration as TOML (all sources merged)."""
    config = Config() if defaults else _config(ctx)
    sys.stdout.write(render_toml(config))
