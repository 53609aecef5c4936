"""The running brain as Prometheus metrics, and its health, over HTTP.

:func:`exposition` turns a brain's status (:meth:`brainchat.runtime.runner.Runner.status`,
or the control socket's ``status`` from another process) into the Prometheus text format
with prometheus-client's own metric families, named after Prometheus' naming guide
(https://prometheus.io/docs/practices/naming/: a ``brainchat_`` prefix, base units,
``_total`` for counters, ``_ratio`` for fractions). ``brainchat web`` serves them beside its
page; ``brainchat run --metrics-port P`` serves them from the brain's own process with
:class:`MetricsServer` (no page, no web framework: the standard library's HTTP server).

prometheus-client is in the optional ``web`` extra; :func:`require` says so in one line.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from brainchat import __version__
from brainchat.errors import BrainchatError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# events of the runner's frame ring (Runner.status()["events"]) and the counter each becomes
EVENT_COUNTERS = {
    "say": ("brainchat_lines_total", "Lines said to the brain."),
    "reply": ("brainchat_replies_total", "Replies the brain gave to lines said."),
    "teach": ("brainchat_teachings_total", "Teachings (a line and the reply it should get)."),
    "save": ("brainchat_snapshots_saved_total", "Snapshots written."),
    "load": ("brainchat_snapshots_loaded_total", "Snapshots loaded into the running brain."),
}


class WebExtraMissing(BrainchatError):
    """A part of the optional ``web`` extra is not installed."""

    exit_code = 2


def require() -> None:
    """Raise a one-line error unless prometheus-client is importable."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise WebExtraMissing("metrics need the web extra: pip install 'brainchat[web]'") from None


def families(status: dict[str, Any] | None) -> list[Any]:
    """The metric families of one status (``None``: the brain did not answer, only ``brainchat_up 0``)."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily

    up = GaugeMetricFamily("brainchat_up", "1 when the brain answered this scrape, 0 when it did not.")
    up.add_metric([], 0.0 if status is None else 1.0)
    out: list[Any] = [up]
    if status is None:
        return out
    info = InfoMetricFamily("brainchat_build", "The brainchat version and where the brain steps.")
    info.add_metric([], {"version": __version__, "device": str(status.get("device", ""))})
    out.append(info)
    healthy = GaugeMetricFamily("brainchat_healthy", "1 while the stepping thread is alive and turning (paused counts as healthy).")
    healthy.add_metric([], 1.0 if status.get("healthy") else 0.0)
    out.append(healthy)
    out.append(CounterMetricFamily("brainchat_steps_total", "Brain steps (1 ms of brain time each) stepped by this process.",
                                   value=status.get("steps_stepped", 0)))
    gauges = (
        ("brainchat_step", "The brain's step (its age in ms of brain time; goes back when a snapshot is loaded).", "step"),
        ("brainchat_realtime_factor", "Brain-ms stepped per wall-ms over the last second.", "realtime_factor"),
        ("brainchat_step_duration_seconds", "Wall time per step over the last vitals interval (pacing sleeps included).", "ms_per_step", 1e-3),
        ("brainchat_living_firing_ratio", "Fraction of the living neurons firing per step over the last interval.", "firing_fraction"),
        ("brainchat_threshold_mean", "Mean firing threshold (units of the resting threshold).", "mean_threshold"),
        ("brainchat_drive", "Homeostatic drive of the living population.", "drive"),
        ("brainchat_dopamine", "Dopamine level (the reward signal of learning).", "dopamine"),
        ("brainchat_mood", "The mood: the balance of recent rewards and punishments, -1..1 (it sets serotonin's rest).", "mood"),
        ("brainchat_neurons", "Neurons in the brain.", "neurons"),
        ("brainchat_speed", "Pacing: brain-ms per wall-ms asked for (0: as fast as it can).", "speed"),
        ("brainchat_paused", "1 while the brain is paused.", "paused"),
    )
    for name, help_text, key, *scale in gauges:
        value = status.get(key)
        if value is not None:
            out.append(GaugeMetricFamily(name, help_text, value=float(value) * (scale[0] if scale else 1.0)))
    regions = GaugeMetricFamily("brainchat_firing_ratio", "Fraction of a region's neurons firing per step over the last interval.", labels=["region"])
    for region, value in status.get("regions", {}).items():
        if value is not None:
            regions.add_metric([region], float(value))
    out.append(regions)
    rewards = CounterMetricFamily("brainchat_rewards_total", "Rewards (sign positive) and punishments (sign negative) received.", labels=["sign"])
    rewards.add_metric(["positive"], status.get("rewards_positive", 0))
    rewards.add_metric(["negative"], status.get("rewards_negative", 0))
    out.append(rewards)
    events = status.get("events", {})
    for kind, (name, help_text) in EVENT_COUNTERS.items():
        out.append(CounterMetricFamily(name, help_text, value=events.get(kind, 0)))
    return out


def exposition(status: dict[str, Any] | None) -> bytes:
    """The Prometheus text format of one status."""
    from prometheus_client import CollectorRegistry, generate_latest

    class _Once:
        def collect(self):  # noqa: ANN202 - prometheus-client's collector protocol
            return families(status)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Once())
    return generate_latest(registry)


def health_body(healthy: bool, why: str, step: int | None) -> bytes:
    return json.dumps({"healthy": healthy, "health": why, "step": step}).encode() + b"\n"


class MetricsServer:
    """``/metrics`` and ``/healthz`` of a brain in this process, on ``host:port`` (``127.0.0.1`` unless told), in a daemon thread.

    ``read_status`` gives the status (:meth:`Runner.status`; it may be set after the port is
    bound, before :meth:`__enter__`); ``/healthz`` answers 200 while it says ``healthy`` and
    503 with the reason otherwise.
    """

    def __init__(self, read_status: Callable[[], dict[str, Any]] | None, port: int, host: str = "127.0.0.1"):
        require()
        serve = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                path = self.path.split("?", 1)[0]
                status = serve.read_status() if serve.read_status is not None else None
                if path == "/metrics":
                    self._send(200, CONTENT_TYPE, exposition(status))
                elif path == "/healthz" and status is None:  # served from the moment the port is bound
                    self._send(503, "application/json", health_body(False, "the brain is being built", None))
                elif path == "/healthz":
                    self._send(200 if status["healthy"] else 503, "application/json", health_body(status["healthy"], status["health"], status["step"]))
                else:
                    self._send(404, "text/plain; charset=utf-8", b"brainchat serves /metrics and /healthz here\n")

            def _send(self, code: int, kind: str, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # a scrape every few seconds is not news
                return

        self.read_status: Callable[[], dict[str, Any]] | None = read_status
        try:
            self._server = ThreadingHTTPServer((host, port), Handler)
        except OSError as error:
            raise BrainchatError(f"--metrics-port {port}: cannot listen on {host}:{port}: {error.strerror or error}") from None
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.host = host
        self._thread = threading.Thread(target=self._server.serve_forever, name="brainchat-metrics", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def __enter__(self) -> "MetricsServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
