"""The runner of a brain over MPI ranks: every rank steps the same loop, rank 0 says what happens in it.

Every rank runs a :class:`RankRunner` on its part of the brain (model/partition.py). Only rank
0 has callers (the REPL's parent, the control socket, the autosave); at every turn of its
stepping loop it takes the commands that came and sends them, in order, to the other ranks,
which handle the same commands at the same turn. So every rank presents the same lines,
reads the same replies, learns at the same steps and meets the others in the same
collectives (the spike exchange, the vitals, a snapshot's gathers). The loop's course
depends only on the brain's state and these commands, never on a rank's clock: rank 0 alone
paces to real time, and the others wait for its next turn's commands.

A save is gathered by every rank (a collective) and written by rank 0. A load sends the
snapshot's path: every rank reads the file (one machine, or a folder every host shares).
What needs a neuron's state on another rank, or edits rows by position (pins, the weights'
histogram, lesions), is refused on every rank alike in one line.
"""

from __future__ import annotations

import queue
from concurrent.futures import Future
from typing import Any

from brainchat.errors import BrainchatError, SnapshotError
from brainchat.model.brain import Brain
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

NOT_ON_RANKS = {
    "pin": "following a neuron's membrane is not available on MPI ranks yet (each rank keeps only its own neurons' state current)",
    "weights": "the weights' histogram is not available on MPI ranks yet (each rank holds only the synapses onto its neurons)",
    "damage": "a brain over MPI ranks has no neuron death yet: lesions and strokes run on one process",
}


class RankDiverged(BaseException):
    """A rank cannot do what rank 0 did (e.g. read the snapshot it loaded): the brain must stop on every rank, now.

    A BaseException, so that it ends the stepping thread instead of answering a caller: the
    rank's main thread re-raises it and ``python -m mpi4py`` aborts every rank.
    """


class RankRunner(Runner):
    """A :class:`Runner` of one rank of a partitioned brain (``brain.partition``); rank 0 leads, the others follow."""

    def __init__(self, brain: Brain, **options: Any):
        if brain.partition is None:
            raise ValueError("a RankRunner needs a brain built with a partition")
        super().__init__(brain, **options)
        self.world = brain.partition.world
        self.leads = self.world.rank == 0

    def _handle_commands(self, block: bool) -> None:
        if not self.leads:
            for name, argument in self.world.receive_commands():
                self._handle_safely(name, argument, None if name == "stop" else Future())
            return
        taken = []
        try:
            taken.append(self._commands.get(timeout=0.1) if block else self._commands.get_nowait())
            while True:
                taken.append(self._commands.get_nowait())
        except queue.Empty:
            pass
        self.world.send_commands([(name, self._shared(name, argument)) for name, argument, _ in taken])
        for command in taken:
            self._handle_safely(*command)

    @staticmethod
    def _shared(name: str, argument: Any) -> Any:
        """What the other ranks get of a command's argument: a load's path instead of the snapshot rank 0 read."""
        if name == "load":
            _, path = argument
            return (None, None if path is None else str(path))
        return argument

    def _handle(self, name: str, argument: Any, future: Future | None) -> None:
        if name in NOT_ON_RANKS:
            raise BrainchatError(NOT_ON_RANKS[name])
        if name == "load":
            snapshot, path = argument
            if path is None:
                raise SnapshotError("on MPI ranks a snapshot loads from a file (every rank reads it)")
            if snapshot is None:  # a follower reads the file rank 0 read
                try:
                    snapshot = snapshots.read(path)
                except BrainchatError as error:
                    raise RankDiverged(f"rank {self.world.rank} cannot read the snapshot rank 0 loaded: {error}") from None
            argument = (snapshot, path)
        super()._handle(name, argument, future)

    def _save(self, path: Any, future: Future) -> None:
        if self.leads:
            super()._save(path, future)
            return
        snapshots.capture(self.brain)  # its part of the gathers; rank 0 writes the file
        self._restart_clock()
        future.set_result(None)

    def _another_brain(self, snapshot: "snapshots.Snapshot") -> Brain:
        raise SnapshotError("this snapshot is of another brain: on MPI ranks it loads only at the start (brainchat run --ranks R --load NAME)")

    def _pace(self) -> None:
        if self.leads:  # the others wait for rank 0's next turn instead
            super()._pace()
