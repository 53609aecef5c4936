"""``brainchat top``: the running brain, full screen in the terminal, drawn from its ``subscribe`` stream.

A raster of sampled neurons in braille (each character is 2 frames x 4 neurons; a dot is a
neuron that fired in the frame's last step: a strobe, one step in every 100), coloured by
region; the firing of every
region with a sparkline; the vitals and the modulators; the last events. It is its own
command and never shares a terminal with the REPL's prompt (prompt_toolkit and rich would
fight over the cursor). ``q`` or Ctrl-C leaves.
"""

from __future__ import annotations

import base64
import os
import select
import sys
import termios
import tty
from collections import deque
from typing import Any, Iterator

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from brainchat.report import sparkline

COLOURS = ("cyan", "yellow", "green", "magenta", "blue", "red", "white", "bright_cyan")
BRAILLE = 0x2800
# dot bit of (row 0..3, column 0..1) in a braille cell
DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))


class TopView:
    """What ``top`` shows, fed item by item from the stream."""

    def __init__(self, header: dict[str, Any], rows: int = 16, columns: int = 60):
        self.regions: list[str] = header["regions"]
        sample_region = np.asarray(header["sample_region"])
        self.sample = len(sample_region)
        # the neurons drawn: up to 4 x rows of the sample, spread evenly over it (so over the regions)
        shown = min(self.sample, 4 * rows)
        self.drawn = np.linspace(0, self.sample - 1, shown).round().astype(int)
        self.drawn_region = sample_region[self.drawn]
        self.history: deque[np.ndarray] = deque(maxlen=2 * columns)
        self.firing: dict[str, deque[float]] = {name: deque(maxlen=40) for name in self.regions}
        self.events: deque[str] = deque(maxlen=8)
        self.frame: dict[str, Any] | None = None
        self.skipped = 0

    def feed(self, item: dict[str, Any]) -> None:
        for event in item.get("events", []):
            details = ", ".join(f"{key} {value!r}" for key, value in event.items() if key not in ("kind", "step"))
            self.events.append(f"{event['step'] / 1000:9.1f} s  {event['kind']:<7} {details}")
        frame = item.get("frame")
        if frame is None:
            return
        self.frame = frame
        self.skipped += item.get("skipped", 0)
        bits = np.unpackbits(np.frombuffer(base64.b64decode(frame["raster"]), dtype=np.uint8))[: self.sample].astype(bool)
        self.history.append(bits[self.drawn])
        for name, value in frame["regions"].items():
            self.firing.setdefault(name, deque(maxlen=40)).append(value)

    def raster(self) -> Text:
        """Braille rows: 4 drawn neurons per row, 2 frames per character, the row coloured by its first neuron's region."""
        text = Text()
        frames = list(self.history)
        if len(frames) % 2:
            frames = frames[1:]
        for first in range(0, len(self.drawn), 4):
            cells = []
            for pair in range(0, len(frames), 2):
                code = 0
                for column in range(2):
                    fired = frames[pair + column]
                    for row in range(min(4, len(self.drawn) - first)):
                        if fired[first + row]:
                            code |= DOTS[row][column]
                cells.append(chr(BRAILLE + code))
            region = int(self.drawn_region[first])
            text.append("".join(cells) or " ", style=COLOURS[region % len(COLOURS)])
            text.append(f" {self.regions[region]}\n" if first == 0 or self.drawn_region[first - 4] != region else "\n", style="dim")
        return text

    def render(self) -> Group:
        frame = self.frame or {}
        vitals = Table.grid(padding=(0, 2))
        for _ in range(4):
            vitals.add_column()
        if frame:
            vitals.add_row(
                f"step {frame['step']:,}", f"{frame['step'] / 1000:,.1f} s", f"{frame['realtime_factor']:.2f}x real time" if not frame["paused"] else "paused",
                f"firing {100 * frame['firing_fraction']:.2f} % ({100 * frame['firing_min']:.2f}-{100 * frame['firing_max']:.2f})",
            )
            vitals.add_row(f"threshold {frame['mean_threshold']:.3f}", f"drive {frame['drive']:+.3f}",
                           "  ".join(f"{name} {value:+.2f}" for name, value in frame["modulators"].items()), f"frames skipped {self.skipped}")
        regions = Table(box=None, show_header=True, header_style="bold")
        for column in ("region", "firing", "last 4 s"):
            regions.add_column(column)
        for index, name in enumerate(self.regions):
            values = list(self.firing.get(name, ()))
            regions.add_row(Text(name, style=COLOURS[index % len(COLOURS)]), f"{values[-1]:.4f}" if values else "", sparkline(values))
        return Group(
            Panel(vitals, title="brainchat top", subtitle="q or Ctrl-C leaves", title_align="left"),
            Panel(self.raster(), title=f"raster: {len(self.drawn)} of {self.sample} sampled neurons, each frame's last step; 2 frames per character", title_align="left"),
            Panel(regions, title="regions", title_align="left"),
            Panel(Text("\n".join(self.events) or "no events yet"), title="events", title_align="left"),
        )


def run_top(stream: Iterator[dict[str, Any]], console: Console) -> None:
    """Draw the stream until ``q``, Ctrl-C or the end of the stream; the terminal is restored whatever happens."""
    header = next(stream)
    rows = max(4, min(16, (console.height - 24) // 1))
    view = TopView(header, rows=rows, columns=max(20, min(80, console.width - 20)))
    keyboard = sys.stdin if sys.stdin.isatty() else None
    saved = termios.tcgetattr(keyboard) if keyboard is not None else None
    try:
        if keyboard is not None:
            tty.setcbreak(keyboard.fileno())
            # Ctrl-C as a key, not a signal: it leaves top even where SIGINT was inherited ignored
            # (Python then raises no KeyboardInterrupt; seen under pytest in CI)
            attributes = termios.tcgetattr(keyboard)
            attributes[3] &= ~termios.ISIG
            termios.tcsetattr(keyboard, termios.TCSANOW, attributes)
        with Live(view.render(), console=console, screen=True, auto_refresh=False) as live:
            for item in stream:
                if "stream" in item:  # a load put another brain in place: its own regions and sample
                    view = TopView(item, rows=rows, columns=max(20, min(80, console.width - 20)))
                    continue
                view.feed(item)
                live.update(view.render(), refresh=True)
                if keyboard is not None and select.select([keyboard], [], [], 0)[0]:
                    typed = os.read(keyboard.fileno(), 16).lower()
                    if b"q" in typed or b"\x03" in typed:
                        return
    except KeyboardInterrupt:
        return
    finally:
        if saved is not None:
            termios.tcsetattr(keyboard, termios.TCSADRAIN, saved)
