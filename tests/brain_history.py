"""A mixed history for the equivalence tests of the fused kernels (tests/test_fused_*.py)."""

from __future__ import annotations

import numpy as np

from brainchat import Brain
from brainchat.model.regions import PRINTABLE
from brainchat.model.plasticity import PAIRING_OFF, PAIRING_TAG, PAIRING_TEACH


def teaching_history(b: Brain, rewards: bool) -> list:
    """Runs across interval boundaries, single steps, a stimulus, an overdrive of the working
    memory, and a line said and taught in each pairing mode as the runner does it (rewarded
    and punished with ``rewards``); returns the vitals records."""
    records = b.run(1234)
    for _ in range(7):
        record = b.step()
        if record is not None:
            records.append(record)
    records += b.run(60, b.stimulus(b.input_patch("k"), 1.0))
    b.new_episode()
    records += b.run(5, b.stimulus(b.memory_ids(), -30.0))
    for place, char in enumerate("hi!"):
        records += b.run(20, b.char_stimulus(char, place, 1.0))
    for window, (char, mode) in enumerate([("o", PAIRING_TEACH), ("k", PAIRING_TAG), ("?", PAIRING_OFF)]):
        b.pairing = mode
        b.clear_traces()
        patch = b.output_patch(char)
        others = b.other_outputs(PRINTABLE.index(char))
        gate = b.sector(window)
        records += b.run(20, b.stimuli([(gate, 2.0), (patch, 0.5), (others, -0.5)]))
        if rewards:
            b.reward(1.0 if window % 2 == 0 else -0.5, predicted=window == 1)
    b.pairing = PAIRING_TEACH
    records += b.run(33)
    return records
