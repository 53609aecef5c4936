"""Neuromodulators beside dopamine: noradrenaline, acetylcholine and serotonin as pools.

Dopamine is the reward signal of the learning rule and lives in
:mod:`brainchat.model.plasticity` (released by a reward, decaying with ``dopamine_tau_ms``).
The other three are global pools here, each with release by events, first-order uptake
toward a resting level with a time constant of its own, and one defined effect, after the
division of labour of Doya 2002 ("Metalearning and neuromodulation", Neural Networks
15:495) and, for noradrenaline, the adaptive-gain theory of Aston-Jones & Cohen 2005 (Annu
Rev Neurosci 28:403):

* **noradrenaline** (NE): gain and exploration. Rest 0; phasic bursts (to at least a level,
  so that a run of events does not pile them up) on a line the brain has not heard before
  (``noradrenaline_novelty``) and on surprise, a reward that the mood (the running balance of
  rewards, the brain's expectation) did not predict: ``noradrenaline_surprise`` x ``|reward -
  mood|`` where that exceeds ``surprise_threshold``. It multiplies the synaptic and
  stimulus input of every neuron region by ``1 + noradrenaline_gain x NE`` (the slope of the
  response to input, as a gain on the net input: Servan-Schreiber, Printz & Cohen 1990,
  Science 249:892). Above ``exploration_above`` it also makes the choice of a reply character
  a softmax over the firing output patches at temperature ``exploration x (NE -
  exploration_above)`` instead of the arg max: the event-locked bursts sharpen (gain), a high
  sustained level explores, the two modes of Aston-Jones & Cohen. The default bursts stay
  below that level, so replies are as deterministic as without it unless a user doses it.
* **acetylcholine** (ACh): the learning rate and the weight of input against recurrence
  (Hasselmo 1999, Trends Cogn Sci 3:351; Doya's "memory update speed"). 1 while the brain
  attends: held there while a line is presented and answered, and set to at least 1 by a
  reward; between lines it relaxes toward ``acetylcholine_idle``. The learning rate is
  ``learning_rate x ACh`` and the codec's stimulus (the typed characters, the images) is
  multiplied by ACh, so that against the unchanged recurrent input it weighs ACh times as
  much. At 1 (every moment a line or a reward is being learned from) both are as without it.
  **Asleep** its rest is ``acetylcholine_asleep`` (low in slow-wave sleep, which is what lets
  the hippocampus's replay reach the cortex: Hasselmo 1999, and Hasselmo & McGaughy 2004,
  Prog Brain Res 145:207), approached with its uptake time constant; a replay is attended at
  1 like a line, so that its teaching learns as awake: a sleep with many pairs to replay keeps
  it high (one every 2 s), one with nothing left to replay goes low within a minute or two.
* **time awake**: the sleep pressure (process S of Borbély 1982, Hum Neurobiol 1:195), 0 to
  1, rises toward 1 while awake with ``pressure_rise_minutes`` and falls toward 0 asleep with
  ``pressure_fall_minutes``; it lowers acetylcholine's idle rest to ``acetylcholine_idle x (1
  - drowsiness x pressure)``: the longer awake, the less a brain between lines takes in.
  Lines and rewards still bring acetylcholine to 1, so what is taught is learned alike.
* **serotonin** (5-HT): patience. The eligibility time constant is ``eligibility_tau_ms x
  5-HT`` (how long a tag waits for a reward: Doya's discount horizon), so a reward 5 s after
  a reply still finds more of its tags at a higher level. Its resting level follows a slow
  **mood**, the balance of recent rewards and punishments (each reward moves the mood
  ``mood_rate`` of the way toward its sign; the mood fades toward 0 over ``mood_tau_s``):
  rest = ``1 + serotonin_mood x mood``.

Levels change at two kinds of moment only, so that the NumPy reference and the fused kernels
(which run many steps per call) see the same levels at the same steps: at events (a line, a
reward, a dose), at once; and by uptake every :data:`INTERVAL` steps, when the step count is a
multiple of it. A dose (``brainchat chem set NAME LEVEL --for SECONDS``) holds a level for a
while, whatever the events; dosing dopamine adds to the dopamine of the learning rule.

Glutamate and GABA are the excitatory and inhibitory synapses that exist; :func:`balance`
reports them per region.
"""

