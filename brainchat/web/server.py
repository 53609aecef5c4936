"""``brainchat web``: one page that watches and steers the running brain, served by Starlette on uvicorn.

The web server is a client of the brain like ``brainchat say``: it never touches the brain's
arrays. A :class:`Hub` holds one ``subscribe`` stream of the control socket and fans its
frames out to every open page (a page that draws slowly gets the newest frame and the events
it missed, never a backlog); what a page asks (say, teach, reward, pause, speed, save, pin,
weights) goes to the brain as one control-socket request each, on a worker thread.

Security follows Jupyter's: the server listens on 127.0.0.1 unless told otherwise; every
request must carry the token (``?token=``, ``Authorization: Bearer``, or the cookie the page
sets when it is opened with the token); a WebSocket whose ``Origin`` is not this server is
refused, so another site open in the same browser cannot drive the brain.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import threading
from http.cookies import SimpleCookie
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from brainchat import metrics
from brainchat.control.client import request, subscribe
from brainchat.control.server import finite
from brainchat.errors import BrainchatError

COOKIE = "brainchat-token"  # + "-PORT": two servers on one host keep their own (cookies do not tell ports apart)
# what a page may ask of the brain, and the fields each request may carry
PAGE_COMMANDS = {
    "say": ("text",), "teach": ("text", "reply"), "reward": ("value",), "pause": (), "resume": (),
    "speed": ("speed",), "save": ("name",), "pin": ("ids",), "weights": (), "status": (),
}
HEALTH_TIMEOUT = 2.0  # seconds the brain has to answer a health check or a scrape
EVENTS_HELD = 200  # events a slow page may have waiting


class _Page:
    """One open page: the newest frame it has not been sent, and the events since its last send (used on the event loop only)."""

    def __init__(self) -> None:
        self.frame: dict[str, Any] | None = None
        self.skipped = 0
        self.events: list[dict[str, Any]] = []
        self.notices: list[dict[str, Any]] = []
        self.wake = asyncio.Event()

    def offer(self, item: dict[str, Any]) -> None:
        if item.get("frame") is not None:
            if self.frame is not None:
                self.skipped += 1
            self.frame = item["frame"]
            self.skipped += item.get("skipped", 0)
        self.events = (self.events + item.get("events", []))[-EVENTS_HELD:]
        self.wake.set()

    def notice(self, message: dict[str, Any]) -> None:
        self.notices.append(message)
        self.wake.set()

    def take(self) -> list[dict[str, Any]]:
        out = list(self.notices)
        if self.frame is not None or self.events:
            out.append({"type": "frame", "frame": self.frame, "skipped": self.skipped, "events": self.events})
        self.frame, self.skipped, self.events, self.notices = None, 0, [], []
        self.wake.clear()
        return out


class Hub:
    """One subscription to the brain for all the pages; reconnects when the brain comes back."""

    def __init__(self, socket_path: Path, fps: float):
        self.socket_path = socket_path
        self.fps = fps
        self.header: dict[str, Any] | None = None
        self.connected = False
        self._pages: set[_Page] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="brainchat-web-hub", daemon=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def join(self, page: _Page) -> None:
        self._pages.add(page)

    def leave(self, page: _Page) -> None:
        self._pages.discard(page)

    def _to_pages(self, method: str, item: dict[str, Any]) -> None:
        if self._loop is None or self._loop.is_closed():
            return

        def deliver() -> None:
            for page in list(self._pages):
                getattr(page, method)(item)

        try:
            self._loop.call_soon_threadsafe(deliver)
        except RuntimeError:  # the server is shutting down
            pass

    def _follow(self) -> None:
        """The hub's thread: read the brain's stream, hand each item to the pages; on a break, tell them and try again each second."""
        while not self._stopping.is_set():
            try:
                stream = subscribe(self.socket_path, fps=self.fps, timeout=30.0)
                try:
                    for item in stream:
                        if self._stopping.is_set():
                            return
                        if "stream" in item:
                            self.header = {key: value for key, value in item.items() if key not in ("ok", "stream")}
                            self.connected = True
                            self._to_pages("notice", {"type": "header", **self.header})
                            continue
                        self._to_pages("offer", item)
                finally:
                    stream.close()
                reason = "the brain closed its stream"
            except BrainchatError as error:
                reason = str(error)
            except Exception as error:  # noqa: BLE001 - the hub must outlive anything; the pages hear why
                reason = f"the stream from the brain failed: {error!r}"
            if self.connected:
                self._to_pages("notice", {"type": "brain", "connected": False, "reason": reason})
            self.connected = False
            self._stopping.wait(1.0)


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}


def _cookie_name(scope: dict[str, Any]) -> str:
    server = scope.get("server") or ("", 0)
    return f"{COOKIE}-{server[1]}"


def _token_of(scope: dict[str, Any]) -> str | None:
    """The token a request carries: the query's, the Authorization header's, or the page's cookie."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    headers = _headers(scope)
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() in ("bearer", "token") and credentials:
        return credentials.strip()
    if "cookie" in headers:
        cookie = SimpleCookie()
        try:
            cookie.load(headers["cookie"])
        except Exception:  # noqa: BLE001 - a malformed cookie is no token
            return None
        name = _cookie_name(scope)
        if name in cookie:
            return cookie[name].value
    return None


