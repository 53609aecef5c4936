"""Snapshots: exact round trips, refusal of bad files with the brain unharmed, atomic writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.errors import SnapshotError
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

CONFIG = Config().replace(**{"brain.neurons": 20_000, "brain.seed": 8})


def trace(records) -> np.ndarray:
    return np.concatenate([r.firing_fraction for r in records])


def test_save_load_in_a_new_brain_continues_bit_for_bit(tmp_path):
    original = Brain(CONFIG)
    original.run(1234)  # mid-interval on purpose
    snapshots.write(snapshots.capture(original), tmp_path / "mid.h5")
    uninterrupted = original.run(1500) + [original.read_vitals()]
    loaded = snapshots.read(tmp_path / "mid.h5")
    resumed = Brain(loaded.config)
    resumed.restore_state(loaded.arrays, loaded.step, loaded.vitals_pending)
    continued = resumed.run(1500) + [resumed.read_vitals()]
    assert [r.step for r in continued] == [r.step for r in uninterrupted]
    assert np.array_equal(trace(continued), trace(uninterrupted))
    assert np.array_equal(np.stack([r.group_spikes for r in continued]), np.stack([r.group_spikes for r in uninterrupted]))


def test_the_file_is_plain_hdf5_with_the_documented_layout(tmp_path):
    with Brain(CONFIG) as brain:
        brain.run(100)
        snapshots.write(snapshots.capture(brain, np.array([[50, 1.0]])), tmp_path / "plain.h5")
    with h5py.File(tmp_path / "plain.h5", "r") as handle:
        assert handle.attrs["format"] == "brainchat" and handle.attrs["schema_version"] == snapshots.SCHEMA_VERSION == 6
        assert handle.attrs["step"] == 100 and handle.attrs["neurons"] == 20_000
        assert "[brain]" in handle.attrs["config"] and "[[regions]]" in handle.attrs["config"]
        readout = handle["pathways/readout"]
        assert readout.attrs["source"] == "association" and readout.attrs["target"] == "output" and readout.attrs["plastic"]
        assert readout["weights"].shape == (brain.layout["association"].size, brain.layout["output"].spec.patches) and readout["weights"].compression == "gzip"
        assert dict(handle["regions/cortex"].attrs)["living"] and handle["regions/cortex"].attrs["first_id"] == brain.layout["cortex"].start
        assert list(handle["regions"]) == sorted(r.name for r in brain.layout.regions)
        assert handle["history/rewards"][()].tolist() == [[50.0, 1.0]]
        assert set(handle) >= {"neurons", "regions", "pathways", "homeostasis", "plasticity", "vitals", "history", "rng"}


def make_bad_files(folder, good):
    with open(good, "rb") as source:
        data = source.read()
    (folder / "truncated.h5").write_bytes(data[: len(data) // 2])
    (folder / "text.h5").write_text("hello, not HDF5\n")
    with h5py.File(folder / "foreign.h5", "w") as handle:
        handle["x"] = np.arange(3)
    newer = folder / "newer.h5"
    newer.write_bytes(data)
    with h5py.File(newer, "a") as handle:
        handle.attrs["schema_version"] = 99
    older = folder / "older.h5"
    older.write_bytes(data)
    with h5py.File(older, "a") as handle:
        handle.attrs["schema_version"] = 1
    small = Brain(Config().replace(**{"brain.neurons": 5000}))
    snapshots.write(snapshots.capture(small), folder / "smaller.h5")
    return {
        "truncated": "not a readable snapshot",
        "text": "not a readable snapshot",
        "foreign": "not a brainchat snapshot",
        "newer": "schema 99, newer than",
        "older": "schema 1, from a brainchat before the working memory",
        "smaller": "5,000 neurons, this brain 20,000",
        "missing": "no snapshot at",
    }


def test_bad_snapshots_are_refused_in_one_line_and_the_brain_carries_on(tmp_path):
    with Runner(Brain(CONFIG), lockstep=True, settle_steps=300) as runner:
        runner.wait_ready()
        good = tmp_path / "good.h5"
        runner.save(good, timeout=60)
        expected = make_bad_files(tmp_path, good)
        before = {name: np.array(array) for name, array in runner.brain.state_arrays().items()}
        for name, words in expected.items():
            with pytest.raises(SnapshotError) as caught:
                runner.load(tmp_path / f"{name}.h5", timeout=60)
            assert words in str(caught.value) and "\n" not in str(caught.value), name
        after = runner.brain.state_arrays()
        assert all(np.array_equal(before[name], after[name]) for name in before), "nothing was changed"
        assert runner.say("still here", timeout=60).text, "the brain still answers"
        assert runner.load(good, timeout=60) == 300


def test_a_full_disk_leaves_the_previous_snapshot_intact(tmp_path):
    """The file size limit (RLIMIT_FSIZE) makes the write fail part way, as a full disk does."""
    script = textwrap.dedent(
        f"""
        import resource, signal
        from brainchat import Brain, Config
        from brainchat.errors import SnapshotError
        from brainchat.persistence import snapshot as snapshots
        brain = Brain(Config().replace(**{{"brain.neurons": 20000}}))
        snapshots.write(snapshots.capture(brain), {str(tmp_path / "keep.h5")!r})
        brain.run(300)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
        try:
            snapshots.write(snapshots.capture(brain), {str(tmp_path / "keep.h5")!r})
        except SnapshotError as error:
            print("refused:", error)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: cannot write snapshot") and "File too large" in done.stdout
    assert snapshots.read(tmp_path / "keep.h5").step == 0, "the earlier snapshot is whole"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.h5"], "no temporary left behind"


