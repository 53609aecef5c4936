"""The control socket: a running brain takes commands from any other terminal.

A Unix domain socket, mode 0600 (only its owner can connect), in a 0700 folder. JSON lines:
one request, one response each, e.g. ``{"v": 1, "cmd": "reward", "value": 1}`` ->
``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``, except ``subscribe``, whose
response goes on as a stream of frames until the client closes the connection (see
:data:`~brainchat.control.handlers.COMMANDS`, ``docs/control-socket.md``).

Each client gets its own thread; none of them touches the brain: they talk to the
:class:`~brainchat.runtime.runner.Runner` like the REPL does. A request larger than
:data:`MAX_REQUEST` bytes, malformed JSON or an unknown command gets an error response; a
client that stays silent for :data:`IDLE_SECONDS` is disconnected; past
:data:`MAX_CLIENTS` at once, a new client is told to come back later. None of it disturbs the
brain. A socket file left by a crashed brain is detected (nobody answers on it) and replaced;
a live one is refused.
"""

from __future__ import annotations

import json
import math
import os
import select
import socket
import stat
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from brainchat.errors import BrainchatError

PROTOCOL_VERSION = 1


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, so that it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def json_line(value: Any) -> bytes:
    return json.dumps(finite(value), allow_nan=False).encode() + b"\n"
MAX_REQUEST = 64 * 1024  # bytes in one request line
IDLE_SECONDS = 30.0
MAX_CLIENTS = 64
REPLY_TIMEOUT = 600.0
STREAM_BUFFER = 4096  # bytes a stream may queue for a client: a few frames


def default_socket_path() -> Path:
    """``$XDG_RUNTIME_DIR/brainchat/brain.sock``, else ``/tmp/brainchat-<uid>/brain.sock``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "brainchat" if runtime else Path(f"/tmp/brainchat-{os.getuid()}")
    return base / "brain.sock"


class SocketInUse(BrainchatError):
    """Another brain already listens on the socket path."""

    exit_code = 1


class Stream:
    """A response that goes on: each item a JSON line, until the items end, the client leaves or the server stops (``subscribe``)."""

    def __init__(self, items: Iterator[dict[str, Any]]):
        self.items = items


Handler = Callable[[dict[str, Any]], "dict[str, Any] | Stream"]


class ControlServer:
    """Serves JSON-line requests on a Unix socket; ``handle`` turns a request into a response."""

    def __init__(self, path: str | os.PathLike, handle: Handler, idle_seconds: float = IDLE_SECONDS):
        self.path = Path(path).expanduser()
        self.idle_seconds = idle_seconds
        self._handle = handle
        self._listener: socket.socket | None = None
        self._clients = threading.BoundedSemaphore(MAX_CLIENTS)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._inode: int | None = None

    def start(self) -> "ControlServer":
        self._listener = self._bind()
        self._thread = threading.Thread(target=self._accept_loop, name="brainchat-control", daemon=True)
        self._thread.start()
        return self

    def _bind(self) -> socket.socket:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.path == default_socket_path():
            check_private_folder(folder)
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise SocketInUse(f"{self.path} exists and is not a socket; remove it or choose --socket PATH")
            if _answers(self.path):
                raise SocketInUse(f"a brain is already running at {self.path}; talk to it with `brainchat say`, or choose --socket PATH")
            self.path.unlink()  # stale: left by a brain that crashed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous = os.umask(0o177)  # the socket is created 0600: no moment when others could connect
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(previous)
        os.chmod(self.path, 0o600)
        self._inode = self.path.lstat().st_ino
        listener.listen(MAX_CLIENTS)
        listener.settimeout(0.5)
        return listener

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
        try:
            if self._inode is not None and self.path.lstat().st_ino == self._inode:
                self.path.unlink()  # only if it is still ours: another brain may have replaced it
        except OSError:
            pass

    def __enter__(self) -> "ControlServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if not self._clients.acquire(blocking=False):
                _send(connection, {"ok": False, "error": f"busy: {MAX_CLIENTS} clients are connected; try again"})
                connection.close()
                continue
            threading.Thread(target=self._serve, args=(connection,), name="brainchat-client", daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(self.idle_seconds)
            pending = b""
            while not self._stopping.is_set():
                newline = pending.find(b"\n")
                if newline < 0:
                    if len(pending) > MAX_REQUEST:
                        _send(connection, {"ok": False, "error": f"request larger than {MAX_REQUEST} bytes"})
                        return
                    try:
                        chunk = connection.recv(65536)
                    except socket.timeout:
                        _send(connection, {"ok": False, "error": f"no request within {self.idle_seconds:g} s; disconnected"})
                        return
                    if not chunk:
                        return
                    pending += chunk
                    continue
                line, pending = pending[:newline], pending[newline + 1 :]
                if len(line) > MAX_REQUEST:
                    _send(connection, {"ok": False, "error": f"request larger than {MAX_REQUEST} bytes"})
                    return
                if line.strip():
                    response = self._respond(line)
                    if isinstance(response, Stream):
                        self._stream(connection, response)
                        return
                    _send(connection, response)
        except OSError:
            pass  # the client went away
        finally:
            connection.close()
            self._clients.release()

    def _stream(self, connection: socket.socket, stream: Stream) -> None:
        """Write a stream's items until it ends, the client goes away (a failed send) or the server stops.

        The next item is taken only once the client has read what it was sent (a small send
        buffer, and a wait until the socket is writable): a viewer that reads slowly gets the
        newest frame when it is ready, not a backlog queued in the socket.
        """
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, STREAM_BUFFER)
        try:
            while not self._stopping.is_set():
                _, writable, _ = select.select([], [connection], [], 0.5)
                if not writable:
                    continue
                item = next(stream.items, None)
                if item is None:
                    return
                connection.sendall(json_line(item))
        finally:
            close = getattr(stream.items, "close", None)
            if close is not None:
                close()

    def _respond(self, line: bytes) -> "dict[str, Any] | Stream":
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            return {"ok": False, "error": f"not a JSON object: {error}"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "not a JSON object"}
        if request.get("v") != PROTOCOL_VERSION:
            return {"ok": False, "error": f"unsupported protocol version {request.get('v')!r}; this brain speaks v{PROTOCOL_VERSION}"}
        try:
            return self._handle(request)
        except BrainchatError as error:
            return {"ok": False, "error": str(error)}
        except (TypeError, ValueError, KeyError) as error:
            return {"ok": False, "error": f"bad request: {error}"}
        except Exception as error:  # noqa: BLE001 - a stopped or timed-out brain: the client hears why
            return {"ok": False, "error": f"{type(error).__name__}: {error}"}


def check_private_folder(folder: Path) -> None:
    """Refuse a socket folder that another user owns or others may write into.

    The fallback folder lives in /tmp, where anyone could have made it first and planted a
    socket of their own to hear what is said to the brain.
    """
    try:
        info = folder.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise SocketInUse(f"refusing the socket folder {folder}: it is not yours alone (owner, symlink or mode); choose --socket PATH")


def _answers(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def _send(connection: socket.socket, response: dict[str, Any]) -> None:
    try:
        connection.sendall(json_line(response))
    except OSError:
        pass
