"""The real ``brainchat run`` in a pseudo-terminal, read through a VT100 screen emulator.

prompt_toolkit redraws only the cells that change, so the tests look at the emulated screen
(pyte), as a person would, not at the byte stream.
"""

from __future__ import annotations

import os
import re
import signal

import pexpect
import pytest
from pty_terminal import Terminal

NEURONS = "20000"


@pytest.fixture
def env(tmp_path):
    values = {k: v for k, v in os.environ.items() if not k.startswith("BRAINCHAT_")}
    values.update(TERM="xterm", XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONUNBUFFERED="1")
    return values


@pytest.fixture
def terminal(env, tmp_path):
    os.chdir(tmp_path)
    term = Terminal("run", "--neurons", NEURONS, "--seed", "1", "--device", "cpu", env=env)
    term.wait_for("type to talk to the brain")
    yield term
    term.close()


def test_the_brain_keeps_stepping_while_the_prompt_waits(terminal):
    first = terminal.toolbar_step()
    terminal.pump(1.2)
    second = terminal.toolbar_step()
    assert second > first, f"toolbar step stuck at {first}"
    assert re.search(r"firing \d+\.\d+ % \| threshold \d\.\d{3} \| drive [+-]\d\.\d{3} \| dopamine [+-]\d\.\d{2} \| mood [+-]\d\.\d{2} \| cpu", terminal.text())


def test_typed_lines_get_replies(terminal, tmp_path):
    # a reply may begin with a space (the space character has its own output patch)
    terminal.type("hello\r")
    terminal.wait_for(r"(?m)^brain> .*\S")
    terminal.type("cat\r")
    terminal.wait_for(r"(?ms)^brain> .*\S.*^brain> .*\S")
    history = (tmp_path / "data" / "brainchat" / "history").read_text()
    assert "+hello" in history and "+cat" in history


def test_help_stats_pause_resume(terminal):
    terminal.type("/help\r")
    terminal.wait_for(r"/speed X\|max")
    terminal.type("/stats\r")
    terminal.wait_for(r"spikes of 24 neurons over 72 ms")
    assert re.search(r"[|.]{72}", terminal.text()), "a raster row is drawn"
    terminal.type("/pause\r")
    terminal.wait_for("paused: the brain holds still")
    terminal.wait_for(r"\| paused \|")
    held = terminal.toolbar_step()
    terminal.pump(1.0)
    assert terminal.toolbar_step() == held
    terminal.type("/resume\r")
    terminal.wait_for("resumed")
    terminal.pump(1.0)
    assert terminal.toolbar_step() > held
    terminal.type("/bogus\r")
    terminal.wait_for("unknown command /bogus; /help lists the commands")


def test_ctrl_c_clears_the_line_and_ctrl_d_leaves(terminal):
    terminal.type("half a thought")
    terminal.wait_for("you> half a thought")
    terminal.type("\x03")
    terminal.pump(0.5)
    terminal.type("/help\r")
    terminal.wait_for("Anything else you type is said to the brain")
    assert "half a thought/help" not in terminal.text()
    terminal.type("\x04")
    terminal.child.expect(pexpect.EOF, timeout=30)
    terminal.child.close()
    assert terminal.child.exitstatus == 0


def test_quit_and_sigterm_leave_cleanly(env, tmp_path):
    os.chdir(tmp_path)
    for leave in ("/quit\r", signal.SIGTERM):
        term = Terminal("run", "--neurons", "2000", "--device", "cpu", env=env)
        try:
            term.wait_for("type to talk to the brain")
            if isinstance(leave, str):
                term.type(leave)
            else:
                term.child.kill(leave)
            term.child.expect(pexpect.EOF, timeout=30)
            term.child.close()
            assert term.child.exitstatus == 0, term.transcript[-2000:]
            assert b"Traceback" not in term.transcript
        finally:
            term.close()


def test_regions_shows_each_region_firing_now(terminal):
    """/regions in a real terminal: the four regions of the default brain, the living cortex near its target, the plastic readout."""
    terminal.pump(2.0)  # a few vitals intervals, so that there is a firing to show
    terminal.type("/regions\r")
    match = terminal.wait_for(r"cortex\s+\S+\s+[\d,]+\s+lif\s+living\s+0\.80\s+0\.050\s+(0\.0\d+)")
    assert 0.03 < float(match.group(1)) < 0.07, terminal.text()
    terminal.wait_for(r"readout\s+association -> output\s+every_patch\s+[\d,]+\s+96\s+yes")
    for region in ("input", "association", "output"):
        assert re.search(rf"(?m)^\s*{region}\s", terminal.text()), region


