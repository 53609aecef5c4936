"""The conversation log: real brains (a pipe, a headless brain killed with -9) write it, ``brainchat log`` reads and searches it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_control import environment

from brainchat import logbook
from brainchat.runtime.frames import FrameRing

ARGS = ["--neurons", "10000", "--device", "cpu"]


def env_of(tmp_path: Path) -> dict:
    return {**environment(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}


def brainchat(tmp_path: Path, *args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "brainchat", *args], input=stdin, capture_output=True, text=True, env=env_of(tmp_path),
                          cwd=tmp_path, timeout=timeout)


def database(tmp_path: Path) -> Path:
    return tmp_path / "data" / "brainchat" / "log.db"


def logged(tmp_path: Path, *args: str) -> list[dict]:
    done = brainchat(tmp_path, "log", "--json", "-n", "1000", *args)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["path"] == str(database(tmp_path))
    return report["entries"]


def test_a_piped_conversation_is_in_the_log_and_q_finds_its_lines(tmp_path):
    lines = ["hello there", "/save first", "what is a cat", "+", "/load first", "good dog"]
    done = brainchat(tmp_path, "run", *ARGS, stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    hello, _, cat, _, _, dog = done.stdout.splitlines()
    first = str(tmp_path / "checkpoints" / "first.h5")

    entries = logged(tmp_path)
    kinds = [e["kind"] for e in entries]
    assert kinds == ["say", "reply", "save", "say", "reply", "reward", "load", "say", "reply", "save"], "the autosave at the end is a save too"
    assert [e["said"] for e in entries if e["kind"] == "say"] == ["hello there", "what is a cat", "good dog"]
    assert [e["text"] for e in entries if e["kind"] == "reply"] == [hello, cat, dog]
    steps = [e["step"] for e in entries]
    assert steps[:6] == sorted(steps[:6]) and steps[0] >= 1000, "the step of each entry (a pipe's brain settles 1,000 steps first)"
    assert steps[6] == steps[2] and steps[6:] == sorted(steps[6:]), "the load took the brain back to the step it was saved at"
    assert all(0.02 < e["firing"] < 0.1 for e in entries), "the firing of the living neurons near its 5 % target"
    reward = entries[kinds.index("reward")]
    assert reward["value"] == 1.0 and reward["dopamine"] > 0.5, "a reward's dopamine is the level right after the pulse"
    assert [e["snapshot"] for e in entries[:2]] == [None, None], "no snapshot in use before the first save"
    assert {e["snapshot"] for e in entries[2:-1]} == {first}, "then the one saved, and loaded"
    assert entries[-1]["snapshot"] == str(tmp_path / "checkpoints" / "autosave.h5")

    found = logged(tmp_path, "-q", "cat")
    assert [(e["kind"], e["said"]) for e in found] == [("say", "what is a cat"), ("reply", "what is a cat")]
    assert [e["said"] for e in logged(tmp_path, "-q", "GOOD do*")] == ["good dog", "good dog"], "case-blind; word* is a prefix"
    assert logged(tmp_path, "-q", "cat dog") == [], "every word must be there"
    assert [e["kind"] for e in logged(tmp_path, "-n", "2")] == ["reply", "save"], "-n N: the last N"

    table = brainchat(tmp_path, "log")
    assert table.returncode == 0 and "hello there" in table.stdout and "good dog" in table.stdout
    assert brainchat(tmp_path, "log", "path").stdout.strip() == str(database(tmp_path))


def test_the_snapshot_a_run_starts_from_is_the_one_in_use(tmp_path):
    assert brainchat(tmp_path, "run", *ARGS, "--no-log", stdin="/save start\n").returncode == 0
    assert not database(tmp_path).exists(), "--no-log: nothing is logged"
    done = brainchat(tmp_path, "run", *ARGS, "--load", "start", stdin="hello\n")
    assert done.returncode == 0, done.stderr
    said = logged(tmp_path)[0]
    assert said["said"] == "hello" and said["snapshot"] == str(tmp_path / "checkpoints" / "start.h5")


def test_log_off_leaves_runs_out_until_log_on(tmp_path):
    assert brainchat(tmp_path, "log", "off").returncode == 0
    assert brainchat(tmp_path, "run", *ARGS, stdin="not logged\n").returncode == 0
    assert logged(tmp_path) == []
    assert "logging is off" in brainchat(tmp_path, "log").stdout
    assert brainchat(tmp_path, "log", "on").returncode == 0
    assert brainchat(tmp_path, "run", *ARGS, stdin="logged\n").returncode == 0
    assert [e["said"] for e in logged(tmp_path) if e["kind"] == "say"] == ["logged"]


def test_kill_9_of_a_headless_brain_loses_at_most_the_last_line(tmp_path):
    brain = subprocess.Popen([sys.executable, "-m", "brainchat", "run", "--headless", *ARGS, "--speed", "max"], env=env_of(tmp_path),
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while brainchat(tmp_path, "status").returncode != 0:
            assert brain.poll() is None and time.monotonic() < deadline, brain.stderr.read()
            time.sleep(0.2)
        lines = [f"line number {n} about a {word}" for n, word in enumerate(["cat", "dog", "fish", "bird", "frog"])]
        replies = []
        for line in lines:
            said = brainchat(tmp_path, "say", line, "--json")
            assert said.returncode == 0, said.stderr
            replies.append(json.loads(said.stdout)["reply"])
        brain.send_signal(signal.SIGKILL)
        assert brain.wait(30) == -signal.SIGKILL
    finally:
        if brain.poll() is None:
            brain.kill()
            brain.wait(30)
    entries = logged(tmp_path)
    said = [e["said"] for e in entries if e["kind"] == "say"]
    answered = [(e["said"], e["reply"]) for e in entries if e["kind"] == "reply"]
    assert said in (lines, lines[:-1]), "every line but possibly the last survived the kill"
    assert answered[:4] == list(zip(lines, replies))[:4]
    assert [e["said"] for e in logged(tmp_path, "-q", "fish")] == [lines[2], lines[2]]


def test_a_corrupt_log_is_one_line_and_the_brain_answers(tmp_path):
    database(tmp_path).parent.mkdir(parents=True)
    garbage = b"this is no database " * 300
    database(tmp_path).write_bytes(garbage)
    done = brainchat(tmp_path, "run", *ARGS, stdin="hello\ncat\n")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2, "the brain answers every line"
    about_log = [line for line in done.stderr.splitlines() if "conversation log" in line]
    assert about_log == [f"brainchat: conversation log {database(tmp_path)} is unreadable (file is not a database): not logging this run"]
    assert database(tmp_path).read_bytes() == garbage, "the user's file is left as it was"
    read = brainchat(tmp_path, "log")
    assert read.returncode == 1 and read.stdout == ""
    assert len(read.stderr.strip().splitlines()) == 1 and "is unreadable (file is not a database)" in read.stderr


def test_a_locked_log_is_one_line_and_the_brain_answers(tmp_path):
    database(tmp_path).parent.mkdir(parents=True)
    logbook.open_for_writing(database(tmp_path)).close()
    holder = sqlite3.connect(database(tmp_path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock for the whole run
    try:
        done = brainchat(tmp_path, "run", *ARGS, stdin="hello\n")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1, done.stderr
    about_log = [line for line in done.stderr.splitlines() if "conversation log" in line]
    assert about_log == [f"brainchat: conversation log {database(tmp_path)} cannot be written (database is locked): not logging this run"]


# ---- the recorder and the search, in this process ---------------------------------------------------

def record(path: Path, events: list[tuple[str, dict]], frame: dict | None = None) -> None:
    """Events through a recorder as a runner makes them: added while the recorder runs, and just before it stops."""
    ring = FrameRing()
    if frame is not None:
        ring.add_frame(frame)
    with logbook.Recorder(ring, path, neurons=100, seed=1):
        for step, (kind, fields) in enumerate(events):
            ring.add_event(kind, step, **fields)


FRAME = {"step": 5, "firing_fraction": 0.05, "modulators": {"dopamine": 0.25}, "regions": {}}
EVENTS = [("say", {"text": 'a "quoted" word'}), ("reply", {"text": "x-ray vision*", "said": 'a "quoted" word'}),
          ("teach", {"text": "good morning", "reply": "hi"}), ("taught", {"text": "ho", "said": "good morning"}),
          ("reward", {"value": -1.0, "dopamine": -0.5})]


@pytest.mark.parametrize("fts5", [True, False], ids=["fts5", "like"])
def test_search_takes_any_text_and_finds_lines_and_replies(tmp_path, monkeypatch, fts5):
    if not fts5:
        monkeypatch.setattr(logbook, "fts5_available", lambda: False)
    path = tmp_path / "log.db"
    record(path, EVENTS, FRAME)
    everything = logbook.read_entries(path, 100)
    assert [e["text"] for e in everything] == ['a "quoted" word', "x-ray vision*", "good morning => hi", "ho", "-1"]
    assert everything[0]["firing"] == 0.05 and everything[0]["dopamine"] == 0.25 and everything[-1]["dopamine"] == -0.5

    def kinds(query: str) -> list[str]:
        return [e["kind"] for e in logbook.read_entries(path, 100, query)]

    assert kinds("quoted") == ["say", "reply"]
    assert kinds("vision") == ["reply"]
    assert kinds("morn*") == ["teach", "taught"]
    assert kinds("hi") == ["teach"]
    for syntax in ('"', '"quoted', "x-ray", "*", "-", "NEAR(", "a AND OR", "'; DROP TABLE entries; --", "100%", "_"):
        logbook.read_entries(path, 100, syntax)  # FTS5's syntax characters are words here: nothing raises
    assert kinds("x-ray") == ["reply"]
    assert len(logbook.read_entries(path, 100)) == 5


def test_the_recorder_writes_what_came_just_before_its_stop(tmp_path):
    path = tmp_path / "log.db"
    lines = [("say", {"text": f"line {n}"}) for n in range(300)]
    record(path, lines)
    assert [e["said"] for e in logbook.read_entries(path, 1000)] == [f"line {n}" for n in range(300)]
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert connection.execute("SELECT neurons, seed FROM runs").fetchall() == [(100, 1)]


def test_log_of_a_foreign_database_is_one_line(tmp_path):
    path = tmp_path / "data" / "brainchat" / "log.db"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE photos (name TEXT)")
    done = brainchat(tmp_path, "log", "-q", "cat")
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
    assert "is not a brainchat log" in done.stderr
