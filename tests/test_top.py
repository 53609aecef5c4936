"""`brainchat top` in a real pseudo-terminal, attached to a real headless brain: it draws the raster and leaves cleanly."""

from __future__ import annotations

import re
import signal

import pexpect
import pytest
from pty_terminal import Terminal
from test_control import cli, environment, headless  # noqa: F401  (the fixture is used by name)

BRAILLE_DOTS = re.compile("[\u2801-\u28ff]")


@pytest.mark.parametrize("leave", ["q", "\x03"], ids=["q", "ctrl-c"])
def test_top_shows_the_raster_and_leaves_cleanly(headless, tmp_path, leave):  # noqa: F811
    env = {**environment(tmp_path), "TERM": "xterm", "PYTHONUNBUFFERED": "1"}
    term = Terminal("top", "--fps", "10", env=env)
    try:
        term.wait_for("brainchat top", timeout=60)
        term.wait_for(r"step [\d,]+", timeout=30)
        cli(tmp_path, "say", "hello")
        term.pump(10.0 if leave == "q" else 3.0)  # it keeps drawing for 10 s
        screen = term.text()
        assert len(BRAILLE_DOTS.findall(screen)) > 5, f"the raster shows spikes:\n{screen}"
        for region in ("input", "association", "cortex", "output"):
            assert region in screen
        assert re.search(r"(?m)^.*cortex\s+0\.0[3-7]\d*", screen), "the cortex's firing is near its target"
        assert re.search(r"(say|reply)\s+", screen), "the line said from another terminal shows as events"
        term.type(leave)
        term.child.expect(pexpect.EOF, timeout=30)
        term.child.close()
        assert term.child.exitstatus == 0 and term.child.signalstatus in (None, 0), term.transcript[-1500:]
        tail = term.child.before or b""
        assert b"Traceback" not in term.transcript + tail
        assert b"\x1b[?1049l" in tail, "the screen is given back (the alternate screen left)"
    finally:
        term.close()
    assert headless.poll() is None, "the brain runs on"


def test_top_without_a_brain_says_so_in_one_line(tmp_path):
    done = cli(tmp_path, "top")
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "no brain is running" in done.stderr
