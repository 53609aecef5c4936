"""Time a brain's steps on the ranks of ``mpiexec``: ``mpiexec -n R python -m mpi4py -m brainchat.distributed.scale --neurons N``.

Rank 0 prints one JSON object: ms per step (median of the blocks), and the share of it the
slowest-exchanging rank spent in the spike exchange (which includes waiting for the others).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from brainchat.config import Config
from brainchat.model.brain import Brain
from brainchat.model.partition import Partition, rank_bounds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--steps", type=int, default=100, help="steps per block")
    args = parser.parse_args(argv)
    from brainchat.distributed import MpiWorld

    world = MpiWorld()
    config = Config().replace(**{"brain.neurons": args.neurons, "brain.seed": args.seed, "brain.cpu_threads": 1, "brain.cpu_kernels": "numba"})
    with Brain(config) as whole:
        bounds = rank_bounds(whole, world.size)
    with Brain(config, partition=Partition(world, bounds)) as brain:
        brain.run(args.warmup)
        blocks, shares = [], []
        for _ in range(args.blocks):
            world.comm.Barrier()
            brain.exchange_seconds = 0.0
            began = time.perf_counter()
            brain.run(args.steps)
            wall = time.perf_counter() - began
            blocks.append(1000 * wall / args.steps)
            shares.append(world.comm.allreduce(brain.exchange_seconds, op=world._MPI.MAX) / wall)
        firing = float(brain.latest_vitals.firing_fraction.mean()) if brain.latest_vitals else float("nan")
    if world.rank == 0:
        print(json.dumps({"ranks": world.size, "neurons": args.neurons, "ms_per_step": float(np.median(blocks)),
                          "exchange_share": float(np.median(shares)), "firing": firing, "blocks": [round(b, 4) for b in blocks]}))


if __name__ == "__main__":
    main()