def test_see_shows_an_image_and_a_bad_path_is_one_line(env, tmp_path):
    """/see in the real REPL of a brain with eyes: a text grid and a PNG are seen, a missing file gets one line, the brain talks on."""
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "seeing-brain.toml"
    os.chdir(tmp_path)
    (tmp_path / "bar.txt").write_text("00900\n00900\n00900\n00900\n")
    term = Terminal("--config", str(example), "run", "--neurons", NEURONS, "--seed", "1", "--device", "cpu", env=env)
    try:
        term.wait_for("type to talk to the brain")
        term.type("/see bar.txt\r")
        term.wait_for(r"(?m)^brain> ")
        term.type("/teach => 1\r")
        term.wait_for(r"taught the image => '1'|it already answers the image with '1'")
        term.type("/see nowhere.png\r")
        term.wait_for(r"not seen: no image at nowhere\.png")
        term.type("hello\r")
        term.wait_for(r"(?m)^brain> .*\S")
    finally:
        term.close()


def test_lesion_and_stroke_in_the_repl_and_mistakes_are_one_line(terminal):
    """/lesion and /stroke in the real REPL: neurons die, /regions counts them, a wrong region gets one line, the brain talks on."""
    terminal.type("/lesion cortex 10%\r")
    match = terminal.wait_for(r"([\d,]+) neurons of cortex died \(([\d,]+) dead in all\); renewed from their neighbours in 1 s")
    assert int(match.group(1).replace(",", "")) > 0 and match.group(1) == match.group(2), "a tenth of the cortex, the first dead"
    terminal.type("/stroke 10 10 3\r")
    terminal.wait_for(r"neurons of cortex died \([\d,]+ dead in all\)")
    terminal.type("/lesion nowhere 0.1\r")
    terminal.wait_for(r"no lesion: no region 'nowhere'; this brain has input, association, cortex, basket, output")
    terminal.type("/regions\r")
    terminal.wait_for(r"dead and new neurons[\s\S]*cortex\s+[\d,]+\s+[\d,]+\s+5,666")  # counted once any died
    terminal.type("hello\r")
    terminal.wait_for(r"(?m)^brain> .*\S")
    assert "Traceback" not in terminal.text()


def test_chem_in_the_repl_shows_and_doses_and_the_toolbar_keeps_the_mood(terminal):
    """/chem in the real REPL: the four levels and what each does; /chem set doses one; a bad name is one line; the toolbar shows the mood."""
    terminal.wait_for(r"mood [+-]\d\.\d\d")
    terminal.type("/chem\r")
    terminal.wait_for(r"acetylcholine\s+\d\.\d\d[\s\S]*glutamate and GABA")
    terminal.type("/chem set noradrenaline 1.4 20\r")
    terminal.wait_for(r"noradrenaline\s+1\.40[\s\S]*gain x1\.70")
    terminal.type("/chem set dopa 1\r")
    terminal.wait_for(r"no dose: no neuromodulator 'dopa'")
    terminal.type("hello\r")
    terminal.wait_for(r"(?m)^brain> .*\S")
    assert "Traceback" not in terminal.text()


def test_sleep_and_wake_in_the_repl_keep_a_line_said_meanwhile(terminal):
    """/sleep in the real REPL: the toolbar says asleep, a line gets one line and is kept, /wake answers it; a bad /sleep is one line."""
    terminal.wait_for(r"\| sleep in \d+:\d\d \|")
    terminal.type("/sleep soon\r")
    terminal.wait_for(r"usage: /sleep \[MINUTES\]")
    terminal.type("/sleep 5\r")
    terminal.wait_for(r"asleep · wakes in [45]:\d\d: it replays the 0 pairs")
    terminal.wait_for(r"\| asleep, wake in \d:\d\d \|")
    terminal.type("are you there\r")
    terminal.wait_for(r"brain> \(no reply: asleep; /wake to wake it \(the line is kept and said when it wakes\)\)")
    terminal.type("/wake\r")
    terminal.wait_for(r"awake after \d+ replays\s+you said 'are you there' while it slept; brain> ")
    terminal.wait_for(r"\| sleep in \d+:\d\d \|")
    assert "Traceback" not in terminal.text()
