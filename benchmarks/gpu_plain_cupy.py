"""brainchat's fused GPU kernels against a plain CuPy implementation of the same network, in one run.

The plain implementation is written the way the project began: whole-array CuPy operations
(cuRAND Gaussian noise, elementwise LIF and threshold updates, each region's drive as a
device scalar) and the delivery as a sparse matrix-vector product (cuSPARSE CSR, ``W @
spikes``, every pathway's synapses in one matrix), every step launched from Python. It runs
the same network -- the same neurons, synapses and weights, read from a built brainchat
brain -- of the random sheet (``brain.layout = "sheet"``: three living regions with one
neuron model, joined by the pathways "recurrent", 32 random targets per neuron over the
whole brain, and "neighbours", the 4 grid neighbours of each excitatory neuron), with
plasticity off. brainchat runs it with its fused kernels (``gpu_kernels = "fused"``) and
with its own array path (``gpu_kernels = "cupy"``).

Each implementation steps ``--warmup`` steps, then ``--steps`` timed steps (device
synchronised before and after); the figure is the mean ms per step over the timed steps,
repeated ``--repeats`` times, median reported.

    python benchmarks/gpu_plain_cupy.py --neurons 200000,1000000 --steps 2000 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np


def plain_cupy(brain, steps: int, warmup: int, repeats: int) -> tuple[float, float]:
    """ms per step (median of repeats) and mean firing fraction of the plain implementation."""
    import cupy as cp
    import cupyx.scipy.sparse as sparse

    config = brain.config
    n = brain.size
    regions = brain.layout.regions
    assert all(r.living for r in regions) and len({r.neurons for r in regions}) == 1, "the plain implementation runs one living neuron model"
    p = brain.params[0]
    sigma = cp.float32(regions[0].neurons.noise_sigma)
    h = config.homeostasis
    region_of = cp.asarray(brain.layout.region_of().astype(np.int32))
    targets = cp.asarray(np.array(brain.targets, dtype=np.float32))
    inverse_sizes = cp.asarray(np.array([1.0 / r.size for r in regions], dtype=np.float32))
    expected = (targets * cp.float32(h.threshold_interval))[region_of]
    rows, cols, values = [], [], []
    for pathway in brain.pathways:
        projection = pathway.projection
        live = cp.arange(projection.fan_out, dtype=cp.int32)[None, :] < projection.lengths[:, None]
        sources = cp.arange(pathway.source[0], pathway.source[1], dtype=cp.int32)[:, None]
        rows.append(projection.targets[live])
        cols.append(cp.broadcast_to(sources, projection.targets.shape)[live])
        values.append(projection.weights[live].astype(cp.float32))
    matrix = sparse.coo_matrix((cp.concatenate(values), (cp.concatenate(rows), cp.concatenate(cols))), shape=(n, n)).tocsr()
    del rows, cols, values
    v = cp.zeros(n, dtype=cp.float32)
    fast = cp.zeros(n, dtype=cp.float32)
    slow = cp.zeros(n, dtype=cp.float32)
    refractory = cp.zeros(n, dtype=cp.int32)
    synaptic = cp.zeros(n, dtype=cp.float32)
    recent = cp.zeros(n, dtype=cp.float32)
    drives = cp.full(len(regions), h.drive_initial, dtype=cp.float32)
    fractions = cp.zeros(steps, dtype=cp.float32)
    generator = cp.random.default_rng(config.brain.seed)

    def step(t: int, record: bool) -> None:
        nonlocal v, fast, slow, refractory, synaptic, recent, drives
        current = generator.standard_normal(n, dtype=cp.float32) * sigma + synaptic + drives[region_of]
        v = v * cp.float32(p.membrane_decay) + current
        blocked = refractory > 0
        v = cp.where(blocked, cp.float32(p.reset), v)
        spikes = (v >= cp.float32(p.threshold_rest) + fast + slow) & ~blocked
        v = cp.where(spikes, cp.float32(p.reset), v)
        refractory = cp.where(spikes, p.refractory_steps, cp.maximum(refractory - 1, 0))
        fast = fast * cp.float32(p.threshold_decay) + spikes * cp.float32(p.threshold_jump)
        as_float = spikes.astype(cp.float32)
        synaptic = matrix @ as_float
        region_fractions = cp.bincount(region_of, weights=as_float, minlength=len(regions)).astype(cp.float32) * inverse_sizes
        drives = cp.clip(drives + cp.float32(h.drive_gain) * (targets - region_fractions), -h.drive_max, h.drive_max)
        recent += as_float
        if (t + 1) % h.threshold_interval == 0:
            slow += (recent - expected) * cp.float32(h.threshold_rate)
            recent[...] = 0
        if record:
            fractions[t] = as_float.mean()

    for t in range(warmup):
        step(t, False)
    times = []
    for _ in range(repeats):
        cp.cuda.Device().synchronize()
        started = time.perf_counter()
        for t in range(steps):
            step(t, True)
        cp.cuda.Device().synchronize()
        times.append(1000.0 * (time.perf_counter() - started) / steps)
    return statistics.median(times), float(fractions.mean())


def brainchat_gpu(config, kernels: str, steps: int, warmup: int, repeats: int) -> tuple[float, float, str]:
    """ms per step (median of repeats), mean firing fraction and the kernels brainchat used."""
    from brainchat import Brain
    from brainchat.backend import select_backend

    backend = select_backend("gpu")
    with Brain(config.replace(**{"brain.gpu_kernels": kernels}), backend) as brain:
        brain.run(warmup)
        brain.read_vitals()
        times, fractions = [], []
        for _ in range(repeats):
            backend.synchronize()
            started = time.perf_counter()
            records = brain.run(steps)
            backend.synchronize()
            times.append(1000.0 * (time.perf_counter() - started) / steps)
            fractions += [r.fraction_mean for r in records]
        return statistics.median(times), float(np.mean(fractions)), brain.kernels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", default="200000,1000000", help="sizes, comma-separated")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from brainchat import Brain, Config
    from brainchat.backend import select_backend

    results = []
    for n in [int(size) for size in args.neurons.split(",")]:
        config = Config().replace(**{"brain.neurons": n, "brain.seed": args.seed, "brain.layout": "sheet", "plasticity.enabled": False})
        fused_ms, fused_fraction, kernels = brainchat_gpu(config, "fused", args.steps, args.warmup, args.repeats)
        array_ms, array_fraction, _ = brainchat_gpu(config, "cupy", args.steps, args.warmup, args.repeats)
        with Brain(config.replace(**{"brain.gpu_kernels": "cupy"}), select_backend("gpu")) as brain:
            plain_ms, plain_fraction = plain_cupy(brain, args.steps, args.warmup, args.repeats)
        row = {
            "neurons": n, "steps": args.steps, "kernels": kernels,
            "brainchat_fused_ms_per_step": fused_ms, "brainchat_fused_firing": fused_fraction,
            "brainchat_cupy_ms_per_step": array_ms, "brainchat_cupy_firing": array_fraction,
            "plain_cupy_ms_per_step": plain_ms, "plain_cupy_firing": plain_fraction,
            "plain_over_fused": plain_ms / fused_ms,
        }
        results.append(row)
        if not args.json:
            print(f"{n:>10,} neurons: fused {fused_ms:.4f} ms/step (firing {fused_fraction:.4f}), brainchat cupy {array_ms:.4f}, "
                  f"plain CuPy {plain_ms:.4f} (firing {plain_fraction:.4f}): plain / fused = {plain_ms / fused_ms:.1f}x", flush=True)
    if args.json:
        import cupy

        device = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        print(json.dumps({"device": device.decode() if isinstance(device, bytes) else device, "cupy": cupy.__version__, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    from brainchat.errors import DeviceUnavailableError

    try:
        sys.exit(main())
    except DeviceUnavailableError as error:
        print(f"gpu_plain_cupy.py: {error}", file=sys.stderr)
        sys.exit(2)
