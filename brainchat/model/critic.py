"""The critic: the reward the brain expects after each line, so that dopamine is the surprise of *this* prompt.

Actor-critic learning (Sutton & Barto; with spiking neurons: Frémaux, Sprekeler & Gerstner
2013, PLoS Comput Biol 9:e1003024): the readout is the actor; the critic learns ``V(line)``,
the reward expected after the line, and a reward ``r`` releases dopamine ``r - V`` instead of
``r``. Each reward moves ``V`` of the line last said by ``plasticity.critic_rate`` of the way
toward it (a running mean per line).

One change from the textbook, forced by measurement: the expectation that is subtracted is
``max(V, 0)``. A line that is mostly rewarded learns less from one more ``+`` and more from a
``-`` (the point: its rewards no longer keep pulling the synapses it shares with other lines,
and one line's reward no longer undoes another's punishment); but a line that is mostly
punished keeps the full force of a punishment. With the signed expectation a brain that had
fallen silent for a prompt stopped hearing its punishments and stayed silent (bench reward at
20k, seed 1: 0.0 instead of 0.6; docs/benchmarks.md).

The critic is a table keyed by the line (text and, for an image, its pixels), the most recent
``CONTEXTS`` lines; it stands in for a striatum-like region that would read the line's code.
In the snapshot as ``critic/values`` (ASCII JSON); a file without it loads with nothing expected.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from typing import Any

import numpy as np

CONTEXTS = 4096
MAX_REWARD = 10.0  # a reward's strength is at most 10 (the control socket's limit)
ARRAYS = ("critic/values",)


class Critic:
    """``V(line)``: the reward expected after each line (the most recent :data:`CONTEXTS`)."""

    def __init__(self, rate: float):
        self.rate = rate
        self.values: OrderedDict[str, float] = OrderedDict()

    def surprise(self, context: str | None, reward: float) -> float:
        """The dopamine of ``reward`` after ``context`` (``reward - max(V, 0)``), and ``V`` learns from it; the reward itself when off or without a context."""
        if self.rate <= 0 or context is None:
            return reward
        expected = self.values.pop(context, 0.0)
        self.values[context] = expected + self.rate * (reward - expected)
        while len(self.values) > CONTEXTS:
            self.values.popitem(last=False)
        return reward - max(expected, 0.0)

    def expected(self, context: str) -> float:
        return self.values.get(context, 0.0)

    def arrays(self) -> dict[str, np.ndarray]:
        text = json.dumps(list(self.values.items()), ensure_ascii=True)
        return {"critic/values": np.frombuffer(text.encode("ascii"), dtype=np.uint8).copy()}

    def restore(self, arrays: dict[str, Any]) -> None:
        """From a snapshot's arrays (ValueError naming what is wrong); a file without them: nothing expected."""
        self.values.clear()
        if "critic/values" not in arrays:
            return
        try:
            items = json.loads(np.asarray(arrays["critic/values"], dtype=np.uint8).tobytes().decode("ascii"))
            values = [(str(context), float(value)) for context, value in items]
        except (ValueError, TypeError, UnicodeDecodeError):
            raise ValueError("critic/values is not the list of lines and their expected rewards") from None
        if any(not (math.isfinite(v) and abs(v) <= MAX_REWARD) for _, v in values):
            raise ValueError(f"critic/values holds an expected reward outside -{MAX_REWARD:g}..{MAX_REWARD:g}")
        self.values.update(values[-CONTEXTS:])
