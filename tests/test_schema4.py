"""Snapshots of schema 4 (the basket cells off by default, before all_to_all) load as the brains they were.

``fixtures/schema4_chat.h5`` was written by brainchat cdff480 (schema 4) with
``fixtures/make_chat_fixture.py`` (``4 cdff480``), with the spikes of the 300 steps that followed it there.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from brainchat import Config
from brainchat.model.brain import from_snapshot
from brainchat.persistence import snapshot as snapshots

FIXTURES = Path(__file__).parent / "fixtures"
RECORD = json.loads((FIXTURES / "schema4_chat.json").read_text())


def test_a_schema_4_chat_brain_keeps_its_basket_cells_off_and_steps_on_as_it_did():
    with h5py.File(FIXTURES / "schema4_chat.h5", "r") as handle:
        assert int(handle.attrs["schema_version"]) == 4 and "neuromodulators/pressure" not in handle
    assert "basket" in [r.name for r in Config().region_specs], "today's default has them"
    snapshot = snapshots.read(FIXTURES / "schema4_chat.h5")
    assert snapshot.converted == "schema 4", "the hippocampus (schema 6) is declared left out; every other table its config lists in full"
    assert [r.name for r in snapshot.config.region_specs] == RECORD["regions"] == ["input", "association", "cortex", "output"]
    with from_snapshot(snapshot.config, snapshot.arrays) as brain:
        brain.restore_state(snapshot.arrays, snapshot.step, snapshot.vitals_pending)
        assert brain.step_count == RECORD["step"] and not any(p.uniform for p in brain.pathways)
        assert brain.chemistry.pressure == 0.0, "a file from before the sleep pressure wakes rested"
        counts = []
        for _ in RECORD["spikes_after_load"]:
            brain.step()
            counts.append(int(brain.last_spikes.sum()))
    assert counts == RECORD["spikes_after_load"], "the same brain: the same spikes as in the brainchat that saved it"
