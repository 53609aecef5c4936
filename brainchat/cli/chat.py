"""``brainchat chat``: build a brain, say one line, print its reply."""

from __future__ import annotations

from typing import Optional

import typer

from brainchat.cli.app import DEVICE, DTYPE, KERNELS, NEURONS, SEED, _backend, _brain_options, _config, app, stderr
from brainchat.model.brain import Brain

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
