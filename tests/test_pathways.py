"""The mechanisms that let the brain hold a line and learn replies, each on its own.

A 20,000-neuron brain with the default regions and pathways: working memory (looping units
in the input region), association region (tonic inhibition, lifted sector by sector), quiet
output patches, the readout that learns, and the runner's teaching, echo and episode logic.
"""

from __future__ import annotations

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.model import plasticity
from brainchat.model.regions import END_PATCH, PRINTABLE
from brainchat.runtime.runner import Runner

NEURONS = 20_000


@pytest.fixture(scope="module")
def brain():
    with Brain(Config().replace(**{"brain.neurons": NEURONS})) as b:
        b.run(500)
        b.read_vitals()
        yield b


def spikes(b: Brain, steps: int, stimulus=None) -> np.ndarray:
    """Spikes per neuron over the next ``steps`` steps."""
    counts = np.zeros(b.size)
    for _ in range(steps):
        b.step(stimulus)
        counts += b.last_spikes
    return counts


def reset(b: Brain) -> None:
    codec = b.config.codec
    b.run(codec.reset_steps, b.stimulus(b.memory_ids(), -codec.reset_current))


def span(b: Brain, name: str) -> slice:
    region = b.layout[name]
    return slice(region.start, region.stop)


def unit(b: Brain, char: str, place: int) -> np.ndarray:
    return np.asarray(b.char_stimulus(char, place, 1.0).neuron_ids)


def test_a_said_character_stays_in_working_memory_until_the_next_line(brain):
    reset(brain)
    brain.run(20, brain.char_stimulus("k", 0, 1.0))
    memory = spikes(brain, 2000)[span(brain, 'input')]
    entry = unit(brain, "k", 0)
    held = np.flatnonzero(memory)
    assert held.size > entry.size, "the loop spread from the stimulated phase to the others"
    assert memory[held].min() / 2000 > 0.25, "every neuron of the unit fires about every third step for 2 s"
    assert np.all(np.isin(held + brain.layout["input"].start, brain.input_patch("k"))), "nothing else lit up"
    brain.run(20, brain.char_stimulus("k", 0, 1.0))  # the same character again does not break the loop
    assert spikes(brain, 300)[held].min() > 0
    reset(brain)
    assert spikes(brain, 300)[span(brain, 'input')].sum() == 0, "a new line's reset empties the memory"


def test_the_same_character_at_another_place_is_another_memory(brain):
    reset(brain)
    brain.run(20, brain.char_stimulus("k", 0, 1.0))
    first = spikes(brain, 100)[span(brain, 'input')] > 0
    reset(brain)
    brain.run(20, brain.char_stimulus("k", 1, 1.0))
    second = spikes(brain, 100)[span(brain, 'input')] > 0
    reset(brain)
    assert first.any() and second.any() and not (first & second).any()


def test_association_neurons_fire_only_with_their_memory_and_their_gate(brain):
    codec = brain.config.codec
    association = span(brain, "association")
    reset(brain)
    gate = brain.stimulus(brain.sector(0), codec.gate_current)
    assert spikes(brain, 40, gate)[association].sum() == 0, "the gate alone fires nothing"
    for place, char in enumerate("cab"):
        brain.run(20, brain.char_stimulus(char, place, 1.0))
    assert spikes(brain, 40)[association].sum() == 0, "the memory alone fires nothing"
    fired = spikes(brain, 40, gate)
    assert fired[association].sum() > 0, "memory and gate together fire association neurons"
    assert np.all(np.isin(np.flatnonzero(fired[association]) + association.start, brain.sector(0))), "only in the gated sector"
    reset(brain)


def test_the_output_patches_are_quiet_without_a_line(brain):
    reset(brain)
    outputs = span(brain, "output")
    assert spikes(brain, 500)[outputs].sum() < 0.001 * brain.layout["output"].size * 500


def test_the_living_population_alone_counts_for_the_firing_fraction(brain):
    records = brain.run(400)
    fraction = np.concatenate([r.firing_fraction for r in records])
    assert brain.recorder.neurons == int(np.asarray(brain.adapts).sum()) < NEURONS
    assert abs(float(fraction.mean()) - 0.05) < 0.003


def readout(b: Brain) -> np.ndarray:
    return b.synapses.weights[b.plastic.synapses].copy()


def test_pairing_off_tags_nothing_and_a_reward_then_changes_nothing(brain):
    brain.new_episode()
    brain.pairing = plasticity.PAIRING_OFF
    before = readout(brain)
    for place, char in enumerate("hey"):
        brain.run(20, brain.char_stimulus(char, place, 1.0))
    brain.run(40, brain.stimulus(brain.sector(0), brain.config.codec.gate_current))
    assert not np.any(brain.plasticity.eligibility)
    brain.reward(1.0, predicted=False)
    brain.new_episode()
    brain.pairing = plasticity.PAIRING_TEACH
    assert np.array_equal(readout(brain), before)


