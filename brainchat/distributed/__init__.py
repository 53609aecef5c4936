"""One brain over MPI ranks (the ``mpi`` extra: mpi4py and an MPI from the package index).

:class:`MpiWorld` is the world of :mod:`brainchat.model.partition` over an mpi4py
communicator: the step's spike exchange is one ``Allgather`` of counts and one
``Allgatherv`` of ids (Arbor's exchange; the ranks' ranges are ascending, so the gathered
ids come out in the whole brain's order). Only the stepping thread calls it. mpi4py is
imported here, lazily: without the extra nothing else changes.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from brainchat.errors import ConfigError


def mpi() -> Any:
    """mpi4py's MPI module, or a one-line error saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ConfigError(f"MPI needs the mpi extra (mpi4py and an MPI): pip install -e '.[mpi]' ({error})") from None
    return MPI


COMMANDS_TAG = 17  # the tag of rank 0's commands to the other ranks (brainchat.distributed.runner)
SPIN_SECONDS = 0.002  # a rank waiting for commands asks this long without sleeping (they follow a step within microseconds) ...
POLL_SECONDS = 0.0005  # ... then sleeps this long between asks: an idle brain's ranks do not spin a core each


class MpiWorld:
    """The ranks of an mpi4py communicator (``COMM_WORLD`` by default) as a partition's world."""

    def __init__(self, comm: Any = None):
        MPI = mpi()
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._counts = np.zeros(self.size, dtype=np.int64)
        self._MPI = MPI

    def _displacements(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self._counts[:-1])]).astype(np.int64)

    def allgather_spikes(self, local: np.ndarray, out: np.ndarray) -> int:
        """Every rank's spike ids (int32), in rank order, into ``out``; returns their count."""
        self.comm.Allgather(np.array([local.size], dtype=np.int64), self._counts)
        total = int(self._counts.sum())
        self.comm.Allgatherv(np.ascontiguousarray(local), [out, (self._counts, self._displacements()), self._MPI.INT32_T])
        return total

    def allgather_slices(self, array: np.ndarray, slices: list[tuple[int, int]]) -> None:
        """Each rank's slice of ``array`` into everybody's ``array`` (contiguous; the slices ascending and adjacent)."""
        lo, hi = slices[self.rank]
        counts = np.array([b - a for a, b in slices], dtype=np.int64)
        displacements = np.array([a for a, _ in slices], dtype=np.int64) - slices[0][0]
        mine = array[lo:hi].copy()
        whole = array[slices[0][0] : slices[-1][1]]
        self.comm.Allgatherv(mine, [whole, (counts, displacements), self._MPI._typedict[whole.dtype.char]])

    def gather_pairs(self, positions: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every rank's (positions, values), concatenated in rank order."""
        self.comm.Allgather(np.array([positions.size], dtype=np.int64), self._counts)
        total, displacements = int(self._counts.sum()), self._displacements()
        at = np.empty(total, dtype=np.int64)
        got = np.empty(total, dtype=values.dtype)
        self.comm.Allgatherv(np.ascontiguousarray(positions, dtype=np.int64), [at, (self._counts, displacements), self._MPI.INT64_T])
        self.comm.Allgatherv(np.ascontiguousarray(values), [got, (self._counts, displacements), self._MPI._typedict[got.dtype.char]])
        return at, got

    def send_commands(self, commands: list) -> None:
        """Rank 0: the commands of one turn of the stepping loop, to every other rank (pickled, point to point)."""
        for rank in range(1, self.size):
            self.comm.send(commands, dest=rank, tag=COMMANDS_TAG)

    def receive_commands(self) -> list:
        """Another rank: the next turn's commands from rank 0.

        A blocking receive would spin a core for as long as rank 0 waits (MPICH polls): an
        idle brain paced to real time waits most of the time. So it asks, briefly without
        pause, then with short sleeps.
        """
        spin_until = time.perf_counter() + SPIN_SECONDS
        while not self.comm.Iprobe(source=0, tag=COMMANDS_TAG):
            if time.perf_counter() > spin_until:
                time.sleep(POLL_SECONDS)
        return self.comm.recv(source=0, tag=COMMANDS_TAG)


UNDER_MPI = "BRAINCHAT_UNDER_MPI"  # set by launch() for the ranks it starts
# what the MPI launchers tell their processes: the world's size (MPICH's hydra, Open MPI, PMIx)
LAUNCHER_SIZES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def under_mpi() -> bool:
    """This process is one of several ranks: started by :func:`launch`, or by a user's own ``mpiexec -n R`` (R > 1)."""
    import os

    if os.environ.get(UNDER_MPI) == "1":
        return True
    return any(os.environ.get(name, "1").isdigit() and int(os.environ.get(name, "1")) > 1 for name in LAUNCHER_SIZES)


def mpiexec() -> str:
    """The mpiexec beside this Python (the mpich wheel's), or on the PATH; a one-line error if there is none."""
    import shutil
    import sys
    from pathlib import Path

    beside = Path(sys.executable).with_name("mpiexec")
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if not found:
        raise ConfigError("no mpiexec: install the mpi extra (pip install -e '.[mpi]': mpi4py and the mpich wheel) or a system MPI")
    return found


def check_config(config: Any) -> None:
    """A one-line error, before any rank starts, for a brain that cannot run on ranks (today: the fused CPU kernels only)."""
    brain = config.brain
    if brain.cpu_kernels != "numba" or brain.device == "gpu" or brain.dtype == "float16":
        raise ConfigError("a brain over MPI ranks runs on the fused CPU kernels: use cpu_kernels numba, device cpu and dtype float32 or float64")
    if config.renewal.death_rate_per_hour > 0:
        raise ConfigError("a brain over MPI ranks has no neuron death yet: set renewal.death_rate_per_hour = 0")


def launch(ranks: int, arguments: list[str]) -> int:
    """Run ``brainchat ARGUMENTS`` on ``ranks`` ranks under mpiexec (stdin closed: a rank never reads it); returns its exit code."""
    import os
    import subprocess
    import sys

    mpi()  # the one-line error now, not ranks times later
    command = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", "-m", "brainchat", *arguments]
    return subprocess.run(command, stdin=subprocess.DEVNULL, env={**os.environ, UNDER_MPI: "1"}).returncode


def rank_partition(config: Any) -> Any:
    """This rank's partition of the brain ``config`` builds (every rank computes the same cut)."""
    from brainchat.model.brain import Brain
    from brainchat.model.partition import Partition, rank_bounds

    world = MpiWorld()
    with Brain(config) as whole:
        bounds = rank_bounds(whole, world.size)
    return Partition(world, bounds)