def _same_origin(scope: dict[str, Any], allowed: tuple[str, ...]) -> bool:
    """A WebSocket's Origin is this server (the Host it was asked for) or one the user allowed; no Origin (not a browser) is fine."""
    headers = _headers(scope)
    origin = headers.get("origin")
    if origin is None:
        return True
    if origin in allowed:
        return True
    return urlsplit(origin).netloc == headers.get("host", "")


class TokenGate:
    """ASGI middleware: HTTP requests without the token get 403, WebSockets without it (or from another origin) are refused."""

    def __init__(self, app: Any, token: str, allowed_origins: tuple[str, ...] = ()):
        self.app = app
        self.token = token
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = _token_of(scope)
        good = given is not None and hmac.compare_digest(given.encode(), self.token.encode())
        if scope["type"] == "websocket":
            if not good or not _same_origin(scope, self.allowed_origins):
                await send({"type": "websocket.close", "code": 1008})
                return
        elif not good:
            body = (b"brainchat web: this page needs its token. Open the URL that `brainchat web` printed "
                    b"(it is also in the web.url file beside the brain's socket).\n")
            await send({"type": "http.response.start", "status": 403, "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                                                                  (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def make_app(socket_path: Path, token: str, fps: float = 10.0, allowed_origins: tuple[str, ...] = ()) -> Any:
    """The Starlette application of one brain: the page, its WebSocket, /metrics and /healthz, behind the token."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect

    static = resources.files("brainchat.web") / "static"
    hub = Hub(socket_path, fps)

    async def index(request_: Any) -> Any:
        response = HTMLResponse((static / "index.html").read_text(encoding="utf-8"))
        response.set_cookie(_cookie_name(request_.scope), token, httponly=True, samesite="strict")
        return response

    async def metrics_endpoint(request_: Any) -> Any:
        try:
            status = await run_in_threadpool(request, socket_path, "status", HEALTH_TIMEOUT)
        except BrainchatError:
            status = None
        return Response(metrics.exposition(status), media_type=metrics.CONTENT_TYPE)

    async def healthz(request_: Any) -> Any:
        try:
            answer = await run_in_threadpool(request, socket_path, "health", HEALTH_TIMEOUT)
            healthy, why, step = bool(answer["healthy"]), str(answer["health"]), answer.get("step")
        except BrainchatError as error:
            healthy, why, step = False, str(error), None
        return JSONResponse({"healthy": healthy, "health": why, "step": step}, status_code=200 if healthy else 503)

    async def socket_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        page = _Page()
        sending = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with sending:
                try:
                    await websocket.send_text(json.dumps(finite(message), allow_nan=False))
                except (WebSocketDisconnect, RuntimeError, OSError):
                    pass  # the page has gone; the receiving loop ends the connection

        if hub.header is not None:
            page.notice({"type": "header", **hub.header})
        else:
            page.notice({"type": "brain", "connected": False, "reason": f"waiting for the brain at {socket_path}"})
        hub.join(page)

        async def pump() -> None:
            while True:
                await page.wake.wait()
                for message in page.take():
                    await send(message)

        async def answer(message: dict[str, Any]) -> None:
            number = message.get("id")
            command = message.get("cmd")
            try:
                if command not in PAGE_COMMANDS:
                    raise BrainchatError(f"the page cannot ask {command!r}")
                fields = {key: message[key] for key in PAGE_COMMANDS[command] if key in message}
                response = await run_in_threadpool(request, socket_path, command, **fields)
            except BrainchatError as error:
                response = {"ok": False, "error": str(error)}
            except (KeyError, TypeError, ValueError) as error:
                response = {"ok": False, "error": f"bad request: {error}"}
            await send({"type": "response", "id": number, "cmd": command, **response})

        pumping = asyncio.create_task(pump())
        answering: set[asyncio.Task] = set()
        try:
            while True:
                received = await websocket.receive()
                if received["type"] == "websocket.disconnect":
                    break
                text = received.get("text")
                try:
                    if text is None:
                        raise ValueError("binary")
                    message = json.loads(text)
                except ValueError:
                    await send({"type": "response", "id": None, "ok": False, "error": "not JSON"})
                    continue
                task = asyncio.create_task(answer(message if isinstance(message, dict) else {}))
                answering.add(task)
                task.add_done_callback(answering.discard)
        except WebSocketDisconnect:
            pass
        finally:
            hub.leave(page)
            pending = [pumping, *answering]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    @contextlib.asynccontextmanager
    async def lifespan(app_: Any):
        hub.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            hub.stop()

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/metrics", metrics_endpoint),
            Route("/healthz", healthz),
            WebSocketRoute("/ws", socket_endpoint),
            Mount("/static", StaticFiles(directory=str(static)), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.hub = hub
    return TokenGate(app, token, allowed_origins)
