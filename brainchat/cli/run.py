"""Commands that build and step a brain in this process: ``vitals`` and ``run`` (prompt, pipe, headless)."""

from __future__ import annotations

import contextlib
import math
import statistics
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer
from rich import box
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from brainchat import distributed
from brainchat.backend import Backend
from brainchat.cli.app import (
    DEVICE, DTYPE, KERNELS, NEURONS, SEED, SNAPSHOTS, SOCKET, _backend, _brain_options, _config, _json, _socket_path, app, stderr,
    stdout,
)
from brainchat.config import Config, with_runtime_of
from brainchat.errors import BrainchatError, ConfigError, SnapshotError
from brainchat.model.brain import Brain, from_snapshot
from brainchat.model.vitals import Vitals

AUTOSAVE = "autosave"


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
    ranks: int = typer.Option(1, "--ranks", min=1, help="MPI ranks to run one brain on (the mpi extra; fused CPU kernels): the same spikes as 1."),
) -> None:
    """Run the brain headless for a while and report how alive it is (firing, thresholds, speed)."""
    config = _config(ctx, **_brain_options(neurons, seed, device, dtype, cpu_kernels))
    if ranks > 1 and not distributed.under_mpi():
        distributed.check_config(config)
        raise typer.Exit(distributed.launch(ranks, sys.argv[1:]))
    if distributed.under_mpi() and config.brain.device == "auto":
        config = config.replace(**{"brain.device": "cpu"})  # ranks step on the CPU (GPU ranks: not yet)
    partition = distributed.rank_partition(config) if distributed.under_mpi() else None
    if partition is not None and partition.rank:  # only rank 0 reports
        with Brain(config, partition=partition) as brain:
            _run_vitals(brain, steps, every, quiet=True, silent=True)
        return
    backend = _backend(config)
    with Brain(config, backend, partition=partition) as brain:
        records, interrupted = _run_vitals(brain, steps, every, as_json)
        kernels = brain.kernels
        finite = bool(backend.to_host(backend.xp.isfinite(brain.neurons.membrane).all()))
        living = [r for r in brain.layout.regions if r.living]
        # what the living population's fraction is held at: its regions' targets, weighted by size
        target = sum(brain.targets[r.index] * r.size for r in living) / max(1, sum(r.size for r in living))
    report = _vitals_report(config, backend, kernels, records, warmup, finite, interrupted, target)
    if as_json:
        print(_json(report))
    else:
        _print_summary(report)


def _run_vitals(brain: Brain, steps: int, every: int, quiet: bool, silent: bool = False) -> tuple[list[Vitals], bool]:
    """Step ``brain`` ``steps`` times; a live table (or, with ``quiet``, a progress bar on stderr; ``silent``: nothing, a rank other than 0)."""
    records: list[Vitals] = []
    table = _vitals_table()
    pending: list[Vitals] = []
    display: Any
    if quiet:
        display = Progress(
            TextColumn("stepping"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True, disable=silent,
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
            if brain.partition is not None:
                raise  # the ranks would stop at different steps and wait for each other: python -m mpi4py ends them all
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
    config: Config, backend: Backend, kernels: str, records: list[Vitals], warmup: int, finite: bool, interrupted: bool, target: float,
) -> dict[str, Any]:
    fractions = np.concatenate([v.firing_fraction for v in records]) if records else np.zeros(0, np.float32)
    settled = fractions[warmup:] if fractions.size > warmup else fractions
    per_step_ms = [v.ms_per_step for v in records]
    median_ms = statistics.median(per_step_ms) if per_step_ms else float("nan")
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
        "regions": _region_firing(records, warmup),
    }


