"""The control-socket commands the live views use (pin, weights, speed, health) and the stream's keep-alive, against a real headless brain."""

from __future__ import annotations

import time

import pytest
from test_control import cli, headless, socket_path  # noqa: F401  (the fixture is used by name)

from brainchat.control.client import BrainRefused, request, subscribe


def first_frame_with(stream, test, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    for item in stream:
        frame = item.get("frame")
        if frame is not None and test(frame):
            return frame
        assert time.monotonic() < deadline, "no such frame came"
    raise AssertionError("the stream ended")


def test_pinned_neurons_come_with_every_step_of_their_membrane(headless, tmp_path):  # noqa: F811
    path = socket_path(tmp_path)
    with pytest.raises(BrainRefused, match="at most 8"):
        request(path, "pin", ids=list(range(9)))
    with pytest.raises(BrainRefused, match="does not exist"):
        request(path, "pin", ids=[10_000])
    with pytest.raises(BrainRefused, match="list of neuron numbers"):
        request(path, "pin", ids="5")
    cortex = next(row for row in request(path, "regions")["regions"] if row["name"] == "cortex")
    living = cortex["first_id"] + 17
    assert request(path, "pin", ids=[living, 5, living])["pinned"] == [5, living]
    assert request(path, "status")["pinned"] == [5, living]
    stream = subscribe(path, fps=10)
    try:
        next(stream)
        frame = first_frame_with(stream, lambda f: "traces" in f and len(f["traces"]["membrane"][0]) == f["steps"])
    finally:
        stream.close()
    traces = frame["traces"]
    assert traces["ids"] == [5, living]
    for k in range(2):
        membrane, threshold, spiked = traces["membrane"][k], traces["threshold"][k], traces["spiked"][k]
        assert len(membrane) == len(threshold) == len(spiked) == frame["steps"], "one value per step of the frame"
        assert all(t > 0.5 for t in threshold) and set(spiked) <= {0, 1}
    assert set(traces["membrane"][0]) == {0.0}, "an input neuron nobody talks to rests"
    assert len(set(traces["membrane"][1])) > 10, "a cortex neuron's membrane moves with its noise and input"
    assert request(path, "pin", ids=[])["pinned"] == []
    assert request(path, "status")["pinned"] == []


def test_weights_speed_and_health(headless, tmp_path):  # noqa: F811
    path = socket_path(tmp_path)
    histogram = request(path, "weights")
    plastic = {row["name"]: row["plastic_synapses"] for row in request(path, "regions")["pathways"] if row["plastic"]}
    assert set(histogram["pathways"]) == set(plastic) and plastic
    for name, counts in histogram["pathways"].items():
        assert sum(counts) == plastic[name], "every plastic synapse is in its pathway's histogram"
        assert len(counts) == len(histogram["edges"]) - 1
    assert histogram["edges"][0] == 0 and histogram["synapses"] == sum(plastic.values())
    with pytest.raises(BrainRefused, match="speed must be"):
        request(path, "speed", speed=-1)
    with pytest.raises(BrainRefused, match="speed must be"):
        request(path, "speed", speed="fast")
    assert request(path, "speed", speed=0)["speed"] == 0
    assert request(path, "status")["speed"] == 0
    assert request(path, "speed", speed=1)["speed"] == 1
    health = request(path, "health")
    assert health["healthy"] and health["health"] == "stepping"


def test_a_paused_brain_keeps_its_stream_alive(headless, tmp_path):  # noqa: F811
    path = socket_path(tmp_path)
    stream = subscribe(path, fps=10, timeout=8)  # a stream silent for 8 s would be an error
    try:
        next(stream)
        first_frame_with(stream, lambda f: True)
        request(path, "pause")
        assert request(path, "health")["health"] == "paused"
        started = time.monotonic()
        quiet = []
        for item in stream:
            if item.get("frame") is None and not item["events"]:
                quiet.append(item)
                if len(quiet) == 2:
                    break
        assert all(item["paused"] for item in quiet)
        assert time.monotonic() - started < 20, "two keep-alives within about 10 s"
        request(path, "resume")
        first_frame_with(stream, lambda f: not f["paused"])
    finally:
        stream.close()
