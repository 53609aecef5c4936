"""``brainchat top``: watch the running brain full screen in this terminal (a client of its ``subscribe`` stream)."""

from __future__ import annotations

from typing import Optional

import typer

from brainchat.cli.app import SOCKET, _config, _socket_path, _yield_to_brain, app, stdout


@app.command()
def top(
    ctx: typer.Context,
    socket_path: Optional[str] = SOCKET,
    fps: float = typer.Option(5.0, "--fps", min=1.0, max=20.0, help="Frames a second to draw (1-20; each costs the brain a little on a machine it fills)."),
) -> None:
    """Watch the running brain: a raster of sampled neurons by region, each region's firing, vitals, modulators and events (q or Ctrl-C leaves)."""
    from brainchat.control.client import subscribe
    from brainchat.top import run_top

    _yield_to_brain()
    config = _config(ctx, **{"brain.socket": socket_path})
    stream = subscribe(_socket_path(config), fps=fps)
    try:
        run_top(stream, stdout)
    finally:
        stream.close()
