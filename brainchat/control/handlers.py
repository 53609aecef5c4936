"""What each control-socket command does to the running brain (through its runner)."""

from __future__ import annotations

import math
from typing import Any

import time

import numpy as np

from brainchat.control.server import REPLY_TIMEOUT, Handler, Stream
from brainchat.errors import BrainchatError
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

COMMANDS = ("say", "teach", "reward", "save", "load", "status", "health", "regions", "subscribe", "pause", "resume", "speed", "pin", "weights", "see", "lesion", "stroke", "rhythm", "chem", "chem_set", "rest", "raster", "sleep", "wake")
MAX_REST_STEPS = 100_000  # one rest: at most 100 s of brain time
MAX_SLEEP_MINUTES = 24 * 60  # one sleep: at most a brain day
MAX_RASTER = (1000, 1000)  # a raster: at most 1,000 neurons over 1,000 steps
MAX_SEEN_SIDE = 256  # an image over the socket: at most 256 x 256 intensities (the client fits a larger one)
MAX_FPS = 20


def make_handler(runner: Runner) -> Handler:
    """A request handler bound to one runner."""

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("cmd")
        folder = runner.brain.config.brain.snapshots
        if command in ("say", "see"):
            text = request["text"] if command == "say" and "pixels" not in request else request.get("text", "")  # an image may be the whole prompt
            if not isinstance(text, str):
                raise ValueError("text must be a string")
            image = _pixels(request, required=command == "see")
            reply = runner.say(text, timeout=REPLY_TIMEOUT, image=image)
            return {"ok": True, "reply": reply.text, "said": reply.said, "notices": list(reply.notices), "step": reply.first_step + reply.steps,
                    **({"region": runner.brain.visual_region.name, "grid": [runner.brain.visual_region.height, runner.brain.visual_region.width]}
                       if image is not None else {})}
        if command == "teach":
            text, reply = (request["text"] if "pixels" not in request else request.get("text", "")), request["reply"]
            if not isinstance(text, str) or not isinstance(reply, str):
                raise ValueError("text and reply must be strings")
            taught = runner.teach(text, reply, timeout=REPLY_TIMEOUT, image=_pixels(request, required=False))
            return {"ok": True, "said": taught.said, "taught": taught.text, "before": taught.before, "notices": list(taught.notices),
                    "step": taught.first_step + taught.steps}
        if command == "reward":
            value = float(request.get("value", 0))
            strength = float(request.get("strength", 1.0))
            if value not in (-1.0, 1.0):
                raise ValueError("value must be 1 (reward) or -1 (punish)")
            if not (math.isfinite(strength) and 0 < strength <= 10):
                raise ValueError("strength must be in (0, 10]")
            dopamine = runner.reward(value * strength)
            return {"ok": True, "dopamine": dopamine, "rewards": len(runner.rewards)}
        if command == "save":
            name = request.get("name") or snapshots.timestamp_name()
            saved = runner.save(snapshots.snapshot_path(folder, str(name)), timeout=REPLY_TIMEOUT)
            return {"ok": True, "path": str(saved.path.resolve()), "bytes": saved.size, "step": saved.step, "pause_ms": round(saved.pause_ms, 2)}
        if command == "load":
            name = request.get("name")
            if not name:
                raise ValueError("load needs a name")
            step = runner.load(snapshots.snapshot_path(folder, str(name)), timeout=REPLY_TIMEOUT)
            return {"ok": True, "step": step}
        if command == "status":
            return {"ok": True, **runner.status()}
        if command == "health":
            healthy, why = runner.health()
            return {"ok": True, "healthy": healthy, "health": why, "step": runner.stats.step}
        if command == "regions":
            firing = dict(runner.stats.region_firing)
            layout = runner.layout
            damage = runner.brain.damage()  # live, as the firing: who died and who is new
            return {"ok": True, "regions": [{**row, "firing": firing.get(row["name"]), **damage.get(row["name"], {"dead_ids": [], "new_ids": []})}
                                            for row in layout["regions"]], "pathways": layout["pathways"]}
        if command == "subscribe":
            fps = float(request.get("fps", 10))
            limit = request.get("frames")
            if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
                raise ValueError(f"fps must be in (0, {MAX_FPS}]")
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                raise ValueError("frames must be a positive whole number")
            return Stream(_frames(runner, fps, limit))
        if command == "pause":
            runner.pause()
            return {"ok": True, "paused": True}
        if command == "resume":
            runner.resume()
            return {"ok": True, "paused": False}
        if command == "speed":
            speed = request.get("speed")
            if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not (math.isfinite(speed) and speed >= 0):
                raise ValueError("speed must be a number of brain-ms per wall-ms, 0 or more (0: as fast as it can)")
            runner.set_speed(float(speed))
            return {"ok": True, "speed": float(speed)}
        if command == "pin":
            ids = request.get("ids", [])
            if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
                raise ValueError("ids must be a list of neuron numbers")
            return {"ok": True, "pinned": runner.pin(ids)}
        if command == "weights":
            return {"ok": True, **runner.weights_histogram()}
        if command == "rhythm":
            return {"ok": True, **runner.rhythm()}
        if command == "chem":
            return {"ok": True, **runner.chem()}
        if command == "chem_set":
            name = request.get("name")
            if not isinstance(name, str) or not name:
                raise ValueError("chem_set needs a name: dopamine, serotonin, noradrenaline or acetylcholine")
            seconds = None if request.get("seconds") is None else _number(request, "seconds")
            return {"ok": True, **runner.dose(name, _number(request, "level"), seconds)}
        if command == "lesion":
            region, fraction = request.get("region"), _number(request, "fraction")
            if not isinstance(region, str) or not region:
                raise ValueError("lesion needs a region name")
            return {"ok": True, **runner.lesion(region, fraction)}
        if command == "stroke":
            region = request.get("region")
            if region is not None and not isinstance(region, str):
                raise ValueError("region must be a region's name")
            return {"ok": True, **runner.stroke(_number(request, "x"), _number(request, "y"), _number(request, "radius"), region or None)}
        if command == "sleep":
            minutes = None if request.get("minutes") is None else _number(request, "minutes")
            if minutes is not None and not 0 < minutes <= MAX_SLEEP_MINUTES:
                raise ValueError(f"minutes must be above 0 and at most {MAX_SLEEP_MINUTES:g}")
            return {"ok": True, **runner.sleep(minutes)}
        if command == "wake":
            return {"ok": True, **runner.wake()}
        if command == "rest":
            steps = request.get("steps", 100)
            if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_REST_STEPS:
                raise ValueError(f"steps must be a whole number 1..{MAX_REST_STEPS:,}")
            runner.rest(steps)  # a brain in lockstep steps them; a free-running one lives on anyway
            return {"ok": True, "step": runner.stats.step}
        if command == "raster":
            neurons, steps = request.get("neurons", 48), request.get("steps", 80)
            if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= most for v, most in zip((neurons, steps), MAX_RASTER)):
                raise ValueError(f"neurons and steps must be whole numbers 1..{MAX_RASTER[0]:,}")
            spikes = runner.raster(neurons, steps).result(timeout=REPLY_TIMEOUT)
            return {"ok": True, "spikes": spikes.astype(np.int8).tolist()}
        raise BrainchatError(f"unknown command {command!r}; commands: {', '.join(COMMANDS)}")

    return handle


