"""Commands that talk to a running brain over its control socket: ``say``, ``teach``, ``reward``,
``save``, ``load``, ``sleep``, ``wake``, ``pause``, ``resume``, ``status``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich import box
from rich.table import Table

from brainchat.cli.app import JSON_OBJECT, SOCKET, _cell, _config, _json, _socket_path, app, stderr, stdout
from brainchat.errors import ConfigError

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
    prompt: str = typer.Argument(..., help="The line to say (with --image: the reply, if it is the only argument)."),
    reply: Optional[str] = typer.Argument(None, help="The reply the brain should give to it (up to max_reply_chars)."),
    image_path: Optional[str] = typer.Option(None, "--image", metavar="PATH", help="An image its visual region sees with the prompt (brainchat teach --image 3.png 3)."),
    socket_path: Optional[str] = SOCKET,
    as_json: bool = typer.Option(False, "--json", help="Print the brain's whole response as JSON."),
) -> None:
    """Teach the running brain to answer PROMPT (and/or an --image) with REPLY (repeat a few times; `brainchat say` or `see` checks)."""
    from brainchat.control.client import request

    if reply is None:
        if image_path is None:
            raise ConfigError("teach needs a PROMPT and a REPLY (or --image PATH and a REPLY)")
        prompt, reply = "", prompt
    extra = {"pixels": _image_pixels(image_path)} if image_path else {}
    response = request(_client(ctx, socket_path), "teach", text=prompt, reply=reply, **extra)
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


def _image_pixels(path: str) -> list:
    """An image file as rows of intensities for the socket (a larger one fitted to MAX_SEEN_SIDE first)."""
    from brainchat.control.handlers import MAX_SEEN_SIDE
    from brainchat.vision.images import fit, read_image

    image = read_image(path)
    if max(image.shape) > MAX_SEEN_SIDE:
        image = fit(image, min(image.shape[0], MAX_SEEN_SIDE), min(image.shape[1], MAX_SEEN_SIDE))
    return np.round(image, 4).tolist()


@app.command()
def see(
    ctx: typer.Context,
    path: str = typer.Argument(..., metavar="PATH", help="A PNG, a PGM, or a text file of digit rows (0-9, 9 = brightest)."),
    socket_path: Optional[str] = SOCKET,
    as_json: bool = typer.Option(False, "--json", help="Print the brain's whole response as JSON."),
) -> None:
    """Show an image to the running brain's visual region (codec.visual_region) as a prompt; prints its reply (what it names it)."""
    from brainchat.control.client import request

    response = request(_client(ctx, socket_path), "see", pixels=_image_pixels(path))
    if as_json:
        print(_json(response))
        return
    print(response["reply"])


def _print_damage(response: dict, as_json: bool) -> None:
    if as_json:
        print(_json(response))
        return
    renewal = f"; renewed in {response['renewal_ms'] / 1000:g} s of brain time" if response.get("renewal_ms") is not None else "; renewal is off"
    print(f"{response['killed']:,} neurons of {response['region']} died ({response['dead']:,} dead in all){renewal}")


@app.command()
def rhythm(
    ctx: typer.Context,
    socket_path: Optional[str] = SOCKET,
    plot_path: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="Draw the spectrum into a PNG (needs matplotlib)."),
    as_json: bool = typer.Option(False, "--json", help='One JSON object: "peak_hz", "peak_ratio", "frequencies_hz", "power", ...'),
) -> None:
    """The spectrum of the running brain's activity (the last 10 s; Welch, 1-s windows) and its peak in gamma (30-80 Hz)."""
    from brainchat import rhythm as rhythms
    from brainchat.control.client import request

    response = request(_client(ctx, socket_path), "rhythm")
    response.pop("ok", None)
    if plot_path:
        if rhythms.plot(response, plot_path):
            stderr.print(f"spectrum written to {plot_path}", highlight=False, markup=False)
        else:
            stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); no plot written", highlight=False, markup=False)
    if as_json:
        print(_json(response))
        return
    for line in rhythms.chart(response):
        print(line)


chem_app = typer.Typer(help="The running brain's neuromodulators: levels, what each does, glutamate/GABA per region; `chem set` doses one.",
                       invoke_without_command=True)
app.add_typer(chem_app, name="chem")


def _print_chemistry(response: dict, as_json: bool) -> None:
    from brainchat.report import chemistry_table

    response.pop("ok", None)
    if as_json:
        print(_json(response))
        return
    for table in chemistry_table(response):
        stdout.print(table)


@chem_app.callback()
def chem(
    ctx: typer.Context,
    socket_path: Optional[str] = SOCKET,
    as_json: bool = typer.Option(False, "--json", help='One JSON object: "levels", "mood", "effects", "doing", "holds", "history", "balance".'),
) -> None:
    """The neuromodulators of the running brain now: each level with its last 30 s and what it is doing, then glutamate and GABA per region."""
    if ctx.invoked_subcommand is not None:
        return
    from brainchat.control.client import request

    _print_chemistry(request(_client(ctx, socket_path), "chem"), as_json)


