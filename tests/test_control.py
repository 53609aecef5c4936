"""The control socket with a real headless brain in another process and real clients."""

from __future__ import annotations

import json
import re
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from brainchat.persistence import snapshot as snapshots


def environment(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINCHAT_")}
    env.update(XDG_RUNTIME_DIR=str(tmp_path / "run"), XDG_CONFIG_HOME=str(tmp_path / "config"), BRAINCHAT_SOCKET_IDLE_SECONDS="2")
    return env


def cli(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "brainchat", *args], capture_output=True, text=True, env=environment(tmp_path), cwd=tmp_path, timeout=timeout)


def socket_path(tmp_path: Path) -> Path:
    return tmp_path / "run" / "brainchat" / "brain.sock"


@pytest.fixture
def headless(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "brainchat", "run", "--headless", "--neurons", "10000", "--device", "cpu"],
        env=environment(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and cli(tmp_path, "status").returncode != 0:
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.2)
    yield process
    if process.poll() is None:
        process.terminate()
        process.wait(30)


def raw(tmp_path: Path, payload: bytes, read: bool = True) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(30)
        client.connect(str(socket_path(tmp_path)))
        try:
            client.sendall(payload)
        except BrokenPipeError:
            pass  # the brain answered a too-large request and hung up; the answer is waiting
        received = b""
        while read and not received.endswith(b"\n"):
            chunk = client.recv(65536)
            if not chunk:
                break
            received += chunk
    return json.loads(received) if received else {}