def _region_firing(records: list[Vitals], warmup: int) -> dict[str, dict[str, float]]:
    """Each region's firing (fraction of its neurons per step) over the intervals after ``warmup`` steps: mean, and the lowest and highest interval."""
    settled = [v for v in records if v.step > warmup and v.steps] or [v for v in records if v.steps]
    if not settled:
        return {}
    per_interval = [v.region_firing for v in settled]
    weights = np.array([v.steps for v in settled], dtype=np.float64)
    report = {}
    for name in per_interval[0]:
        values = np.array([firing[name] for firing in per_interval])
        report[name] = {"firing_mean": float(np.average(values, weights=weights)), "firing_min": float(values.min()), "firing_max": float(values.max())}
    return report


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
    if report["regions"]:
        lines.append("per region (mean, lowest-highest interval): " + ", ".join(
            f"{name} {100 * r['firing_mean']:.2f} % ({100 * r['firing_min']:.2f}-{100 * r['firing_max']:.2f})" for name, r in report["regions"].items()))
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
    no_log: bool = typer.Option(False, "--no-log", help="Leave this run out of the conversation log (`brainchat log`)."),
    speak: bool = typer.Option(False, "--speak", help="Say each reply aloud with espeak-ng."),
    metrics_port: Optional[int] = typer.Option(
        None, "--metrics-port", min=0, max=65535, metavar="P", help="Serve /metrics and /healthz on 127.0.0.1:P (0: a free port; needs the web extra)."
    ),
    ranks: int = typer.Option(1, "--ranks", min=1, help="MPI ranks to step one brain on (the mpi extra; fused CPU kernels): the same replies as 1."),
    hosts: Optional[str] = typer.Option(None, "--hosts", metavar="A,B,...", help="With --ranks: the machines mpiexec places the ranks on, this one first (rank 0 serves the socket here)."),
    lockstep: bool = typer.Option(False, "--lockstep", hidden=True, help="Step only to answer, as in a pipe (the ranks of a piped --ranks run)."),
) -> None:
    """Talk to a living brain: a prompt with live vitals, or one reply per line from a pipe.

    The brain also listens on a control socket (not in pipe mode), so `brainchat say`,
    `reward`, `save`, `load` and `status` reach it from any other terminal. With --ranks R
    the brain steps on R MPI ranks (docs/distributed.md) behind the same prompt, pipe and socket.
    """
    from brainchat.distributed.runner import RankRunner
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
    start = start_path = None
    if load or resume:
        start_path = snapshots.snapshot_path(config.brain.snapshots, load or AUTOSAVE)
        start = snapshots.read(start_path)
        config = _snapshot_config(start, config, neurons)
    interactive = sys.stdin.isatty() and not headless
    listens = interactive or headless
    control = _socket_path(config)
    if ranks > 1 and not distributed.under_mpi():  # this process keeps the terminal; the ranks step the brain
        from brainchat.distributed.supervise import run_on_ranks

        distributed.check_config(config)
        if listens:
            _check_socket_free(control)
        mode = "headless" if headless else "interactive" if interactive else "pipe"
        raise typer.Exit(run_on_ranks(ranks, hosts, sys.argv[1:], config, mode, control if listens else None, history_path(config.runtime.history)))
    partition = None
    if distributed.under_mpi():
        if distributed.mpi().COMM_WORLD.Get_rank():  # from the start: SIGINT and SIGTERM are rank 0's to act on
            _ignore_stop_signals()
        if not headless:
            raise ConfigError("a rank of a brain serves only headless: start the ranks with `brainchat run --ranks R` (or add --headless)")
        if config.brain.device == "auto":
            config = config.replace(**{"brain.device": "cpu"})  # ranks step on the CPU (GPU ranks: not yet)
        distributed.check_config(config)
        partition = distributed.rank_partition(config)
    leads = partition is None or partition.rank == 0  # rank 0 (or the one process) talks, serves and saves
    metrics = _metrics_server(metrics_port) if leads else None  # a missing extra or a busy port is one line before the brain is built
    if listens and leads:
        _check_socket_free(control)
    backend = _backend(config, announce=leads)
    # a snapshot's brain is built with the snapshot's synapses (a converted one has no other)
    with (Brain(config, backend, partition=partition) if start is None else from_snapshot(config, start.arrays, backend, partition=partition)) as brain:
        if not headless:
            brain.check_talks()  # a brain nobody can talk to serves only headless
        if start is not None:
            try:
                brain.restore_state(start.arrays, start.step, start.vitals_pending)
            except ValueError as error:
                raise SnapshotError(f"the snapshot does not fit: {error}") from None
            if leads:
                stderr.print(f"brainchat: loaded {load or AUTOSAVE} (step {start.step:,})", highlight=False, markup=False)
        # a brain started from a snapshot goes on exactly where it stopped: no settling
        kind = Runner if partition is None else RankRunner
        runner = kind(brain, speed=pace, lockstep=lockstep or not listens, settle_steps=0 if start is not None else 1000)
        if start is not None:
            runner.rewards = [(int(step), float(value)) for step, value in start.rewards]
        if not leads:
            with runner:
                _follow(runner)
            if runner.error is not None:
                raise runner.error
            return
        with _log_and_speech(runner, not no_log, speak, start_path), runner, _control_server(runner, control if listens else None), \
                _serving_metrics(metrics, runner):
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


def _metrics_server(port: Optional[int]) -> Any:
    """``--metrics-port``: a server of the brain's metrics and health in this process (brainchat.metrics), bound now, serving later."""
    if port is None:
        return None
    from brainchat.metrics import MetricsServer

    server = MetricsServer(None, port)
    server.__enter__()  # scrapes meanwhile hear "being built"; _serving_metrics stops it with the run
    return server


@contextlib.contextmanager
def _serving_metrics(server: Any, runner: Any):
    if server is None:
        yield None
        return
    server.read_status = runner.status
    try:
        stderr.print(f"brainchat: metrics on {server.url} (and /healthz)", highlight=False, markup=False)
        yield server
    finally:
        server.__exit__(None, None, None)


@contextlib.contextmanager
def _log_and_speech(runner: Any, log: bool, speak: bool, start: Optional[Path]):
    """The conversation log and speech out, clients of the runner's frames: started before it, stopped after it (so nothing it did is left out)."""
    from brainchat import logbook
    from brainchat.speech import Speaker

    with contextlib.ExitStack() as stack:
        path = logbook.log_path()
        if log and logbook.enabled(path):
            stack.enter_context(logbook.Recorder(runner.frames, path, snapshot=start, neurons=runner.brain.size,
                                                 seed=runner.brain.config.brain.seed))
        if speak:
            stack.enter_context(Speaker(runner.frames))
        yield


def _serve_headless(runner: Any, path: Path) -> None:
    """Until SIGTERM or SIGINT: the brain lives and answers on its socket."""
    import os
    import signal

    from brainchat.distributed.supervise import SERVED
    import threading

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not os.environ.get(SERVED):  # (the process that started the ranks says it)
            stderr.print(f"brainchat: headless brain listening on {path}; SIGTERM or Ctrl-C to stop", highlight=False, markup=False)
        while not stop.wait(0.5):
            if not runner.alive:
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_stop_signals() -> None:
    """A rank other than 0: mpiexec passes SIGINT and SIGTERM to every rank; rank 0 acts on them and tells the others."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)


def _follow(runner: Any) -> None:
    """A rank other than 0: step as rank 0 says until it says stop."""
    import time

    while runner.alive:
        time.sleep(0.2)


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
