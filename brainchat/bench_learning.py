"""Measured learning: what ``brainchat bench teach``, ``bench reward`` and ``bench memory`` run.

Each builds a brain from the given config and drives it through the same paths a user's
commands take: a :class:`~brainchat.runtime.runner.Runner` in lockstep (``say``, ``teach``,
``reward``), except the memory benchmark, which presents words straight to the
:class:`~brainchat.model.brain.Brain` and records region spike counts over time.

* **teach**: ``pairs`` prompt -> reply pairs (lowercase prompts of 3-6 letters, replies of 3-8),
  taught round-robin ``teachings`` times each; after every round each prompt is said once and
  its reply compared. ``exact_match_accuracy``: replies equal to the taught one;
  ``char_accuracy``: matching characters at the same place over the longer of the two.
  With ``second_set`` a second set of pairs is taught afterwards and the first set tested again.
  With ``typos`` each taught prompt is then also said with one letter changed (:func:`typo`):
  ``typo_accuracy`` is the share of those that still get the taught reply.
* **reward**: ``pairs`` prompts, each with a target first character drawn from the 95
  printable ones. Trial ``t`` says prompt ``t mod pairs``, reads the first reply character and
  gives ``+1`` if it is the target, ``-1`` if not (``Runner.reward``, as ``brainchat reward``).
  ``final_accuracy``: over the last 50 trials; ``trials_to_criterion``: the first trial after
  which the last 50 were at least 90 % right, or ``None``; ``first_trials_accuracy``: over
  each prompt's first answer (before any reward of it: what the brain knew to begin with).
* **memory**: each of ``words`` words is said ``repeats`` times (the working memory is reset
  before each, as before any line); the spike counts per region in ``bin_ms`` bins after the
  word are the activity. A linear read-out (ridge regression, one output per word) is trained
  on all repeats but one and tested on the one left out, for every bin. ``memory_span_ms``:
  the end of the last bin up to which every bin is read at >= 90 %.

The firing band is recorded throughout: ``firing_min`` / ``firing_max`` are the extremes of the
per-step firing fraction of the homeostatic population over the whole run.
"""

from __future__ import annotations

import math
import string
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from brainchat.config import Config
from brainchat.model.brain import Brain
from brainchat.model.vitals import Vitals
from brainchat.model.regions import PRINTABLE
from brainchat.runtime.runner import Runner

Progress = Callable[[int], None]
CRITERION_WINDOW = 50


@dataclass(frozen=True)
class Pair:
    prompt: str
    reply: str


def make_pairs(count: int, seed: int, avoid: tuple[str, ...] = ()) -> list[Pair]:
    """``count`` pairs of distinct random lowercase prompts (3-6 letters) and replies (3-8)."""
    rng = np.random.default_rng(seed)
    letters = list(string.ascii_lowercase)
    pairs: list[Pair] = []
    used = set(avoid)
    while len(pairs) < count:
        prompt = "".join(rng.choice(letters, int(rng.integers(3, 7))))
        if prompt in used:
            continue
        used.add(prompt)
        pairs.append(Pair(prompt, "".join(rng.choice(letters, int(rng.integers(3, 9))))))
    return pairs


def typo(prompt: str, seed: int, avoid: set[str]) -> str:
    """``prompt`` with one letter, at a random place, replaced by another lowercase letter (not a prompt in ``avoid``)."""
    rng = np.random.default_rng([seed, sum(map(ord, prompt)), len(prompt)])
    while True:
        place = int(rng.integers(len(prompt)))
        letter = str(rng.choice([c for c in string.ascii_lowercase if c != prompt[place]]))
        changed = prompt[:place] + letter + prompt[place + 1 :]
        if changed not in avoid:
            return changed


def char_accuracy(said: str, wanted: str) -> float:
    """Characters equal at the same place, over the longer of the two strings."""
    longest = max(len(said), len(wanted))
    return sum(a == b for a, b in zip(said, wanted)) / longest if longest else 1.0


class _Band:
    """The extremes of the firing seen in the published vitals: the living neurons' per step, and each living region's per interval of 20 steps or more."""

    def __init__(self) -> None:
        self.low = math.inf
        self.high = -math.inf
        self.regions: dict[str, list[float]] = {}

    def see(self, vitals: Vitals) -> None:
        fractions = vitals.firing_fraction
        if fractions.size:
            self.low = min(self.low, float(fractions.min()))
            self.high = max(self.high, float(fractions.max()))
        if vitals.steps >= 20:
            for name, firing in vitals.region_firing.items():
                if vitals.living_regions and name in vitals.living_regions:
                    low, high = self.regions.get(name, [math.inf, -math.inf])
                    self.regions[name] = [min(low, firing), max(high, firing)]

    def report(self) -> dict:
        return {"firing_min": self.low, "firing_max": self.high,
                "firing_by_region": {name: {"min": low, "max": high} for name, (low, high) in self.regions.items()}}


