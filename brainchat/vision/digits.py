"""A spiking digit classifier that learns by STDP: scikit-learn's 8x8 digits on brainchat's own engine.

The brain (:func:`classifier_config`, a custom layout of three regions and three pathways):

* ``visual``: 64 poisson neurons, one per pixel, firing at intensity / 16 x ``max_rate_hz``;
* ``hidden``: N excitatory LIF neurons, quiet, with an adaptive threshold theta (the fast
  threshold with a decay of hours: each spike raises it by ``theta_jump``), the mechanism of
  Diehl & Cook 2015 (Front Comput Neurosci 9:99) that keeps one neuron from winning every
  image;
* ``inhibitory``: N inhibitory partners, ``hidden -> inhibitory`` one to one, ``inhibitory ->
  hidden`` every pair: lateral inhibition, the first hidden neuron to fire silences the rest;
* ``visual -> hidden`` is plastic: the brain's Hebbian tag (a synapse gains its source's
  trace when its target fires) under a dopamine held constant through an image; after each
  image each hidden neuron's change is scaled by ``1 / (1 + images won / experience)`` and its
  incoming weights are scaled to a fixed L2 norm (where Diehl & Cook fix the sum): the
  winner's weights turn toward the image, less the more images it has won, so that they
  approach the mean of its images (online k-means with a per-neuron rate, MacQueen 1967).

Each image is shown for ``present_ms`` after a reset of the membranes, traces and synaptic
input (theta and the weights are kept), as the earlier system did; an image that makes fewer
than ``min_spikes`` hidden spikes is shown again, brighter. With learning off (labelling and
testing) an image is shown for ``test_ms`` with every hidden neuron at the mean theta
(``shared_threshold``): theta is the fatigue that shares the images out while learning, and
at test the neuron whose weights are closest to the image should win, not the least tired.
Each hidden neuron is labelled with the class it answered most over the training images
(a pass with learning off after each epoch), and an image is classified by the labelled
neurons' mean spike count per class (Diehl & Cook's readout).

The data: ``sklearn.datasets.load_digits`` (1,797 images, shipped with scikit-learn, no
download), split once, stratified, 75 % training / 25 % test with a fixed seed
(:data:`SPLIT_SEED`), whatever the classifier's seed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from brainchat.config import Config
from brainchat.errors import ConfigError, SnapshotError
from brainchat.model.brain import Brain, Stimulus
from brainchat.model.plasticity import PAIRING_OFF, PAIRING_TAG
from brainchat.persistence import snapshot as snapshots

SPLIT_SEED = 20260101
CLASSES = 10
RELABEL_EVERY = 200  # images between two label assignments within an epoch


@dataclass(frozen=True)
class Settings:
    """The classifier's parameters (chosen on a validation part of the training split: docs/benchmarks.md)."""

    hidden: int = 100
    max_rate_hz: float = 300.0
    present_ms: int = 200
    min_spikes: int = 5
    weight_norm: float = 0.06  # each hidden neuron's incoming weights scaled to this L2 norm after each image (about 18 / max_rate_hz)
    initial_weight: float = 0.1
    inhibition: float = 5.0
    theta_jump: float = -1.0  # per hidden spike; below 0: 1e-5 x hidden (0.001 at 100, 0.004 at 400: more neurons share the images, so each must tire faster)
    learning_rate: float = 0.0001
    dopamine: float = 1.0
    dopamine_decay: float = 1.0  # per epoch (dopamine x decay ** epochs done); the experience below slows learning instead
    membrane_tau_ms: float = 100.0
    label_pass: bool = True  # label the hidden neurons from a pass over the training images with learning off, after each epoch
    experience: float = 3.0  # a neuron learns at 1 / (1 + images won / experience) of the first rate (0: never slows)
    test_ms: int | None = 400  # a presentation with learning off (labelling, testing): longer, so the winner is decided by more input spikes
    shared_threshold: bool = True  # with learning off every hidden neuron has the mean theta: the closest weights win, not the least tired

    def __post_init__(self):
        if self.theta_jump < 0:
            object.__setattr__(self, "theta_jump", 1e-5 * self.hidden)


LEGACY = {"experience": 0.0, "test_ms": None, "shared_threshold": False}  # what a classifier saved before these settings existed did


