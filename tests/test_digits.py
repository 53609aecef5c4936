"""``brainchat digits``: a spiking classifier that learns the 8x8 digits by STDP, saves, loads and continues."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("sklearn", reason="scikit-learn (the vision extra) is not installed")

from brainchat import Brain, Config  # noqa: E402
from brainchat.cli import app  # noqa: E402
from brainchat.errors import SnapshotError  # noqa: E402
from brainchat.persistence import snapshot as snapshots  # noqa: E402
from brainchat.vision import digits  # noqa: E402


@pytest.fixture(scope="module")
def split():
    return digits.load_split()


def test_the_split_is_fixed_and_stratified(split):
    train_x, train_y, test_x, test_y = split
    assert train_x.shape == (1347, 64) and test_x.shape == (450, 64)
    assert 0 <= train_x.min() and train_x.max() <= 1
    assert np.all(np.abs(np.bincount(test_y) - 45) <= 2), "every digit about equally in the test split (the data has 174-183 of each)"
    again = digits.load_split()
    assert np.array_equal(again[3], test_y) and np.array_equal(again[2], test_x)


def test_it_learns_far_above_chance_at_ci_size(split):
    """50 hidden neurons, 2 epochs: untrained it is at chance; trained, well above (a broken rule stays near 10 %)."""
    train_x, train_y, test_x, test_y = split
    classifier = digits.DigitClassifier.new(digits.Settings(hidden=50), seed=0)
    before = classifier.receptive_fields().copy()
    for _ in range(2):
        classifier.train_epoch(train_x, train_y)
    result = classifier.evaluate(test_x[:200], test_y[:200])
    assert result["test_accuracy"] >= 0.6, result
    assert len(set(classifier.labels.tolist()) - {-1}) >= 8, "most digits have neurons of their own"
    moved = np.abs(classifier.receptive_fields() - before).mean()
    assert moved > 0.005, "the weights learned"
    assert np.array(result["confusion"]).sum() == 200


@pytest.mark.gpu
def test_it_learns_on_the_gpu_as_on_the_cpu(split, tmp_path):
    """The classifier on CuPy and the fused CUDA kernels: the CI-size run learns as well, and saves and loads there."""
    train_x, train_y, test_x, test_y = split
    accuracy = {}
    for device in ("cpu", "gpu"):
        classifier = digits.DigitClassifier.new(digits.Settings(hidden=50), seed=0, device=device)
        assert classifier.brain.backend.is_gpu == (device == "gpu")
        for _ in range(2):
            classifier.train_epoch(train_x, train_y)
        accuracy[device] = classifier.evaluate(test_x[:200], test_y[:200])["test_accuracy"]
    assert accuracy["gpu"] >= 0.6 and abs(accuracy["gpu"] - accuracy["cpu"]) < 0.1, accuracy
    digits.save(classifier, tmp_path / "gpu.h5")
    again = digits.load(tmp_path / "gpu.h5", device="gpu")
    assert np.array_equal(again.brain.backend.to_host(again.seeing.projection.weights), classifier.brain.backend.to_host(classifier.seeing.projection.weights))


def test_one_epoch_saved_loaded_and_one_more_ends_where_two_in_one_go_end(split, tmp_path):
    train_x, train_y = split[0][:300], split[1][:300]
    settings = digits.Settings(hidden=20)
    straight = digits.DigitClassifier.new(settings, seed=3)
    straight.train_epoch(train_x, train_y)
    straight.train_epoch(train_x, train_y)
    first = digits.DigitClassifier.new(settings, seed=3)
    first.train_epoch(train_x, train_y)
    digits.save(first, tmp_path / "one.h5")
    resumed = digits.load(tmp_path / "one.h5")
    assert resumed.epochs == 1 and resumed.brain.step_count == first.brain.step_count
    resumed.train_epoch(train_x, train_y)
    assert np.array_equal(resumed.seeing.projection.weights, straight.seeing.projection.weights), "same seed, same weights"
    assert np.array_equal(resumed.labels, straight.labels)
    assert np.array_equal(resumed.brain.neurons.threshold_fast, straight.brain.neurons.threshold_fast)


def test_a_classifier_saved_before_the_slowing_and_the_shared_test_threshold_loads_and_keeps_its_rule(split, tmp_path):
    """Saved by the first version: no win counts, no experience, test_ms or shared_threshold; it loads, and evaluates as it did."""
    import h5py

    train_x, train_y = split[0][:200], split[1][:200]
    old = digits.DigitClassifier.new(digits.Settings(hidden=20, **digits.LEGACY), seed=1)
    old.train_epoch(train_x, train_y)
    digits.save(old, tmp_path / "old.h5")
    with h5py.File(tmp_path / "old.h5", "r+") as handle:
        settings = json.loads(handle["history"].attrs["note_settings"])
        for key in digits.LEGACY:
            del settings[key]
        handle["history"].attrs["note_settings"] = json.dumps(settings)
        del handle["history/wins"]
    loaded = digits.load(tmp_path / "old.h5")
    assert (loaded.settings.experience, loaded.settings.test_ms, loaded.settings.shared_threshold) == (0.0, None, False)
    assert not loaded.wins.any()
    assert loaded.evaluate(split[2][:50], split[3][:50]) == old.evaluate(split[2][:50], split[3][:50])
    loaded.train_epoch(train_x, train_y)  # and it goes on learning
    assert loaded.epochs == 2


def test_a_neuron_that_has_won_many_images_learns_less_from_the_next(split):
    train_x = split[0][:300]
    classifier = digits.DigitClassifier.new(digits.Settings(hidden=10), seed=2)
    changes = []
    for image in train_x:
        before = classifier.receptive_fields().reshape(10, -1).copy()
        winner = int(np.argmax(classifier.wins)) if classifier.wins.any() else None
        counts = classifier.present(image, learn=True)
        if winner is not None and counts.argmax() == winner:
            changes.append((classifier.wins[winner], np.abs(classifier.receptive_fields().reshape(10, -1)[winner] - before[winner]).sum()))
    assert abs(classifier.wins.sum() - len(train_x)) < 1e-6, "every image's hidden spikes are shared out as one win"
    changes.sort()
    early = np.mean([c for _, c in changes[: len(changes) // 4]])
    late = np.mean([c for _, c in changes[-len(changes) // 4:]])
    assert late < 0.5 * early, (early, late)


def test_a_corrupt_or_foreign_file_is_refused_in_one_line(tmp_path):
    (tmp_path / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(SnapshotError) as broken:
        digits.load(tmp_path / "broken.h5")
    with Brain(Config().replace(**{"brain.neurons": 2000})) as brain:
        snapshots.write(snapshots.capture(brain), tmp_path / "a-brain.h5")
    with pytest.raises(SnapshotError, match="not a digit classifier") as foreign:
        digits.load(tmp_path / "a-brain.h5")
    for error in (broken, foreign):
        assert "\n" not in str(error.value)
    result = CliRunner().invoke(app, ["digits", "eval", "a-brain", "--folder", str(tmp_path)])
    assert result.exit_code != 0 and "not a digit classifier" in result.output and "Traceback" not in result.output


def test_train_list_eval_and_show_from_the_command_line(tmp_path):
    folder = str(tmp_path)
    trained = CliRunner().invoke(app, ["digits", "train", "--hidden", "20", "--epochs", "1", "--save", "tiny", "--folder", folder, "--json"])
    assert trained.exit_code == 0, trained.output
    report = json.loads(trained.stdout)
    assert report["epochs"] == 1 and 0 <= report["test_accuracy"] <= 1 and report["history"][0]["epoch"] == 1
    listed = json.loads(CliRunner().invoke(app, ["digits", "list", "--folder", folder, "--json"]).stdout)
    assert [(c["name"], c["hidden"], c["epochs"]) for c in listed] == [("tiny", 20, 1)]
    assert listed[0]["test_accuracy"] == report["test_accuracy"]
    evaluated = json.loads(CliRunner().invoke(app, ["digits", "eval", "tiny", "--folder", folder, "--json"]).stdout)
    assert evaluated["test_accuracy"] == report["test_accuracy"], "evaluating changes nothing: the same answer twice"
    assert len(evaluated["per_class_accuracy"]) == 10 and np.array(evaluated["confusion"]).shape == (10, 10)
    more = CliRunner().invoke(app, ["digits", "train", "--continue", "tiny", "--epochs", "1", "--folder", folder, "--json"])
    assert more.exit_code == 0 and json.loads(more.stdout)["epochs"] == 2
    shown = CliRunner().invoke(app, ["digits", "show", "tiny", "--folder", folder, "--plot", str(tmp_path / "tiny.png")])
    assert shown.exit_code == 0 and (tmp_path / "tiny.png").stat().st_size > 10_000
    text = CliRunner().invoke(app, ["digits", "show", "tiny", "--folder", folder])
    assert text.exit_code == 0 and "epoch 2" in text.stdout
    missing = CliRunner().invoke(app, ["digits", "eval", "nothing-here", "--folder", folder])
    assert missing.exit_code != 0 and "no snapshot at" in missing.output
