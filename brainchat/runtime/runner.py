"""The runner: the one thread that owns the brain and steps it, paced to real time.

Everything else talks to it through a command queue (:meth:`Runner.say`, :meth:`pause`, ...)
and reads :attr:`Runner.stats`, an immutable snapshot replaced after every read-back of the
brain's counters. Only this thread touches brain arrays; there are no locks in the loop.

Two modes:

* **free-running** (the REPL): the brain lives continuously, at ``speed`` brain-ms per
  wall-ms (``speed = 0``: as fast as it can). A said line is presented and its reply read
  while the brain goes on living; what it said depends on how long it lived before.
* **lockstep** (pipes, ``brainchat chat``, tests): the brain steps only to settle once at
  start and to present lines and read replies, as fast as it can. The same seed and the same
  lines give the same replies.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from brainchat.config import with_runtime_of
from brainchat.errors import BrainchatError, SnapshotError
from brainchat.io import codec
from brainchat.model import chemistry, lesions, plasticity
from brainchat.model.chemistry import report as chemistry_report
from brainchat.model.brain import Brain, Stimulus, from_snapshot
from brainchat.persistence import snapshot as snapshots
from brainchat.model.regions import END_PATCH, PRINTABLE
from brainchat.model.vitals import Vitals
from brainchat.runtime.frames import FrameRing, pack_raster

_PRESENT, _READ, _ECHO = "present", "read", "echo"  # the kinds of an utterance's phases
QUENCH_STEPS = 2  # steps the output is held down between a recalled reply's echo and its next window
STEPS_PER_CALL = 5  # steps between two looks at the clock and the command queue while a line is presented or read
# ... and while the brain only lives (nobody talks): one vitals interval per kernel call. Each call wakes the kernel's
# other threads, and on a machine a viewer shares every wake-up may wait for its time slice (docs/benchmarks.md,
# Watching); a command waits for the call to end (about 0.1 s at most, at real time)
IDLE_STEPS_PER_CALL = 100
_SPARKLINE_POINTS = 60
CHEM_HISTORY_INTERVALS = 5  # /chem's sparklines: a point every 5 vitals intervals (0.5 s at the default 100 steps), 30 s in all
MAX_PINS = 8  # neurons whose membrane a viewer can follow at once
ACTIVITY_STEPS = 10_000  # the rhythm's signal: the last 10 s of brain time
STALE_SECONDS = 5.0  # a stepping thread silent this long is unhealthy (its loop turns every 0.1 s even when idle)
HISTOGRAM_BINS = 30


@dataclass(frozen=True)
class RunnerStats:
    """What the brain looks like now; replaced, never changed."""

    step: int = 0
    realtime_factor: float = 0.0
    firing_fraction: float = 0.0
    mean_threshold: float = 0.0
    drive: float = 0.0
    device: str = ""
    paused: bool = False
    speed: float = 1.0
    recent_firing: tuple[float, ...] = ()  # mean firing fraction of recent intervals, oldest first
    ms_per_step: float = 0.0
    dopamine: float = 0.0
    mood: float = 0.0  # model/chemistry.py: the balance of recent rewards and punishments, -1..1
    region_firing: tuple[tuple[str, float], ...] = ()  # (region, mean fraction firing per step) over the last interval
    sleep: tuple[tuple[str, Any], ...] = ()  # model/sleep.py's report: asleep, auto, seconds_to_change, ...

    @property
    def brain_seconds(self) -> float:
        return self.step / 1000.0


@dataclass(frozen=True)
class Reply:
    """The brain's answer to one line."""

    said: str  # the cleaned line that was presented
    text: str  # the reply; empty when the brain stayed silent
    notices: tuple[str, ...]  # what cleaning the line changed
    first_step: int  # step at which the presentation began
    steps: int  # brain steps from presentation to the end of the reply
    before: str | None = None  # a teaching: what the brain answered on its own just before (None: not asked)


def teaching_summary(said: str, taught: str, before: str | None) -> str:
    """One line about a teaching, for the REPL and the CLI."""
    prompt = repr(said) if said else "the image"  # an empty line with an image: the image is the prompt
    if before is not None and before == taught:
        return f"it already answers {prompt} with {taught!r}: nothing to teach"
    was = f" (it said {before!r})" if before is not None else ""
    return f"taught {prompt} => {taught!r}{was}"


@dataclass(frozen=True)
class Saved:
    """A snapshot written: where, how big, at which step, and how long the brain paused for it."""

    path: Path
    size: int
    step: int
    pause_ms: float


@dataclass
class _Utterance:
    """A line being presented, then its reply being read, one phase at a time."""

    said: str
    notices: tuple[str, ...]
    phases: deque  # of (Stimulus | None, steps, kind: _PRESENT, _READ or _ECHO)
    future: Future
    first_step: int
    reply: list[str] = field(default_factory=list)
    left_in_phase: int = 0
    window: int = 0  # reply windows read so far
    ended: bool = False  # the reply is complete; its last echo is playing
    before: "_Utterance | None" = None  # this is the free answer given before that teaching
    teach: str | None = None  # the reply being taught, if this is a teaching
    reply_before: str | None = None  # what the brain said to the prompt just before this teaching
    sight: Stimulus | None = None  # an image on the visual region, throughout (part of the prompt)
    replay: bool = False  # a pair replayed in sleep (model/sleep.py), not a line anybody said
    phase_stimulus: Stimulus | None = None  # the current phase's stimulus joined with the sight
    opens: str = "both"  # whose sectors a reply window opens: "both", "recall" (the hippocampus knew the line) or "association" (a replay's question)


def _layout_tables(brain: Brain) -> dict[str, list[dict[str, Any]]]:
    """The regions and pathways of a brain, without their live firing (made once per brain, read by any thread)."""
    return {"regions": brain.region_table(), "pathways": brain.pathway_table()}


class RunnerStopped(RuntimeError):
    """The runner stopped before it could answer."""


class BrainAsleep(BrainchatError):
    """A line said to a sleeping brain: kept, and said when it wakes."""


class BrainPaused(BrainchatError):
    """The brain is paused: it cannot present a line or record spikes until resumed."""