def test_kill_9_in_the_middle_of_saves_never_damages_the_last_snapshot(tmp_path):
    script = textwrap.dedent(
        f"""
        from brainchat import Brain, Config
        from brainchat.persistence import snapshot as snapshots
        brain = Brain(Config().replace(**{{"brain.neurons": 20000}}))
        while True:
            brain.run(10)
            snapshots.write(snapshots.capture(brain), {str(tmp_path / "hot.h5")!r})
            print(brain.step_count, flush=True)
        """
    )
    rng = np.random.default_rng(0)
    steps_seen = []
    for attempt in range(6):
        process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        while process.stdout.readline() == "" and process.poll() is None:
            pass  # at least one snapshot written
        time.sleep(float(rng.uniform(0.05, 0.4)))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        loaded = snapshots.read(tmp_path / "hot.h5")
        assert loaded.step > 0 and loaded.step % 10 == 0
        steps_seen.append(loaded.step)
    listed = snapshots.list_snapshots(tmp_path)
    assert [info.name for info in listed] == ["hot"], "hidden temporaries are not listed"
    assert len(set(steps_seen)) > 1


def test_names_are_checked():
    assert snapshots.snapshot_path("ck", "calm-mind").name == "calm-mind.h5"
    assert snapshots.snapshot_path("ck", "calm-mind.h5").name == "calm-mind.h5"
    for bad in ("../etc/passwd", "a/b", "", ".hidden", "x" * 101):
        with pytest.raises(SnapshotError):
            snapshots.snapshot_path("ck", bad)


@pytest.mark.gpu
def test_a_cpu_snapshot_loads_on_the_gpu_and_back(tmp_path):
    from brainchat.backend import numpy_backend, select_backend

    cpu = Brain(CONFIG, numpy_backend())
    cpu.run(500)
    snapshots.write(snapshots.capture(cpu), tmp_path / "cpu.h5")
    loaded = snapshots.read(tmp_path / "cpu.h5")
    gpu = Brain(loaded.config, select_backend("gpu"))
    gpu.restore_state(loaded.arrays, loaded.step, loaded.vitals_pending)
    assert np.array_equal(gpu.backend.to_host(gpu.neurons.membrane), loaded.arrays["neurons/membrane"])
    records = gpu.run(2000)
    assert abs(trace(records)[-1000:].mean() - 0.05) < 0.005
    snapshots.write(snapshots.capture(gpu), tmp_path / "gpu.h5")
    back = snapshots.read(tmp_path / "gpu.h5")
    assert back.device == "gpu" and back.step == 2500
    again = Brain(back.config, numpy_backend())
    again.restore_state(back.arrays, back.step, back.vitals_pending)
    again.run(100)


