"""The conversation log: every line said, reply, teaching, reward, save and load of every run, in SQLite, searchable.

A :class:`Recorder` is a client of the runner's frame ring (:mod:`brainchat.runtime.frames`),
as the control socket's viewers are: its own thread looks at the ring every
:data:`POLL_SECONDS`, writes the events that are new, each with the newest frame's firing
and dopamine and the snapshot in use, and commits them as one transaction. The stepping
thread never waits for SQLite. The database is in write-ahead-log mode with
``synchronous = NORMAL``: a committed batch survives a crash of the process (``kill -9``
loses at most the events of the last tenth of a second). A database that is unreadable or
locked costs one line on stderr, and the brain carries on without its log.

The schema (``PRAGMA user_version`` = :data:`SCHEMA_VERSION`) is in docs/conversation-log.md.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from brainchat.config import user_data_folder
from brainchat.errors import LogError
from brainchat.runtime.frames import FrameRing, RingReader

SCHEMA_VERSION = 1
POLL_SECONDS = 0.1
BUSY_TIMEOUT_MS = 2000  # how long a write waits for another writer (a second brain) before the batch is retried later
STOP_SECONDS = 10.0  # how long the end of a run waits for the last batch

# which fields of an event are the line said and the reply, by kind
_TEXTS = {"say": ("text", None), "reply": ("said", "text"), "teach": ("text", "reply"), "taught": ("said", "text")}

_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,      -- UTC, ISO 8601
    pid INTEGER NOT NULL,
    neurons INTEGER,
    seed INTEGER
);
CREATE TABLE entries (
    id INTEGER PRIMARY KEY,
    run INTEGER NOT NULL REFERENCES runs(id),
    time TEXT NOT NULL,         -- UTC, ISO 8601, when the recorder wrote it (within 0.1 s of the event)
    step INTEGER NOT NULL,      -- the brain's step (ms of brain time) of the event
    kind TEXT NOT NULL,         -- say, reply, teach, taught, reward, save, load
    said TEXT,                  -- the line said (say, reply, teach, taught)
    reply TEXT,                 -- the reply (reply), the reply taught (teach), what it said while taught (taught)
    value REAL,                 -- the reward's value (reward)
    firing REAL,                -- fraction of the living neurons firing per step, newest frame
    dopamine REAL,              -- dopamine level (after the pulse, for a reward)
    snapshot TEXT,              -- the snapshot in use: loaded at start, or last loaded or saved
    details TEXT                -- the event's other fields as JSON (bytes of a save, ...)
);
CREATE INDEX entries_by_kind ON entries(kind, id);
"""
_SEARCH_SCHEMA = """
CREATE VIRTUAL TABLE entries_text USING fts5(said, reply, content='entries', content_rowid='id');
CREATE TRIGGER entries_indexed AFTER INSERT ON entries BEGIN
    INSERT INTO entries_text(rowid, said, reply) VALUES (new.id, new.said, new.reply);
END;
"""


def log_path() -> Path:
    """``$XDG_DATA_HOME/brainchat/log.db`` (``~/.local/share/brainchat/log.db``)."""
    return user_data_folder() / "log.db"


def _off_marker(path: Path) -> Path:
    return path.with_name(path.name + ".off")


def enabled(path: Path) -> bool:
    """Whether runs log (``brainchat log off`` leaves a marker file beside the database)."""
    return not _off_marker(path).exists()


def set_enabled(path: Path, on: bool) -> None:
    marker = _off_marker(path)
    try:
        if on:
            marker.unlink(missing_ok=True)
        else:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("brainchat log on: log the conversations again\n")
    except OSError as error:
        raise LogError(f"cannot {'remove' if on else 'write'} {marker}: {error.strerror or error}") from None


def fts5_available() -> bool:
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE probe USING fts5(text)")
    except sqlite3.Error:
        return False
    return True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _reason(error: sqlite3.Error | OSError) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _locked(error: sqlite3.Error) -> bool:
    return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return connection


