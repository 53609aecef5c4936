"""The spectrum of the living population's activity (brainchat/rhythm.py, brainchat rhythm, /rhythm)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from brainchat import Brain, Config, rhythm
from brainchat.runtime.runner import Runner

from test_control import cli, headless  # noqa: F401 - a real headless brain behind a real socket


def test_a_gamma_oscillation_is_found_and_noise_has_no_peak():
    t = np.arange(8000) / 1000.0
    rng = np.random.default_rng(0)
    noise = 0.01 * rng.standard_normal(t.size)
    found = rhythm.report(0.05 + 0.005 * np.sin(2 * np.pi * 43 * t) + noise)
    assert found["peak_hz"] == 43.0 and found["peak_ratio"] > 10, found["peak_ratio"]
    flat = rhythm.report(0.05 + noise)
    assert flat["peak_ratio"] < 3, flat["peak_ratio"]
    assert len(found["frequencies_hz"]) == len(found["power"]) == 201, "1-Hz bins up to 200 Hz"
    with pytest.raises(ValueError, match="needs at least 1 s"):
        rhythm.spectrum(np.zeros(500))


def test_the_chart_of_a_brain_without_basket_cells_says_why_it_has_no_peak():
    flat = rhythm.report(0.05 + 0.01 * np.random.default_rng(1).standard_normal(4000))
    assert not any("basket cells are off" in line for line in rhythm.chart({**flat, "basket_cells": True}))
    assert any('enabled = false' in line for line in rhythm.chart({**flat, "basket_cells": False})), "and how they come back"


def _spectrum_of(**settings) -> dict:
    """The rhythm of a 20k default brain (seed 0) over 5 s after 1 s of settling."""
    with Brain(Config().replace(**{"brain.neurons": 20_000, "brain.seed": 0, "brain.device": "cpu", **settings})) as brain:
        brain.run(1000)
        signal = np.concatenate([np.asarray(v.firing_fraction) for v in brain.run(5000)])
    return rhythm.report(signal)


def test_the_basket_cells_give_a_gamma_rhythm_and_without_their_output_it_is_gone():
    """PING (Borgers & Kopell 2003): the cortex drives the basket cells, their slow inhibition paces the cortex.

    Measured at 20k, seeds 0-2, all-to-all basket pathways: peak ratio 99 / 92 / 107 at
    60-61 Hz; with the basket cells' output left out 2.3 (seed 0), without basket cells 1.4.
    The fused kernel is deterministic, so seed 0's figures are what this test sees.
    """
    ping = _spectrum_of()
    assert 30 <= ping["peak_hz"] <= 80 and ping["peak_ratio"] >= 10, ping["peak_ratio"]
    silent = _spectrum_of(**{"pathways.basket_to_cortex.enabled": False})
    assert silent["peak_ratio"] < 3 and silent["peak_ratio"] < ping["peak_ratio"] / 10, silent["peak_ratio"]
    none = _spectrum_of(**{"regions.basket.enabled": False})
    assert none["peak_ratio"] < 3, none["peak_ratio"]


def test_the_runner_keeps_the_last_seconds_and_says_when_there_are_too_few():
    with Runner(Brain(Config().replace(**{"brain.neurons": 4000, "brain.seed": 2})), lockstep=True) as runner:
        runner.wait_ready()
        with pytest.raises(ValueError, match=r"1\.0 s of activity recorded .* needs 2 s"):
            runner.rhythm()
        runner.rest(12_000)
        result = runner.rhythm()
    assert result["seconds"] == 10.0, "the last 10 s only"
    assert 30 <= result["peak_hz"] <= 80 and np.isfinite(result["peak_ratio"]) and result["peak_ratio"] > 0
    assert all(np.isfinite(result["power"]))
    assert result["basket_cells"] is True and result["peak_ratio"] >= rhythm.CLEAR, "the default brain has its gamma rhythm"


def test_brainchat_rhythm_from_another_terminal(headless, tmp_path):  # noqa: F811
    deadline = time.monotonic() + 60
    while True:  # a brain at real time has its 2 s after 2 s
        done = cli(tmp_path, "rhythm", "--json", "--plot", str(tmp_path / "rhythm.png"))
        if done.returncode == 0 or time.monotonic() > deadline:
            break
        assert "needs 2 s" in done.stderr and "Traceback" not in done.stderr, done.stderr
        time.sleep(0.5)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert {"peak_hz", "peak_ratio", "frequencies_hz", "power", "seconds"} <= set(result)
    assert (tmp_path / "rhythm.png").stat().st_size > 10_000
    text = cli(tmp_path, "rhythm")
    assert text.returncode == 0 and "its baseline" in text.stdout and "<- peak" in text.stdout
