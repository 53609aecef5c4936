"""Every AdEx and Izhikevich preset run for 1 s in Brian2 and in brainchat under the same current; prints the spike counts side by side.

    /tmp/b2/bin/python benchmarks/brian2_models.py            # add --fine for a dt = 0.01 ms Brian2 column

Brian2 2.9 does not import with NumPy 2.4, so this script runs in its own environment (as
``brian2_side_by_side.py`` does):

    python -m venv /tmp/b2 && /tmp/b2/bin/pip install 'numpy<2.4' brian2 -e .

One neuron per preset and current: each AdEx preset of Naud et al. 2008 under its own step
current (``current_pA``), each Izhikevich preset of the 2003 paper under the currents of
``--izhikevich-currents`` (5 and 10, the paper's units). Each runs 1000 ms from the start
brainchat gives it (AdEx: V = EL, w = 0; Izhikevich: v = -65 mV, u = b v) three ways:

* **Brian2**: the same equations in physical units (SI, as Brian2 has them), one NeuronGroup
  per model with per-neuron parameters, forward Euler (``method="euler"``) at dt = 0.1 ms,
  threshold ``v >= V_peak`` (30 mV for Izhikevich), reset ``v = Vr; w += b``, the AdEx
  exponent's argument clipped at 10 as brainchat clips it (``exp(clip(..., -inf, 10))``).
  Brian2 updates the state ('groups'), then tests the threshold ('thresholds'), then resets
  ('resets') in every time step, which is brainchat's order in every sub-step; the script
  checks that schedule. brainchat's floors (AdEx V >= -200 mV, Izhikevich v >= -120 mV) and
  the clips of w and u are not in Brian2: no positive step current brings a neuron near them
  (the script checks that brainchat's physical neuron never reaches them).
* **physical**: brainchat's ``adex.adex_step`` / ``izhikevich.izhikevich_step``, float64,
  1000 steps of 1 ms, each 10 Euler sub-steps of 0.1 ms.
* **region**: ``models.model_step``, float32, the scaled equations a region of the brain runs
  (input = current / input_unit). A region's neuron starts at its rest (m = 0, i.e. the
  fixed point of the equations), not at -65 mV as the paper's Izhikevich neuron does
  (RS, IB, CH, FS: -70 mV), so its first spike may differ; it reports at most one spike per
  1-ms step (no preset here fires faster than that).
* **Brian2 fine** (``--fine``): Brian2 at dt = 0.01 ms, the converged reference.

A brainchat count agrees with Brian2's if it is within 8 % or 2 spikes of it, whichever is
more (the tolerance of ``tests/test_neuron_models.py``). Exits 1 if any row disagrees;
``--json`` prints one JSON object (``results``: one entry per row) instead of the table.
``--target cython`` runs Brian2's generated code compiled (the default, ``numpy``, needs no
compiler: Brian2 takes about 1.5 s, ``--fine`` 10 s more; brainchat's per-step Python loops take
about 15 s of the whole).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from brainchat.model.neurons import adex, izhikevich, models

DURATION_MS = 1000
SCHEDULE = ("groups", "thresholds", "resets")  # Brian2's order within a time step, checked


def close(count: int, reference: int) -> bool:
    """The tolerance of tests/test_neuron_models.py: 8 % or 2 spikes, whichever is more."""
    return abs(count - reference) <= max(2, 0.08 * reference)


def cases(izhikevich_currents: list[float]) -> list[tuple[str, str, float]]:
    rows = [("adex", name, p.current_pA) for name, p in adex.PRESETS.items()]
    rows += [("izhikevich", name, current) for name in izhikevich.PRESETS for current in izhikevich_currents]
    return rows


def physical_count(model: str, name: str, current: float) -> tuple[int, float]:
    """Spikes in 1 s of brainchat's physical neuron (float64), and the lowest membrane potential it passed at a step's end."""
    if model == "adex":
        p = adex.PRESETS[name]
        state = adex.AdExState.resting(np, 1, p, np.float64)
        step, potential = adex.adex_step, lambda: state.V[0]
    else:
        p = izhikevich.PRESETS[name]
        state = izhikevich.IzhikevichState.resting(np, 1, p, np.float64)
        step, potential = izhikevich.izhikevich_step, lambda: state.v[0]
    drive = np.array([current], dtype=np.float64)
    count, lowest = 0, float(potential())
    for _ in range(DURATION_MS):
        count += int(step(np, state, p, drive)[0])
        lowest = min(lowest, float(potential()))
    return count, lowest


def region_count(model: str, name: str, current: float) -> int:
    """Spikes in 1 s of one neuron of a region (models.model_step, float32), from the region's rest."""
    region = models.region_model(model, name)
    m, w = np.zeros(1, np.float32), np.zeros(1, np.float32)
    x = np.array([current / region.input_unit], np.float32)
    offset = np.zeros(1, np.float32)
    return sum(int(models.model_step(np, region.kind, region.constants, m, w, x, offset, False)[0]) for _ in range(DURATION_MS))


