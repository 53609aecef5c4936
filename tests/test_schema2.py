"""No user loses a personality: a schema-2 snapshot (brainchat before the regions) loads and answers as before.

The fixture tests/fixtures/schema2_taught.h5 was made by brainchat at commit c45a259 (snapshot
schema 2) with tests/fixtures/make_schema2_fixture.py: a 10,000-neuron brain taught three
prompts; schema2_taught.json records what it answered before it was saved.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.backend import numpy_backend
from brainchat.errors import SnapshotError
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "schema2_taught.h5"
RECORD = json.loads((FIXTURES / "schema2_taught.json").read_text())


@pytest.fixture(scope="module")
def converted() -> snapshots.Snapshot:
    return snapshots.read(FIXTURE)


def test_the_fixture_is_a_schema_2_file(converted):
    with h5py.File(FIXTURE, "r") as handle:
        assert int(handle.attrs["schema_version"]) == 2 and "synapses/recurrent_targets" in handle
    assert converted.converted == "schema 2" and converted.neurons == RECORD["neurons"] == 10_000


def test_it_becomes_the_default_brains_regions_and_pathways(converted):
    config = converted.config
    assert config.brain.layout == "custom" and config.brain.seed == RECORD["seed"]
    assert [r.name for r in config.region_specs] == ["input", "association", "cortex", "output"]
    pathways = {p.name: p for p in config.pathway_specs}
    assert {"working_memory", "memory_to_association", "memory_to_cortex", "readout", "cortex_recurrent", "cortex_to_output", "output_to_cortex"} <= set(pathways)
    assert [name for name, p in pathways.items() if p.plastic] == ["readout"], "the readout is what learned, and only it"
    with h5py.File(FIXTURE, "r") as handle:
        old_weights = handle["synapses/recurrent_weights"][()]
        old_local = handle["synapses/local_weights"][()]
        excitatory = handle["neurons/excitatory"][()]
    total = sum(int(converted.arrays[f"pathways/{name}/lengths"].sum()) for name in pathways)
    assert total == old_weights.size + int(excitatory.sum()) * old_local.shape[1], "every synapse that was delivered is kept"
    kept = np.concatenate([converted.arrays[f"pathways/{name}/weights"][np.arange(converted.arrays[f"pathways/{name}/weights"].shape[1])[None, :] < converted.arrays[f"pathways/{name}/lengths"][:, None]] for name in pathways])
    assert np.isclose(kept.sum(dtype=np.float64), old_weights.sum(dtype=np.float64) + old_local[excitatory].sum(dtype=np.float64), rtol=1e-6), "with its weight"
    phases = converted.arrays["neurons/memory_phase"]
    assert set(np.unique(phases).tolist()) == {-1, 0, 1, 2}


def test_a_converted_brain_answers_what_it_was_taught(converted, tmp_path):
    """Loaded into a running default brain (as `brainchat load` does), it answers the taught prompts, also after resting."""
    with Brain(Config().replace(**{"brain.neurons": 10_000}), numpy_backend()) as brain, Runner(brain, lockstep=True, settle_steps=10) as runner:
        assert runner.load_async(converted).result(60) == converted.step
        replies = [runner.say(prompt, timeout=120).text for prompt in RECORD["prompts"]]
        assert replies == RECORD["taught"] == RECORD["replies_before_save"][0]
        for rest in (1_000, 3_000):
            runner.rest(rest)
            assert [runner.say(prompt, timeout=120).text for prompt in RECORD["prompts"]] == RECORD["taught"], f"after {rest} steps of rest"
        saved = runner.save(tmp_path / "now.h5", timeout=60)
    again = snapshots.read(saved.path)
    assert again.converted == "" and (again.config.regions, again.config.pathways) == (converted.config.regions, converted.config.pathways), "saved again it is a schema-3 snapshot of the same brain"
    with h5py.File(saved.path, "r") as handle:
        assert int(handle.attrs["schema_version"]) == snapshots.SCHEMA_VERSION


def test_a_schema_2_file_that_cannot_be_converted_is_refused_in_one_line(tmp_path):
    broken = tmp_path / "broken.h5"
    shutil.copy(FIXTURE, broken)
    with h5py.File(broken, "a") as handle:
        del handle["codec/region_of"]
    with pytest.raises(SnapshotError) as caught:
        snapshots.read(broken)
    message = str(caught.value)
    assert "schema 2" in message and "cannot be converted" in message and "\n" not in message


def test_brainchat_run_load_starts_from_a_schema_2_snapshot(tmp_path):
    """What a user does with an old personality: `brainchat run --load NAME`, in a pipe."""
    import subprocess
    import sys

    (tmp_path / "checkpoints").mkdir()
    shutil.copy(FIXTURE, tmp_path / "checkpoints" / "old.h5")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    done = subprocess.run([sys.executable, "-m", "brainchat", "run", "--load", "old", "--speed", "max"], cwd=tmp_path, env=env,
                          input="\n".join(RECORD["prompts"]) + "\n", capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == RECORD["taught"]
    assert "loaded old" in done.stderr
    assert snapshots.read(tmp_path / "checkpoints" / "autosave.h5").converted == "", "its autosave is schema 3"
