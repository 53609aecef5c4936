"""Snapshots of schema 5 (before the hippocampus) load as the brains they were.

``fixtures/schema5_chat.h5`` was written by brainchat 7644d49 (schema 5) with
``fixtures/make_chat_fixture.py`` (``5 7644d49``), with the spikes of the 300 steps that followed it there.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest

from brainchat import Brain, Config
from brainchat.errors import SnapshotError
from brainchat.model.brain import from_snapshot
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

FIXTURES = Path(__file__).parent / "fixtures"
RECORD = json.loads((FIXTURES / "schema5_chat.json").read_text())


def test_a_schema_5_chat_brain_loads_without_a_hippocampus_and_steps_on_as_it_did():
    with h5py.File(FIXTURES / "schema5_chat.h5", "r") as handle:
        assert int(handle.attrs["schema_version"]) == 5 and "hippocampus" not in handle.attrs["config"]
    assert {"hippocampus", "recall"} <= {r.name for r in Config().region_specs}, "today's default has one"
    snapshot = snapshots.read(FIXTURES / "schema5_chat.h5")
    assert snapshot.converted == "schema 5"
    assert [r.name for r in snapshot.config.region_specs] == RECORD["regions"] == ["input", "association", "cortex", "basket", "output"]
    with from_snapshot(snapshot.config, snapshot.arrays) as brain:
        brain.restore_state(snapshot.arrays, snapshot.step, snapshot.vitals_pending)
        assert brain.step_count == RECORD["step"] and not brain.hippocampus.active
        counts = []
        for _ in RECORD["spikes_after_load"]:
            brain.step()
            counts.append(int(brain.last_spikes.sum()))
    assert counts == RECORD["spikes_after_load"], "the same brain: the same spikes as in the brainchat that saved it"


def test_a_brain_loaded_from_schema_5_is_taught_without_a_hippocampus_and_saved_as_schema_6(tmp_path):
    today = Brain(Config().replace(**{"brain.neurons": RECORD["neurons"], "brain.seed": RECORD["seed"], "brain.device": "cpu"}))
    with Runner(today, lockstep=True) as runner:
        runner.wait_ready()
        runner.load(FIXTURES / "schema5_chat.h5")  # today's brain is replaced by the file's
        runner.teach("ab", "cd")  # a teaching binds nothing: the brain has no hippocampus
        assert runner.brain.hippocampus.prompts == []
        runner.save(tmp_path / "again.h5")
    with h5py.File(tmp_path / "again.h5", "r") as handle:
        assert int(handle.attrs["schema_version"]) == snapshots.SCHEMA_VERSION == 6
    again = snapshots.read(tmp_path / "again.h5")
    assert again.converted == "" and [r.name for r in again.config.region_specs] == RECORD["regions"]


def test_a_schema_5_brain_with_a_region_of_its_own_named_recall_is_refused_in_one_line(tmp_path):
    path = tmp_path / "own_recall.h5"
    shutil.copy(FIXTURES / "schema5_chat.h5", path)
    with h5py.File(path, "r+") as handle:
        handle.attrs["config"] = str(handle.attrs["config"]) + '\n[[regions]]\nname = "recall"\nsize = 10\n'
    with pytest.raises(SnapshotError, match=r"own_recall.h5: its config declares a region named 'recall'") as error:
        snapshots.read(path)
    assert "\n" not in str(error.value)