def brian2_counts(rows: list[tuple[str, str, float]], dt_ms: float, target: str) -> tuple[list[int], dict]:
    """Spike counts of every row in one Brian2 network (an AdEx group and an Izhikevich group), and what was checked of it."""
    import brian2 as b2

    b2.start_scope()
    b2.prefs.codegen.target = target
    b2.prefs.core.default_float_dtype = np.float64
    b2.defaultclock.dt = dt_ms * b2.ms
    ms, mV, pA, pF, nS = b2.ms, b2.mV, b2.pA, b2.pF, b2.nS

    adex_rows = [i for i, row in enumerate(rows) if row[0] == "adex"]
    izh_rows = [i for i, row in enumerate(rows) if row[0] == "izhikevich"]
    objects, monitors = [], []
    if adex_rows:
        group = b2.NeuronGroup(len(adex_rows), f"""
        dv/dt = (gL * (EL - v) + gL * DeltaT * exp(clip((v - VT) / DeltaT, -inf, {adex.EXP_ARGUMENT_MAX})) - w + I) / C : volt
        dw/dt = (a * (v - EL) - w) / tau_w : amp
        C : farad (constant)
        gL : siemens (constant)
        a : siemens (constant)
        EL : volt (constant)
        VT : volt (constant)
        DeltaT : volt (constant)
        Vr : volt (constant)
        V_peak : volt (constant)
        tau_w : second (constant)
        b : amp (constant)
        I : amp (constant)
        """, threshold="v >= V_peak", reset="v = Vr; w += b", method="euler", name="adex")
        ps = [adex.PRESETS[rows[i][1]] for i in adex_rows]
        column = lambda field: np.array([getattr(p, field) for p in ps], dtype=np.float64)  # noqa: E731
        group.C = column("C_pF") * pF
        group.gL = column("gL_nS") * nS
        group.a = column("a_nS") * nS
        group.EL = column("EL_mV") * mV
        group.VT = column("VT_mV") * mV
        group.DeltaT = column("DeltaT_mV") * mV
        group.Vr = column("Vr_mV") * mV
        group.V_peak = column("V_peak_mV") * mV
        group.tau_w = column("tau_w_ms") * ms
        group.b = column("b_pA") * pA
        group.I = np.array([rows[i][2] for i in adex_rows]) * pA
        group.v = column("EL_mV") * mV
        group.w = 0 * pA
        objects.append(group)
        monitors.append((adex_rows, b2.SpikeMonitor(group, record=False, name="adex_spikes")))
    if izh_rows:
        group = b2.NeuronGroup(len(izh_rows), f"""
        dv/dt = (0.04 * v**2 + 5 * v + 140 - u + I) / ms : 1
        du/dt = a * (b * v - u) / ms : 1
        a : 1 (constant)
        b : 1 (constant)
        c : 1 (constant)
        d : 1 (constant)
        I : 1 (constant)
        """, threshold=f"v >= {izhikevich.V_PEAK}", reset="v = c; u += d", method="euler", name="izhikevich")
        ps = [izhikevich.PRESETS[rows[i][1]] for i in izh_rows]
        for field in "abcd":
            setattr(group, field, np.array([getattr(p, field) for p in ps], dtype=np.float64))
        group.I = np.array([rows[i][2] for i in izh_rows], dtype=np.float64)
        group.v = -65.0
        group.u = np.array([p.b * -65.0 for p in ps])
        objects.append(group)
        monitors.append((izh_rows, b2.SpikeMonitor(group, record=False, name="izhikevich_spikes")))

    network = b2.Network(*objects, *(monitor for _, monitor in monitors))
    # spike detection after the state update, the reset after that: brainchat's order
    schedule = list(network.schedule)
    assert [schedule.index(slot) for slot in SCHEDULE] == sorted(schedule.index(slot) for slot in SCHEDULE), schedule
    for group in objects:
        assert (group.state_updater.when, group.thresholder["spike"].when, group.resetter["spike"].when) == SCHEDULE
    started = time.perf_counter()
    network.run(DURATION_MS * ms)
    seconds = time.perf_counter() - started
    counts = [0] * len(rows)
    for indices, monitor in monitors:
        for index, count in zip(indices, np.asarray(monitor.count)):
            counts[index] = int(count)
    return counts, {"dt_ms": dt_ms, "target": target, "schedule": schedule, "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--izhikevich-currents", type=float, nargs="+", default=[5.0, 10.0], help="step currents of the Izhikevich presets (the paper's units)")
    parser.add_argument("--fine", action="store_true", help="also run Brian2 at dt = 0.01 ms (the converged reference)")
    parser.add_argument("--target", choices=("numpy", "cython"), default="numpy", help="Brian2's code generation target")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    try:
        import brian2 as b2
    except ImportError as error:
        sys.exit(f"brian2 is not importable ({error}); run this script in its own environment, see its docstring")
    b2.prefs.logging.console_log_level = "ERROR"

    rows = cases(args.izhikevich_currents)
    brian, brian_info = brian2_counts(rows, 0.1, args.target)
    fine, fine_info = brian2_counts(rows, 0.01, args.target) if args.fine else (None, None)
    results = []
    for i, (model, name, current) in enumerate(rows):
        physical, lowest = physical_count(model, name, current)
        floor = adex.V_FLOOR_MV if model == "adex" else izhikevich.V_FLOOR
        assert lowest > floor + 1.0, f"{model} {name}: the membrane reached brainchat's floor, which Brian2 does not have"
        region = region_count(model, name, current)
        entry = {"model": model, "preset": name, "current": current, "unit": "pA" if model == "adex" else "paper",
                 "brian2": brian[i], "physical": physical, "region": region,
                 "physical_agrees": close(physical, brian[i]), "region_agrees": close(region, brian[i])}
        if fine is not None:
            entry["brian2_fine"] = fine[i]
        results.append(entry)
    agree = all(r["physical_agrees"] and r["region_agrees"] for r in results)
    summary = {"brian2": b2.__version__, "numpy": np.__version__, "duration_ms": DURATION_MS,
               "tolerance": "8 % or 2 spikes, whichever is more", "brian2_run": brian_info, "brian2_fine_run": fine_info,
               "all_agree": agree, "results": results}

    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"Brian2 {b2.__version__} (target {args.target}), NumPy {np.__version__}; 1 neuron each, {DURATION_MS} ms; "
              f"Brian2 and brainchat physical: Euler dt = 0.1 ms; agree = within 8 % or 2 spikes of Brian2")
        head = f"{'model':<11}{'preset':<26}{'current':>9}{'Brian2':>8}{'physical':>10}{'':>4}{'region':>8}{'':>4}"
        print(head + (f"{'Brian2 dt=0.01':>15}" if fine is not None else ""))
        for r in results:
            line = (f"{r['model']:<11}{r['preset']:<26}{r['current']:>6g} {'pA' if r['unit'] == 'pA' else '':<2}{r['brian2']:>8}"
                    f"{r['physical']:>10}{'ok' if r['physical_agrees'] else 'NO':>4}{r['region']:>8}{'ok' if r['region_agrees'] else 'NO':>4}")
            print(line + (f"{r['brian2_fine']:>15}" if fine is not None else ""))
        print("all agree" if agree else "SOME DISAGREE")
    sys.exit(0 if agree else 1)


if __name__ == "__main__":
    main()