def _test(runner: Runner, pairs: list[Pair]) -> tuple[float, float, list[str]]:
    replies = [runner.say(pair.prompt).text for pair in pairs]
    exact = float(np.mean([reply == pair.reply for reply, pair in zip(replies, pairs)]))
    chars = float(np.mean([char_accuracy(reply, pair.reply) for reply, pair in zip(replies, pairs)]))
    return exact, chars, replies


def teach_benchmark(config: Config, pairs: int, teachings: int, seed: int, second_set: bool = False, progress: Progress | None = None,
                    doses: dict[str, float] | None = None, typos: bool = False) -> dict:
    """Teach ``pairs`` pairs ``teachings`` times each; the report described in the module docstring.

    ``doses``: neuromodulators held at a level throughout (model/chemistry.py), e.g. ``{"acetylcholine": 0.5}``.
    """
    started = time.perf_counter()
    first = make_pairs(pairs, seed)
    second = make_pairs(pairs, seed + 1, avoid=tuple(p.prompt for p in first)) if second_set else []
    band = _Band()
    curve = []
    with Brain(config) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()  # the band is watched from the end of the settling on
        runner.vitals_listener = band.see
        for name, level in (doses or {}).items():
            brain.dose(name, level, math.inf)  # held without end (the runner is idle between requests in lockstep)
        for round_ in range(1, teachings + 1):
            for pair in first:
                runner.teach(pair.prompt, pair.reply)
                if progress:
                    progress(1)
            exact, chars, replies = _test(runner, first)
            curve.append({"teachings": round_, "exact_match_accuracy": exact, "char_accuracy": chars})
        report = {
            "benchmark": "teach", "neurons": config.brain.neurons, "seed": seed, "pairs": pairs, "teachings": teachings, "doses": dict(doses or {}),
            "exact_match_accuracy": curve[-1]["exact_match_accuracy"] if curve else 0.0,
            "char_accuracy": curve[-1]["char_accuracy"] if curve else 0.0,
            "curve": curve,
            "examples": [{"prompt": p.prompt, "taught": p.reply, "reply": r} for p, r in zip(first, replies)] if curve else [],
        }
        if typos:
            taught = {p.prompt for p in first}
            changed = [Pair(typo(p.prompt, seed, taught), p.reply) for p in first]
            exact_typo, chars_typo, typo_replies = _test(runner, changed)
            report["typo_accuracy"] = exact_typo
            report["typo_char_accuracy"] = chars_typo
            report["typo_examples"] = [{"prompt": c.prompt, "taught_prompt": p.prompt, "taught": p.reply, "reply": r}
                                       for c, p, r in zip(changed, first, typo_replies)]
        if second:
            for _ in range(teachings):
                for pair in second:
                    runner.teach(pair.prompt, pair.reply)
                    if progress:
                        progress(1)
            exact_second, chars_second, _ = _test(runner, second)
            exact_first, chars_first, _ = _test(runner, first)
            report["second_set"] = {"exact_match_accuracy": exact_second, "char_accuracy": chars_second}
            report["first_set_after_second"] = {"exact_match_accuracy": exact_first, "char_accuracy": chars_first}
        report["brain_seconds"] = brain.step_count / 1000.0
    report.update(**band.report(), wall_seconds=time.perf_counter() - started)
    return report


def criterion(correct: list[bool], window: int = CRITERION_WINDOW, level: float = 0.9) -> int | None:
    """The first trial (1-based) after which the last ``window`` trials were at least ``level`` right."""
    hits = np.cumsum(np.asarray(correct, dtype=np.int64))
    for trial in range(window, len(correct) + 1):
        done = hits[trial - 1] - (hits[trial - window - 1] if trial > window else 0)
        if done >= level * window:
            return trial
    return None


