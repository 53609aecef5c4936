"""Drive a real ``brainchat`` in a pseudo-terminal and read its screen through a VT100 emulator.

prompt_toolkit redraws only the cells that change, so what a person sees is the emulated
screen (pyte), not the byte stream. The screen answers cursor-position requests as a real
terminal does; without that prompt_toolkit cannot place its bottom toolbar.
"""

from __future__ import annotations

import re
import sys
import time

import pexpect
import pyte

ROWS, COLUMNS = 40, 150


class AnsweringScreen(pyte.Screen):
    """A screen that answers the terminal's queries (cursor position reports), as a real one does."""

    child: pexpect.spawn | None = None

    def write_process_input(self, data: str) -> None:
        if self.child is not None:
            self.child.send(data)


class Terminal:
    """A child process in a pseudo-terminal, and the screen it has drawn so far."""

    def __init__(self, *args: str, env: dict):
        self.screen = AnsweringScreen(COLUMNS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.transcript = b""
        self.child = pexpect.spawn(sys.executable, ["-m", "brainchat", *args], env=env, dimensions=(ROWS, COLUMNS), timeout=5)
        self.screen.child = self.child

    def pump(self, seconds: float = 0.1) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                chunk = self.child.read_nonblocking(65536, timeout=max(0.0, min(0.05, deadline - time.monotonic())))
                self.transcript += chunk
                self.stream.feed(chunk)
            except pexpect.TIMEOUT:
                pass
            except pexpect.EOF:
                return
            if time.monotonic() >= deadline:
                return

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump(0.1)
            found = re.search(pattern, self.text())
            if found:
                return found
            if not self.child.isalive():
                break
        raise AssertionError(f"never saw {pattern!r} on the screen:\n{self.text()}")

    def toolbar_step(self) -> int:
        return int(self.wait_for(r"step ([\d,]+) \|").group(1).replace(",", ""))

    def type(self, text: str) -> None:
        self.child.send(text)

    def close(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)
