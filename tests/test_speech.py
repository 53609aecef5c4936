"""``brainchat run --speak``: replies go to espeak-ng (a stand-in script on the PATH that writes down what it was asked to say), or one line says it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from brainchat import speech
from brainchat.runtime.frames import FrameRing

ARGS = ["--neurons", "10000", "--device", "cpu"]
NOT_INSTALLED = "brainchat: --speak: espeak-ng is not installed (apt install espeak-ng); replies are not spoken"


def stand_in(tmp_path: Path, body: str) -> Path:
    """A folder with an ``espeak-ng`` that runs ``body`` (sh); its arguments go to spoken.txt, one per line."""
    folder = tmp_path / "bin"
    folder.mkdir()
    program = folder / "espeak-ng"
    program.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> "{tmp_path / "spoken.txt"}"\n{body}\n')
    program.chmod(0o755)
    return folder


def run_speaking(tmp_path: Path, path: str, lines: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINCHAT_")}
    env.update(PATH=path, XDG_DATA_HOME=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "-m", "brainchat", "run", *ARGS, "--speak"], input=lines, capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)


def test_each_reply_is_spoken_with_espeak_ng(tmp_path):
    folder = stand_in(tmp_path, "exit 0")
    done = run_speaking(tmp_path, f"{folder}{os.pathsep}{os.environ.get('PATH', '')}", "hello\nwhat is a cat\n")
    assert done.returncode == 0, done.stderr
    replies = done.stdout.splitlines()
    assert len(replies) == 2 and "--speak" not in done.stderr
    spoken = (tmp_path / "spoken.txt").read_text().splitlines()
    assert spoken == [part for reply in replies if reply for part in ("--", reply)], "every reply, in order, after -- (a reply may start with -)"


def test_without_espeak_ng_one_line_says_so_and_replies_still_come(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = run_speaking(tmp_path, str(empty), "hello\ncat\n")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2 and all(done.stdout.splitlines())
    assert [line for line in done.stderr.splitlines() if "--speak" in line] == [NOT_INSTALLED]


def test_an_espeak_ng_that_fails_is_one_line_and_replies_still_come(tmp_path):
    folder = stand_in(tmp_path, 'echo "cannot open audio device" >&2; exit 1')
    done = run_speaking(tmp_path, f"{folder}{os.pathsep}{os.environ.get('PATH', '')}", "hello\ncat\ndog\n")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3, done.stderr
    about = [line for line in done.stderr.splitlines() if "--speak" in line]
    assert about == ["brainchat: --speak: espeak-ng failed (exit status 1: cannot open audio device); replies are no longer spoken"]
    assert (tmp_path / "spoken.txt").read_text().splitlines().count("--") == 1, "it is not tried again"


def test_replies_that_pile_up_keep_only_the_newest(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{stand_in(tmp_path, 'exit 0')}{os.pathsep}{os.environ.get('PATH', '')}")
    ring = FrameRing()
    for n in range(10):  # ten replies at once (a script, --speed max): the newest BACKLOG are spoken, the older dropped
        ring.add_event("reply", n, text=f"reply {n}", said="x")
    ring.add_event("reply", 10, text="", said="silence is not spoken")
    ring.add_event("say", 11, text="a line said is not spoken")
    with speech.Speaker(ring):
        pass
    spoken = [line for line in (tmp_path / "spoken.txt").read_text().splitlines() if line != "--"]
    assert spoken == [f"reply {n}" for n in range(10 - speech.BACKLOG, 10)]
