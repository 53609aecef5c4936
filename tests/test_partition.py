"""One brain over several ranks: the same spikes and the same state as one process (issue 17).

The ranks are real: threads of one process joined by :class:`ThreadWorld`, and processes
under ``mpiexec`` (the ``mpi`` extra) joined by MPI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from brainchat.config import Config
from brainchat.errors import ConfigError
from brainchat.distributed import check
from brainchat.model.brain import Brain
from brainchat.model.partition import Partition, rank_bounds, ThreadWorld

CONFIG = Config().replace(**{"brain.neurons": 6000, "brain.seed": 5, "brain.cpu_threads": 1, "brain.cpu_kernels": "numba"})


def _state(brain: Brain) -> dict[str, np.ndarray]:
    return {name: np.asarray(value).copy() for name, value in brain.state_arrays().items()}


def _plain() -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    with Brain(CONFIG) as brain:
        before = _state(brain)
        spikes = check.schedule(brain, 9)
        return spikes, before, _state(brain)


def _on_threads(ranks: int) -> list[tuple[np.ndarray, dict[str, np.ndarray]]]:
    with Brain(CONFIG) as whole:
        bounds = rank_bounds(whole, ranks)
    results: list = [None] * ranks
    failures: list = []

    def rank(world: ThreadWorld) -> None:
        try:
            with Brain(CONFIG, partition=Partition(world, bounds)) as brain:
                results[world.rank] = (check.schedule(brain, 9), _state(brain))
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)
            world._shared["barrier"].abort()

    threads = [threading.Thread(target=rank, args=(world,)) for world in ThreadWorld.team(ranks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    return results


@pytest.fixture(scope="module")
def plain():
    return _plain()


def _differ(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
    assert set(a) == set(b)
    return [name for name in a if not np.array_equal(a[name], b[name])]


@pytest.mark.parametrize("ranks", [2, 3])
def test_a_brain_on_ranks_fires_and_learns_exactly_as_in_one_process(plain, ranks):
    spikes, before, after = plain
    learned = [name for name in _differ(before, after) if name.endswith("/weights")]
    assert learned, "the run must change weights, or it tests no learning"
    assert 0.005 < spikes.mean() < 0.05
    for rank_spikes, state in _on_threads(ranks):
        assert np.array_equal(rank_spikes, spikes)
        assert _differ(state, after) == []


@pytest.mark.parametrize("key, value, message", [("brain.cpu_kernels", "numpy", "fused CPU kernels"), ("renewal.death_rate_per_hour", 0.5, "no neuron death")])
def test_a_rank_refuses_what_it_cannot_run_in_one_line(key, value, message):
    worlds = ThreadWorld.team(1)
    with pytest.raises(ConfigError, match=message):
        Brain(CONFIG.replace(**{key: value}), partition=Partition(worlds[0], np.array([0, 6000])))


MPIEXEC = Path(sys.executable).with_name("mpiexec")


def _mpi_missing() -> str:
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (the mpi extra)"
    if not MPIEXEC.exists() and shutil.which("mpiexec") is None:
        return "no mpiexec (the mpich wheel of the mpi extra, or a system MPI)"
    return ""


def _mpirun(ranks: int, out: Path, *options: str) -> dict[str, np.ndarray]:
    mpiexec = str(MPIEXEC) if MPIEXEC.exists() else shutil.which("mpiexec")
    subprocess.run([mpiexec, "-n", str(ranks), sys.executable, "-m", "mpi4py", "-m", "brainchat.distributed.check", str(out), *options],
                   check=True, timeout=240, stdin=subprocess.DEVNULL)
    return dict(np.load(out))


def _checked(out: Path, *options: str) -> dict[str, np.ndarray]:
    check.main([str(out), "--plain", *options])
    return dict(np.load(out))


@pytest.mark.skipif(bool(_mpi_missing()), reason=_mpi_missing() or "mpi")
def test_mpiexec_ranks_give_the_spikes_and_state_of_one_process_and_share_snapshots(tmp_path):
    plain = _checked(tmp_path / "plain.npz", "--save", str(tmp_path / "plain.h5"))
    for ranks in (2, 3):
        run = _mpirun(ranks, tmp_path / f"r{ranks}.npz", *(("--save", str(tmp_path / "r2.h5")) if ranks == 2 else ()))
        assert _differ(run, plain) == [], f"{ranks} ranks"
    # a snapshot saved on 2 ranks continues on 1 exactly as one saved on 1 continues on 2
    on_one = _checked(tmp_path / "from2.npz", "--load", str(tmp_path / "r2.h5"))
    on_two = _mpirun(2, tmp_path / "from1.npz", "--load", str(tmp_path / "plain.h5"))
    assert _differ(on_one, on_two) == []
    assert not np.array_equal(on_one["spikes"], plain["spikes"])  # it went on from the saved state, not from the start


def _vitals(*options: str) -> dict:
    import json

    done = subprocess.run([sys.executable, "-m", "brainchat", "vitals", "--neurons", "6000", "--steps", "600", "--warmup", "100", "--seed", "4", "--json", *options],
                          capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(bool(_mpi_missing()), reason=_mpi_missing() or "mpi")
def test_brainchat_vitals_on_two_ranks_reports_the_spikes_of_one():
    one, two = _vitals("--ranks", "1"), _vitals("--ranks", "2")
    assert one["spikes"] > 0
    assert two["spikes"] == one["spikes"]
    assert two["firing_fraction_mean"] == one["firing_fraction_mean"]


def test_brainchat_vitals_on_ranks_refuses_the_numpy_kernels_in_one_line():
    done = subprocess.run([sys.executable, "-m", "brainchat", "vitals", "--neurons", "2000", "--ranks", "2", "--cpu-kernels", "numpy"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "fused CPU kernels" in done.stderr