def default_epochs(hidden: int) -> int:
    """Epochs for a new classifier: where the validation accuracy stopped rising (docs/benchmarks.md)."""
    return 10 if hidden <= 100 else 14


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train images [n, 64] in 0..1, train labels, test images, test labels): the fixed stratified split."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ConfigError("brainchat digits needs scikit-learn (its bundled digits): pip install 'brainchat[vision]'") from None
    digits = load_digits()
    images = (digits.data / 16.0).astype(np.float32)
    train_x, test_x, train_y, test_y = train_test_split(images, digits.target, test_size=0.25, stratify=digits.target, random_state=SPLIT_SEED)
    return train_x, train_y.astype(np.int64), test_x, test_y.astype(np.int64)


def classifier_config(settings: Settings, seed: int, base: Config | None = None, device: str = "cpu") -> Config:
    """The classifier's brain: visual -> hidden (plastic) <-> inhibitory partners (see the module's docstring).

    ``device`` is ``"cpu"`` unless asked: a brain of 64 + 2 x hidden neurons is far below the
    sizes where the GPU has been measured to pay (docs/benchmarks.md: 200k and more).
    """
    n = settings.hidden
    values = {
        "brain.layout": "custom", "brain.device": device, "brain.neurons": 64 + 2 * n, "brain.seed": seed,
        "codec.input_region": "", "codec.output_region": "", "codec.gate_region": "",
        "neurons.refractory_ms": 5, "brain.stats_interval": 10_000,
        "chemistry.enabled": False,  # its own rule, its own rates: the pools (ACh idle at 0.7) would slow it
        "plasticity.rule": "hebbian", "plasticity.eligibility_tau_ms": 20.0, "plasticity.dopamine_tau_ms": 1e9,
        "plasticity.learning_rate": settings.learning_rate, "plasticity.weight_max": 1.0, "plasticity.update_interval": 10,
        "regions.visual.size": 64, "regions.visual.model": "poisson", "regions.visual.excitatory": 1.0, "regions.visual.width": 8,
        "regions.visual.parameters": f"max_rate_hz={settings.max_rate_hz}",
        "regions.hidden.size": n, "regions.hidden.excitatory": 1.0, "regions.hidden.threshold_tau_ms": 1e7, "regions.hidden.floor": False,
        "regions.hidden.threshold_jump": settings.theta_jump, "regions.hidden.membrane_tau_ms": settings.membrane_tau_ms,
        "regions.inhibitory.size": n, "regions.inhibitory.excitatory": 0.0,
        "pathways.seeing.source": "visual", "pathways.seeing.target": "hidden", "pathways.seeing.connector": "probability",
        "pathways.seeing.probability": 1.0, "pathways.seeing.weight": settings.initial_weight, "pathways.seeing.plastic": True,
        "pathways.exciting.source": "hidden", "pathways.exciting.target": "inhibitory", "pathways.exciting.connector": "one_to_one",
        "pathways.exciting.weight": 2.0,
        "pathways.inhibiting.source": "inhibitory", "pathways.inhibiting.target": "hidden", "pathways.inhibiting.connector": "probability",
        "pathways.inhibiting.probability": 1.0, "pathways.inhibiting.inhibitory_weight": settings.inhibition,
    }
    return (base or Config()).replace(**values)