@chem_app.command("set")
def chem_set(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="dopamine, serotonin, noradrenaline or acetylcholine."),
    level: float = typer.Argument(..., help="The level: 0 to 4 (1 is each pool's reference; noradrenaline rests at 0); dopamine -4 to 4."),
    seconds: Optional[float] = typer.Option(None, "--for", metavar="SECONDS", help="Hold it there for this much brain time (default: set once, then it relaxes)."),
    socket_path: Optional[str] = SOCKET,
    as_json: bool = typer.Option(False, "--json", help="Print the brain's report after the dose as JSON."),
) -> None:
    """Dose the running brain: set a neuromodulator's level now (and hold it --for SECONDS), then show what changed."""
    from brainchat.control.client import request

    _print_chemistry(request(_client(ctx, socket_path), "chem_set", name=name, level=level, **({"seconds": seconds} if seconds is not None else {})), as_json)


@app.command()
def lesion(
    ctx: typer.Context,
    region: str = typer.Argument(..., help="A region of the running brain (see `brainchat regions`), e.g. cortex."),
    fraction: float = typer.Argument(..., min=0.0, max=1.0, help="Share of its living neurons that die, (0, 1]."),
    socket_path: Optional[str] = SOCKET,
    as_json: bool = typer.Option(False, "--json", help="Print the brain's whole response as JSON."),
) -> None:
    """Kill a random share of a region's neurons in the running brain ([renewal] replaces them after delay_ms)."""
    from brainchat.control.client import request

    _print_damage(request(_client(ctx, socket_path), "lesion", region=region, fraction=fraction), as_json)


@app.command()
def stroke(
    ctx: typer.Context,
    x: float = typer.Argument(..., help="Column of the disc's centre on the region's grid (0 = left)."),
    y: float = typer.Argument(..., help="Row of the disc's centre (0 = top)."),
    radius: float = typer.Argument(..., min=0.0, help="Radius in neurons of the grid."),
    region: Optional[str] = typer.Option(None, "--region", help="The region (default: the largest living one, the cortex)."),
    socket_path: Optional[str] = SOCKET,
    as_json: bool = typer.Option(False, "--json", help="Print the brain's whole response as JSON."),
) -> None:
    """Kill a disc of neurons on a region's grid in the running brain (`brainchat regions --plot` shows the grids)."""
    from brainchat.control.client import request

    _print_damage(request(_client(ctx, socket_path), "stroke", x=x, y=y, radius=radius, **({"region": region} if region else {})), as_json)


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


@app.command("sleep")
def sleep_now(
    ctx: typer.Context,
    minutes: Optional[float] = typer.Option(None, "--minutes", "-m", min=0.01, max=24 * 60, help="Brain minutes to sleep (default: the config's sleep.asleep_minutes)."),
    socket_path: Optional[str] = SOCKET,
    as_json: bool = JSON_OBJECT,
) -> None:
    """Put the running brain to sleep: input closed, taught pairs replayed, weights downscaled (`brainchat wake` wakes it)."""
    from brainchat.control.client import request
    from brainchat.report import sleep_line

    response = request(_client(ctx, socket_path), "sleep", minutes=minutes)
    response.pop("ok", None)
    if as_json:
        print(_json(response))
        return
    print(sleep_line(response) if response.get("asleep") else f"slept and woke ({response.get('replays', 0)} replays)")


@app.command()
def wake(ctx: typer.Context, socket_path: Optional[str] = SOCKET, as_json: bool = JSON_OBJECT) -> None:
    """Wake the running brain; it answers the lines said to it while it slept, printed here."""
    from brainchat.control.client import request

    response = request(_client(ctx, socket_path), "wake")
    response.pop("ok", None)
    if as_json:
        print(_json(response))
        return
    if not response.get("was_asleep"):
        print("it is awake already")
        return
    print(f"awake after {response.get('replays', 0)} replays")
    for said in response.get("replies", []):
        print(f"{said['said']} -> {said['reply'] if said['reply'] is not None else '(no reply)'}")


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
    regions = response.pop("regions", {})
    events = response.pop("events", {})
    from brainchat.report import sleep_line

    response["sleep"] = sleep_line(response.get("sleep") or {}) or "-"
    for key, value in response.items():
        table.add_row(key, _cell(value) if not isinstance(value, list) else ", ".join(map(str, value)) or "-")
    for name, value in regions.items():
        table.add_row(f"firing {name}", _cell(value))
    for kind, count in events.items():
        table.add_row(f"events {kind}", _cell(count))
    stdout.print(table)
