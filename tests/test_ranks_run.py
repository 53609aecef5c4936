"""``brainchat run --ranks R``: one brain on several ranks behind the same pipe, socket and snapshots (issue 17).

First the mechanism in one process (ranks as threads joined by :class:`ThreadWorld`: rank 0's
runner leads, the other follows its commands), then real ranks under ``mpiexec`` (the
``mpi`` extra; skipped without it) started by ``brainchat run --ranks 2``: the same replies
as ``brainchat run`` in a pipe, every socket command, snapshots shared with one process both
ways, and a rank killed ending the brain in one line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from brainchat.config import Config
from brainchat.distributed.runner import RankRunner
from brainchat.errors import BrainchatError
from brainchat.model.brain import Brain
from brainchat.model.partition import Partition, ThreadWorld, rank_bounds
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

CONFIG = Config().replace(**{"brain.neurons": 6000, "brain.seed": 7, "brain.cpu_threads": 1, "brain.cpu_kernels": "numba", "brain.device": "cpu"})


def _conversation(runner, folder: Path) -> list[str]:
    """What a user does: lines, a teaching, a reward, a save and a load; the replies."""
    said = [runner.say("hello", timeout=300).text, runner.say("cat", timeout=300).text]
    said.append(runner.teach("hi", "yo", timeout=300).text)
    for i in range(runner.brain.hippocampus.count):  # more prompts than the hippocampus has slots: "hi"'s is reused
        runner.teach(f"w{i}", "ab", timeout=300)
    runner.reward(1.0)
    said.append(runner.say("hi", timeout=300).text)
    saved = runner.save(folder / "mid.h5", timeout=300)
    said.append(runner.say("dog", timeout=300).text)
    runner.load(saved.path, timeout=300)
    said.append(runner.say("dog", timeout=300).text)  # the same as before the load: the brain went back
    return said


def test_ranks_as_threads_answer_as_one_process_and_save_one_snapshot(tmp_path):
    with Brain(CONFIG) as brain, Runner(brain, lockstep=True, settle_steps=300) as runner:
        alone = _conversation(runner, tmp_path / "one")
    with Brain(CONFIG) as whole:
        bounds = rank_bounds(whole, 2)
    worlds = ThreadWorld.team(2)
    failures: list = []
    follower_done = threading.Event()

    def follow() -> None:
        try:
            with Brain(CONFIG, partition=Partition(worlds[1], bounds)) as brain:
                runner = RankRunner(brain, lockstep=True, settle_steps=300).start()
                while runner.alive:  # until rank 0 says stop
                    time.sleep(0.05)
                if runner.error is not None:
                    failures.append(runner.error)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)
        finally:
            follower_done.set()

    thread = threading.Thread(target=follow)
    thread.start()
    with Brain(CONFIG, partition=Partition(worlds[0], bounds)) as brain, RankRunner(brain, lockstep=True, settle_steps=300) as runner:
        together = _conversation(runner, tmp_path / "two")
        with pytest.raises(BrainchatError, match="not available on MPI ranks"):
            runner.pin([1, 2])
        assert runner.say("hello again", timeout=300).text  # a refusal leaves both ranks stepping together
    assert follower_done.wait(60), "the follower stops when rank 0 stops"
    thread.join()
    assert not failures, failures
    assert together == alone
    assert together[-1] == together[-2], "after the load the brain answers as it did at the save"
    assert (tmp_path / "two" / "mid.h5").is_file(), "rank 0 wrote the snapshot"
    one, two = snapshots.read(tmp_path / "one" / "mid.h5"), snapshots.read(tmp_path / "two" / "mid.h5")
    assert json.loads(bytes(two.arrays["hippocampus/slots"]))["prompts"].count("hi") == 0, "its slot was reused"
    for name in ("memory_to_hippocampus", "recall_readout", "readout"):  # the bindings, the reuse and the learning alike on every rank
        assert np.array_equal(one.arrays[f"pathways/{name}/weights"], two.arrays[f"pathways/{name}/weights"]), name


# ---- real ranks under mpiexec ----------------------------------------------------------------

ARGS = ["--neurons", "20000", "--device", "cpu", "--no-log"]


def _mpi_missing() -> str | None:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (the mpi extra: pip install -e '.[mpi]')"
    if not Path(sys.executable).with_name("mpiexec").exists() and shutil.which("mpiexec") is None:
        return "no mpiexec (the mpich wheel of the mpi extra, or a system MPI)"
    return None


needs_mpi = pytest.mark.skipif(bool(_mpi_missing()), reason=_mpi_missing() or "mpi")


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINCHAT_")}
    env["BRAINCHAT_LOG"] = str(folder / "log.sqlite")
    return env


def brainchat(folder: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "brainchat", *args], input=stdin, capture_output=True, text=True, env=_env(folder),
                          cwd=folder, timeout=300)


LINES = "hello\ncat\n/teach hi => yo\nhi\n\n+\nhi there\n/save piped\n"


@needs_mpi
def test_lines_piped_into_two_ranks_get_the_replies_of_one_process(tmp_path):
    one = brainchat(tmp_path, "run", *ARGS, "--seed", "3", stdin=LINES)
    two = brainchat(tmp_path, "run", *ARGS, "--seed", "3", "--ranks", "2", stdin=LINES)
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert len(one.stdout.splitlines()) == 7  # one line per line said, taught, rewarded or saved; the empty line prints nothing
    replies = [line for line in one.stdout.splitlines() if not line.startswith(("saved ", "rewarded"))]
    assert replies == [line for line in two.stdout.splitlines() if not line.startswith(("saved ", "rewarded"))]
    assert "yo" in two.stdout.splitlines()[3], "the taught reply comes back from the ranks"
    assert two.stderr.count("stepping on") == 1, "rank 0 speaks for the ranks"
    assert "BAD TERMINATION" not in two.stderr and "=====" not in two.stderr


def _wait_for(socket: Path, process: subprocess.Popen, folder: Path) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        if brainchat(folder, "status", "--socket", str(socket)).returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError("the ranks never answered on their socket")


def _headless(folder: Path, socket: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "brainchat", "run", *ARGS, "--ranks", "2", "--headless", "--socket", str(socket), *extra],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(folder), cwd=folder)


@needs_mpi
def test_headless_ranks_serve_every_command_and_share_snapshots_with_one_process(tmp_path):
    # taught by one process, loaded by two ranks
    first = brainchat(tmp_path, "run", *ARGS, "--seed", "4", stdin="/teach hi => yo\n/teach hi => yo\nhi\n/save taught\n")
    assert first.returncode == 0 and first.stdout.splitlines()[2] == "yo", first.stdout + first.stderr
    socket = tmp_path / "ranks.sock"
    process = _headless(tmp_path, socket, "--load", "taught")
    try:
        _wait_for(socket, process, tmp_path)
        ask = lambda *words: brainchat(tmp_path, *words, "--socket", str(socket))  # noqa: E731
        assert ask("say", "hi").stdout.strip() == "yo", "a snapshot of one process answers its taught prompt on two ranks"
        taught = ask("teach", "cat", "meow")
        assert taught.returncode == 0 and "taught 'cat'" in taught.stdout
        assert ask("reward", "+").returncode == 0
        saved = ask("save", "ranked")
        assert saved.returncode == 0 and (tmp_path / "checkpoints" / "ranked.h5").is_file(), saved.stderr
        assert ask("load", "ranked").returncode == 0
        status = ask("status", "--json")
        assert status.returncode == 0 and '"healthy": true' in status.stdout
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "autosaved" in err
    # saved by two ranks, loaded by one process: the taught prompt still answered
    again = brainchat(tmp_path, "run", *ARGS, "--load", "ranked", stdin="hi\n")
    assert again.returncode == 0 and again.stdout.strip() == "yo", again.stdout + again.stderr


@needs_mpi
def test_a_rank_that_dies_ends_the_brain_with_one_line_and_no_hang(tmp_path):
    socket = tmp_path / "ranks.sock"
    process = _headless(tmp_path, socket)
    try:
        _wait_for(socket, process, tmp_path)
        ranks = subprocess.run(["pgrep", "-f", f"^\\S*python\\S* -m mpi4py -m brainchat run .*{socket}"], capture_output=True, text=True).stdout.split()
        assert len(ranks) == 2, ranks
        os.kill(int(ranks[-1]), signal.SIGKILL)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1].startswith("brainchat: the brain stopped: one of its MPI ranks ended unexpectedly"), err
    assert "BAD TERMINATION" not in err and "=====" not in err
    assert brainchat(tmp_path, "status", "--socket", str(socket)).returncode != 0, "nothing answers any more"


@needs_mpi
def test_the_prompt_talks_to_two_ranks_as_to_one_process(tmp_path):
    pexpect = pytest.importorskip("pexpect")
    from pty_terminal import Terminal

    env = _env(tmp_path)
    env.update(TERM="xterm", XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONUNBUFFERED="1")
    os.chdir(tmp_path)
    term = Terminal("run", *ARGS, "--ranks", "2", "--socket", str(tmp_path / "ranks.sock"), env=env)
    try:
        term.wait_for("type to talk to the brain", timeout=240)
        first = term.toolbar_step()
        term.pump(1.5)
        assert term.toolbar_step() > first, "the ranks live on while the prompt waits"
        assert "cpu, ranks" in term.text()
        term.type("hello\r")
        term.wait_for(r"(?m)^brain> .*\S")
        term.type("/stats\r")
        term.wait_for(r"spikes of 24 neurons over 72 ms")
        term.type("/regions\r")
        term.wait_for(r"cortex")
        term.type("/lesion cortex 0.1\r")
        term.wait_for(r"no lesion: .*no neuron death yet")
        assert brainchat(tmp_path, "say", "hi", "--socket", str(tmp_path / "ranks.sock")).returncode == 0, "other terminals reach it too"
        term.type("\x04")
        term.child.expect(pexpect.EOF, timeout=120)
        rest = term.child.before
        term.child.close()
        assert term.child.exitstatus == 0
        assert b"autosaved" in term.transcript + rest, "rank 0 autosaved as the ranks stopped"
    finally:
        term.close()


@needs_mpi
def test_bench_scale_reports_strong_and_weak_scaling_from_real_ranks(tmp_path):
    import json

    done = brainchat(tmp_path, "bench", "scale", "--ranks", "1,2", "--neurons", "6000", "--per-rank", "3000", "--blocks", "2", "--steps", "50",
                     "--warmup", "200", "--repeats", "1", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [row["ranks"] for row in report["strong"]] == [1, 2] and {row["neurons"] for row in report["strong"]} == {6000}
    assert [row["neurons"] for row in report["weak"]] == [3000, 6000]
    for row in report["strong"] + report["weak"]:
        assert row["ms_per_step"] > 0 and 0 <= row["exchange_share"] <= 1 and row["efficiency"] > 0
        assert 0.02 < row["firing"] < 0.08, "the timed brain is alive, in its band"
    assert report["strong"][0]["efficiency"] == 1.0
    assert report["weak"][1] is not report["strong"][1] and report["weak"][1]["ms_per_step"] == report["strong"][1]["ms_per_step"], \
        "the 2-rank 6,000-neuron point is run once and serves both"
    bad = brainchat(tmp_path, "bench", "scale", "--ranks", "one")
    assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith("brainchat: error: --ranks 'one'")


@pytest.mark.parametrize("hosts, words", [
    ("nosuchhost.invalid", "cannot find the machine 'nosuchhost.invalid'"),
    ("8.8.8.8,localhost", "list this machine first"),
])
def test_hosts_that_do_not_put_this_machine_first_are_refused_in_one_line_not_waited_on(tmp_path, hosts, words):
    """Rank 0 serves the socket the starting process waits for: with rank 0 elsewhere it would wait forever."""
    from brainchat.distributed.supervise import check_hosts

    with pytest.raises(BrainchatError, match=words):
        check_hosts(hosts)
    check_hosts("localhost:2,otherhost")  # this machine first: fine (the others are mpiexec's business)
    check_hosts("127.0.0.1")  # an address of its own
    done = subprocess.run([sys.executable, "-m", "brainchat", "run", "--ranks", "2", "--hosts", hosts, "--headless"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