class Runner:
    """Owns ``brain`` in a background thread. Use as ``with Runner(brain) as runner: ...``."""

    def __init__(self, brain: Brain, *, speed: float | None = None, lockstep: bool = False, settle_steps: int = 1000):
        self.brain = brain
        self.lockstep = lockstep
        self._settle_steps = settle_steps
        self._speed = brain.config.runtime.speed if speed is None else speed
        self._commands: queue.Queue = queue.Queue()
        self._paused = False
        self._stopping = False
        self._utterances: deque[_Utterance] = deque()
        self._current: _Utterance | None = None
        self._raster: tuple[Any, list, int, Future] | None = None
        self._history: deque[float] = deque(maxlen=_SPARKLINE_POINTS)
        # (dopamine, noradrenaline, acetylcholine, serotonin) every CHEM_HISTORY_INTERVALS vitals intervals (/chem's sparklines)
        self._chem_history: deque[tuple[float, float, float, float]] = deque(maxlen=_SPARKLINE_POINTS)
        self._intervals = 0
        # the living population's per-step firing fraction over the last ACTIVITY_STEPS steps (the rhythm's signal)
        self._activity: deque[np.ndarray] = deque()
        self._activity_steps = 0
        self._rate_marks: deque[tuple[float, int]] = deque(maxlen=64)
        self._clock = (time.perf_counter(), 0)
        self.stats = RunnerStats(device=brain.backend.device, speed=self._speed)
        self.layout = _layout_tables(brain)
        self.frames = FrameRing()  # what viewers watch (control socket: subscribe)
        self.error: BaseException | None = None
        self.rewards: list[tuple[int, float]] = []  # (step, value) of every reward received
        self._write_lock = threading.Lock()  # one snapshot write at a time
        self._thread = threading.Thread(target=self._main, name="brainchat-runner", daemon=True)
        self._ready = threading.Event()
        # called on the stepping thread with every vitals record (benchmarks watch the firing band)
        self.vitals_listener: Callable[[Vitals], None] | None = None
        self._pins: tuple[np.ndarray, Any, np.ndarray] | None = None  # (host ids, device ids, resting thresholds) of pinned neurons
        self._trace: list[Any] = []  # per step since the last frame: [3, pins] membrane, moving threshold, spiked
        self._heartbeat = time.monotonic()  # the stepping thread's last turn of its loop
        self._owners: tuple[Brain, list[str], np.ndarray] | None = None  # weights_histogram's cache
        self._stepped = 0  # steps this runner has stepped (the metrics' counter: the brain's step goes back on a load)
        self._reward_counts = [0, 0]  # rewards and punishments received by this runner
        self._sleep_waiters: list[tuple[Future, dict[str, Any]]] = []  # lockstep: sleeps that answer at their waking

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> "Runner":
        self._thread.start()
        return self

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until the brain has settled (lockstep) or started stepping (free-running)."""
        return self._ready.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the current step, answer pending requests with :class:`RunnerStopped`, end the thread."""
        self._commands.put(("stop", None, None))
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def __enter__(self) -> "Runner":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- requests (any thread) --------------------------------------------------------

    def say_async(self, line: str, image: np.ndarray | None = None) -> Future:
        """Present ``line``; the future's result is a :class:`Reply`.

        With ``image`` (intensities 0..1, any size) the brain's visual region sees it for the
        whole utterance, the line (which may be empty) and the reading of the reply: the image
        is part of the prompt.
        """
        return self._request("say", (line, image))

    def say(self, line: str, timeout: float | None = None, image: np.ndarray | None = None) -> Reply:
        return self.say_async(line, image).result(timeout)

    def teach_async(self, prompt: str, reply: str, image: np.ndarray | None = None) -> Future:
        """Teach that ``prompt`` (with ``image``, if given, seen throughout) is answered by ``reply``; the future's result is a :class:`Reply`.

        The prompt is presented as by :meth:`say`, then the reply's characters are driven on
        their output patches, one per reply window, and dopamine is given. The result's text is
        what the output patches said while being taught.
        """
        return self._request("teach", (prompt, reply, image))

    def teach(self, prompt: str, reply: str, timeout: float | None = None, image: np.ndarray | None = None) -> Reply:
        return self.teach_async(prompt, reply, image).result(timeout)

    def reward(self, value: float) -> float:
        """A dopamine pulse: ``value`` > 0 rewards the brain's last reply, < 0 punishes it.

        Returns the dopamine level right after the pulse.
        """
        return self._request("reward", float(value)).result()

    def rhythm(self) -> dict[str, Any]:
        """The spectrum of the last seconds of the living population's activity (:mod:`brainchat.rhythm`); ValueError if too little was recorded."""
        signal = self._request("activity", None).result()  # copied on the stepping thread, which appends to it
        from brainchat import rhythm

        if signal.size < rhythm.MIN_SECONDS * 1000:
            raise ValueError(f"{signal.size / 1000:.1f} s of activity recorded since the start or the last load; the rhythm needs {rhythm.MIN_SECONDS:g} s")
        result = rhythm.report(signal[-ACTIVITY_STEPS:])
        result["basket_cells"] = self.brain.layout.get("basket") is not None  # whether the gamma rhythm's population is there
        return result

    def chem(self) -> dict[str, Any]:
        """The neuromodulators now: levels, what each does, recent history, holds, and glutamate/GABA per region (:func:`chemistry_report`)."""
        return self._request("chem", None).result()

    def dose(self, name: str, level: float, seconds: float | None = None) -> dict[str, Any]:
        """Set a neuromodulator's level (held for ``seconds`` of brain time if given); returns :meth:`chem`'s report after it."""
        return self._request("dose", (name, float(level), seconds)).result()

    def lesion(self, region: str, fraction: float) -> dict[str, Any]:
        """Kill a random ``fraction`` of ``region``'s living neurons now (model/lesions.py); what happened, as :meth:`_damage` says."""
        return self._request("damage", ("lesion", region, float(fraction))).result()

    def stroke(self, x: float, y: float, radius: float, region: str | None = None) -> dict[str, Any]:
        """Kill the living neurons of a disc on ``region``'s grid (default: the largest living region, the cortex)."""
        return self._request("damage", ("stroke", region, float(x), float(y), float(radius))).result()

    def see(self, image: np.ndarray, timeout: float | None = None) -> Reply:
        """Show an image (intensities 0..1) as a prompt of its own (an empty line): the brain's visual region sees it while the reply is read."""
        return self.say("", timeout, image=np.asarray(image, dtype=np.float32))

    def sleep(self, minutes: float | None = None) -> dict[str, Any]:
        """Fall asleep now for ``minutes`` brain minutes (``[sleep] asleep_minutes`` without), or sleep that long from now if asleep.

        Returns the sleep's report (model/sleep.py) with the downscaling's figures. In lockstep
        the brain sleeps it through before this returns, and the report is the waking's.
        """
        if minutes is not None and not minutes > 0:
            raise ValueError(f"a sleep lasts more than 0 minutes, not {minutes:g}")
        return self._request("sleep", minutes).result()

    def wake(self) -> dict[str, Any]:
        """Wake now; the lines said while it slept are said now, and their replies are the result's ``replies``."""
        return self._request("wake", None).result()

    def rest(self, steps: int = 100) -> None:
        """Let the brain run ``steps`` steps without input (free-running, it lives on anyway)."""
        self._request("rest", steps).result()

    def pause(self) -> None:
        self._request("pause", None).result()

    def resume(self) -> None:
        self._request("resume", None).result()

    def set_speed(self, speed: float) -> None:
        """Brain-ms per wall-ms; 0 for as fast as possible."""
        if speed < 0:
            raise ValueError("speed must not be negative")
        self._request("speed", speed).result()

    def save_async(self, path: str | Path) -> Future:
        """Snapshot the brain to ``path``; the future's result is a :class:`Saved`.

        The stepping thread pauses only to copy the arrays; a writer thread writes the file.
        """
        return self._request("save", Path(path))

    def save(self, path: str | Path, timeout: float | None = None) -> Saved:
        return self.save_async(path).result(timeout)

    def load_async(self, snapshot: "snapshots.Snapshot", path: str | Path | None = None) -> Future:
        """Replace the brain's state with a snapshot already read and checked; result: its step.

        ``path`` is where it was read from (its ``load`` event says so). Fails with
        :class:`SnapshotError` (and changes nothing) when it does not fit.
        """
        return self._request("load", (snapshot, path))

    def load(self, path: str | Path, timeout: float | None = None) -> int:
        """Read, check and load the snapshot at ``path``; the file is read on the calling thread."""
        return self.load_async(snapshots.read(path), path).result(timeout)

    def pin(self, ids: list[int]) -> list[int]:
        """Follow these neurons' membrane, threshold and spikes at every step, in the frames' ``traces`` (at most :data:`MAX_PINS`; ``[]`` unpins).

        While neurons are pinned the brain steps one step per kernel call (the membrane is
        read after each), which costs a little speed; docs/benchmarks.md says how much.
        """
        return self._request("pin", [int(i) for i in ids]).result()

    def weights_histogram(self, bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
        """The plastic weights of each plastic pathway as a histogram over [0, weight_max]: ``{"edges": [...], "pathways": {name: counts}}``.

        The stepping thread only copies the weights; the histogram is made on the calling thread.
        """
        brain, weights = self._request("weights", None).result()
        names, owner = self._plastic_owners(brain)
        edges = np.linspace(0.0, brain.learning.weight_max, bins + 1)
        pathways = {name: np.histogram(weights[owner == index], bins=edges)[0].tolist() for index, name in enumerate(names)}
        mean = float(weights.mean()) if weights.size else None
        return {"edges": edges.tolist(), "pathways": pathways, "synapses": int(weights.size), "mean": mean, "step": self.stats.step}

    def _plastic_owners(self, brain: Brain) -> tuple[list[str], np.ndarray]:
        """The plastic pathways' names and, for each plastic synapse, which of them it is in (made once per brain, off the stepping thread)."""
        cached = self._owners
        if cached is not None and cached[0] is brain:
            return cached[1], cached[2]
        offsets = np.array([p.offset for p in brain.pathways], dtype=np.int64)
        pathway = np.searchsorted(offsets, brain.backend.to_host(brain.plastic.synapses), side="right") - 1
        plastic, owner = np.unique(pathway, return_inverse=True)
        names = [brain.pathways[p].spec.name for p in plastic.tolist()]
        self._owners = (brain, names, owner.astype(np.int64))
        return names, self._owners[2]

    def health(self) -> tuple[bool, str]:
        """Whether the stepping thread is alive and turning (paused and idle count as healthy), and why not."""
        if not self._thread.is_alive():
            return False, f"the stepping thread has stopped: {self.error}" if self.error else "the stepping thread has stopped"
        if not self._ready.is_set():
            return True, "starting"  # settling, or compiling its kernels: minutes at worst, on a first start
        silent = time.monotonic() - self._heartbeat
        if silent > STALE_SECONDS:
            return False, f"the stepping thread has not moved for {silent:.0f} s"
        return True, "paused" if self._paused else "stepping"

    def status(self) -> dict[str, Any]:
        """What ``brainchat status``, the metrics and the health check report: the stats, counts of what happened, health."""
        stats = self.stats
        healthy, health = self.health()
        counts = self.frames.counts()
        pins = self._pins  # read once: the stepping thread may unpin meanwhile
        positive, negative = self._reward_counts
        return {
            "step": stats.step,
            "brain_seconds": stats.brain_seconds,
            "realtime_factor": stats.realtime_factor,
            "ms_per_step": stats.ms_per_step,
            "firing_fraction": stats.firing_fraction,
            "mean_threshold": stats.mean_threshold,
            "drive": stats.drive,
            "dopamine": stats.dopamine,
            "mood": stats.mood,
            "device": stats.device,
            "neurons": self.brain.size,
            "paused": stats.paused,
            "speed": stats.speed,
            "rewards": len(self.rewards),
            "rewards_positive": positive,
            "rewards_negative": negative,
            "dead": self.brain.dead_count,
            "renewed": self.brain.renewed_count,
            "steps_stepped": self._stepped,
            "events": counts,
            "regions": dict(stats.region_firing),
            "recent_firing": list(stats.recent_firing),
            "sleep": dict(stats.sleep),
            "pinned": [] if pins is None else pins[0].tolist(),
            "healthy": healthy,
            "health": health,
        }

    def raster(self, neurons: int = 48, steps: int = 80) -> Future:
        """Spikes of ``neurons`` evenly spaced neurons over the next ``steps`` steps, bool ``[neurons, steps]``."""
        return self._request("raster", (neurons, steps))

    def _request(self, name: str, argument: Any) -> Future:
        future: Future = Future()
        if not self._thread.is_alive() and self._thread.ident is not None:
            future.set_exception(RunnerStopped("the brain has stopped"))
            return future
        self._commands.put((name, argument, future))
        if not self._thread.is_alive() and self._thread.ident is not None:
            self._fail_pending()  # the thread died between the check above and the put
        return future

    # ---- the stepping thread ----------------------------------------------------------

    def _main(self) -> None:
        try:
            if self.lockstep:
                self._advance(self._settle_steps, None)
            if self.brain.recorder.pending:
                self._publish(self.brain.read_vitals())
            self._ready.set()
            self._restart_clock()
            while not self._stopping:
                self._heartbeat = time.monotonic()
                idle = self._paused or (self.lockstep and self._current is None and not self._utterances and self._raster is None
                                        and not self.brain.sleep.asleep)
                self._handle_commands(block=idle)
                if self._stopping or self._paused:
                    continue
                if self._current is None and not self._utterances:
                    self._sleep_turn()
                if self._current is None and self._utterances:
                    utterance = self._utterances.popleft()
                    try:
                        self._begin(utterance)
                    except Exception as error:  # noqa: BLE001 - its caller hears why; the brain lives on
                        self._current = None
                        if not utterance.future.done():
                            utterance.future.set_exception(error)
                if self._current is not None:
                    self._continue_utterance()
                elif not self.lockstep or self._raster is not None or self.brain.sleep.asleep:
                    self._advance(IDLE_STEPS_PER_CALL if self._raster is None else STEPS_PER_CALL, None)
        except BaseException as error:  # noqa: BLE001 - reported to every waiting caller
            self.error = error
        finally:
            self._ready.set()
            self._fail_pending()

    def _handle_commands(self, block: bool) -> None:
        try:
            command = self._commands.get(timeout=0.1) if block else self._commands.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle_safely(*command)
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return

    def _handle_safely(self, name: str, argument: Any, future: Future | None) -> None:
        """A command that fails answers its caller with the error; the brain lives on."""
        try:
            self._handle(name, argument, future)
        except Exception as error:  # noqa: BLE001 - handed to the caller, whatever it is
            if future is not None and not future.done():
                future.set_exception(error)

    def _handle(self, name: str, argument: Any, future: Future | None) -> None:
        if name == "stop":
            self._stopping = True
            return
        assert future is not None
        if name in ("say", "teach"):
            self.brain.check_talks()
        if self._paused and name in ("say", "teach", "raster"):
            future.set_exception(BrainPaused("the brain is paused; resume it first (/resume or `brainchat resume`)"))
            return
        if name in ("say", "teach") and self.brain.sleep.asleep:
            future.set_exception(self._asleep(argument))
            return
        if name == "say":
            line, image = argument
            sight = self.brain.image_stimulus(image) if image is not None else None
            cleaned = codec.clean_line(line, self.brain.config.codec.max_line_chars)
            self._utterances.append(_Utterance(cleaned.text, cleaned.notices, deque(), future, 0, sight=sight))
            return
        if name == "teach":
            prompt, reply, image = argument
            sight = self.brain.image_stimulus(image) if image is not None else None
            limits = self.brain.config.codec
            cleaned = codec.clean_line(prompt, limits.max_line_chars)
            taught = codec.clean_line(reply, limits.max_reply_chars)
            if not taught.text:
                raise ValueError("there is no reply to teach")
            notices = cleaned.notices + tuple(f"reply: {notice}" for notice in taught.notices)
            teaching = _Utterance(cleaned.text, notices, deque(), future, 0, teach=taught.text, sight=sight)
            if self.brain.config.codec.teach_only_mistakes:
                self._utterances.append(_Utterance(cleaned.text, (), deque(), Future(), 0, before=teaching, sight=sight))
            self._utterances.append(teaching)
            if image is None:  # what sleep replays (model/sleep.py); an image is not kept
                self.brain.sleep.remember(cleaned.text, taught.text)
            return
        if name == "sleep":
            self._fall_asleep(argument, future)
            return
        if name == "wake":
            self._wake(future)
            return
        if name == "save":
            self._save(argument, future)
            return
        if name == "load":
            self._load(*argument, future)
            return
        if name == "raster":
            neurons, steps = argument
            ids = np.linspace(0, self.brain.size - 1, neurons).astype(np.int64)
            self._raster = (self.brain.backend.asarray(ids), [], steps, future)
            return
        if name == "pin":
            self._pin(argument, future)
            return
        if name == "weights":  # only the copy here: the histogram is the caller's work
            brain = self.brain
            future.set_result((brain, brain.backend.to_host(brain.synapses.weights[brain.plastic.synapses])))
            return
        if name == "activity":
            future.set_result(np.concatenate(list(self._activity)) if self._activity else np.zeros(0, dtype=np.float32))
            return
        if name == "damage":
            future.set_result(self._damage(*argument))
            return
        if name == "dose":
            self.brain.dose(*argument)
            self.frames.add_event("dose", self.brain.step_count, name=argument[0], level=argument[1], seconds=argument[2])
            future.set_result(chemistry_report(self.brain, self._chem_history))
            return
        if name == "chem":
            future.set_result(chemistry_report(self.brain, self._chem_history))
            return
        if name == "reward":
            level = self.brain.reward(argument)
            self.rewards.append((self.brain.step_count, argument))
            if argument:
                self._reward_counts = [self._reward_counts[0] + (argument > 0), self._reward_counts[1] + (argument < 0)]
            self.stats = replace(self.stats, dopamine=level)
            self.frames.add_event("reward", self.brain.step_count, value=argument, dopamine=level)
            future.set_result(level)
            return
        if name == "rest":
            if self.lockstep:
                self._advance(argument, None)
        elif name == "pause":
            self._paused = True
        elif name == "resume":
            self._paused = False
            self._restart_clock()
        elif name == "speed":
            self._speed = argument
            self._restart_clock()
        self.stats = replace(self.stats, paused=self._paused, speed=self._speed)
        future.set_result(None)

    def _damage(self, kind: str, region: str | None, *numbers: float) -> dict[str, Any]:
        """A lesion (fraction) or a stroke (x, y, radius) on the stepping thread: {region, killed, dead, renewal_ms}."""
        brain = self.brain
        region = region or brain.layout.regions[brain.main_region].name
        ids = lesions.lesion_ids(brain, region, *numbers) if kind == "lesion" else lesions.stroke_ids(brain, region, *numbers)
        killed = lesions.kill(brain, ids)
        renewal = brain.config.renewal
        self.frames.add_event(kind, brain.step_count, region=region, killed=killed)
        return {"region": region, "killed": killed, "dead": brain.dead_count, "step": brain.step_count,
                "renewal_ms": renewal.delay_ms if renewal.enabled else None}

    def _pin(self, ids: list[int], future: Future) -> None:
        brain = self.brain
        if len(ids) > MAX_PINS:
            raise ValueError(f"at most {MAX_PINS} neurons can be pinned at once")
        bad = [i for i in ids if not 0 <= i < brain.size]
        if bad:
            raise ValueError(f"neuron {bad[0]} does not exist: this brain has neurons 0-{brain.size - 1:,}")
        future.set_result(self._set_pins(ids))

    def _set_pins(self, ids: list[int]) -> list[int]:
        """Follow these neurons of the brain now (its regions give each one's resting threshold); a fresh trace."""
        brain = self.brain
        unique = np.array(sorted(set(ids)), dtype=np.int64)
        self._trace = []
        if not unique.size:
            self._pins = None
        else:
            region = np.searchsorted(brain.layout.bounds, unique, side="right") - 1
            rest = np.array([brain.params[r].threshold_rest for r in region], dtype=np.float64)
            self._pins = (unique, brain.backend.asarray(unique), rest)
        return unique.tolist()

    def _record_trace(self) -> None:
        _, ids, _ = self._pins  # type: ignore[misc]
        state, xp = self.brain.neurons, self.brain.backend.xp
        self._trace.append(xp.stack([
            state.membrane[ids].astype(xp.float32),
            (state.threshold_fast[ids] + state.threshold_homeostatic[ids]).astype(xp.float32),
            self.brain.last_spikes[ids].astype(xp.float32),
        ]))

    def _traces(self) -> dict[str, Any] | None:
        """The pinned neurons' steps since the last frame, for the frame (one device-to-host copy)."""
        if self._pins is None:
            self._trace = []
            return None
        if not self._trace:  # pinned just now: no step recorded yet
            ids = self._pins[0].tolist()
            return {"ids": ids, "membrane": [[] for _ in ids], "threshold": [[] for _ in ids], "spiked": [[] for _ in ids]}
        host = self.brain.backend.to_host(self.brain.backend.xp.stack(self._trace)).astype(np.float64)  # [steps, 3, pins]
        self._trace = []
        ids, _, rest = self._pins
        return {
            "ids": ids.tolist(),
            "membrane": np.round(host[:, 0, :].T, 3).tolist(),
            "threshold": np.round(host[:, 1, :].T + rest[:, None], 3).tolist(),
            "spiked": host[:, 2, :].T.astype(np.int64).tolist(),
        }

    def _save(self, path: Path, future: Future) -> None:
        started = time.perf_counter()
        captured = snapshots.capture(self.brain, np.array(self.rewards, dtype=np.float64).reshape(-1, 2))
        pause_ms = 1000.0 * (time.perf_counter() - started)
        self._restart_clock()

        def write() -> None:
            try:
                with self._write_lock:
                    size = snapshots.write(captured, path)
                self.frames.add_event("save", captured.step, path=str(path), bytes=size)
                future.set_result(Saved(path, size, captured.step, pause_ms))
            except BaseException as error:  # noqa: BLE001 - handed to the caller
                future.set_exception(error)

        threading.Thread(target=write, name="brainchat-snapshot-writer", daemon=False).start()

    def _load(self, snapshot: "snapshots.Snapshot", path: str | Path | None, future: Future) -> None:
        brain = self.brain
        if self._current is not None:  # a reply half read from the old state would mix two brains
            self._current.future.set_exception(BrainchatError("a snapshot was loaded while the brain was answering"))
            self._current = None
        if snapshot.neurons != brain.size:
            future.set_exception(SnapshotError(f"the snapshot has {snapshot.neurons:,} neurons, this brain {brain.size:,}; start one with `brainchat run --load`"))
            return
        model = ("neurons", "homeostasis", "codec", "plasticity", "regions", "pathways")
        same_model = all(getattr(snapshot.config, part) == getattr(brain.config, part) for part in model) and all(
            getattr(snapshot.config.brain, key) == getattr(brain.config.brain, key) for key in ("seed", "dtype", "layout")
        ) and not snapshot.converted
        try:
            if same_model:
                brain.restore_state(snapshot.arrays, snapshot.step, snapshot.vitals_pending)
            else:
                replacement = self._another_brain(snapshot)
                try:
                    replacement.restore_state(snapshot.arrays, snapshot.step, snapshot.vitals_pending)
                except ValueError:
                    replacement.close()
                    raise
                brain.close()
                self.brain = replacement
                self.layout = _layout_tables(replacement)
        except ValueError as error:
            future.set_exception(SnapshotError(f"the snapshot does not fit this brain: {error}"))
            return
        self.rewards = [(int(step), float(value)) for step, value in snapshot.rewards]
        if self._pins is not None:  # the same neurons, of the brain now in place (which may be another one)
            self._set_pins(self._pins[0].tolist())
        self._history.clear()
        self._chem_history.clear()
        self._activity.clear()  # another brain's (or another moment's) rhythm
        self._activity_steps = 0
        self._rate_marks.clear()
        self._restart_clock()
        self.frames.add_event("load", self.brain.step_count, path=None if path is None else str(path), converted=snapshot.converted)
        future.set_result(self.brain.step_count)

    def _another_brain(self, snapshot: "snapshots.Snapshot") -> Brain:
        """The brain a snapshot of another model loads into (its state not restored yet)."""
        return from_snapshot(with_runtime_of(snapshot.config, self.brain.config), snapshot.arrays, self.brain.backend)

    def _begin(self, utterance: _Utterance) -> None:
        brain = self.brain
        config = brain.config.codec
        brain.new_episode()
        # attention and novelty (model/chemistry.py): an image is part of what is new
        sight = utterance.sight
        seen = "" if sight is None else "\0" + np.round(brain.backend.to_host(sight.current).astype(np.float64), 3).tobytes().hex()
        if utterance.replay:
            brain.chemistry.attend()  # a replay is attended like a line (its teaching learns as awake), but it is nothing new
            if utterance.before is None:
                self.frames.add_event("replay", brain.step_count, text=utterance.said, reply=utterance.teach)
        else:
            brain.chemistry.line(utterance.said + seen)
            brain.sleep.heard(brain.step_count)
            brain.context = utterance.said + seen
            if utterance.before is None:  # (the free answer before a teaching is part of that teaching)
                self.frames.add_event("teach" if utterance.teach is not None else "say", brain.step_count, text=utterance.said,
                                      **({"reply": utterance.teach} if utterance.teach is not None else {}))
        # a prompt the hippocampus has not bound yet is taught even when answered right: its new
        # recall neurons must learn the reply, or they would answer for it untaught
        unbound = utterance.sight is None and brain.hippocampus.active and brain.hippocampus.slot_of(utterance.said) is None
        if utterance.teach is not None and utterance.reply_before == utterance.teach and not unbound:
            utterance.reply = list(utterance.teach)  # it already answers right: nothing to teach
            self._finish(utterance)
            return
        if utterance.teach is not None and utterance.sight is None:
            brain.hippocampus.bind(brain, utterance.said)  # the prompt gets detectors of its own (model/hippocampus.py)
        if brain.has_memory and config.reset_steps:
            reset = brain.stimuli([(brain.memory_ids(), -config.reset_current)])
            utterance.phases.append((reset, config.reset_steps, _PRESENT))
        for place, char in enumerate(utterance.said):
            utterance.phases.append((brain.char_stimulus(char, place, config.stimulus_current), config.char_steps, _PRESENT))
        utterance.phases.append((None, config.gap_steps, _PRESENT))
        first = self._taught_region(utterance) if utterance.teach is not None else None
        # a replay asks the association alone, so that sleep teaches it what only the hippocampus knew (consolidation)
        utterance.opens = "association" if utterance.replay and utterance.teach is None else "both"
        utterance.phases.append((self._window_stimulus(0, first, utterance.opens), config.window_steps, _READ))
        utterance.first_step = self.brain.step_count
        utterance.left_in_phase = utterance.phases[0][1]
        self._current = utterance
        if self.brain.recorder.pending:  # the presentation's counts start clean
            self._publish(self.brain.read_vitals())

    def _continue_utterance(self) -> None:
        utterance = self._current
        assert utterance is not None
        stimulus, length, kind = utterance.phases[0]
        if utterance.left_in_phase == length:
            # the phase's stimulus with the image seen throughout, joined once per phase (not per call)
            utterance.phase_stimulus = self.brain.joined(stimulus, utterance.sight)
            if kind == _READ:
                # a new reply position: pairings from the last one must not reach this one's patch
                self.brain.clear_traces()
            # while a free reply is only read, nothing is tagged: what a reward or punishment
            # acts on is the character the brain committed to (its echo), or the taught one
            if utterance.teach is not None:
                self.brain.pairing = plasticity.PAIRING_TEACH
            else:
                self.brain.pairing = plasticity.PAIRING_TAG if kind == _ECHO else plasticity.PAIRING_OFF
        steps = min(STEPS_PER_CALL, utterance.left_in_phase)
        self._advance(steps, utterance.phase_stimulus)
        utterance.left_in_phase -= steps
        if utterance.left_in_phase:
            return
        vitals = self.brain.read_vitals()
        self._publish(vitals)
        config = self.brain.config.codec
        if kind == _PRESENT:
            utterance.phases.popleft()
            if utterance.teach is None and utterance.opens == "both" and utterance.window == 0 and utterance.phases[0][2] == _READ and self.brain.hippocampus.recalls(vitals):
                # a free reply to a line the hippocampus knows comes from its recall neurons alone
                # (model/hippocampus.py); a teaching still teaches the association too (what a typo
                # finds)
                utterance.opens = "recall"
                utterance.phases[0] = (self._window_stimulus(0, None, "recall"), config.window_steps, _READ)
        elif kind == _ECHO:
            if utterance.ended:
                self._finish(utterance)
                return
            utterance.phases[0] = (self._window_stimulus(utterance.window, opens=utterance.opens), config.window_steps, _READ)
            if utterance.opens == "recall" and config.teach_inhibition:
                # a recalled reply's next character starts from a quiet output: the echo's patch,
                # still firing for a few steps, would outvote the few recall neurons (model/hippocampus.py)
                quench = self.brain.stimuli([(self.brain.output_region.patch(k), -config.teach_inhibition) for k in range(self.brain.output_region.spec.patches)])
                utterance.phases.appendleft((quench, QUENCH_STEPS, _PRESENT))
        else:
            patches = vitals.group_spikes[self._output_groups()]
            if utterance.teach is None:  # a free reply: noradrenaline sets how deterministic the choice is (model/chemistry.py)
                draw = float(np.random.default_rng([self.brain.config.brain.seed, self.brain.step_count]).random())
                floor = config.silence_rate * self.brain.output_region.patch_size * vitals.steps
                if utterance.opens == "recall":  # the recall neurons speak for one line only: any spike is meant, the end patch ends the reply
                    floor = 1.0
                region = chemistry.choose(patches, floor, self.brain.chemistry.effects().temperature, draw)
                if region is None and utterance.window == 0 and config.answer_always and patches.max() > 0:
                    region = int(np.argmax(patches))  # a reply is not empty while the output lives: a punishment has a character to act on
            else:
                region = codec.winning_patch(patches, self.brain.output_region.patch_size, vitals.steps, config.silence_rate)
            char = codec.char_of(region)
            window = utterance.window
            utterance.window += 1
            if utterance.teach is not None:
                if window < len(utterance.teach):
                    utterance.reply.append(char or "")
                if window >= len(utterance.teach):
                    self.brain.reward(self.brain.config.plasticity.teach_dopamine, predicted=False)
                    self._finish(utterance)
                    return
                utterance.phases[0] = (self._window_stimulus(utterance.window, self._taught_region(utterance), utterance.opens), config.window_steps, _READ)
            else:
                utterance.ended = char is None or len(utterance.reply) + 1 >= config.max_reply_chars
                if char is not None:
                    utterance.reply.append(char)
                if config.echo_steps and region is not None and self.brain.has_memory:
                    utterance.phases[0] = (self._window_stimulus(window, region, utterance.opens), config.echo_steps, _ECHO)
                elif utterance.ended:
                    self._finish(utterance)
                    return
                else:
                    utterance.phases[0] = (self._window_stimulus(utterance.window, opens=utterance.opens), config.window_steps, _READ)
        utterance.left_in_phase = utterance.phases[0][1]

    def _output_groups(self) -> np.ndarray:
        """The vitals groups of the output region's patches, in patch order (the 95 characters, then the end)."""
        first = self.brain.recorder.region_groups[self.brain.output_region.index][0]
        return np.arange(first, first + self.brain.output_region.spec.patches)

    @staticmethod
    def _taught_region(utterance: _Utterance) -> int:
        """The output patch driven in the current window of a teaching: the character's, or the end patch after the last."""
        taught = utterance.teach or ""
        return PRINTABLE.index(taught[utterance.window]) if utterance.window < len(taught) else END_PATCH

    def _window_stimulus(self, window: int, driven: int | None = None, opens: str = "both") -> Stimulus | None:
        """Reply window ``window``: its sector of the gated regions gated (``opens``: both, or the "recall" or "association" region only); with ``driven``, that output patch driven and the others held down."""
        brain = self.brain
        config = brain.config.codec
        parts = []
        if brain.gate_region is not None and config.gate_current:
            parts.append((brain.sector(window, association=opens != "recall", recall=opens != "association"), config.gate_current))
        if driven is not None:
            parts.append((brain.output_region.patch(driven), config.teach_current))
            if config.teach_inhibition:
                parts.append((brain.other_outputs(driven), -config.teach_inhibition))
        return brain.stimuli(parts) if parts else None

    def _finish(self, utterance: _Utterance) -> None:
        self.brain.pairing = plasticity.PAIRING_TEACH
        self.brain.chemistry.line_done()
        if utterance.before is not None:
            # error-driven teaching: the teaching that follows happens only if this answer was
            # wrong, and then the wrong answer is unlearned first
            said = "".join(utterance.reply)
            utterance.before.reply_before = said
            if said != utterance.before.teach:
                self.brain.reward(-self.brain.config.plasticity.teach_dopamine, predicted=False)
        reply = Reply(
            said=utterance.said,
            text="".join(utterance.reply),
            notices=utterance.notices,
            first_step=utterance.first_step,
            steps=self.brain.step_count - utterance.first_step,
            before=utterance.reply_before,
        )
        self._current = None
        if utterance.before is None and not utterance.replay:
            self.frames.add_event("taught" if utterance.teach is not None else "reply", self.brain.step_count, text=reply.text, said=reply.said)
        if not utterance.future.done():
            utterance.future.set_result(reply)

    # ---- sleep (model/sleep.py) ----------------------------------------------------------

    def _asleep(self, argument: tuple) -> BrainAsleep:
        """The answer to a line said to a sleeping brain: a line is kept and said when it wakes, a taught pair is remembered (sleep replays it)."""
        if len(argument) == 3:  # a teaching
            prompt, reply, image = argument
            limits = self.brain.config.codec
            taught = codec.clean_line(reply, limits.max_reply_chars).text
            if image is None and taught:
                self.brain.sleep.remember(codec.clean_line(prompt, limits.max_line_chars).text, taught)
                return BrainAsleep("asleep; /wake to wake it (the pair is remembered: sleep replays it)")
            return BrainAsleep("asleep; /wake to wake it")
        line, image = argument
        kept = image is None and bool(line.strip()) and self.brain.sleep.keep(line)
        return BrainAsleep("asleep; /wake to wake it" + (" (the line is kept and said when it wakes)" if kept else ""))

    def _sleep_turn(self) -> None:
        """Between utterances: fall asleep or wake when due, and begin the next replay while asleep."""
        cycle = self.brain.sleep
        due = cycle.due(self.brain.step_count)
        if due == "sleep":
            self._fall_asleep(None, None)
        elif due == "wake":
            self._wake(None)
        pair = cycle.next_replay(self.brain.step_count)
        if pair is None:
            return
        prompt, reply = pair
        teaching = _Utterance(prompt, (), deque(), Future(), 0, teach=reply, replay=True)
        if self.brain.config.codec.teach_only_mistakes:
            self._utterances.append(_Utterance(prompt, (), deque(), Future(), 0, before=teaching, replay=True))
        self._utterances.append(teaching)

    def _fall_asleep(self, minutes: float | None, future: Future | None) -> None:
        brain = self.brain
        if brain.sleep.asleep:  # sleep that long from now
            brain.sleep.wakes_at = brain.step_count + round((brain.config.sleep.asleep_minutes if minutes is None else minutes) * 60_000)
            figures: dict[str, float] = {}
        else:
            figures = brain.fall_asleep(minutes)
        self.frames.add_event("sleep", brain.step_count, minutes=(brain.sleep.wakes_at - brain.step_count) / 60_000, **figures)
        self._sleep_stats()
        if future is None:
            return
        report = {**brain.sleep.report(brain.step_count), "downscaling": figures}
        if self.lockstep:
            self._sleep_waiters.append((future, report))
        else:
            future.set_result(report)

    def _wake(self, future: Future | None) -> None:
        brain = self.brain
        was_asleep = brain.sleep.asleep
        replays = brain.sleep.replays
        kept = brain.sleep.wake(brain.step_count) if was_asleep else []
        brain.chemistry.asleep = False  # acetylcholine's rest is the waking one from now, not from the pools' next update
        # a replay under way is cut short (its teaching, if any, never comes)
        if self._current is not None and self._current.replay:
            self._current = None
            self.brain.pairing = plasticity.PAIRING_TEACH
            self.brain.chemistry.line_done()
        self._utterances = deque(u for u in self._utterances if not u.replay)
        if was_asleep:
            self.frames.add_event("wake", brain.step_count, replays=replays, kept=len(kept))
        self._sleep_stats()
        waiters = [(f, report) for f, report in self._sleep_waiters]
        self._sleep_waiters.clear()
        if future is not None:
            waiters.append((future, {}))
        futures = []
        for line in kept:
            said: Future = Future()
            cleaned = codec.clean_line(line, brain.config.codec.max_line_chars)
            self._utterances.append(_Utterance(cleaned.text, cleaned.notices, deque(), said, 0))
            futures.append((line, said))

        def answer(_: Any = None) -> None:
            replies = [{"said": line, "reply": said.result().text if said.exception() is None else None} for line, said in futures]
            for waiter, report in waiters:
                if not waiter.done():
                    waiter.set_result({**report, **brain.sleep.report(brain.step_count), "was_asleep": was_asleep, "replays": replays, "replies": replies})

        if futures:
            futures[-1][1].add_done_callback(answer)
        else:
            answer()

    def _sleep_stats(self) -> None:
        self.stats = replace(self.stats, sleep=tuple(self.brain.sleep.report(self.brain.step_count).items()))

    def _advance(self, steps: int, stimulus: Stimulus | None) -> None:
        brain = self.brain
        if self._raster is None and self._pins is None:
            for vitals in brain.run(steps, stimulus):  # one call of a fused kernel where there is one
                self._publish(vitals)
        else:  # someone reads the state after every step
            for _ in range(steps):
                vitals = brain.step(stimulus)
                if self._raster is not None:
                    self._record_raster()
                if self._pins is not None:
                    self._record_trace()
                if vitals is not None:
                    self._publish(vitals)
        self._pace()

    def _record_raster(self) -> None:
        ids, rows, wanted, future = self._raster  # type: ignore[misc]
        rows.append(self.brain.last_spikes[ids])
        if len(rows) >= wanted:
            xp = self.brain.backend.xp
            future.set_result(self.brain.backend.to_host(xp.stack(rows, axis=1)))
            self._raster = None

    def _pace(self) -> None:
        """Sleep as long as the brain is ahead of the wall clock (a command cuts it short); never try to catch up a backlog."""
        if self.lockstep or self._speed <= 0:
            return
        started, steps_then = self._clock
        due = started + (self.brain.step_count - steps_then) / (1000.0 * self._speed)
        lag = time.perf_counter() - due
        if lag > 0.1:
            self._restart_clock()
        # ahead: wait until due, in pieces of at most 50 ms, leaving early for a command
        while lag < 0 and self._commands.empty():
            time.sleep(min(-lag, 0.05))
            lag = time.perf_counter() - due

    def _restart_clock(self) -> None:
        self._clock = (time.perf_counter(), self.brain.step_count)

    def _publish(self, vitals: Vitals) -> None:
        if self.vitals_listener is not None:
            self.vitals_listener(vitals)
        self._stepped += vitals.steps
        self._heartbeat = time.monotonic()  # a long settle or compile still shows the thread moving
        now = time.perf_counter()
        self._rate_marks.append((now, vitals.step))
        while len(self._rate_marks) > 2 and now - self._rate_marks[1][0] >= 1.0:
            self._rate_marks.popleft()
        first_time, first_step = self._rate_marks[0]
        elapsed = now - first_time
        # a rate over less than a quarter second (just after a start or a load) means nothing
        rate = (vitals.step - first_step) / (1000.0 * elapsed) if elapsed >= 0.25 else self.stats.realtime_factor
        if vitals.steps:
            self._history.append(vitals.fraction_mean)
            self._intervals += 1
            if self._intervals % CHEM_HISTORY_INTERVALS == 0:
                levels = self.brain.chemistry.levels
                self._chem_history.append((vitals.dopamine, levels["noradrenaline"], levels["acetylcholine"], levels["serotonin"]))
            self._activity.append(np.asarray(vitals.firing_fraction, dtype=np.float32))
            self._activity_steps += vitals.steps
            while self._activity_steps - len(self._activity[0]) >= ACTIVITY_STEPS:
                self._activity_steps -= len(self._activity.popleft())
        self.stats = RunnerStats(
            step=vitals.step,
            realtime_factor=rate,
            firing_fraction=vitals.fraction_mean if vitals.steps else self.stats.firing_fraction,
            mean_threshold=vitals.mean_threshold,
            drive=vitals.drive,
            device=self.brain.backend.device,
            paused=self._paused,
            speed=self._speed,
            recent_firing=tuple(self._history),
            ms_per_step=vitals.ms_per_step if vitals.steps else self.stats.ms_per_step,
            dopamine=vitals.dopamine,
            mood=self.brain.chemistry.mood,
            region_firing=tuple(vitals.region_firing.items()) if vitals.steps else self.stats.region_firing,
            sleep=tuple(self.brain.sleep.report(vitals.step).items()),
        )
        if vitals.steps:
            stats = self.stats
            self.frames.add_frame({
                "step": vitals.step, "steps": vitals.steps, "realtime_factor": stats.realtime_factor, "paused": stats.paused,
                "firing_fraction": vitals.fraction_mean, "firing_min": vitals.fraction_min, "firing_max": vitals.fraction_max,
                "regions": dict(stats.region_firing), "mean_threshold": vitals.mean_threshold, "drive": vitals.drive,
                "modulators": {"dopamine": vitals.dopamine, **self.brain.chemistry.levels, "mood": self.brain.chemistry.mood}, "raster": pack_raster(vitals.sample_fired), "sample_spikes": vitals.sample_spikes.tolist(),
                "ms_per_step": vitals.ms_per_step, **({"traces": traces} if (traces := self._traces()) is not None else {}),
            })

    def _fail_pending(self) -> None:
        reason = RunnerStopped(f"the brain stopped: {self.error}" if self.error else "the brain has stopped")
        pending = [u.future for u in self._utterances]
        if self._current is not None:
            pending.append(self._current.future)
        if self._raster is not None:
            pending.append(self._raster[3])
        pending += [future for future, _ in self._sleep_waiters]
        while True:
            try:
                _, _, future = self._commands.get_nowait()
            except queue.Empty:
                break
            if future is not None:
                pending.append(future)
        for future in pending:
            if not future.done():
                future.set_exception(reason)