class DigitClassifier:
    """The classifier brain, its labels and its history; :meth:`train_epoch`, :meth:`evaluate`."""

    def __init__(self, brain: Brain, settings: Settings, labels: np.ndarray | None = None, history: list[dict] | None = None,
                 wins: np.ndarray | None = None):
        self.brain = brain
        self.settings = settings
        self.visual = brain.layout["visual"]
        self.hidden = brain.layout["hidden"]
        self.seeing = brain.pathway("seeing")
        self.labels = np.full(settings.hidden, -1, dtype=np.int64) if labels is None else labels
        self.history = history or []
        self.wins = np.zeros(settings.hidden) if wins is None else wins  # each hidden neuron's share of the hidden spikes, summed over training images
        self._ids = brain.backend.asarray(np.arange(self.visual.start, self.visual.stop))  # a stimulus is made of device arrays

    @classmethod
    def new(cls, settings: Settings, seed: int, base: Config | None = None, device: str = "cpu") -> "DigitClassifier":
        brain = Brain(classifier_config(settings, seed, base, device))
        xp = brain.backend.xp
        rng = np.random.default_rng(seed)
        weights = brain.pathway("seeing").projection.weights
        weights[...] = xp.asarray((rng.random(weights.shape) * 2 * settings.initial_weight).astype(weights.dtype))
        # each inhibitory partner inhibits every hidden neuron but its own (Diehl & Cook): the winner keeps firing
        inhibiting = brain.pathway("inhibiting").projection
        rows = xp.arange(inhibiting.targets.shape[0])[:, None]
        own = inhibiting.targets - brain.layout["hidden"].start == rows
        inhibiting.weights[own] = 0
        classifier = cls(brain, settings)
        classifier.normalise()
        return classifier

    @property
    def epochs(self) -> int:
        return len(self.history)

    def normalise(self) -> None:
        """Scale each hidden neuron's incoming weights to the L2 norm ``weight_norm``.

        With the Hebbian tag this is online k-means on the cosine: the winner's weights turn
        toward the image, and the norm keeps any neuron from winning by size alone (a fixed
        sum, Diehl & Cook's, measured 0.80-0.84 at 100 hidden against 0.86-0.91 with the norm).
        """
        xp = self.brain.backend.xp
        projection = self.seeing.projection
        targets, weights = projection.targets, projection.weights
        live = xp.arange(targets.shape[1])[None, :] < projection.lengths[:, None]
        columns = xp.sqrt(xp.bincount(targets[live] - self.hidden.start, weights[live].astype(xp.float64) ** 2, minlength=self.hidden.size))
        scale = (self.settings.weight_norm / xp.maximum(columns, 1e-12)).astype(weights.dtype)
        weights[live] *= scale[targets[live] - self.hidden.start]

    def receptive_fields(self) -> np.ndarray:
        """float ``[hidden, 8, 8]``: each hidden neuron's incoming weights as an image."""
        projection, host = self.seeing.projection, self.brain.backend.to_host
        fields = np.zeros((self.hidden.size, 64))
        rows = np.repeat(np.arange(projection.targets.shape[0]), projection.targets.shape[1])
        fields[host(projection.targets).ravel() - self.hidden.start, rows] = host(projection.weights).ravel()
        return fields.reshape(-1, 8, 8)

    def _reset(self) -> None:
        b = self.brain
        b.neurons.membrane[...] = 0
        b.neurons.refractory[...] = 0
        b.input_buffer[...] = 0  # the synaptic input and any slow inhibitory charge on its way
        b.plasticity.trace[...] = 0
        b.plasticity.eligibility[...] = 0

    def present(self, image: np.ndarray, learn: bool) -> np.ndarray:
        """Show one image (reset first); returns the hidden neurons' spike counts [hidden].

        Learning: tags under constant dopamine for ``present_ms``; each hidden neuron's change is
        scaled by ``1 / (1 + wins / experience)`` (a neuron that has won many images changes
        little: with the norm below, its weights approach the mean of the images it won, as in
        k-means), then normalisation. Learning off (labelling, testing): ``test_ms``, every
        hidden neuron at the mean theta if ``shared_threshold``, and nothing is changed.
        """
        b, s = self.brain, self.settings
        hidden = slice(self.hidden.start, self.hidden.stop)
        kept = None if learn else b.neurons.threshold_fast.copy()  # learning off changes nothing, thetas included
        dopamine = s.dopamine * s.dopamine_decay ** self.epochs if learn else 0.0
        projection = self.seeing.projection
        before = projection.weights.copy() if learn and s.experience > 0 else None
        intensity = 1.0
        for _ in range(5):
            self._reset()
            if kept is not None:
                b.neurons.threshold_fast[...] = kept
                if s.shared_threshold:
                    b.neurons.threshold_fast[hidden] = kept[hidden].mean()
            b.pairing = PAIRING_TAG if learn else PAIRING_OFF
            b.plasticity.dopamine[...] = dopamine
            b._eligible[:] = 1 if learn else 0
            stimulus = Stimulus(self._ids, b.backend.asarray(np.minimum(image * intensity, 1.0).astype(b.dtype)))
            b.run(s.present_ms if learn else (s.test_ms or s.present_ms), stimulus)
            # the vitals' per-neuron spike counts since the last read (an interval is longer than any presentation)
            counts = b.backend.to_host(b.recorder.buffers()[1][hidden]).astype(np.int64)
            b.read_vitals()
            if counts.sum() >= s.min_spikes:
                break
            intensity *= 2.0
        b.plasticity.dopamine[...] = 0.0
        if learn:
            if before is not None:
                slowing = b.backend.xp.asarray((1.0 / (1.0 + self.wins / s.experience)).astype(projection.weights.dtype))
                projection.weights[...] = before + (projection.weights - before) * slowing[projection.targets - self.hidden.start]
            self.wins += counts / max(1, counts.sum())
            self.normalise()
        else:
            b.neurons.threshold_fast[...] = kept
        return counts

    def train_epoch(self, images: np.ndarray, labels: np.ndarray, progress: Callable[[int, float], None] | None = None) -> dict:
        """One epoch in an order drawn from (seed, epoch); relabels the hidden neurons from its responses; returns its history entry."""
        started = time.perf_counter()
        order = np.random.default_rng([self.brain.config.brain.seed, self.epochs]).permutation(len(images))
        responses = np.zeros((len(images), self.hidden.size), dtype=np.int64)
        right = 0
        for k, index in enumerate(order):
            counts = self.present(images[index], learn=True)
            responses[index] = counts
            right += int(self.predict_counts(counts) == labels[index])
            if (k + 1) % RELABEL_EVERY == 0:  # the running accuracy of the first epoch needs labels too
                seen = order[: k + 1]
                self.labels = assign_labels(responses[seen], labels[seen])
            if progress is not None:
                progress(k + 1, right / (k + 1))
        if self.settings.label_pass:
            # the labels from the answers of the classifier as it is now, learning off: as it will answer at test
            responses = np.stack([self.present(image, learn=False) for image in images])
        self.labels = assign_labels(responses, labels)
        entry = {"epoch": self.epochs + 1, "train_running_accuracy": right / len(images), "seconds": time.perf_counter() - started}
        self.history.append(entry)
        return entry

    def raster(self, image: np.ndarray) -> np.ndarray:
        """bool ``[test_ms, 64 + hidden]``: the spikes of the inputs and the hidden neurons in one presentation as at test (learning off, the shared threshold); the classifier is left as it was."""
        b, s = self.brain, self.settings
        kept = b.neurons.threshold_fast.copy(), b.step_count
        self._reset()
        b.pairing = PAIRING_OFF
        if s.shared_threshold:
            b.neurons.threshold_fast[self.hidden.start : self.hidden.stop] = kept[0][self.hidden.start : self.hidden.stop].mean()
        stimulus = Stimulus(self._ids, b.backend.asarray(image.astype(b.dtype)))
        rows = []
        for _ in range(s.test_ms or s.present_ms):
            b.step(stimulus)
            rows.append(b.backend.to_host(b.last_spikes[: self.hidden.stop]).copy())
        b.read_vitals()
        b.neurons.threshold_fast[...] = kept[0]
        b.step_count = kept[1]
        return np.array(rows)

    def predict_counts(self, counts: np.ndarray) -> int:
        """The class whose labelled neurons answered most, per neuron; -1 before any labels."""
        scores = np.full(CLASSES, -1.0)
        for c in range(CLASSES):
            mine = self.labels == c
            if mine.any():
                scores[c] = counts[mine].mean()
        return int(np.argmax(scores)) if (scores >= 0).any() else -1

    def evaluate(self, images: np.ndarray, labels: np.ndarray, progress: Callable[[int], None] | None = None) -> dict:
        """Accuracy, per-class accuracy and the confusion matrix, learning off; the classifier is left as it was (its thetas, its step)."""
        b = self.brain
        kept = b.neurons.threshold_fast.copy(), b.step_count
        predicted = np.empty(len(images), dtype=np.int64)
        for k, image in enumerate(images):
            predicted[k] = self.predict_counts(self.present(image, learn=False))
            if progress is not None:
                progress(k + 1)
        b.neurons.threshold_fast[...] = kept[0]
        b.step_count = kept[1]
        confusion = np.zeros((CLASSES, CLASSES), dtype=np.int64)
        np.add.at(confusion, (labels, np.clip(predicted, 0, CLASSES - 1)), 1)
        per_class = [float(confusion[c, c] / max(1, confusion[c].sum())) for c in range(CLASSES)]
        return {"test_accuracy": float(np.mean(predicted == labels)), "per_class_accuracy": per_class, "confusion": confusion.tolist(), "images": len(images)}


