"""Sleep: the maintenance mode the founding documents ask for ("40 minutes awake, 20 in maintenance").

What the brain keeps, in brain steps (so the cycle is the same at any speed and in a snapshot):

* **Awake or asleep**, since which step, and until which step a sleep lasts. With
  ``[sleep] auto`` a sleep falls due ``awake_minutes`` after the last waking, and begins at
  the first moment nobody has said anything for ``quiet_s`` (so it never cuts into a
  conversation); it lasts ``asleep_minutes``. ``/sleep [MINUTES]`` and ``/wake`` do the same
  by hand.
* **The input is closed while asleep** (the thalamic gate of Izhikevich & Edelman 2008's
  thalamocortical model, here a gate on the codec, not yet a region of neurons): a line said
  to a sleeping brain is answered in one line and kept; it is said when the brain wakes.
* **What sleep replays**: every taught pair (``/teach PROMPT => REPLY``) is remembered, the
  latest reply for a prompt, at most ``remembered_pairs``, the oldest forgotten first. While
  asleep the runner replays one every ``replay_interval_ms``, in an order drawn from the
  brain's seed: the prompt reaches the working memory straight (not through the closed gate)
  and, as in an error-driven teaching, only a pair the brain now gets wrong is taught again.
  Interleaving the old with the new is what protects the old (McClelland, McNaughton &
  O'Reilly 1995, Psychol Rev 102:419; in spiking networks: Tadros et al. 2022, Nat Commun
  13:7742, and Golden et al. 2022, PLoS Comput Biol 18:e1010628). The store stands in for a
  hippocampus: it binds a prompt to its reply in one teaching, but as text, not yet as a
  region of neurons that completes a partial cue.
* **Downscaling** (the synaptic homeostasis of de Vivo et al. 2017, Science 355:507: synapses
  about 18 % smaller after sleep, the largest spared): when a sleep begins, every plastic
  weight below ``protected_weight`` x ``weight_max`` is multiplied by ``downscale``.

Everything here is host state, in the snapshot under ``sleep/``: a snapshot taken asleep wakes
asleep, and one from before sleep existed loads awake with nothing to replay.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import numpy as np

from brainchat.config import SleepSection

ARRAYS = ("sleep/state", "sleep/memory")
KEPT_LINES = 32  # lines said to a sleeping brain that are kept for its waking


class Sleep:
    """The cycle, the remembered pairs and the lines kept while asleep; the runner drives it, the brain keeps it."""

    def __init__(self, config: SleepSection, seed: int, step: int = 0):
        self.config = config
        self.seed = seed
        self.asleep = False
        self.changed_at = step  # the last falling asleep or waking
        self.wakes_at = -1  # while asleep: the step it wakes at
        self.last_line_at = step  # the last line heard (an automatic sleep waits for quiet)
        self.replays = 0  # replays begun this sleep
        self.next_replay_at = -1
        self.sleeps = 0  # sleeps so far (the replay order of each is drawn anew)
        self.pairs: OrderedDict[str, str] = OrderedDict()  # prompt -> the reply last taught for it
        self.kept: list[str] = []

    # ---- what happens awake --------------------------------------------------------

    def heard(self, step: int) -> None:
        self.last_line_at = step

    def remember(self, prompt: str, reply: str) -> None:
        """A taught pair, kept for replay (the latest reply for a prompt; the oldest pair dropped beyond the limit)."""
        self.pairs.pop(prompt, None)
        self.pairs[prompt] = reply
        while len(self.pairs) > self.config.remembered_pairs:
            self.pairs.popitem(last=False)

    def keep(self, line: str) -> bool:
        """A line said while asleep, kept for the waking; False when the list is full (the line is dropped)."""
        if len(self.kept) >= KEPT_LINES:
            return False
        self.kept.append(line)
        return True

    # ---- the cycle --------------------------------------------------------------------

    def due(self, step: int) -> str | None:
        """``"sleep"`` when an automatic sleep should begin now, ``"wake"`` when a sleep has ended, else None."""
        if self.asleep:
            return "wake" if step >= self.wakes_at else None
        config = self.config
        if config.auto and step - self.changed_at >= _steps(config.awake_minutes * 60) and step - self.last_line_at >= _steps(config.quiet_s):
            return "sleep"
        return None

    def fall_asleep(self, step: int, minutes: float | None = None) -> None:
        self.asleep = True
        self.changed_at = step
        self.wakes_at = step + _steps((self.config.asleep_minutes if minutes is None else minutes) * 60)
        self.replays = 0
        self.next_replay_at = step
        self.sleeps += 1

    def wake(self, step: int) -> list[str]:
        """Wake now; returns the lines kept meanwhile (and forgets them: the runner says them)."""
        self.asleep = False
        self.changed_at = step
        self.wakes_at = -1
        self.last_line_at = step
        kept, self.kept = self.kept, []
        return kept

    def next_replay(self, step: int) -> tuple[str, str] | None:
        """The pair to replay now, or None (not asleep, replay off, nothing kept, or not yet time)."""
        if not (self.asleep and self.config.replay and self.pairs) or step < self.next_replay_at:
            return None
        items = list(self.pairs.items())
        turn, place = divmod(self.replays, len(items))
        order = np.random.default_rng([self.seed, self.sleeps, turn]).permutation(len(items))
        self.replays += 1
        self.next_replay_at = step + _steps(self.config.replay_interval_ms / 1000)
        return items[int(order[place])]

    def seconds_to_change(self, step: int) -> float | None:
        """Brain seconds to the next waking, or to the next automatic sleep (at the soonest); None when none is due."""
        if self.asleep:
            return max(0, self.wakes_at - step) / 1000
        if not self.config.auto:
            return None
        config = self.config
        at = max(self.changed_at + _steps(config.awake_minutes * 60), self.last_line_at + _steps(config.quiet_s))
        return max(0, at - step) / 1000

    def report(self, step: int) -> dict[str, Any]:
        """What ``status`` and the toolbar show."""
        return {
            "asleep": self.asleep, "auto": self.config.auto, "seconds_to_change": self.seconds_to_change(step),
            "since_s": (step - self.changed_at) / 1000, "replays": self.replays if self.asleep else 0,
            "remembered_pairs": len(self.pairs), "kept_lines": len(self.kept),
        }

    # ---- the snapshot -------------------------------------------------------------------

    def arrays(self) -> dict[str, np.ndarray]:
        state = np.array([int(self.asleep), self.changed_at, self.wakes_at, self.last_line_at, self.replays, self.next_replay_at, self.sleeps], dtype=np.int64)
        text = json.dumps({"pairs": list(self.pairs.items()), "kept": self.kept}, ensure_ascii=True)
        return {"sleep/state": state, "sleep/memory": np.frombuffer(text.encode("ascii"), dtype=np.uint8).copy()}

    def restore(self, arrays: dict[str, Any], step: int) -> None:
        """From a snapshot's arrays (ValueError naming what is wrong); one from before sleep existed: awake since ``step``, nothing remembered."""
        if "sleep/state" not in arrays:
            self.__init__(self.config, self.seed, step)  # type: ignore[misc]
            return
        state = np.asarray(arrays["sleep/state"])
        if state.shape != (7,) or state.dtype != np.int64:
            raise ValueError(f"sleep/state is {state.dtype}{list(state.shape)} in the snapshot, int64[7] expected")
        asleep, changed_at, wakes_at, last_line_at, replays, next_replay_at, sleeps = (int(v) for v in state)
        if asleep not in (0, 1) or not 0 <= changed_at <= step or not last_line_at <= step or replays < 0 or sleeps < 0 or (asleep and wakes_at < changed_at):
            raise ValueError("sleep/state holds values no brain could have had")
        try:
            memory = json.loads(np.asarray(arrays["sleep/memory"], dtype=np.uint8).tobytes().decode("ascii"))
            pairs = [(str(prompt), str(reply)) for prompt, reply in memory["pairs"]]
            kept = [str(line) for line in memory["kept"]]
        except (KeyError, ValueError, TypeError, UnicodeDecodeError):
            raise ValueError("sleep/memory is not the list of remembered pairs and kept lines") from None
        self.asleep, self.changed_at, self.wakes_at, self.last_line_at = bool(asleep), changed_at, wakes_at, last_line_at
        self.replays, self.next_replay_at, self.sleeps = replays, next_replay_at, sleeps
        self.pairs = OrderedDict(pairs[-self.config.remembered_pairs :])
        self.kept = kept[:KEPT_LINES]


def _steps(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def downscale(xp: Any, weights: Any, plastic_synapses: Any, factor: float, protected_above: float) -> dict[str, float]:
    """Multiply the plastic weights below ``protected_above`` by ``factor`` in place; the mean before and after, and the share scaled."""
    if not int(plastic_synapses.shape[0]):
        return {"mean_before": 0.0, "mean_after": 0.0, "scaled_share": 0.0}
    plastic = weights[plastic_synapses]
    before = float(plastic.mean())
    scaled = plastic < protected_above
    plastic = xp.where(scaled, plastic * plastic.dtype.type(factor), plastic)
    weights[plastic_synapses] = plastic
    return {"mean_before": before, "mean_after": float(plastic.mean()), "scaled_share": float(scaled.mean())}