from __future__ import annotations

import math
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from brainchat.config import ChemistrySection

INTERVAL = 100  # steps between two uptake updates of the pools
NAMES = ("dopamine", "serotonin", "noradrenaline", "acetylcholine")
POOLS = ("noradrenaline", "acetylcholine", "serotonin")  # the pools held here (dopamine: plasticity)
MAX_LEVEL = 4.0  # a dose beyond this is refused: a gain of 3x and more only saturates
HEARD_LINES = 10_000  # lines remembered for novelty


@dataclass(frozen=True)
class Effects:
    """What the levels do now: input gains, learning rate and eligibility factors, reply temperature."""

    gain: float  # synaptic and stimulus input of every neuron region
    stimulus: float  # the codec's stimulus on top of the gain (acetylcholine)
    learning: float  # times plasticity.learning_rate
    patience: float  # times plasticity.eligibility_tau_ms
    temperature: float  # of the reply character's softmax; 0 = arg max


class Chemistry:
    """The three pools, their holds, the mood, the lines heard; updated by :class:`~brainchat.model.brain.Brain`.

    ``levels`` maps each pool's name to its level; ``holds`` a held pool to (level, the step
    the hold ends, or -1 for a hold without end).
    """

    def __init__(self, section: ChemistrySection):
        self.section = section
        self.levels = {"noradrenaline": 0.0, "acetylcholine": 1.0, "serotonin": 1.0}
        self.mood = 0.0
        self.attending = False
        self.asleep = False  # the brain's sleep (model/sleep.py), told at every uptake update
        self.pressure = 0.0  # the sleep pressure: time awake (see the module's docstring)
        self.holds: dict[str, tuple[float, int]] = {}
        self.heard: deque[int] = deque(maxlen=HEARD_LINES)
        self._heard_set: set[int] = set()
        self.relaxed_at = -1  # the step of the last uptake update

    # ---- events ------------------------------------------------------------------------

    def line(self, text: str) -> bool:
        """A line begins (said or taught): attention (ACh to 1, held), and NE if the line is new. Returns its novelty."""
        if not self.section.enabled:
            return False
        self.attend()
        key = zlib.crc32(text.encode("utf-8"))
        novel = key not in self._heard_set
        if novel:
            self._remember(key)
            # a phasic burst: to at least this level (bursts do not pile up over a run of new lines)
            self.levels["noradrenaline"] = max(self.levels["noradrenaline"], self.section.noradrenaline_novelty)
        self._apply_holds()
        return novel

    def attend(self) -> None:
        """Attention without a line heard (a replay in sleep): acetylcholine to 1, held until :meth:`line_done`; no novelty."""
        if not self.section.enabled:
            return
        self.attending = True
        self.levels["acetylcholine"] = max(self.levels["acetylcholine"], 1.0)
        self._apply_holds()

    def line_done(self) -> None:
        self.attending = False

    def fall_asleep(self) -> None:
        """The brain falls asleep: from now acetylcholine relaxes toward its sleep rest (not at once: a teaching's dopamine still acts)."""
        self.asleep = True

    def reward(self, value: float) -> float:
        """A reward ``value`` (> 0) or punishment (< 0): NE by its surprise, ACh to at least 1, the mood toward its sign. Returns the surprise.

        The surprise is ``|value - mood|``, the mood being the running balance of rewards, so the
        brain's own expectation: a punishment after many is no news, a reward then is. Only a
        surprise above ``surprise_threshold`` releases noradrenaline.
        """
        if not self.section.enabled:
            return 0.0
        surprise = abs(max(min(value, 1.0), -1.0) - self.mood)
        if surprise > self.section.surprise_threshold:
            self.levels["noradrenaline"] = max(self.levels["noradrenaline"], self.section.noradrenaline_surprise * surprise)
        self.levels["acetylcholine"] = max(self.levels["acetylcholine"], 1.0)
        if value:
            self.mood += self.section.mood_rate * (math.copysign(1.0, value) - self.mood)
        self._apply_holds()
        return surprise

    def dose(self, name: str, level: float, until_step: int | None = None) -> None:
        """Set ``name`` to ``level`` now; with ``until_step``, hold it there until that step (then it relaxes as usual).

        Dopamine is held here too (the brain writes the held level into the learning rule's
        dopamine before each call of its kernels); setting it once is the brain's business.
        """
        if name not in NAMES:
            raise ValueError(f"no neuromodulator {name!r}: the names are {', '.join(NAMES)}")
        low = -MAX_LEVEL if name == "dopamine" else 0.0  # dopamine is signed: a punishment is below 0
        if not math.isfinite(level) or not low <= level <= MAX_LEVEL:
            raise ValueError(f"{name} goes from {low:g} to {MAX_LEVEL:g}, not {level:g}")
        self.holds.pop(name, None)
        if until_step is not None:
            self.holds[name] = (float(level), int(until_step))
        if name != "dopamine":
            self.levels[name] = float(level)

    # ---- uptake ------------------------------------------------------------------------

    def rest_level(self, name: str) -> float:
        s = self.section
        if name == "noradrenaline":
            return 0.0
        if name == "acetylcholine":
            if self.attending:
                return 1.0
            return s.acetylcholine_asleep if self.asleep else s.acetylcholine_idle * (1.0 - s.drowsiness * self.pressure)
        return 1.0 + s.serotonin_mood * self.mood

    def relax(self, step: int, asleep: bool = False) -> None:
        """The uptake of :data:`INTERVAL` steps, once per multiple of it (``step`` is the brain's step count now, ``asleep`` its sleep)."""
        if step % INTERVAL or step == self.relaxed_at:
            return
        self.relaxed_at = step
        s = self.section
        self.asleep = asleep
        if s.enabled:
            if asleep:
                self.pressure *= math.exp(-INTERVAL / (60_000.0 * s.pressure_fall_minutes))
            else:
                self.pressure = 1.0 - (1.0 - self.pressure) * math.exp(-INTERVAL / (60_000.0 * s.pressure_rise_minutes))
            taus = {"noradrenaline": s.noradrenaline_tau_ms, "acetylcholine": s.acetylcholine_tau_ms, "serotonin": s.serotonin_tau_ms}
            for name, tau in taus.items():
                rest = self.rest_level(name)
                self.levels[name] = rest + (self.levels[name] - rest) * math.exp(-INTERVAL / tau)
            self.mood *= math.exp(-INTERVAL / (1000.0 * s.mood_tau_s))
        self.holds = {name: (level, until) for name, (level, until) in self.holds.items() if until < 0 or step < until}
        self._apply_holds()

    def _apply_holds(self) -> None:
        for name, (level, _) in self.holds.items():
            if name != "dopamine":
                self.levels[name] = level
        for name in self.levels:
            self.levels[name] = min(max(self.levels[name], 0.0), MAX_LEVEL)

    def _remember(self, key: int) -> None:
        if len(self.heard) == self.heard.maxlen:
            self._heard_set.discard(self.heard[0])
        self.heard.append(key)
        self._heard_set.add(key)

    # ---- effects -----------------------------------------------------------------------

    def effects(self) -> Effects:
        s = self.section
        if not s.enabled:
            return Effects(1.0, 1.0, 1.0, 1.0, 0.0)
        ne, ach, serotonin = self.levels["noradrenaline"], self.levels["acetylcholine"], self.levels["serotonin"]
        return Effects(
            gain=1.0 + s.noradrenaline_gain * ne,
            stimulus=ach,
            learning=ach,
            patience=max(serotonin, 0.05),
            temperature=s.exploration * max(0.0, ne - s.exploration_above),
        )

    # ---- snapshots ---------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        """The pools, the mood and the lines heard, keyed by snapshot path (0-d float32, and uint32 ``[L]``)."""
        out = {f"neuromodulators/{name}": np.asarray(level, dtype=np.float32) for name, level in self.levels.items()}
        out["neuromodulators/mood"] = np.asarray(self.mood, dtype=np.float32)
        out["neuromodulators/pressure"] = np.asarray(self.pressure, dtype=np.float32)
        out["neuromodulators/heard"] = np.array(self.heard, dtype=np.uint32)
        return out

    def restore(self, arrays: dict[str, Any]) -> None:
        """The pools from a snapshot's arrays; one saved before the pools existed leaves them at rest (no lines heard)."""
        self.levels = {"noradrenaline": 0.0, "acetylcholine": 1.0, "serotonin": 1.0}
        for name in self.levels:
            if f"neuromodulators/{name}" in arrays:
                value = float(np.asarray(arrays[f"neuromodulators/{name}"]))
                if not math.isfinite(value) or not 0.0 <= value <= MAX_LEVEL:
                    raise ValueError(f"neuromodulators/{name} is {value}, outside 0..{MAX_LEVEL:g}")
                self.levels[name] = value
        mood = float(np.asarray(arrays.get("neuromodulators/mood", 0.0)))
        if not math.isfinite(mood) or abs(mood) > 1.0:
            raise ValueError(f"neuromodulators/mood is {mood}, outside -1..1")
        self.mood = mood
        pressure = float(np.asarray(arrays.get("neuromodulators/pressure", 0.0)))  # a snapshot from before it: rested
        if not math.isfinite(pressure) or not 0.0 <= pressure <= 1.0:
            raise ValueError(f"neuromodulators/pressure is {pressure}, outside 0..1")
        self.pressure = pressure
        self.heard.clear()
        self._heard_set.clear()
        for key in np.asarray(arrays.get("neuromodulators/heard", np.zeros(0, np.uint32))).astype(np.int64).tolist():
            self._remember(int(key))
        self.holds.clear()
        self.relaxed_at = -1


