"""The runner thread with a real brain: replies, determinism, pause, pacing, shutdown."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainchat import Brain, Config
from brainchat.model.regions import PRINTABLE
from brainchat.runtime.runner import Runner, RunnerStopped

SMALL = {"brain.neurons": 2000, "brain.layout": "sheet"}  # too small for the pathways: a random sheet


def brain(**settings_) -> Brain:
    return Brain(Config().replace(**{**SMALL, **settings_}))


def test_lockstep_replies_are_reproducible():
    replies = []
    for _ in range(2):
        with Runner(brain(), lockstep=True, settle_steps=300) as runner:
            replies.append([runner.say(line, timeout=60).text for line in ("hello", "cat", "hello")])
    assert replies[0] == replies[1]
    assert all(0 < len(text) <= 8 and all(c in PRINTABLE for c in text) for text in replies[0])


def test_reply_steps_follow_the_codec_settings():
    with Runner(brain(**{"codec.char_steps": 10, "codec.gap_steps": 5, "codec.window_steps": 8, "codec.max_reply_chars": 4}), lockstep=True, settle_steps=300) as runner:
        reply = runner.say("abc", timeout=60)
        assert reply.said == "abc"
        assert len(reply.text) <= 4
        assert reply.steps == 3 * 10 + 5 + 8 * max(1, len(reply.text) + (len(reply.text) < 4))


def test_different_characters_excite_different_input_patches():
    with brain(**{"brain.neurons": 20_000}) as b:  # 16-neuron patches
        b.run(300)
        b.read_vitals()
        responses = {}
        for char in "aZ7":
            b.run(20, b.stimulus(b.input_patch(char), 1.0))
            responses[char] = b.read_vitals().group_spikes
        first = b.recorder.region_groups[b.input_region.index][0]
        for char, spikes in responses.items():
            patches = spikes[first : first + len(PRINTABLE)]
            assert PRINTABLE[int(np.argmax(patches))] == char, f"{char!r} lit up another patch"
            others = np.delete(patches, PRINTABLE.index(char))
            assert patches.max() > 3 * others.max()


def test_free_running_brain_steps_in_real_time_and_pauses():
    with Runner(brain(), speed=1.0) as runner:
        runner.wait_ready()
        time.sleep(0.5)
        start, t0 = runner.brain.step_count, time.perf_counter()
        time.sleep(1.5)
        rate = (runner.brain.step_count - start) / (time.perf_counter() - t0)
        assert 700 < rate < 1300, f"{rate:.0f} steps per second at speed 1"
        runner.pause()
        held = runner.brain.step_count
        time.sleep(0.3)
        assert runner.brain.step_count == held and runner.stats.paused
        runner.resume()
        time.sleep(0.3)
        assert runner.brain.step_count > held
        reply = runner.say("hi", timeout=60)
        assert reply.text


def test_stop_answers_pending_requests_and_ends_the_thread():
    runner = Runner(brain(), lockstep=True, settle_steps=100).start()
    runner.wait_ready()
    futures = [runner.say_async("x" * 200) for _ in range(3)]
    runner.stop()
    assert not runner.alive
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(timeout=10).text is not None)
        except RunnerStopped:
            outcomes.append("stopped")
    assert "stopped" in outcomes, "requests left when the brain stopped are told so"
    with pytest.raises(RunnerStopped):
        runner.say("after the end", timeout=5)


@pytest.fixture(scope="module")
def fast_runner():
    b = brain(**{"codec.char_steps": 1, "codec.gap_steps": 1, "codec.window_steps": 2, "codec.max_reply_chars": 3})
    with Runner(b, lockstep=True, settle_steps=100) as runner:
        yield runner


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=300), st.text(alphabet=st.characters(max_codepoint=31), max_size=50)))
def test_any_line_gets_a_reply_and_never_raises(fast_runner, line):
    reply = fast_runner.say(line, timeout=60)
    assert all(c in PRINTABLE for c in reply.said + reply.text)


def test_a_100k_character_line_is_cut_and_answered(fast_runner):
    reply = fast_runner.say("é" * 100_000, timeout=120)
    assert len(reply.said) == 200 and reply.said == "e" * 200
    assert any("cut" in notice for notice in reply.notices)


def test_raster_records_the_next_steps_and_the_brain_lives_on():
    with Runner(brain(), speed=0) as runner:
        runner.wait_ready()
        raster = runner.raster(neurons=24, steps=72).result(timeout=60)
        assert raster.shape == (24, 72) and raster.dtype == bool
        assert 0 < raster.mean() < 0.2, "about 5 % of the cells are spikes"
        before = runner.brain.step_count
        time.sleep(0.3)
        assert runner.alive and runner.brain.step_count > before


def test_a_failing_command_answers_its_caller_and_the_brain_lives_on(tmp_path):
    from brainchat.persistence import snapshot as snapshots

    with Runner(brain(), lockstep=True, settle_steps=100) as runner:
        runner.save(tmp_path / "s.h5", timeout=60)

        def broken(*args, **kwargs):
            raise MemoryError("no room for another brain")

        runner.brain.restore_state = broken  # what running out of memory during a load looks like
        with pytest.raises(MemoryError):
            runner.load(tmp_path / "s.h5", timeout=30)
        assert runner.alive
        assert runner.say("still here", timeout=60).text
        assert snapshots.read(tmp_path / "s.h5").step == 100


def test_a_paused_brain_refuses_to_talk_at_once_instead_of_hanging():
    from brainchat.runtime.runner import BrainPaused

    with Runner(brain(), speed=0) as runner:
        runner.wait_ready()
        runner.pause()
        with pytest.raises(BrainPaused, match="paused"):
            runner.say("hello", timeout=5)
        with pytest.raises(BrainPaused):
            runner.raster().result(timeout=5)
        runner.resume()
        assert runner.say("hello", timeout=60).text


def test_taught_to_name_an_image_it_names_it():
    """/see then /teach => 1, as a user does (until it answers right twice running), then it names the image.

    The brain of docs/examples/seeing-brain.toml at 10k neurons, in lockstep: on 24 seeds it
    came right after 4-6 teachings and named the image 3-5 times in 5 looks (each look is a new
    Poisson sample of the image); an untaught brain says "1" about once in 95 looks.
    """
    from pathlib import Path

    from brainchat.config import load_config

    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "seeing-brain.toml"
    config = load_config(example, {"brain.neurons": 10000, "brain.device": "cpu", "brain.seed": 1}, environ={}, user_file=Path("/nonexistent"))
    image = np.zeros((16, 16))
    image[2:14, 6:10] = 1.0  # a bright bar
    with Brain(config) as b, Runner(b, lockstep=True) as runner:
        runner.wait_ready()
        right = 0
        for _ in range(12):
            right = right + 1 if runner.teach("", "1", image=image).before == "1" else 0
            if right == 2:
                break
        assert right == 2, "during the teachings it came to answer the image right on its own, twice running"
        named = [runner.say("", image=image).text[:1] for _ in range(5)]
        assert named.count("1") >= 3, f"first characters of five looks: {named}"
