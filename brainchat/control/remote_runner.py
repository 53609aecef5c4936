"""A runner in another process, reached through its control socket: what the REPL needs of a :class:`~brainchat.runtime.runner.Runner`.

``brainchat run --ranks R`` steps the brain on MPI ranks (rank 0 serves the socket) and gives
the user the same prompt and the same pipe behaviour as ``brainchat run``: the REPL's
:class:`~brainchat.repl.Session` runs against a :class:`RemoteRunner` instead of a runner in
this process. Lines and teachings keep their order (one worker sends them, one at a time);
the toolbar's figures come from ``status``, read in the background twice a second. When the
brain's process ends (``stopped()`` says why), every request answers :class:`RunnerStopped`.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np

from brainchat.config import Config
from brainchat.control.client import BrainRefused, request
from brainchat.errors import BrainchatError
from brainchat.runtime.runner import Reply, RunnerStats, RunnerStopped, Saved

STATUS_SECONDS = 0.5  # how often the toolbar's figures are read
BROKEN_WAIT_SECONDS = 5.0  # a broken connection: how long to wait for the brain's process to end before calling it a hiccup


def _pixels(image: np.ndarray | None) -> dict[str, Any]:
    """An image as the socket takes it: exact (float32 intensities survive JSON as float64), fitted to its largest side first if bigger."""
    if image is None:
        return {}
    from brainchat.control.handlers import MAX_SEEN_SIDE
    from brainchat.vision.images import fit

    image = np.asarray(image, dtype=np.float32)
    if max(image.shape) > MAX_SEEN_SIDE:
        image = fit(image, min(image.shape[0], MAX_SEEN_SIDE), min(image.shape[1], MAX_SEEN_SIDE))
    return {"pixels": image.astype(np.float64).tolist()}


class _Brain:
    """What the REPL reads of ``runner.brain``: the config, and the damage the last ``regions`` reported."""

    def __init__(self, config: Config):
        self.config = config
        self.regions: list[dict[str, Any]] = []

    def damage(self) -> dict[str, dict[str, list[int]]]:
        return {row["name"]: {"dead_ids": row.get("dead_ids", []), "new_ids": row.get("new_ids", [])} for row in self.regions}

    def image_stimulus(self, image: np.ndarray) -> None:
        """The brain itself checks an image (a brain without eyes answers so)."""


class RemoteRunner:
    """The runner behind ``socket``; ``stopped(wait)`` returns why its process ended (waiting up to ``wait`` s for it), or None while it runs."""

    def __init__(self, socket: Path, config: Config, stopped: Callable[[float], str | None]):
        self.socket = socket
        self.brain = _Brain(config)
        self._stopped = stopped
        self._lines = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brainchat-remote")  # lines and teachings, in order
        self._views = ThreadPoolExecutor(max_workers=1, thread_name_prefix="brainchat-remote-view")
        self.stats = RunnerStats()
        self._closing = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="brainchat-remote-status", daemon=True)
        self.stopped_said = False  # a request answered RunnerStopped: the REPL has said why

    def __enter__(self) -> "RemoteRunner":
        self.stats = self._status()
        self._poller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._lines.shutdown(wait=False, cancel_futures=True)
        self._views.shutdown(wait=False, cancel_futures=True)

    # ---- the socket ---------------------------------------------------------------------

    def _ask(self, command: str, **fields: Any) -> dict[str, Any]:
        try:
            return self._send(command, fields)
        except RunnerStopped:
            self.stopped_said = True  # the REPL says why
            raise

    def _send(self, command: str, fields: dict[str, Any]) -> dict[str, Any]:
        why = self._stopped(0.0)
        if why is None:
            try:
                return request(self.socket, command, **fields)
            except BrainRefused:
                raise
            except BrainchatError:
                why = self._stopped(BROKEN_WAIT_SECONDS)
                if why is None:
                    raise
        raise RunnerStopped(why)

    def _asked(self, command: str, **fields: Any) -> dict[str, Any]:
        """:meth:`_ask`, the brain's refusals as ValueError (what the REPL shows of a bad dose or too short a rhythm)."""
        try:
            return self._ask(command, **fields)
        except BrainRefused as refused:
            raise ValueError(str(refused).removeprefix("the brain says: ")) from None

    def _status(self) -> RunnerStats:
        status = self._send("status", {})
        return RunnerStats(
            step=status["step"], realtime_factor=status["realtime_factor"], firing_fraction=status["firing_fraction"],
            mean_threshold=status["mean_threshold"], drive=status["drive"], device=f"{status['device']}, ranks",
            paused=status["paused"], speed=status["speed"], recent_firing=tuple(status.get("recent_firing", ())),
            ms_per_step=status["ms_per_step"], dopamine=status["dopamine"], mood=status["mood"],
            region_firing=tuple(status["regions"].items()), sleep=tuple(status.get("sleep", {}).items()),
        )

    def _poll(self) -> None:
        while not self._closing.wait(STATUS_SECONDS):
            try:
                self.stats = self._status()
            except (BrainchatError, RunnerStopped):
                if self._stopped(0.0) is not None:
                    return

    # ---- what the REPL asks -------------------------------------------------------------

    def say_async(self, line: str, image: np.ndarray | None = None) -> Future:
        def say() -> Reply:
            answer = self._ask("say", text=line, **_pixels(image))
            return Reply(answer["said"], answer["reply"], tuple(answer["notices"]), 0, answer["step"])

        return self._lines.submit(say)

    def say(self, line: str, timeout: float | None = None, image: np.ndarray | None = None) -> Reply:
        return self.say_async(line, image).result(timeout)

    def teach_async(self, prompt: str, reply: str, image: np.ndarray | None = None) -> Future:
        def teach() -> Reply:
            answer = self._ask("teach", text=prompt, reply=reply, **_pixels(image))
            return Reply(answer["said"], answer["taught"], tuple(answer["notices"]), 0, answer["step"], before=answer["before"])

        return self._lines.submit(teach)

    def rest(self, steps: int = 100) -> None:
        # (in a pipe every line before it has been answered; at the prompt the brain lives on anyway)
        self._ask("rest", steps=steps)

    def sleep(self, minutes: float | None = None) -> dict[str, Any]:
        return self._asked("sleep", minutes=minutes)

    def wake(self) -> dict[str, Any]:
        return self._asked("wake")

    def reward(self, value: float) -> float:
        return float(self._ask("reward", value=1 if value > 0 else -1, strength=abs(value))["dopamine"])

    def pause(self) -> None:
        self._ask("pause")

    def resume(self) -> None:
        self._ask("resume")

    def set_speed(self, speed: float) -> None:
        self._ask("speed", speed=speed)

    def save(self, path: str | Path, timeout: float | None = None) -> Saved:
        answer = self._ask("save", name=Path(path).name)
        return Saved(Path(answer["path"]), answer["bytes"], answer["step"], answer["pause_ms"])

    def load(self, path: str | Path, timeout: float | None = None) -> int:
        return int(self._ask("load", name=Path(path).name)["step"])

    def raster(self, neurons: int = 48, steps: int = 80) -> Future:
        """Not behind the lines being answered: /stats comes back while a reply is still being read, as in one process."""
        return self._views.submit(lambda: np.array(self._ask("raster", neurons=neurons, steps=steps)["spikes"], dtype=bool))

    @property
    def layout(self) -> dict[str, Any]:
        answer = self._ask("regions")
        self.brain.regions = answer["regions"]
        return {"regions": answer["regions"], "pathways": answer["pathways"]}

    def rhythm(self) -> dict[str, Any]:
        return self._asked("rhythm")

    def chem(self) -> dict[str, Any]:
        return self._asked("chem")

    def dose(self, name: str, level: float, seconds: float | None = None) -> dict[str, Any]:
        return self._asked("chem_set", name=name, level=level, seconds=seconds)

    def lesion(self, region: str, fraction: float) -> dict[str, Any]:
        return self._ask("lesion", region=region, fraction=fraction)

    def stroke(self, x: float, y: float, radius: float, region: str | None = None) -> dict[str, Any]:
        return self._ask("stroke", x=x, y=y, radius=radius, region=region)
