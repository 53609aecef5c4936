"""The one ``brainchat`` Typer app: the global callback and its options, the options and helpers
the command modules share. The commands register on :data:`app` from their own modules
(:mod:`brainchat.cli` imports them); this module imports none of them.

Every error a user can cause ends in one line on stderr and a non-zero exit code
(:mod:`brainchat.errors`); machine-readable output (``--json``) goes alone to stdout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer
from typer.core import TyperGroup
from rich.console import Console

from brainchat import __version__
from brainchat.backend import Backend, select_backend
from brainchat.config import Config, load_config
from brainchat.errors import BrainchatError

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


NEURONS = typer.Option(None, "--neurons", "-n", metavar="N", help="Neurons of the whole brain (env BRAINCHAT_NEURONS; default 200,000).")
SEED = typer.Option(None, "--seed", metavar="X", help="Seed of connectivity and noise (env BRAINCHAT_SEED; default 0).")
DEVICE = typer.Option(None, "--device", metavar="auto|cpu|gpu", help='"auto", "cpu" or "gpu" (env BRAINCHAT_DEVICE).')
DTYPE = typer.Option(None, "--dtype", metavar="float16|float32|float64", help='"float16", "float32" or "float64" (env BRAINCHAT_DTYPE).')
SOCKET = typer.Option(None, "--socket", metavar="PATH", help="Control socket (env BRAINCHAT_SOCKET; default in $XDG_RUNTIME_DIR).")
SNAPSHOTS = typer.Option(None, "--snapshots", metavar="DIR", help="Folder of the snapshots (env BRAINCHAT_SNAPSHOTS; default ./checkpoints).")
KERNELS = typer.Option(
    None, "--cpu-kernels", metavar="numba|numpy", help='CPU step: fused "numba" kernel or the "numpy" reference (env BRAINCHAT_CPU_KERNELS).'
)
JSON_OBJECT = typer.Option(False, "--json", help="One JSON object.")


def _brain_options(neurons: Optional[str], seed: Optional[str], device: Optional[str], dtype: Optional[str], kernels: Optional[str]) -> dict:
    return {"brain.neurons": neurons, "brain.seed": seed, "brain.device": device, "brain.dtype": dtype, "brain.cpu_kernels": kernels}


VIEWER_NICENESS = 19  # where SCHED_IDLE is not to be had: the lowest priority a process can give itself


def _yield_to_brain() -> None:
    """Run this viewer (top, web) on the CPU time the brain leaves: Linux's SCHED_IDLE, else the lowest nice.

    On a machine whose cores the brain's threads fill (a 2-core laptop), every slice a viewer
    takes stalls one of the brain's threads and the other waits for it at the next barrier;
    an idle-priority viewer draws a little later instead. Called before any thread starts
    (threads inherit the policy).
    """
    import os

    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):  # not Linux, or not allowed: the lowest nice instead
        pass
    try:
        os.nice(VIEWER_NICENESS)
    except OSError:
        pass


def _socket_path(config: Config) -> Path:
    from brainchat.control.server import default_socket_path

    return Path(config.brain.socket).expanduser() if config.brain.socket else default_socket_path()


def _json(value: Any) -> str:
    """Strict JSON on one line: NaN and infinities become null."""
    from brainchat.control.server import finite

    return json.dumps(finite(value), allow_nan=False)


def _cell(value: Any) -> str:
    """A value for a key/value table: thousands separators for counts, 4 digits for floats."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
