"""The critic (model/critic.py): the reward expected after each line, and the dopamine a reward then releases."""

from __future__ import annotations

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.model.critic import CONTEXTS, Critic


def test_a_line_that_is_rewarded_again_and_again_releases_less_and_less_but_a_punishment_keeps_its_force():
    critic = Critic(0.2)
    assert critic.surprise("hi", 1.0) == 1.0  # nothing expected yet
    released = [critic.surprise("hi", 1.0) for _ in range(20)]
    assert all(a > b for a, b in zip(released, released[1:])) and released[-1] < 0.02
    expected = critic.expected("hi")
    assert expected > 0.98 and critic.surprise("hi", -1.0) == pytest.approx(-1.0 - expected)  # a punishment after many rewards: about -2
    assert critic.surprise("bye", 1.0) == 1.0  # another line expects nothing yet
    # a line mostly punished: its punishments keep their full force (the expectation subtracted is never below 0)
    for _ in range(10):
        assert critic.surprise("no", -1.0) == -1.0
    assert critic.expected("no") < -0.8
    assert Critic(0.0).surprise("hi", 1.0) == 1.0 and Critic(0.2).surprise(None, -1.0) == -1.0


def test_the_critic_keeps_the_latest_lines_and_round_trips_and_a_bad_table_is_refused():
    critic = Critic(0.5)
    for k in range(CONTEXTS + 3):
        critic.surprise(f"line {k}", 1.0)
    assert len(critic.values) == CONTEXTS and "line 0" not in critic.values and critic.expected(f"line {CONTEXTS + 2}") == 0.5
    back = Critic(0.5)
    back.restore(critic.arrays())
    assert back.values == critic.values
    empty = Critic(0.5)
    empty.restore({})
    assert not empty.values
    with pytest.raises(ValueError, match="critic/values"):
        Critic(0.5).restore({"critic/values": np.frombuffer(b'[["x", 99.0]]', dtype=np.uint8)})


def test_the_brain_rewards_with_the_surprise_of_the_line_last_said():
    with Brain(Config().replace(**{"brain.neurons": 2000, "brain.layout": "sheet", "plasticity.critic_rate": 0.5})) as brain:
        brain.context = "hello"
        first = brain.reward(1.0)
        brain.plasticity.dopamine.fill(0)
        second = brain.reward(1.0)
        assert first == pytest.approx(1.0) and second == pytest.approx(0.5)
        arrays = {k: brain.backend.to_host(v) if not isinstance(v, np.ndarray) else v for k, v in brain.state_arrays().items()}
        brain.restore_state(arrays, brain.step_count, brain.recorder.pending)
        assert brain.critic.expected("hello") == pytest.approx(0.75)