def choose(patch_spikes: np.ndarray, floor: float, temperature: float, draw: float) -> int | None:
    """The output patch of a reply window: the arg max at temperature 0, else a softmax draw among the patches that fired.

    ``floor``: the silence threshold in spikes (below it a patch did not speak); ``draw``: a
    uniform on [0, 1). The softmax is over each patch's count relative to the winner's,
    ``exp((count - best) / (temperature x best))``, so the temperature means the same at any
    brain size. Ties at temperature 0 go to the lower patch (as :func:`brainchat.io.codec.winning_patch`).
    """
    best = int(np.argmax(patch_spikes))
    top = float(patch_spikes[best])
    if top < floor:
        return None
    if temperature <= 0:
        return best
    speaking = np.flatnonzero(patch_spikes >= floor)
    weights = np.exp((patch_spikes[speaking].astype(np.float64) - top) / (temperature * top))
    cumulative = np.cumsum(weights)
    return int(speaking[min(int(np.searchsorted(cumulative, draw * cumulative[-1], side="right")), speaking.size - 1)])


def balance(brain: Any) -> list[dict[str, Any]]:
    """Glutamate and GABA per region: the excitatory and inhibitory synaptic input per neuron and step, at the last interval's firing.

    Each synapse's weight (positive: an excitatory source, glutamate; negative: an
    inhibitory one, GABA) times its source region's firing fraction over the last vitals
    interval, summed onto its target and averaged over the target region. One entry per
    region: name, glutamate and gaba (both >= 0) and their ratio (None without GABA).
    """
    vitals = brain.latest_vitals
    firing = vitals.region_firing if vitals is not None else {}
    rate_of = np.zeros(brain.size)
    for region in brain.layout.regions:
        rate_of[region.start : region.stop] = firing.get(region.name, 0.0)
    backend = brain.backend
    glutamate = np.zeros(brain.size)
    gaba = np.zeros(brain.size)
    for pathway in brain.pathways:
        projection = pathway.projection
        lo, hi = pathway.source
        if pathway.uniform:  # all_to_all: every source's one weight onto every target
            flow = backend.to_host(projection.weights[:, 0]).astype(np.float64) * rate_of[lo:hi]
            t_lo, t_hi = pathway.target
            glutamate[t_lo:t_hi] += flow[flow > 0].sum()
            gaba[t_lo:t_hi] += -flow[flow < 0].sum()
            continue
        weights = backend.to_host(projection.weights).astype(np.float64)
        targets = backend.to_host(projection.targets)
        lengths = backend.to_host(projection.lengths)
        live = np.arange(weights.shape[1])[None, :] < lengths[:, None]
        flow = weights * rate_of[lo : lo + weights.shape[0], None]
        into = targets[live]
        flow = flow[live]
        glutamate += np.bincount(into, weights=np.where(flow > 0, flow, 0.0), minlength=brain.size)
        gaba += np.bincount(into, weights=np.where(flow < 0, -flow, 0.0), minlength=brain.size)
    out = []
    for region in brain.layout.regions:
        part = slice(region.start, region.stop)
        g, i = float(glutamate[part].mean()), float(gaba[part].mean())
        out.append({"region": region.name, "glutamate": g, "gaba": i, "ratio": g / i if i > 0 else None})
    return out