def test_a_snapshot_from_a_run_with_another_stats_interval_loads(tmp_path):
    other = Brain(CONFIG.replace(**{"brain.stats_interval": 50}))
    other.run(130)
    snapshots.write(snapshots.capture(other), tmp_path / "other.h5")
    loaded = snapshots.read(tmp_path / "other.h5")
    here = Brain(CONFIG)
    here.restore_state(loaded.arrays, loaded.step, loaded.vitals_pending)
    assert here.step_count == 130 and np.array_equal(here.neurons.membrane, other.neurons.membrane)
    assert here.recorder.pending == 0, "its vitals counters start afresh"


def test_odd_files_in_the_snapshot_folder_are_listed_not_fatal(tmp_path):
    with Brain(CONFIG) as brain:
        snapshots.write(snapshots.capture(brain), tmp_path / "good.h5")
    (tmp_path / "dangling.h5").symlink_to(tmp_path / "nowhere.h5")
    (tmp_path / "folder.h5").mkdir()
    with h5py.File(tmp_path / "nostep.h5", "w") as handle:  # valid header, no "step": used to be a traceback
        handle.attrs["format"] = "brainchat"
        handle.attrs["schema_version"] = snapshots.SCHEMA_VERSION
        handle.attrs["config"] = "[brain]\nneurons = 20000\n"
    listed = {info.name: info for info in snapshots.list_snapshots(tmp_path)}
    assert set(listed) == {"good", "nostep"}
    assert listed["good"].problem == "" and listed["nostep"].problem
    with pytest.raises(SnapshotError, match="not a readable snapshot"):
        snapshots.read(tmp_path / "nostep.h5")


def test_a_brain_saved_with_the_32_synapse_readout_loads_with_it_and_answers(tmp_path):
    """Before 2026-12-03 the readout was 32 random synapses per association neuron; today's default is one onto each output patch.

    A snapshot's config lists every pathway in full (``connector = "random"``, ``fan_out = 32``
    for those), so it loads as the brain it was, into a brain of today's defaults.
    """
    old = CONFIG.replace(**{"brain.device": "cpu", "pathways.readout.connector": "random", "pathways.readout.fan_out": 32})
    with Brain(old) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        for _ in range(8):
            if runner.teach("hi", "yo").before == "yo":
                break
        said = runner.say("hi").text
        runner.save(tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5") as handle:
        assert handle["pathways/readout/weights"].shape[1] == 32
        assert 'connector = "random"' in handle.attrs["config"]
    today = CONFIG.replace(**{"brain.device": "cpu"})
    assert {s.name: s for s in today.pathway_specs}["readout"].connector == "every_patch"
    with Brain(today) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        runner.load(tmp_path / "old.h5", timeout=60)
        assert runner.brain.pathway("readout").projection.fan_out == 32, "the brain it was, not today's default"
        assert runner.say("hi").text == said == "yo"


def test_a_brain_saved_before_the_basket_cells_loads_without_them_and_answers(tmp_path):
    """Before 2026-12-04 the basket cells were off by default; today they are on (all_to_all pathways, the gamma rhythm).

    The snapshot's config says ``enabled = false`` for them, so the brain it was comes back:
    no basket region, a cortex of its old size, the same reply. (A file that brainchat
    cdff480 wrote by hand loads the same way: no basket, 'yo'.)
    """
    old = CONFIG.replace(**{"brain.device": "cpu", "regions.basket.enabled": False})
    with Brain(old) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        cortex = brain.layout["cortex"].size
        for _ in range(8):
            if runner.teach("hi", "yo").before == "yo":
                break
        said = runner.say("hi").text
        runner.save(tmp_path / "old.h5")
    today = CONFIG.replace(**{"brain.device": "cpu"})
    with Brain(today) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        assert "basket" in [r.name for r in brain.layout.regions] and brain.layout["cortex"].size < cortex, "today's default has them"
        runner.load(tmp_path / "old.h5", timeout=60)
        assert "basket" not in [r.name for r in runner.brain.layout.regions], "the brain it was, not today's default"
        assert runner.brain.layout["cortex"].size == cortex
        assert runner.say("hi").text == said == "yo"
