"""``brainchat log``: what was said to the brain, its replies, teachings, rewards, saves and loads, searchable."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from brainchat.cli.app import JSON_OBJECT, _json, app, stdout
from brainchat.errors import ConfigError

ACTIONS = ("path", "on", "off")


def _local_time(utc: str) -> str:
    return datetime.fromisoformat(utc.replace("Z", "+00:00")).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _number(value: Optional[float], digits: str) -> str:
    return "" if value is None else format(value, digits)


@app.command("log")
def log(
    action: Optional[str] = typer.Argument(None, metavar="path|on|off", help="Print the database's path, or turn logging on or off for the runs to come."),
    count: int = typer.Option(20, "-n", "--count", min=1, metavar="N", help="Show the last N entries."),
    query: Optional[str] = typer.Option(
        None, "-q", "--query", metavar="TEXT", help="Only entries whose line or reply holds every word of TEXT (word* matches words starting so)."
    ),
    as_json: bool = JSON_OBJECT,
) -> None:
    """The conversation log of every run: lines said, replies, teachings, rewards, saves and loads."""
    from brainchat import logbook

    path = logbook.log_path()
    if action is not None and action not in ACTIONS:
        raise ConfigError(f"log takes {', '.join(ACTIONS)} or nothing, not {action!r}")
    if action == "path":
        print(path)
        return
    if action in ("on", "off"):
        logbook.set_enabled(path, action == "on")
        if action == "on":
            print(f"conversation log on: runs log to {path}")
        else:
            print(f"conversation log off: runs are not logged (`brainchat log on` logs again); {path} keeps what was logged")
        return
    entries = logbook.read_entries(path, count, query)
    logging = logbook.enabled(path)
    if as_json:
        print(_json({"path": str(path), "logging": logging, "query": query, "entries": entries}))
        return
    if not entries:
        found = f"no entry holds {query!r}" if query else "nothing is logged yet"
        stdout.print(f"{found} in {path}" + ("" if logging else " (logging is off: `brainchat log on`)"), highlight=False, markup=False)
        return
    title = f"conversation log {path}" + (f", entries holding {query!r}" if query else "") + ("" if logging else " (logging is off)")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("time", "step", "kind", "text", "firing %", "dopamine"):
        table.add_column(column, justify="left" if column in ("time", "kind", "text") else "right", no_wrap=column != "text", overflow="fold")
    for entry in entries:
        text = entry["text"] if entry["text"] or entry["kind"] not in ("reply", "taught") else "(silence)"
        firing = None if entry["firing"] is None else 100 * entry["firing"]
        table.add_row(_local_time(entry["time"]), f"{entry['step']:,}", entry["kind"], Text(text), _number(firing, ".2f"), _number(entry["dopamine"], "+.3f"))
    stdout.print(table)
