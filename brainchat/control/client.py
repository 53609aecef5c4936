"""The client side of the control socket, used by `brainchat say/reward/save/load/status`."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from brainchat.control.server import PROTOCOL_VERSION, REPLY_TIMEOUT, check_private_folder, default_socket_path, json_line
from brainchat.errors import BrainchatError


class NoBrainRunning(BrainchatError):
    """Nothing answers on the socket."""

    exit_code = 1


class BrainRefused(BrainchatError):
    """The brain answered with an error."""

    exit_code = 1


def _connect(target: Path, timeout: float) -> socket.socket:
    """A connection to the brain at ``target``, or :class:`NoBrainRunning` in one line."""
    if target == default_socket_path():
        check_private_folder(target.parent)
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(timeout)
    try:
        connection.connect(str(target))
    except (FileNotFoundError, ConnectionRefusedError):
        connection.close()
        raise NoBrainRunning(f"no brain is running at {target}; start one with `brainchat run`") from None
    except PermissionError:
        connection.close()
        raise NoBrainRunning(f"the brain at {target} belongs to another user") from None
    except OSError as error:
        connection.close()
        raise NoBrainRunning(f"cannot reach a brain at {target}: {error.strerror or error}") from None
    return connection


def request(path: str | Path, command: str, timeout: float = REPLY_TIMEOUT, **fields: Any) -> dict[str, Any]:
    """Send one request and return the brain's response; raises a one-line error otherwise."""
    target = Path(path).expanduser()
    connection = _connect(target, timeout)
    try:
        connection.sendall(json_line({"v": PROTOCOL_VERSION, "cmd": command, **fields}))
        received = b""
        while not received.endswith(b"\n"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
    except socket.timeout:
        raise BrainchatError(f"the brain at {target} did not answer within {timeout:.0f} s") from None
    except OSError as error:
        raise BrainchatError(f"the connection to the brain at {target} broke: {error.strerror or error}") from None
    finally:
        connection.close()
    if not received:
        raise BrainchatError(f"the brain at {target} closed the connection without answering")
    response = json.loads(received)
    if not response.get("ok"):
        raise BrainRefused(f"the brain says: {response.get('error', 'no reason given')}")
    return response


def subscribe(path: str | Path, fps: float = 10, frames: int | None = None, timeout: float = 30.0):
    """The running brain's frames (see the ``subscribe`` command): yields the header, then each item as it comes."""
    target = Path(path).expanduser()
    connection = _connect(target, timeout)
    try:
        connection.sendall(json_line({"v": PROTOCOL_VERSION, "cmd": "subscribe", "fps": fps, **({"frames": frames} if frames else {})}))
        pending = b""
        first = True
        while True:
            newline = pending.find(b"\n")
            if newline < 0:
                chunk = connection.recv(1 << 20)
                if not chunk:
                    return
                pending += chunk
                continue
            line, pending = pending[:newline], pending[newline + 1 :]
            item = json.loads(line)
            if first and not item.get("ok"):
                raise BrainRefused(f"the brain says: {item.get('error', 'no reason given')}")
            first = False
            yield item
    except socket.timeout:
        raise BrainchatError(f"the brain at {target} sent nothing for {timeout:.0f} s") from None
    except OSError as error:
        raise BrainchatError(f"the stream from the brain at {target} broke: {error.strerror or error}") from None
    except ValueError as error:
        raise BrainchatError(f"the brain at {target} sent a line that is not JSON: {error}") from None
    finally:
        connection.close()
