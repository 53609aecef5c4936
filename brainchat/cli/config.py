"""``brainchat config``: the effective settings as TOML."""

from __future__ import annotations

import sys

import typer

from brainchat.cli.app import _config, app
from brainchat.config import Config, render_toml

@app.command("config")
def show_config(
    ctx: typer.Context,
    defaults: bool = typer.Option(False, "--defaults", help="Show the built-in defaults instead of the effective settings."),
) -> None:
    """Print the effective configuration as TOML (all sources merged)."""
    config = Config() if defaults else _config(ctx)
    sys.stdout.write(render_toml(config))