def status(tmp_path: Path) -> dict:
    done = cli(tmp_path, "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_clients_drive_the_running_brain(headless, tmp_path):
    mode = socket_path(tmp_path).lstat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600, "only its owner can connect"
    first = status(tmp_path)
    assert first["neurons"] == 10000 and 0.03 < first["firing_fraction"] < 0.07
    said = cli(tmp_path, "say", "hello")
    assert said.returncode == 0 and said.stdout.strip()
    taught = cli(tmp_path, "teach", "hello", "yes")
    assert taught.returncode == 0 and taught.stdout.startswith("taught 'hello' => 'yes'"), taught.stderr
    answers = []
    for _ in range(8):  # a free-running 10k brain: a few teachings; a right answer is left alone
        cli(tmp_path, "teach", "hello", "yes")
        answers.append(cli(tmp_path, "say", "hello").stdout.strip())
        if answers[-2:] == ["yes", "yes"]:
            break
    assert answers[-2:] == ["yes", "yes"], f"taught over the socket, it answers as taught: {answers}"
    rewarded = cli(tmp_path, "reward", "+", "--strength", "2")
    assert rewarded.returncode == 0 and "dopamine +2.00" in rewarded.stdout
    assert status(tmp_path)["rewards"] == 1
    saved = cli(tmp_path, "save", "remote")
    assert saved.returncode == 0 and str(tmp_path / "checkpoints" / "remote.h5") in saved.stdout
    snap = snapshots.read(tmp_path / "checkpoints" / "remote.h5")
    assert snap.rewards.shape == (1, 2) and snap.rewards[0, 1] == 2.0
    assert cli(tmp_path, "pause").stdout.strip() == "paused" and status(tmp_path)["paused"] is True
    refused = cli(tmp_path, "say", "are you there?")
    assert refused.returncode == 1 and "the brain is paused" in refused.stderr
    assert cli(tmp_path, "resume").stdout.strip() == "resumed" and status(tmp_path)["paused"] is False
    loaded = cli(tmp_path, "load", "remote")
    assert loaded.returncode == 0 and f"step {snap.step:,}" in loaded.stdout
    assert cli(tmp_path, "load", "nothing").stderr.strip().startswith("brainchat: error: the brain says: no snapshot at")
    assert status(tmp_path)["step"] >= snap.step


def test_bad_requests_get_errors_and_the_brain_keeps_stepping(headless, tmp_path):
    before = status(tmp_path)["step"]
    assert raw(tmp_path, b"{not json\n")["error"].startswith("not a JSON object")
    assert raw(tmp_path, b'["a list"]\n')["error"] == "not a JSON object"
    assert "unsupported protocol version" in raw(tmp_path, b'{"v": 7, "cmd": "status"}\n')["error"]
    assert "unknown command 'dance'" in raw(tmp_path, b'{"v": 1, "cmd": "dance"}\n')["error"]
    assert "value must be 1" in raw(tmp_path, b'{"v": 1, "cmd": "reward", "value": 5}\n')["error"]
    assert "bad request" in raw(tmp_path, b'{"v": 1, "cmd": "say"}\n')["error"]
    huge = raw(tmp_path, b'{"v": 1, "cmd": "say", "text": "' + b"x" * 10_000_000 + b'"}\n')
    assert "larger than" in huge["error"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.settimeout(30)
        silent.connect(str(socket_path(tmp_path)))
        answer = silent.recv(65536)  # says nothing; the brain hangs up after its idle time
        assert b"no request within 2 s" in answer
    assert status(tmp_path)["step"] > before
    assert cli(tmp_path, "say", "still alive?").returncode == 0


def test_fifty_clients_at_once(headless, tmp_path):
    answers: list[dict] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            answers.append(raw(tmp_path, b'{"v": 1, "cmd": "status"}\n'))
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(answers) == 50 and all(a["ok"] for a in answers)
    assert len({a["step"] for a in answers}) >= 1


def test_sigterm_stops_the_brain_and_autosaves(headless, tmp_path):
    headless.send_signal(signal.SIGTERM)
    assert headless.wait(60) == 0, headless.stderr.read()
    assert snapshots.read(tmp_path / "checkpoints" / "autosave.h5").neurons == 10000
    assert not socket_path(tmp_path).exists(), "the socket is removed on exit"


def test_a_second_brain_on_a_live_socket_is_refused(headless, tmp_path):
    second = cli(tmp_path, "run", "--headless", "--neurons", "5000")
    assert second.returncode == 1 and "a brain is already running at" in second.stderr


def test_no_brain_running_is_one_line_and_exit_1(tmp_path):
    for args in (["status"], ["say", "hi"], ["reward", "+"], ["save"], ["load", "x"], ["pause"], ["resume"]):
        done = cli(tmp_path, *args)
        assert done.returncode == 1
        assert done.stderr.strip().splitlines() == [f"brainchat: error: no brain is running at {socket_path(tmp_path)}; start one with `brainchat run`"]


def test_a_stale_socket_from_a_crashed_brain_is_replaced(tmp_path):
    path = socket_path(tmp_path)
    path.parent.mkdir(parents=True)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what kill -9 leaves behind
    process = subprocess.Popen(
        [sys.executable, "-m", "brainchat", "run", "--headless", "--neurons", "5000", "--device", "cpu"],
        env=environment(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while cli(tmp_path, "status").returncode != 0:
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read() if process.poll() is not None else "timeout"
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(30)


def test_responses_are_strict_json_and_the_socket_folder_must_be_private(tmp_path):
    from brainchat.control.server import SocketInUse, check_private_folder, json_line

    assert json.loads(json_line({"drive": float("nan"), "rows": [float("inf"), 1.5]})) == {"drive": None, "rows": [None, 1.5]}
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(SocketInUse, match="not yours alone"):
        check_private_folder(shared)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    check_private_folder(private)


def test_subscribe_streams_frames_events_and_a_slow_viewer_skips(headless, tmp_path):
    """Frames about ten a second with every region's firing and a raster of the sample; a line said meanwhile shows as events; a viewer that stops reading misses frames, not the brain's time."""
    import base64

    import numpy as np

    from brainchat.control.client import subscribe

    stream = subscribe(socket_path(tmp_path), fps=20)
    header = next(stream)
    assert header["ok"] and header["stream"] == "frames"
    assert header["regions"] == ["input", "association", "cortex", "basket", "output", "hippocampus", "recall"] and len(header["sample"]) == len(header["sample_region"]) > 100
    assert set(header["sample_region"]) == {0, 1, 2, 3, 4, 5, 6}, "the sample spans every region"
    said = threading.Thread(target=cli, args=(tmp_path, "say", "hello"))
    said.start()
    frames, events = [], []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (len(frames) < 15 or not any(e["kind"] == "reply" for e in events)):
        item = next(stream)
        events += item["events"]
        if item["frame"] is not None:
            frames.append(item["frame"])
    said.join(60)
    assert len(frames) >= 15
    steps = [f["step"] for f in frames]
    assert steps == sorted(steps) and len(set(f["seq"] for f in frames)) == len(frames)
    living = [f["regions"]["cortex"] for f in frames]
    assert 0.03 < float(np.median(living)) < 0.07
    cortex = np.array(header["sample_region"]) == 2
    fired = np.mean([np.unpackbits(np.frombuffer(base64.b64decode(f["raster"]), dtype=np.uint8))[: len(header["sample"])][cortex].mean() for f in frames])
    assert 0.02 < fired < 0.09, f"about 5 % of the sampled cortex fired in a frame's last step: {fired:.3f}"
    rates = [np.array(f["sample_spikes"])[cortex].mean() / f["steps"] for f in frames]  # a frame may be cut short by a line said
    assert 0.03 < float(np.median(rates)) < 0.07, "and their spike counts over each frame say 5 % per step"
    kinds = [e["kind"] for e in events]
    assert "say" in kinds and "reply" in kinds and kinds.index("say") < kinds.index("reply")
    assert next(e for e in events if e["kind"] == "say")["text"] == "hello"
    time.sleep(3.0)  # the viewer reads nothing for 3 s: about 30 frames go by
    queued = 0
    item = next(stream)
    while not item["skipped"] and queued < 30:
        item, queued = next(stream), queued + 1
    went_on = item["frame"]["step"] - frames[-1]["step"]
    assert went_on >= 1000, "the brain went on meanwhile (real time: 3,000 steps)"
    assert queued < 10 and item["skipped"] >= went_on // 100 // 3, f"a slow viewer gets the newest frame after {queued} queued frames, not a backlog of {went_on // 100}"
    stream.close()
    assert status(tmp_path)["neurons"] == 10000, "the brain serves other clients as before"


def test_a_bad_subscription_is_refused_in_one_line(headless, tmp_path):
    answer = raw(tmp_path, json.dumps({"v": 1, "cmd": "subscribe", "fps": 500}).encode() + b"\n")
    assert answer["ok"] is False and "fps" in answer["error"]


def test_see_shows_an_image_to_a_running_brain_and_a_bad_one_gets_one_line(tmp_path):
    """brainchat see PATH and teach --image: a PNG reaches the visual region; a missing or unreadable image is one line; the brain lives on.

    That a taught image is then named is tested in-process, in lockstep (tests/test_runner.py):
    in real time a loaded CI machine leaves the brain idle between the client's commands, and the
    thin margin of an error-driven teaching fades over that.
    """
    np = pytest.importorskip("numpy")
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "seeing-brain.toml"
    process = subprocess.Popen(
        [sys.executable, "-m", "brainchat", "--config", str(example), "run", "--headless", "--neurons", "10000", "--device", "cpu"],
        env=environment(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and cli(tmp_path, "status").returncode != 0:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.2)
        image = np.zeros((16, 16))
        image[2:14, 6:10] = 1.0  # a bright bar: a "1"
        plt.imsave(tmp_path / "one.png", image, cmap="gray", vmin=0, vmax=1)
        seen = cli(tmp_path, "see", "one.png", "--json")
        assert seen.returncode == 0, seen.stderr
        answer = json.loads(seen.stdout)
        assert answer["region"] == "visual" and answer["grid"] == [8, 8] and answer["said"] == "" and isinstance(answer["reply"], str)
        taught = cli(tmp_path, "teach", "--image", "one.png", "1", "--json")
        assert taught.returncode == 0, taught.stderr
        assert isinstance(json.loads(taught.stdout)["before"], str), "the teaching went through, and says what the brain answered before"
        (tmp_path / "notes.txt").write_text("not an image\n")
        for bad, message in (("missing.png", "no image at missing.png"), ("notes.txt", "a text grid holds only the digits 0-9")):
            done = cli(tmp_path, "see", bad)
            assert done.returncode == 1 and "Traceback" not in done.stderr
            assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr
        assert cli(tmp_path, "say", "hello").returncode == 0, "the brain keeps running"
    finally:
        process.terminate()
        process.wait(30)


def test_see_on_a_brain_without_eyes_says_so(tmp_path, headless):
    (tmp_path / "grid.txt").write_text("090\n090\n090\n")
    done = cli(tmp_path, "see", "grid.txt")
    assert done.returncode != 0 and "this brain has no visual region" in done.stderr
    assert cli(tmp_path, "status").returncode == 0


def test_sleep_and_wake_from_another_terminal(headless, tmp_path):
    """brainchat sleep / wake over the socket: a line said meanwhile is one line and kept; waking answers it; a bad sleep is one line."""
    assert status(tmp_path)["sleep"]["asleep"] is False
    asleep = cli(tmp_path, "sleep", "--minutes", "3")
    assert asleep.returncode == 0 and re.match(r"asleep · wakes in [23]:\d\d", asleep.stdout), asleep.stderr
    assert status(tmp_path)["sleep"]["asleep"] is True
    refused = cli(tmp_path, "say", "are you there")
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "brainchat: error: the brain says: asleep; /wake to wake it (the line is kept and said when it wakes)")
    assert cli(tmp_path, "sleep", "--minutes", "0").returncode == 2  # out of range: Typer's one usage error
    woken = cli(tmp_path, "wake", "--json")
    assert woken.returncode == 0, woken.stderr
    answer = json.loads(woken.stdout)
    assert answer["was_asleep"] and not answer["asleep"] and [r["said"] for r in answer["replies"]] == ["are you there"]
    assert cli(tmp_path, "wake").stdout.strip() == "it is awake already"
    assert cli(tmp_path, "say", "hello").returncode == 0