def assign_labels(responses: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each hidden neuron's class: the one it answered most per image of that class (-1 if it never fired)."""
    means = np.stack([responses[labels == c].mean(axis=0) if (labels == c).any() else np.zeros(responses.shape[1]) for c in range(CLASSES)])
    assigned = np.argmax(means, axis=0)
    assigned[means.max(axis=0) == 0] = -1
    return assigned.astype(np.int64)


KIND = "digits"


def save(classifier: DigitClassifier, path: str | os.PathLike) -> int:
    """The classifier as a brain snapshot (atomic write), with its settings, labels and learning curve in ``history/``; returns the size."""
    snapshot = snapshots.capture(classifier.brain)
    snapshot.extras = {"labels": classifier.labels, "wins": classifier.wins,
                       "epochs": np.array([[e["epoch"], e["train_running_accuracy"], e.get("test_accuracy", np.nan), e["seconds"]] for e in classifier.history])
                       .reshape(-1, 4)}
    snapshot.notes = {"kind": KIND, "settings": json.dumps(dataclasses.asdict(classifier.settings)), "history": json.dumps(classifier.history)}
    return snapshots.write(snapshot, path)


def load(path: str | os.PathLike, device: str = "cpu") -> DigitClassifier:
    """A saved classifier, ready to train on or evaluate; :class:`SnapshotError` in one line for a corrupt file or one that is not a classifier."""
    snapshot = snapshots.read(path)
    if snapshot.notes.get("kind") != KIND:
        raise SnapshotError(f"{path} is a brainchat snapshot but not a digit classifier (brainchat digits train saves those)")
    try:
        settings = Settings(**{**LEGACY, **json.loads(snapshot.notes["settings"])})
        history = list(json.loads(snapshot.notes["history"]))
        labels = np.asarray(snapshot.extras["labels"], dtype=np.int64)
        wins = np.asarray(snapshot.extras.get("wins", np.zeros(settings.hidden)), dtype=np.float64)
    except (KeyError, TypeError, ValueError) as error:
        raise SnapshotError(f"{path}: its classifier record is damaged ({error})") from None
    brain = Brain(snapshot.config.replace(**{"brain.device": device}))
    try:
        brain.restore_state(snapshot.arrays, snapshot.step, snapshot.vitals_pending)
    except ValueError as error:
        brain.close()
        raise SnapshotError(f"{path}: {error}") from None
    if labels.shape != (settings.hidden,) or wins.shape != (settings.hidden,):
        brain.close()
        raise SnapshotError(f"{path}: {labels.shape[0]} labels and {wins.shape[0]} win counts for {settings.hidden} hidden neurons")
    return DigitClassifier(brain, settings, labels, history, wins)


@dataclass(frozen=True)
class SavedClassifier:
    name: str
    path: Path
    created_utc: str
    hidden: int
    epochs: int
    test_accuracy: float | None
    problem: str = ""


def list_saved(folder: str | os.PathLike) -> list[SavedClassifier]:
    """Every classifier in ``folder``, newest first; a file that cannot be read is listed with why."""
    import h5py

    found = []
    for path in sorted(Path(folder).glob("*.h5"), key=lambda p: p.stat().st_mtime, reverse=True):
        if path.name.startswith("."):
            continue
        try:
            with h5py.File(path, "r") as handle:
                notes = dict(handle["history"].attrs) if "history" in handle else {}
                if notes.get("note_kind") != KIND:
                    continue
                settings = json.loads(notes["note_settings"])
                history = json.loads(notes["note_history"])
                created = str(handle.attrs.get("created_utc", ""))
            last = history[-1].get("test_accuracy") if history else None
            found.append(SavedClassifier(path.stem, path, created, int(settings["hidden"]), len(history), last))
        except (OSError, KeyError, ValueError) as error:
            found.append(SavedClassifier(path.stem, path, "", 0, 0, None, f"unreadable ({str(error).splitlines()[0] if str(error) else type(error).__name__})"))
    return found
