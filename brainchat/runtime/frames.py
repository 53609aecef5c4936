"""What the brain does, as frames for viewers: a ring buffer the stepping thread writes and never waits on.

The runner appends a frame at every read-back of the vitals (every ``stats_interval`` steps:
ten a second at real time) and an event whenever something happens to the brain (a line
said, its reply, a teaching, a reward, a save, a load). Appending is a ``deque.append``: no
lock, no wait, whatever the viewers do. A viewer (the control socket's ``subscribe``) asks
for what is newer than what it has seen; when it is slower than the brain the ring has moved
on and it gets the latest frame and a count of the frames it missed, never a backlog.
"""

from __future__ import annotations

import base64
import itertools
import threading
from collections import deque
from typing import Any

import numpy as np

FRAMES_KEPT = 32
EVENTS_KEPT = 512


def pack_raster(fired: np.ndarray) -> str:
    """Bool ``[S]`` (which sampled neurons fired in the frame's last step) as base64 of its bits, most significant first (``numpy.packbits``)."""
    return base64.b64encode(np.packbits(fired.astype(bool)).tobytes()).decode()


class FrameRing:
    """The frames and events of one runner; :meth:`add_frame` and :meth:`add_event` from the stepping thread, :meth:`since` from any."""

    def __init__(self) -> None:
        self._frames: deque[tuple[int, dict[str, Any]]] = deque(maxlen=FRAMES_KEPT)
        self._events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=EVENTS_KEPT)
        self._frame_numbers = itertools.count(1)
        self._event_numbers = itertools.count(1)
        self._counts: dict[str, int] = {}  # events of each kind since the runner started
        self._counting = threading.Lock()  # the snapshot writer adds "save" events from its own thread (held for a few instructions)

    def add_frame(self, frame: dict[str, Any]) -> None:
        self._frames.append((next(self._frame_numbers), frame))

    def add_event(self, kind: str, step: int, **fields: Any) -> None:
        with self._counting:  # numbered and appended together: a reader never sees 8 before 7
            self._counts[kind] = self._counts.get(kind, 0) + 1
            self._events.append((next(self._event_numbers), {"kind": kind, "step": step, **fields}))

    def counts(self) -> dict[str, int]:
        """How many events of each kind there were (the metrics' counters)."""
        with self._counting:
            return dict(self._counts)

    def latest(self) -> tuple[int, int]:
        """The numbers of the newest frame and event (0 when there is none): where a new viewer starts."""
        frames, events = tuple(self._frames), tuple(self._events)
        return (frames[-1][0] if frames else 0), (events[-1][0] if events else 0)

    def since(self, frame_seen: int, event_seen: int) -> tuple[dict[str, Any] | None, int, list[dict[str, Any]], int]:
        """The newest frame after ``frame_seen`` (or None) and how many frames were skipped; the events after ``event_seen`` and the newest event's number."""
        frames, events = tuple(self._frames), tuple(self._events)  # copies: the stepping thread appends meanwhile
        frame, skipped = None, 0
        if frames and frames[-1][0] > frame_seen:
            number, frame = frames[-1]
            frame = {**frame, "seq": number}
            skipped = number - frame_seen - 1 if frame_seen else 0
        fresh = [event for number, event in events if number > event_seen]
        newest = events[-1][0] if events else event_seen
        return frame, skipped, fresh, max(newest, event_seen)


class RingReader:
    """A thread of its own that reads a runner's :class:`FrameRing` (the conversation log, speech): ``with Reader(runner.frames):``.

    A subclass gives :meth:`start` (which starts ``self._thread`` when it can work, or says
    in one line why not and returns) and ``_main``, which ends soon after ``self._stop`` is
    set, once it has dealt with what the ring still holds; :meth:`stop` waits for it up to
    ``stop_seconds``. Call :meth:`stop` after the runner has stopped, so that nothing the
    runner did is left out.
    """

    stop_seconds = 10.0

    def __init__(self, frames: FrameRing, name: str):
        self.frames = frames
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> "RingReader":
        raise NotImplementedError

    def _main(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(self.stop_seconds)

    def __enter__(self) -> "RingReader":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