def _check(connection: sqlite3.Connection, path: Path) -> None:
    """Refuse a database that is not a brainchat log, or one of a newer brainchat (reads the header: raises on garbage)."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version > SCHEMA_VERSION:
        raise LogError(f"conversation log {path} was written by a newer brainchat (schema {version}); update brainchat")
    if tables and not {"runs", "entries"} <= tables:
        raise LogError(f"conversation log {path} is not a brainchat log (move it away to start a new one)")


def open_for_writing(path: Path) -> sqlite3.Connection:
    """Open the log at ``path``, making it (and its folder) if needed; :class:`LogError` with the reason otherwise."""
    connection = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = _connect(path)
        connection.execute("PRAGMA journal_mode = WAL")  # the first read of the file: garbage fails here
        connection.execute("PRAGMA synchronous = NORMAL")
        _check(connection, path)
        if connection.execute("PRAGMA user_version").fetchone()[0] == 0:
            with connection:
                connection.executescript(_SCHEMA + (_SEARCH_SCHEMA if fts5_available() else "") + f"PRAGMA user_version = {SCHEMA_VERSION};")
        return connection
    except (sqlite3.Error, OSError, LogError) as error:
        if connection is not None:
            connection.close()
        if isinstance(error, LogError):
            raise
        raise LogError(f"conversation log {path} is unreadable ({_reason(error)})") from None


def _warn(message: str) -> None:
    print(f"brainchat: {message}", file=sys.stderr, flush=True)  # sys.stderr now: the prompt may have patched it


class Recorder(RingReader):
    """Writes a runner's events into the conversation log from its own thread: ``with Recorder(runner.frames, ...):``.

    ``snapshot`` is the snapshot the brain started from (a path), if any; after that, the
    snapshot in use is the one last saved or loaded.
    """

    def __init__(
        self, frames: FrameRing, path: Path, *, snapshot: str | os.PathLike | None = None, neurons: int | None = None, seed: int | None = None,
    ):
        super().__init__(frames, "brainchat-log")
        self.path = path
        self.snapshot = os.path.abspath(snapshot) if snapshot else None
        self._run_fields = (neurons, seed)
        self._connection: sqlite3.Connection | None = None
        self._run = 0
        self._frame: dict[str, Any] | None = None
        self._frame_seen = 0
        self._event_seen = 0
        self._pending: list[tuple] = []
        self._warned_locked = False
        self.written = 0  # entries committed so far

    @property
    def logging(self) -> bool:
        return self._connection is not None

    def start(self) -> "Recorder":
        """Open the log and start recording; an unusable log is one line on stderr and no recording."""
        try:
            connection = open_for_writing(self.path)
            with connection:
                self._run = connection.execute(
                    "INSERT INTO runs (started, pid, neurons, seed) VALUES (?, ?, ?, ?)", (_now(), os.getpid(), *self._run_fields)
                ).lastrowid
        except LogError as error:
            _warn(f"{error}: not logging this run")
            return self
        except sqlite3.Error as error:
            connection.close()
            _warn(f"conversation log {self.path} cannot be written ({_reason(error)}): not logging this run")
            return self
        self._connection = connection
        self._thread.start()
        return self

    stop_seconds = STOP_SECONDS  # stop() writes what is left in the ring, then closes

    def _main(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self._record()
        self._record()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _record(self) -> None:
        if self._connection is None:
            return
        frame, _, events, self._event_seen = self.frames.since(self._frame_seen, self._event_seen)
        if frame is not None:
            self._frame, self._frame_seen = frame, frame["seq"]
        self._pending += [self._entry(event) for event in events]
        if not self._pending:
            return
        try:
            with self._connection:
                self._connection.executemany(
                    "INSERT INTO entries (run, time, step, kind, said, reply, value, firing, dopamine, snapshot, details)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._pending)
        except sqlite3.Error as error:
            if _locked(error):  # another writer holds it: keep the batch for the next turn
                if not self._warned_locked:
                    self._warned_locked = True
                    _warn(f"conversation log {self.path} is locked by another program; its entries wait until it is free")
                return
            _warn(f"conversation log {self.path} cannot be written ({_reason(error)}): not logging the rest of this run")
            self._connection.close()
            self._connection = None
            return
        self.written += len(self._pending)
        self._pending = []

    def _entry(self, event: dict[str, Any]) -> tuple:
        """One row of ``entries`` for an event of the ring."""
        fields = dict(event)
        kind, step = fields.pop("kind"), fields.pop("step")
        said_key, reply_key = _TEXTS.get(kind, (None, None))
        said = fields.pop(said_key) if said_key else None
        reply = fields.pop(reply_key) if reply_key else None
        if kind in ("save", "load") and (path := fields.pop("path", None)):
            self.snapshot = os.path.abspath(path)
        frame = self._frame or {}
        dopamine = fields.pop("dopamine", None)
        if dopamine is None:
            dopamine = frame.get("modulators", {}).get("dopamine")
        value = fields.pop("value", None)
        details = json.dumps(fields) if fields else None
        return (self._run, _now(), step, kind, said, reply, value, frame.get("firing_fraction"), dopamine, self.snapshot, details)


# ---- reading (brainchat log) ----------------------------------------------------------------

_COLUMNS = ("id", "run", "time", "step", "kind", "said", "reply", "value", "firing", "dopamine", "snapshot", "details")


def entry_text(entry: dict[str, Any]) -> str:
    """What an entry says, in a few words: the line, the reply, ``prompt => reply``, the reward, the snapshot."""
    kind = entry["kind"]
    if kind == "say":
        return entry["said"] or ""
    if kind in ("reply", "taught"):
        return entry["reply"] or ""
    if kind == "teach":
        return f"{entry['said']} => {entry['reply']}"
    if kind == "reward" and entry["value"] is not None:
        return f"{entry['value']:+g}"
    if kind in ("save", "load"):
        return entry["snapshot"] or ""
    return ""


def _search(query: str, fts: bool) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters for ``-q``: every word must be in the line said or the reply (``word*``: a word that starts so)."""
    words = query.split()
    if fts and any(char.isalnum() for char in query):
        terms = []
        for word in words:
            prefix = word.endswith("*")
            word = word.rstrip("*")
            if any(char.isalnum() for char in word):  # each word quoted: FTS5's own syntax (quotes, -, *, AND, NEAR) never reaches it;
                # a word of punctuation only ("?") is no word to FTS5's tokenizer, and would match nothing
                terms.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
        return "e.id IN (SELECT rowid FROM entries_text WHERE entries_text MATCH ?)", [" AND ".join(terms)]
    clauses, parameters = [], []
    for word in words:
        word = word.rstrip("*") or word  # a substring: a prefix is one already
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append("(e.said LIKE ? ESCAPE '\\' OR e.reply LIKE ? ESCAPE '\\')")
        parameters += [pattern, pattern]
    return " AND ".join(clauses) or "1", parameters


def read_entries(path: Path, limit: int = 20, query: str | None = None) -> list[dict[str, Any]]:
    """The last ``limit`` entries (matching ``query``, if given), oldest first; ``[]`` when there is no log yet."""
    if not path.exists():
        return []
    try:
        connection = _connect(path)
    except sqlite3.Error as error:
        raise LogError(f"conversation log {path} is unreadable ({_reason(error)})") from None
    try:
        _check(connection, path)
        where, parameters = "1", []
        if query and query.strip():
            fts = fts5_available() and connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'entries_text'").fetchone() is not None
            where, parameters = _search(query, fts)
        rows = connection.execute(
            f"SELECT {', '.join('e.' + c for c in _COLUMNS)} FROM entries e WHERE {where} ORDER BY e.id DESC LIMIT ?", [*parameters, limit]
        ).fetchall()
    except sqlite3.Error as error:
        raise LogError(f"conversation log {path} is unreadable ({_reason(error)}); move it away and the next run starts a new one") from None
    finally:
        connection.close()
    entries = []
    for row in reversed(rows):
        entry = dict(zip(_COLUMNS, row))
        entry.update(json.loads(entry.pop("details") or "{}"))
        entry["text"] = entry_text(entry)
        entries.append(entry)
    return entries

