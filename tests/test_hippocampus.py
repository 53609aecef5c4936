"""The hippocampus (model/hippocampus.py): a teaching binds a prompt to line detectors of its own."""

from __future__ import annotations

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.bench_learning import make_pairs
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

N = 20_000


def _config(**extra):
    return Config().replace(**{"brain.neurons": N, "brain.device": "cpu", **extra})


class _Spikes:
    """The spikes of one region once a line has been presented (the gap and the reply: what the runner reads), from its vitals."""

    def __init__(self, runner: Runner, region: str):
        self.brain = brain = runner.brain
        self.group = brain.recorder.region_groups[brain.layout[region].index][0]
        self.count = 0
        self.after = 0
        runner.vitals_listener = self.see

    def see(self, vitals) -> None:
        if self.brain.step_count > self.after:
            self.count += int(vitals.group_spikes[self.group])

    def during(self, runner: Runner, line: str) -> int:
        codec = self.brain.config.codec
        self.count = 0
        self.after = self.brain.step_count + codec.reset_steps + len(line) * codec.char_steps
        runner.say(line)
        return self.count


def test_a_bound_detector_fires_for_its_line_and_for_no_line_that_differs():
    with Brain(_config()) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        spikes = _Spikes(runner, "hippocampus")
        assert spikes.during(runner, "cat") == 0, "nothing is bound: the detectors are silent"
        assert brain.hippocampus.bind(brain, "cat") == 0
        assert spikes.during(runner, "cat") > 20, "its own line fires it"
        for other in ("car", "cats", "at", "act", "dog"):  # one letter changed, one more, one fewer, the same letters elsewhere (20k holds 2 places: "tac" is "cat"), another line
            assert spikes.during(runner, other) == 0, other
        assert spikes.during(runner, "cat") > 20, "and again"


def test_a_teaching_binds_the_prompt_and_its_recall_neurons_then_say_the_reply():
    with Brain(_config()) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        recall = _Spikes(runner, "recall")
        runner.teach("hello", "hey")
        assert brain.hippocampus.prompts[0] == "hello" and brain.hippocampus.slot_of("hello") == 0
        assert recall.during(runner, "hello") > 0 and recall.during(runner, "help") == 0
        runner.teach("hello", "hey")
        runner.teach("hello", "hey")
        assert runner.say("hello").text == "hey"
        assert brain.hippocampus.prompts.count("hello") == 1, "a prompt keeps its slot"


def test_the_least_recently_bound_slot_is_reused_and_its_readout_starts_again():
    with Brain(_config()) as brain:
        hippocampus = brain.hippocampus
        readout = brain.pathway("recall_readout")
        for i in range(hippocampus.count):
            hippocampus.bind(brain, f"p{i}")
        hippocampus.bind(brain, "p0")  # p0 again: now p1 is the least recent
        rows = hippocampus._recall_ids(brain, 1) - readout.source[0]
        readout.projection.weights[rows] = 2.5  # as if it had learned
        assert hippocampus.bind(brain, "new") == 1 and hippocampus.prompts[1] == "new" and hippocampus.slot_of("p1") is None
        assert np.all(readout.projection.weights[rows] == readout.spec.weight), "what p1's recall neurons said is forgotten"
        assert hippocampus.slot_of("p0") == 0


def test_the_bindings_survive_a_snapshot(tmp_path):
    with Brain(_config()) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        runner.teach("abc", "xyz")
        runner.save(tmp_path / "b.h5")
        runner.teach("zzz", "q")
        runner.load(tmp_path / "b.h5")
        assert brain.hippocampus.prompts[:2] == ["abc", None]
        spikes = _Spikes(runner, "hippocampus")
        assert spikes.during(runner, "abc") > 20
    again = snapshots.read(tmp_path / "b.h5")
    with Brain(_config()) as other:
        other.restore_state(again.arrays, again.step, again.vitals_pending)
        assert other.hippocampus.prompts[0] == "abc"
    broken = dict(again.arrays, **{"hippocampus/slots": np.frombuffer(b"[1, 2", dtype=np.uint8)})
    with Brain(_config()) as other, pytest.raises(ValueError, match="hippocampus/slots"):
        other.restore_state(broken, again.step, again.vitals_pending)


def test_twenty_pairs_at_20k_are_learned_in_three_teachings_and_better_than_without_the_hippocampus():
    from brainchat.bench_learning import teach_benchmark

    on = teach_benchmark(_config(), 20, 3, 1)
    off = teach_benchmark(_config(**{"hippocampus.enabled": False}), 20, 3, 1)
    assert on["exact_match_accuracy"] >= 0.9, on["curve"]
    assert on["exact_match_accuracy"] > off["exact_match_accuracy"], (on["curve"], off["curve"])
