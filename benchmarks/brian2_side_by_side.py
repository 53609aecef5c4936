"""The same network stepped by Brian2 (C++ standalone) and by brainchat, in one run; prints the ratio.

    python benchmarks/brian2_side_by_side.py --neurons 200000 --steps 2000 --threads 2

Brian2 2.9 does not import with NumPy 2.4, so this script runs in its own environment:

    python -m venv /tmp/b2 && /tmp/b2/bin/pip install 'numpy<2.4' brian2 -e .
    /tmp/b2/bin/python benchmarks/brian2_side_by_side.py

The network is brainchat's random sheet (``brain.layout = "sheet"``: one random pathway of the
whole brain onto itself and the neighbours, so that both simulators do the same work): N leaky integrate-and-fire neurons (tau 20 ms, refractory 2 ms), each with 32
random outgoing synapses (0.03 excitatory, -0.15 inhibitory, 80 % excitatory) and 4 local
ones onto its sheet neighbours from the excitatory neurons (0.02), a spike-triggered threshold
(+0.05, tau 100 ms), per-step Gaussian noise (sigma 0.2), a drive and per-neuron homeostatic
thresholds. brainchat runs first, with homeostasis, until it settles; its drives (one per
region) and thresholds are then copied into Brian2 as constants, together with every synapse (the same
targets and weights), and both are timed over ``--steps`` steps of 1 ms. Brian2 adds a
spike's weight to the target's membrane one step later, as brainchat does (delay 1 ms), and
draws the noise with ``randn()`` each step. Brian2's time is the simulation's own
(``device._last_run_time``: no code generation, compilation or file loading); brainchat's is
the median over calls of 100 steps. Both use float32 unless ``--brian-dtype float64``.

Prints both times, both firing fractions and the ratio Brian2 / brainchat; ``--json`` prints
one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time

import numpy as np

from brainchat import Brain, Config
from brainchat.bench import time_brain


def brainchat_run(neurons: int, seed: int, steps: int, settle: int, threads: int) -> tuple[Brain, dict]:
    config = Config().replace(**{
        "brain.neurons": neurons, "brain.seed": seed, "brain.device": "cpu", "brain.cpu_threads": threads,
        "brain.layout": "sheet", "plasticity.enabled": False,
    })
    brain = Brain(config)
    brain.run(settle)
    per_step, firing = time_brain(brain, steps, warmup=0, chunk=100)
    return brain, {"ms_per_step_median": statistics.median(per_step), "firing_fraction": firing, "kernels": brain.kernels, "threads": brain.threads}


def brian2_run(brain: Brain, steps: int, threads: int, dtype: str, directory: str) -> dict:
    import brian2 as b2

    b2.set_device("cpp_standalone", directory=directory, build_on_run=False)
    b2.prefs.devices.cpp_standalone.openmp_threads = threads
    b2.prefs.core.default_float_dtype = np.float32 if dtype == "float32" else np.float64
    b2.defaultclock.dt = 1 * b2.ms
    config = brain.config
    n = brain.size
    cell = config.neurons
    thresholds = np.asarray(brain.neurons.threshold_homeostatic, dtype=np.float64)
    region_drive = np.asarray(brain.homeostasis.drive, dtype=np.float64)  # each living region's
    drive = np.repeat(region_drive, [r.size for r in brain.layout.regions])
    equations = """
    dv/dt = -v / tau_m : 1 (unless refractory)
    dtheta/dt = -theta / tau_theta : 1
    theta_h : 1 (constant)
    drive : 1 (constant)
    """
    group = b2.NeuronGroup(
        n, equations, threshold="v >= threshold_rest + theta + theta_h", reset="v = reset_v; theta += jump",
        refractory=cell.refractory_ms * b2.ms, method="exact",
        namespace={"tau_m": cell.membrane_tau_ms * b2.ms, "tau_theta": cell.threshold_tau_ms * b2.ms,
                   "threshold_rest": cell.threshold_rest, "reset_v": cell.reset, "jump": cell.threshold_jump,
                   "sigma": cell.noise_sigma},
    )
    group.theta_h = thresholds
    group.drive = drive
    # brainchat adds noise, drive and synaptic input to the membrane once per step, and a
    # refractory neuron is held at reset: the same as per-step jumps outside the refractory period
    group.run_regularly("v += (sigma * randn() + drive) * int(not_refractory)", dt=1 * b2.ms)
    sources, ends, values = [], [], []
    for pathway in brain.pathways:  # every synapse of every pathway: the first lengths[j] of row j
        projection = pathway.projection
        targets = np.asarray(projection.targets)
        live = np.arange(targets.shape[1])[None, :] < np.asarray(projection.lengths)[:, None]
        rows, _ = np.nonzero(live)
        sources.append(rows + pathway.source[0])
        ends.append(targets[live])
        values.append(np.asarray(projection.weights, dtype=np.float64)[live])
    sources = np.concatenate(sources)
    synapses = b2.Synapses(group, group, "w : 1 (constant)", on_pre="v_post += w * int(not_refractory_post)", delay=1 * b2.ms)
    synapses.connect(i=sources, j=np.concatenate(ends))
    synapses.w = np.concatenate(values)
    counter = b2.SpikeMonitor(group, record=False)
    b2.run(steps * b2.ms)
    started = time.perf_counter()
    b2.device.build(directory=directory, compile=True, run=True, debug=False)
    wall = time.perf_counter() - started
    run_seconds = float(b2.device._last_run_time)
    return {
        "ms_per_step": 1000.0 * run_seconds / steps,
        "firing_fraction": int(counter.num_spikes) / (n * steps),
        "threads": threads,
        "dtype": dtype,
        "build_and_run_seconds": wall,
        "synapses": int(sources.size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=2000, help="timed steps of each simulator (1 ms each)")
    parser.add_argument("--settle", type=int, default=3000, help="brainchat steps before the timing, for homeostasis to settle")
    parser.add_argument("--threads", type=int, default=2, help="OpenMP threads of Brian2's C++ code")
    parser.add_argument("--brainchat-threads", type=int, default=0, help="threads of brainchat's numba kernel (0 = its default)")
    parser.add_argument("--brian-dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    brain, ours = brainchat_run(args.neurons, args.seed, args.steps, args.settle, args.brainchat_threads)
    with tempfile.TemporaryDirectory(prefix="brian2-standalone-") as directory:
        theirs = brian2_run(brain, args.steps, args.threads, args.brian_dtype, directory)
    ratio = theirs["ms_per_step"] / ours["ms_per_step_median"]
    result = {"neurons": args.neurons, "steps": args.steps, "brainchat": ours, "brian2_cpp_standalone": theirs, "brian2_over_brainchat": ratio}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.neurons:,} neurons, {theirs['synapses']:,} synapses, {args.steps} steps of 1 ms")
    print(f"  brainchat ({ours['kernels']}, {ours['threads']} thread(s)): {ours['ms_per_step_median']:.3f} ms/step, firing {ours['firing_fraction']:.4f}")
    print(f"  Brian2 C++ standalone ({theirs['threads']} OpenMP threads, {theirs['dtype']}): {theirs['ms_per_step']:.3f} ms/step, "
          f"firing {theirs['firing_fraction']:.4f} (build + run {theirs['build_and_run_seconds']:.0f} s)")
    print(f"  Brian2 / brainchat: {ratio:.2f}x" + ("" if math.isfinite(ratio) else " (no figure)"))


if __name__ == "__main__":
    main()