def _number(request: dict[str, Any], key: str) -> float:
    value = request.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{key} must be a number")
    return float(value)


def _pixels(request: dict[str, Any], required: bool) -> np.ndarray | None:
    """The request's image: ``pixels``, rows of equal length of intensities 0..1 (at most MAX_SEEN_SIDE x MAX_SEEN_SIDE)."""
    pixels = request.get("pixels")
    if pixels is None and not required:
        return None
    if (not isinstance(pixels, list) or not pixels or not all(isinstance(row, list) and row for row in pixels)
            or len({len(row) for row in pixels}) != 1 or len(pixels) > MAX_SEEN_SIDE or len(pixels[0]) > MAX_SEEN_SIDE
            or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for row in pixels for v in row)):
        raise ValueError(f"pixels must be rows of equal length (at most {MAX_SEEN_SIDE} x {MAX_SEEN_SIDE}) of numbers 0..1")
    return np.clip(np.array(pixels, dtype=np.float32), 0, 1)


KEEPALIVE_SECONDS = 5.0  # a stream with nothing new (a paused brain) still sends an item this often


def _header(runner: Runner, fps: float) -> dict[str, Any]:
    """The first line of a stream, and again whenever a load puts another brain in place: its regions and its sample."""
    brain = runner.brain
    sample = brain.recorder.sample
    return {
        "ok": True, "stream": "frames", "fps": fps, "regions": [row["name"] for row in runner.layout["regions"]],
        "sample": sample.tolist(), "sample_region": (np.searchsorted(brain.layout.bounds, sample, side="right") - 1).tolist(),
    }


def _frames(runner: Runner, fps: float, limit: int | None):
    """The subscribe stream: a header, then at most ``fps`` items a second, each the newest frame (and how many were skipped) and the new events.

    It only reads the runner's frame ring: the stepping thread never waits for it, and a
    viewer slower than the brain skips frames instead of falling behind. With nothing new
    (a paused brain) an empty item goes out every :data:`KEEPALIVE_SECONDS`, so that a viewer
    can tell a quiet brain from a lost one; after a load that replaced the brain, a new header.
    """
    brain = runner.brain
    yield _header(runner, fps)
    frame_seen, event_seen = runner.frames.latest()
    sent = 0
    last_sent = time.monotonic()
    while runner.alive and (limit is None or sent < limit):
        time.sleep(1.0 / fps)
        if runner.brain is not brain:
            brain = runner.brain
            yield _header(runner, fps)
        frame, skipped, events, event_seen = runner.frames.since(frame_seen, event_seen)
        if frame is None and not events:
            if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
                last_sent = time.monotonic()
                yield {"frame": None, "skipped": 0, "events": [], "paused": runner.stats.paused}
            continue
        if frame is not None:
            frame_seen = frame["seq"]
        yield {"frame": frame, "skipped": skipped, "events": events}
        last_sent = time.monotonic()
        sent += 1