def test_a_reward_strengthens_what_was_said_and_a_punishment_weakens_it(brain):
    """The echo of a character tags the readout onto its patch; the sign of the dopamine decides."""
    codec = brain.config.codec
    patch = brain.output_patch("x")
    others = brain.other_outputs(PRINTABLE.index("x"))
    onto_x = np.isin(brain.plastic.targets, patch)
    for sign in (+1.0, -1.0):
        brain.new_episode()
        reset(brain)
        for place, char in enumerate("hey"):
            brain.run(20, brain.char_stimulus(char, place, 1.0))
        brain.pairing = plasticity.PAIRING_TAG
        echo = [(brain.sector(0), codec.gate_current), (patch, codec.teach_current), (others, -codec.teach_inhibition)]
        brain.run(20, brain.stimuli(echo))
        tagged = brain.plasticity.eligibility > 0
        bad = np.flatnonzero(tagged & ~onto_x)
        assert tagged[onto_x].any() and not bad.size, f"only synapses onto the echoed patch are tagged: {bad.size} others, onto {sorted(set(brain.plastic.targets[bad].tolist()))[:5]}..., sign {sign}"
        before = readout(brain)
        brain.reward(sign, predicted=False)
        brain.new_episode()  # settles the dopamine at once
        change = readout(brain) - before
        assert np.all(change[~onto_x] == 0)
        assert (np.sign(change[tagged]) == sign).mean() > 0.9, f"reward {sign:+}: the tagged synapses moved the wrong way"
        brain.pairing = plasticity.PAIRING_TEACH
    assert not np.any(brain.plasticity.eligibility) and float(brain.plasticity.dopamine) == 0.0


def test_teaching_also_weakens_the_sources_pull_on_patches_held_down(brain):
    codec = brain.config.codec
    brain.new_episode()
    reset(brain)
    for place, char in enumerate("yo"):
        brain.run(20, brain.char_stimulus(char, place, 1.0))
    patch = brain.output_patch("q")
    others = brain.other_outputs(PRINTABLE.index("q"))
    brain.pairing = plasticity.PAIRING_TEACH
    brain.run(20, brain.stimuli([(brain.sector(0), codec.gate_current), (patch, codec.teach_current), (others, -codec.teach_inhibition)]))
    onto_q = np.isin(brain.plastic.targets, patch)
    eligibility = brain.plasticity.eligibility
    assert eligibility[onto_q].max() > 0 and eligibility[~onto_q].min() < 0
    brain.new_episode()


def test_the_reward_prediction_error_shrinks_as_rewards_become_expected():
    config = Config().replace(**{"brain.neurons": NEURONS, "plasticity.reward_baseline_rate": 0.5})
    with Brain(config) as b:
        pulses = []
        for _ in range(4):
            b.new_episode()
            pulses.append(b.reward(1.0))
        assert pulses == pytest.approx([1.0, 0.5, 0.25, 0.125])
        b.new_episode()
        assert b.reward(-1.0) == pytest.approx(-1.0 - 0.9375), "a punishment after expected rewards is a big surprise"
        b.new_episode()
        assert b.reward(1.0, predicted=False) == 1.0, "teaching does not use the prediction"


def test_a_taught_reply_is_given_afterwards_and_a_right_answer_is_left_alone():
    with Brain(Config().replace(**{"brain.neurons": NEURONS})) as b, Runner(b, lockstep=True) as runner:
        first = runner.teach("hello", "hi", timeout=120)
        assert first.before not in (None, "hi") and first.text == "hi", "it answered something else before it was taught"
        assert runner.say("hello", timeout=120).text == "hi"
        before = readout(b)
        again = runner.teach("hello", "hi", timeout=120)
        assert again.before == "hi"
        runner.say("hello", timeout=120)  # settles whatever the teaching left
        assert np.array_equal(readout(b), before), "a right answer is not taught again"
        assert runner.say("goodbye", timeout=120).text != "hi", "another line does not get the taught reply"


def test_the_end_patch_ends_a_reply():
    with Brain(Config().replace(**{"brain.neurons": NEURONS})) as b, Runner(b, lockstep=True) as runner:
        for _ in range(2):
            runner.teach("abc", "xyz", timeout=120)
        reply = runner.say("abc", timeout=120)
        assert reply.text == "xyz"
        end = b.output_region.patch(END_PATCH)
        assert end.size == b.output_region.patch_size and b.output_region.spec.patches == END_PATCH + 1