def describe(name: str, level: float, effects: Effects, brain: Any) -> str:
    """What ``name`` at ``level`` is doing now, in words (/chem)."""
    if name == "dopamine":
        if abs(level) < 1e-3:
            return "at rest: the weights stay"
        return f"{'rewarding' if level > 0 else 'punishing'}: tagged synapses {'grow' if level > 0 else 'shrink'}"
    if name == "noradrenaline":
        explore = f"reply choice at temperature {effects.temperature:.2f}" if effects.temperature > 0 else "replies: the busiest patch"
        return f"gain x{effects.gain:.2f}, {explore}"
    if name == "acetylcholine":
        pools = brain.chemistry
        why = " (attending)" if pools.attending else " (asleep)" if pools.asleep else f" (sleep pressure {pools.pressure:.2f})" if pools.pressure >= 0.05 else ""
        return f"learning x{effects.learning:.2f}, input weight x{effects.stimulus:.2f}" + why
    tau = brain.config.plasticity.eligibility_tau_ms * effects.patience / 1000.0
    return f"a tag waits {tau:.1f} s for its reward (eligibility time constant)"


def report(brain: Any, history: Any = ()) -> dict[str, Any]:
    """The neuromodulators of ``brain`` now: levels (dopamine too), mood, effects and words, holds, history and glutamate/GABA.

    ``history``: (dopamine, noradrenaline, acetylcholine, serotonin) rows, oldest first (the runner keeps them).
    Call it on the thread that steps the brain.
    """
    pools = brain.chemistry
    effects = pools.effects()
    levels = {"dopamine": float(brain.backend.to_host(brain.plasticity.dopamine)), **{name: float(pools.levels[name]) for name in POOLS}}
    order = ("dopamine", "noradrenaline", "acetylcholine", "serotonin")
    rows = [tuple(row) for row in history]
    return {
        "step": brain.step_count,
        "enabled": pools.section.enabled,
        "levels": {name: levels[name] for name in NAMES},
        "mood": pools.mood,
        "effects": {"gain": effects.gain, "input_weight": effects.stimulus, "learning_rate_factor": effects.learning,
                    "eligibility_tau_ms": brain.config.plasticity.eligibility_tau_ms * effects.patience, "reply_temperature": effects.temperature},
        "doing": {name: describe(name, levels[name], effects, brain) for name in NAMES},
        "holds": {name: (None if until < 0 else max(0.0, (until - brain.step_count) / 1000.0)) for name, (_, until) in pools.holds.items()},
        "attending": pools.attending,
        "asleep": pools.asleep,
        "sleep_pressure": pools.pressure,
        "history": {name: [row[k] for row in rows] for k, name in enumerate(order)},
        "balance": balance(brain),
    }
