"""``brainchat web``: the running brain's live page in a browser, with its metrics (needs the ``web`` extra)."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from typing import Optional

import typer

from brainchat.cli.app import SOCKET, _config, _socket_path, _yield_to_brain, app, stderr
from brainchat.errors import BrainchatError

DEFAULT_PORT = 8760
URL_FILE = "web.url"


@app.command()
def web(
    ctx: typer.Context,
    port: int = typer.Option(DEFAULT_PORT, "--port", min=0, max=65535, help="Port to listen on (0: a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; anything but 127.0.0.1 lets other machines try the token."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in the default browser."),
    fps: float = typer.Option(10.0, "--fps", min=1.0, max=20.0, help="Most frames a second the page gets (1-20; the brain makes 10 a second at real time)."),
    socket_path: Optional[str] = SOCKET,
) -> None:
    """Serve a live page of the running brain (raster, firing, vitals, membranes, weights, events, controls), /metrics and /healthz.

    Prints the page's URL with its token (also written, mode 0600, to web.url beside the brain's
    socket); every request needs that token. Ctrl-C stops the server, not the brain.
    """
    from brainchat.control.client import request

    _require_web()
    config = _config(ctx, **{"brain.socket": socket_path})
    control = _socket_path(config)
    request(control, "status", timeout=10)  # a one-line error now, not a page that waits for nothing
    _yield_to_brain()
    listener = _listen(host, port)
    port = listener.getsockname()[1]
    token = secrets.token_urlsafe(24)
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{port}/?token={token}"
    url_file = _write_url(control.parent, url)
    print(url, flush=True)
    stderr.print(f"brainchat web: watching the brain at {control}; the URL is also in {url_file}; Ctrl-C stops",
                 highlight=False, markup=False, soft_wrap=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        stderr.print(f"brainchat web: listening on {host}: whoever reaches this machine and has the token can steer the brain",
                     highlight=False, markup=False, soft_wrap=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        _serve(listener, control, token, fps)
    finally:
        _remove_url(url_file, url)


def _require_web() -> None:
    from brainchat.metrics import WebExtraMissing

    try:
        import prometheus_client  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
        import websockets  # noqa: F401
    except ImportError as missing:
        raise WebExtraMissing(f"brainchat web needs the web extra ({missing.name} is missing): pip install 'brainchat[web]'") from None


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before uvicorn starts, so that a busy port is one line and the URL is known."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError as error:
        listener.close()
        if error.errno == 98:
            raise BrainchatError(f"port {port} is in use; choose --port P (0 picks a free one)") from None
        raise BrainchatError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    listener.listen(128)
    listener.set_inheritable(True)
    return listener


def _write_url(folder: Path, url: str) -> Path:
    """The URL, in a file only its owner can read (the token in it is the key to the brain)."""
    path = folder / URL_FILE
    temporary = folder / f".{URL_FILE}.{os.getpid()}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w") as out:
            os.fchmod(out.fileno(), 0o600)  # before the token is in it, whatever the umask
            out.write(url + "\n")
        os.replace(temporary, path)  # never through a link someone left at web.url
    except OSError as error:
        raise BrainchatError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def _remove_url(path: Path, url: str) -> None:
    """Remove the URL file, unless a later ``brainchat web`` has written its own there."""
    try:
        if path.read_text().strip() == url:
            path.unlink()
    except OSError:
        pass


def _serve(listener: socket.socket, control: Path, token: str, fps: float) -> None:
    import uvicorn

    from brainchat.web.server import make_app

    server = uvicorn.Server(uvicorn.Config(
        make_app(control, token, fps), log_level="warning", lifespan="on", ws="auto", timeout_graceful_shutdown=2,
    ))
    server.run(sockets=[listener])
