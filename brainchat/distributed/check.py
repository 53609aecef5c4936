"""A fixed run of a small learning brain, for comparing rank counts: ``mpiexec -n R python -m mpi4py -m brainchat.distributed.check OUT.npz``.

Taught-like schedule: a character's patch on and off, a reward, more steps; rank 0 writes
the spikes of every step and the whole brain's state arrays to ``OUT.npz``. ``--save F.h5``
writes a snapshot at the end; ``--load F.h5`` starts from one. Run without ``mpiexec``
(or with ``--ranks 0``) it is the plain one-process brain, the reference.
"""

from __future__ import annotations

import argparse

import numpy as np

from brainchat.config import Config
from brainchat.model.brain import Brain
from brainchat.model.partition import Partition, rank_bounds
from brainchat.persistence import snapshot


def schedule(brain: Brain, rounds: int) -> np.ndarray:
    """The run: returns bool [steps, N], the spikes of every step."""
    taught = brain.stimuli([(brain.input_patch("a"), 0.8), (brain.sector(0), 1.5), (brain.output_patch("b"), 1.5)])
    spikes = []
    for k in range(rounds):
        stimulus = taught if k % 3 != 2 else None
        for _ in range(50):
            brain.run(1, stimulus)
            spikes.append(brain.last_spikes.copy())
        if k % 3 == 2:
            brain.reward(1.0 if k % 2 else -0.5)
    return np.array(spikes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--neurons", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--plain", action="store_true", help="one process, no partition (the reference)")
    parser.add_argument("--save")
    parser.add_argument("--load")
    args = parser.parse_args(argv)
    config = Config().replace(**{"brain.neurons": args.neurons, "brain.seed": args.seed, "brain.cpu_threads": 1, "brain.cpu_kernels": "numba"})
    partition = None
    rank = 0
    if not args.plain:
        from brainchat.distributed import MpiWorld

        world = MpiWorld()
        rank = world.rank
        with Brain(config) as whole:  # the cut: computed alike on every rank (the same layout)
            bounds = rank_bounds(whole, world.size)
        partition = Partition(world, bounds)
    with Brain(config, partition=partition) as brain:
        if args.load:
            loaded = snapshot.read(args.load)
            brain.restore_state(loaded.arrays, loaded.step, loaded.vitals_pending)
        spikes = schedule(brain, args.rounds)
        state = {name: np.asarray(value).copy() for name, value in brain.state_arrays().items()}
        if args.save:
            captured = snapshot.capture(brain)
            if rank == 0:
                snapshot.write(captured, args.save)
    if rank == 0:
        np.savez(args.out, spikes=spikes, **{name.replace("/", "|"): value for name, value in state.items()})


if __name__ == "__main__":
    main()
