"""Snapshots of schema 3 (before the chat layout's basket cells) load as the brains they were.

``fixtures/schema3_chat.h5`` was written by brainchat 948155c (schema 3) with
``fixtures/make_chat_fixture.py`` (``3 948155c``), with the spikes of the 300 steps that followed it there.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from brainchat import Brain, Config
from brainchat.model.brain import from_snapshot
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

FIXTURES = Path(__file__).parent / "fixtures"
RECORD = json.loads((FIXTURES / "schema3_chat.json").read_text())


def test_a_schema_3_chat_brain_is_todays_chat_layout_without_basket_cells_and_steps_on_as_it_did():
    with h5py.File(FIXTURES / "schema3_chat.h5", "r") as handle:
        assert int(handle.attrs["schema_version"]) == 3 and "basket" not in handle.attrs["config"]
    snapshot = snapshots.read(FIXTURES / "schema3_chat.h5")
    assert snapshot.converted == "schema 3"
    assert [r.name for r in snapshot.config.region_specs] == RECORD["regions"] == ["input", "association", "cortex", "output"]
    assert not any("basket" in (p.source, p.target) for p in snapshot.config.pathway_specs)
    with from_snapshot(snapshot.config, snapshot.arrays) as brain:
        brain.restore_state(snapshot.arrays, snapshot.step, snapshot.vitals_pending)
        assert brain.step_count == RECORD["step"] and not brain.slow_release.any()
        counts = []
        for _ in RECORD["spikes_after_load"]:
            brain.step()
            counts.append(int(brain.last_spikes.sum()))
    assert counts == RECORD["spikes_after_load"], "the same brain: the same spikes as in the brainchat that saved it"


def test_a_converted_brain_saved_again_is_todays_schema_and_still_has_no_basket_cells(tmp_path):
    today = Brain(Config().replace(**{"brain.neurons": RECORD["neurons"], "brain.seed": RECORD["seed"], "brain.device": "cpu"}))
    assert "basket" in [r.name for r in today.layout.regions], "today the basket cells are on by default"
    with Runner(today, lockstep=True) as runner:
        runner.wait_ready()
        runner.load(FIXTURES / "schema3_chat.h5")  # today's brain is replaced by the file's
        assert [r.name for r in runner.brain.layout.regions] == RECORD["regions"]
        runner.rest(200)
        runner.save(tmp_path / "again.h5")
    again = snapshots.read(tmp_path / "again.h5")
    with h5py.File(tmp_path / "again.h5", "r") as handle:
        assert int(handle.attrs["schema_version"]) == snapshots.SCHEMA_VERSION == 6
    assert again.converted == "" and [r.name for r in again.config.region_specs] == RECORD["regions"]
    assert np.isfinite(again.arrays["neurons/membrane"]).all()


def test_a_schema_3_brain_with_a_region_of_its_own_named_basket_is_refused_in_one_line(tmp_path):
    import shutil

    import pytest

    from brainchat.errors import ConfigError, SnapshotError

    path = tmp_path / "own_basket.h5"
    shutil.copy(FIXTURES / "schema3_chat.h5", path)
    with h5py.File(path, "r+") as handle:
        handle.attrs["config"] = str(handle.attrs["config"]) + '\n[[regions]]\nname = "basket"\nsize = 10\n'
    with pytest.raises(SnapshotError, match=r"own_basket.h5: its config declares a region named 'basket'") as error:
        snapshots.read(path)
    assert "\n" not in str(error.value)
    with h5py.File(path, "r+") as handle:
        handle.attrs["config"] = "regions = [1]\n"
    with pytest.raises((SnapshotError, ConfigError), match="own_basket.h5") as error:  # not a config of ours: one line, no traceback of the conversion
        snapshots.read(path)
    assert "\n" not in str(error.value)
