"""A mixed history for the equivalence tests of the fused kernels (tests/test_fused_*.py)."""

from __future__ import annotations

import numpy as np

from brainchat import Brain
from brainchat.model.geometry import FIRST_OUTPUT_REGION, input_region, output_region
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
    records += b.run(60, b.stimulus(input_region("k"), 1.0))
    b.new_episode()
    records += b.run(5, b.stimuli([(np.arange(b.memory_end), -30.0)]))
    for place, char in enumerate("hi!"):
        records += b.run(20, b.char_stimulus(char, place, 1.0))
    outputs = b.sheet.region_of >= FIRST_OUTPUT_REGION
    for window, (char, mode) in enumerate([("o", PAIRING_TEACH), ("k", PAIRING_TAG), ("?", PAIRING_OFF)]):
        b.pairing = mode
        b.clear_traces()
        patch = b.sheet.region_members(output_region(char))
        others = np.flatnonzero(outputs & (b.sheet.region_of != output_region(char)))
        gate = b.sheet.sector_members(window)
        records += b.run(20, b.stimuli([(gate, 2.0), (patch, 0.5), (others, -0.5)]))
        if rewards:
            b.reward(1.0 if window % 2 == 0 else -0.5, predicted=window == 1)
    b.pairing = PAIRING_TEACH
    records += b.run(33)
    return records