def reward_benchmark(config: Config, pairs: int, trials: int, seed: int, progress: Progress | None = None) -> dict:
    """Learn one first character per prompt from +/- alone; the report described in the module docstring."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    prompts = [p.prompt for p in make_pairs(pairs, seed)]
    targets = [str(c) for c in rng.choice(list(PRINTABLE), pairs, replace=False)]
    band = _Band()
    correct: list[bool] = []
    last = [""] * pairs
    config = config.replace(**{"codec.max_reply_chars": 1})  # only the first character is read
    with Brain(config) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()  # the band is watched from the end of the settling on
        runner.vitals_listener = band.see
        for trial in range(trials):
            which = trial % pairs
            reply = runner.say(prompts[which]).text
            right = reply[:1] == targets[which]
            last[which] = reply
            runner.reward(1.0 if right else -1.0)
            correct.append(right)
            if progress:
                progress(1)
        brain_seconds = brain.step_count / 1000.0
    curve = [
        {"trials": end, "accuracy": float(np.mean(correct[max(0, end - CRITERION_WINDOW) : end]))}
        for end in range(CRITERION_WINDOW, trials + 1, CRITERION_WINDOW)
    ]
    return {
        "benchmark": "reward", "neurons": config.brain.neurons, "seed": seed, "pairs": pairs, "trials": trials,
        "final_accuracy": float(np.mean(correct[-CRITERION_WINDOW:])) if correct else 0.0,
        "first_trials_accuracy": float(np.mean(correct[:pairs])) if correct else 0.0,  # each prompt's first answer, before any reward of it
        "trials_to_criterion": criterion(correct),
        "curve": curve,
        "prompts": [{"prompt": p, "target": t, "last_reply": r} for p, t, r in zip(prompts, targets, last)],
        **band.report(),
        "brain_seconds": brain_seconds, "wall_seconds": time.perf_counter() - started,
    }


def _ridge_accuracy(features: np.ndarray, labels: np.ndarray, repeats: int, ridge: float = 1.0) -> float:
    """Leave-one-repeat-out accuracy of a linear read-out; ``features`` ``[words * repeats, F]``."""
    words = int(labels.max()) + 1
    right = 0
    for held in range(repeats):
        test = np.arange(labels.size) % repeats == held
        train = ~test
        x = features[train]
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
        x = np.hstack([(x - mean) / scale, np.ones((x.shape[0], 1))])
        y = np.eye(words)[labels[train]]
        weights = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
        z = np.hstack([(features[test] - mean) / scale, np.ones((int(test.sum()), 1))])
        right += int(np.sum(np.argmax(z @ weights, axis=1) == labels[test]))
    return right / labels.size


def memory_benchmark(
    config: Config, words: int, seed: int, repeats: int = 5, bin_ms: int = 100, horizon_ms: int = 5000, progress: Progress | None = None,
) -> dict:
    """How long a linear read-out of the activity tells which word was said; the report described above."""
    started = time.perf_counter()
    vocabulary = [p.prompt for p in make_pairs(words, seed)]
    bins = horizon_ms // bin_ms
    codec = config.codec
    band = _Band()
    with Brain(config) as brain:
        brain.run(1000)  # settle
        brain.read_vitals()
        features = np.zeros((words * repeats, bins, brain.recorder.groups))
        labels = np.repeat(np.arange(words), repeats)
        order = np.random.default_rng(seed).permutation(words * repeats)
        for row in order:
            word = vocabulary[labels[row]]
            if brain.has_memory and codec.reset_steps:
                brain.run(codec.reset_steps, brain.stimulus(brain.memory_ids(), -codec.reset_current))
            for place, char in enumerate(word):
                brain.run(codec.char_steps, brain.char_stimulus(char, place, codec.stimulus_current))
            band.see(brain.read_vitals())
            for b in range(bins):
                records = brain.run(bin_ms) + [brain.read_vitals()]  # every interval inside the bin, then the rest
                for vitals in records:
                    band.see(vitals)
                    features[row, b] += vitals.group_spikes
            if progress:
                progress(1)
        brain_seconds = brain.step_count / 1000.0
    accuracy = [_ridge_accuracy(features[:, b], labels, repeats) for b in range(bins)]
    span = 0
    for b, value in enumerate(accuracy):
        if value < 0.9:
            break
        span = (b + 1) * bin_ms
    return {
        "benchmark": "memory", "neurons": config.brain.neurons, "seed": seed, "words": words, "repeats": repeats,
        "bin_ms": bin_ms, "horizon_ms": horizon_ms, "memory_span_ms": span,
        "span_reaches_horizon": span == bins * bin_ms,
        "curve": [{"ms": (b + 1) * bin_ms, "accuracy": a} for b, a in enumerate(accuracy)],
        **band.report(),
        "brain_seconds": brain_seconds, "wall_seconds": time.perf_counter() - started,
    }


def curve_points(report: dict) -> tuple[str, str, list[tuple[float, float]]]:
    """(x label, y label, points) of a report's learning curve."""
    kind = report["benchmark"]
    if kind == "teach":
        return "teachings of each pair", "exact-match accuracy", [(c["teachings"], c["exact_match_accuracy"]) for c in report["curve"]]
    if kind == "reward":
        return "trials", f"accuracy over the last {CRITERION_WINDOW} trials", [(c["trials"], c["accuracy"]) for c in report["curve"]]
    return "ms after the word", "read-out accuracy", [(c["ms"], c["accuracy"]) for c in report["curve"]]


def plot(report: dict, path: str) -> bool:
    """The learning curve as a PNG, if matplotlib is installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    x_label, y_label, points = curve_points(report)
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot([p[0] for p in points], [p[1] for p in points], "o-")
    axes.axhline(0.9, color="grey", linewidth=0.8, label="90 %")
    axes.set_ylim(0, 1.05)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(f"brainchat bench {report['benchmark']}: {report['neurons']:,} neurons, seed {report['seed']}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return True


def terminal_chart(report: dict, width: int = 40, rows: int = 20) -> list[str]:
    """The learning curve as text bars, one line per point (at most ``rows``, evenly picked)."""
    x_label, y_label, points = curve_points(report)
    if len(points) > rows:
        points = [points[round(i * (len(points) - 1) / (rows - 1))] for i in range(rows)]
    lines = [f"{y_label} by {x_label}"]
    for x, y in points:
        filled = round(max(0.0, min(1.0, y)) * width)
        lines.append(f"{x:>8g} {'█' * filled}{'·' * (width - filled)} {y:.2f}")
    return lines
