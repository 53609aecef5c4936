"""Speech out: ``brainchat run --speak`` says each reply of the brain aloud with espeak-ng.

A :class:`Speaker` is a client of the runner's frame ring, as the conversation log is: its
own thread looks at the ring every :data:`POLL_SECONDS` and speaks the replies (events of
kind ``reply`` with text) one after the other, each by running ``espeak-ng -- TEXT`` and
waiting for it on this thread only; the brain never waits for speech. While one reply is
spoken the next ones wait, at most :data:`BACKLOG` of them: older waiting replies are
dropped, since a brain at ``--speed max`` or a script can answer faster than espeak-ng
speaks, and speech that lags the brain by minutes tells the listener nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import deque

from brainchat.runtime.frames import FrameRing, RingReader

PROGRAM = "espeak-ng"
POLL_SECONDS = 0.1
BACKLOG = 3  # replies that wait while one is spoken; older ones are dropped
SPEAK_TIMEOUT = 60.0  # seconds one reply may take before espeak-ng is stopped
STOP_SECONDS = 30.0  # how long the end of a run waits for the replies still waiting to be spoken


def _warn(message: str) -> None:
    print(f"brainchat: --speak: {message}", file=sys.stderr, flush=True)


class Speaker(RingReader):
    """Speaks a runner's replies from its own thread: ``with Speaker(runner.frames):``."""

    def __init__(self, frames: FrameRing):
        super().__init__(frames, "brainchat-speech")
        self._program: str | None = None
        self._event_seen = 0
        self._waiting: deque[str] = deque(maxlen=BACKLOG)

    def start(self) -> "Speaker":
        """Start speaking; without espeak-ng on the PATH, one line on stderr and the brain runs on silent."""
        self._program = shutil.which(PROGRAM)
        if self._program is None:
            _warn(f"{PROGRAM} is not installed (apt install {PROGRAM}); replies are not spoken")
            return self
        self._thread.start()
        return self

    stop_seconds = STOP_SECONDS  # stop() speaks the replies still waiting, then ends

    def _main(self) -> None:
        while self._program is not None:
            stopping = self._stop.is_set()  # read before the last look at the ring: what came before the stop is spoken
            _, _, events, self._event_seen = self.frames.since(0, self._event_seen)
            self._waiting.extend(event["text"] for event in events if event["kind"] == "reply" and event.get("text"))
            if self._waiting:
                self._say(self._waiting.popleft())
            elif stopping:
                return
            else:
                self._stop.wait(POLL_SECONDS)

    def _say(self, text: str) -> None:
        try:
            done = subprocess.run(
                [self._program, "--", text], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, errors="replace", timeout=SPEAK_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            reason = str(error)
        else:
            if done.returncode == 0:
                return
            last = (done.stderr.strip().splitlines() or [""])[-1]
            reason = f"exit status {done.returncode}" + (f": {last}" if last else "")
        _warn(f"{PROGRAM} failed ({reason}); replies are no longer spoken")
        self._program = None
