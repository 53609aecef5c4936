"""Neuron death and renewal (brainchat/model/lesions.py): the dead are silent, the band holds, the new take their neighbours' values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.errors import ConfigError
from brainchat.model import lesions
from brainchat.model.kernels import fused_cpu
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

from test_control import cli, headless  # noqa: F401 - the fixture: a real headless brain behind a real socket

SMALL = {"brain.neurons": 4000, "brain.seed": 5, "brain.stats_interval": 100}


def brain(kernels: str = "numpy", **values) -> Brain:
    return Brain(Config().replace(**{**SMALL, "brain.cpu_kernels": kernels, **values}))


def spikes_of(b: Brain, steps: int) -> np.ndarray:
    """bool [steps, N]: every step's spikes."""
    rows = []
    for _ in range(steps):
        b.run(1)
        rows.append(np.array(b.last_spikes))
    return np.array(rows)


@pytest.mark.parametrize("kernels", ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not fused_cpu.available(), reason="numba is not installed"))])
def test_dead_neurons_never_fire_and_the_region_keeps_its_band(kernels):
    b = brain(kernels, **{"renewal.enabled": False})
    b.run(400)
    cortex = b.layout["cortex"]
    dead = lesions.lesion_ids(b, "cortex", 0.3)
    assert dead.size == round(0.3 * cortex.size) and np.all((dead >= cortex.start) & (dead < cortex.stop))
    assert lesions.kill(b, dead) == dead.size and b.dead_count == dead.size
    b.run(300)  # the drive controller settles on the survivors
    fired = spikes_of(b, 500)
    assert not fired[:, dead].any(), "a dead neuron fired"
    alive = np.setdiff1d(np.arange(cortex.start, cortex.stop), dead)
    per_survivor = fired[:, alive].mean()
    assert 0.03 < per_survivor < 0.07, f"the survivors fire at {per_survivor:.3f} per step (target 0.05)"
    vitals = b.latest_vitals  # the last whole interval
    assert vitals is not None and vitals.steps == 100
    assert np.isfinite(vitals.mean_threshold), "the dead's +inf thresholds stay out of the vitals"
    assert 0.03 < float(np.mean(vitals.firing_fraction)) < 0.07, "the vitals' fraction counts the living only"


@pytest.mark.skipif(not fused_cpu.available(), reason="numba is not installed")
def test_the_fused_kernel_kills_and_renews_bit_for_bit_as_the_reference():
    a, b = brain("numpy", **{"renewal.delay_ms": 200}), brain("numba", **{"brain.cpu_threads": 2, "renewal.delay_ms": 200})
    for x in (a, b):
        x.run(150)
        lesions.kill(x, lesions.lesion_ids(x, "cortex", 0.2))
        lesions.kill(x, lesions.stroke_ids(x, "association", 5, 3, 4))
        x.run(400)  # the renewals come at step 350 (200 ms after the deaths at 150)
    assert a.dead_count == b.dead_count == 0 and a.renewed_count == b.renewed_count > 0
    for name, live in a.state_arrays().items():
        assert np.array_equal(np.asarray(live), np.asarray(b.state_arrays()[name]), equal_nan=True), name


def test_a_new_neuron_takes_its_neighbours_values_and_fires_again():
    b = brain(**{"renewal.delay_ms": 100, "renewal.weight_scale": 0.5})
    b.run(300)
    cortex = b.layout["cortex"]
    victim = cortex.start + 3 * cortex.width + 4  # inside the grid: four living neighbours
    neighbours = [victim - 1, victim + 1, victim - cortex.width, victim + cortex.width]
    lesions.kill(b, [victim])
    assert np.isinf(b.neurons.threshold_homeostatic[victim])
    before = b.neurons.threshold_homeostatic[neighbours].astype(np.float64).mean()
    outgoing = [p for p in b.pathways if p.source[0] <= victim < p.source[1] and p.projection.lengths[victim - p.source[0]]]
    b.run(99)
    assert b.died_at[victim] != lesions.DEAD, "not before the delay"
    assert b.slow_input[victim] < 0, "a dead neuron still gathers the basket cells' slow inhibition"
    b.run(1)
    assert b.died_at[victim] == lesions.DEAD and b.renewed_at[victim] == b.step_count
    assert b.slow_input[victim] == 0, "the new neuron does not inherit it"
    assert abs(float(b.neurons.threshold_homeostatic[victim]) - before) < 0.05, "its threshold is its neighbours' mean"
    for pathway in outgoing:
        row = pathway.projection.weights[victim - pathway.source[0]]
        rows = pathway.projection.weights[np.array(neighbours) - pathway.source[0]]
        assert any(np.allclose(row[: len(r)], 0.5 * r[: len(row)]) for r in rows), f"{pathway.name}: a neighbour's row at half weight"
    fired = spikes_of(b, 1000)
    assert fired[:, victim].sum() > 5, "the new neuron lives"
    # in a learned pathway it starts with nothing learned ([renewal] learned = "zero")
    association = b.layout["association"]
    readout = b.pathway("readout")
    lesions.kill(b, [association.start + 7])
    b.run(100)
    assert b.renewed_at[association.start + 7] >= 0
    row = readout.projection.weights[association.start + 7 - readout.source[0]]
    assert not row.any() and readout.projection.weights.any()


def test_a_slow_random_death_takes_about_its_rate_and_renewal_off_keeps_them_dead():
    kernels = "numba" if fused_cpu.available() else "numpy"
    b = brain(kernels, **{"brain.neurons": 20000, "renewal.enabled": False, "renewal.death_rate_per_hour": 1.0})
    b.run(10_000)
    living = sum(r.size for r in b.layout.regions if r.living)
    expected = living * 10_000 / 3_600_000  # about 17
    assert expected / 3 < b.dead_count < expected * 3, (b.dead_count, expected)
    assert all(b.layout.regions[int(np.searchsorted(b.layout.bounds, i, side="right")) - 1].living for i in np.flatnonzero(b.died_at >= 0))


def test_the_dead_and_the_new_survive_save_and_load(tmp_path):
    b = brain(**{"renewal.delay_ms": 100})
    b.run(200)
    lesions.kill(b, lesions.lesion_ids(b, "cortex", 0.1))
    b.run(150)  # renewed
    lesions.kill(b, lesions.stroke_ids(b, "cortex", 10, 10, 3))  # and dead now
    snapshots.write(snapshots.capture(b), tmp_path / "hurt.h5")
    snapshot = snapshots.read(tmp_path / "hurt.h5")
    again = Brain(snapshot.config)
    again.restore_state(snapshot.arrays, snapshot.step, snapshot.vitals_pending)
    assert np.array_equal(again.died_at, b.died_at) and np.array_equal(again.renewed_at, b.renewed_at)
    assert again.dead_count == b.dead_count > 0 and again.renewed_count == b.renewed_count > 0
    assert np.allclose(again.inverse_alive, b.inverse_alive)
    # a brain that never lost a neuron writes no lesion arrays: its snapshot is as before
    whole = brain()
    assert not set(Brain.state_arrays(whole)) & {"neurons/died_at", "neurons/renewed_at"}
    # and loading it into the hurt brain brings everyone back
    snapshots.write(snapshots.capture(whole), tmp_path / "whole.h5")
    clean = snapshots.read(tmp_path / "whole.h5")
    again.restore_state(clean.arrays, clean.step, clean.vitals_pending)
    assert again.dead_count == 0 and again.renewed_count == 0 and np.all(np.isfinite(again.neurons.threshold_homeostatic))


def test_mistakes_are_refused_in_one_line():
    b = brain(**{"brain.layout": "chat"})
    with pytest.raises(ConfigError, match="no region 'nowhere'"):
        lesions.lesion_ids(b, "nowhere", 0.1)
    with pytest.raises(ConfigError, match="fraction"):
        lesions.lesion_ids(b, "cortex", 1.5)
    with pytest.raises(ConfigError, match="off region 'cortex'"):
        lesions.stroke_ids(b, "cortex", 1000, 1, 2)
    seeing = Brain(Config().replace(**{**SMALL, "codec.visual_region": "visual", "regions.visual.size": 64, "regions.visual.model": "poisson", "regions.visual.width": 8}))
    with pytest.raises(ConfigError, match="sensor"):
        lesions.lesion_ids(seeing, "visual", 0.5)


def test_the_runner_lesions_and_strokes_and_the_brain_lives_on():
    with Runner(brain(), lockstep=True) as runner:
        runner.wait_ready()
        hit = runner.lesion("cortex", 0.1)
        assert hit["region"] == "cortex" and hit["killed"] > 0 and hit["renewal_ms"] == 1000.0
        disc = runner.stroke(5, 5, 3)
        assert disc["region"] == "cortex" and 0 < disc["killed"] <= 29 and disc["dead"] == hit["killed"] + disc["killed"]
        with pytest.raises(ConfigError):
            runner.lesion("cortex", 0)
        assert runner.say("hi").text is not None
        runner.rest(1200)
        assert runner.status()["dead"] == 0 and runner.status()["renewed"] == disc["dead"]


def test_lesion_and_stroke_from_another_terminal(headless, tmp_path):  # noqa: F811
    done = cli(tmp_path, "lesion", "cortex", "0.1", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["region"] == "cortex" and report["killed"] > 0
    stroke = cli(tmp_path, "stroke", "10", "10", "4")
    assert stroke.returncode == 0 and "neurons of cortex died" in stroke.stdout
    bad = cli(tmp_path, "lesion", "elsewhere", "0.1")
    assert bad.returncode != 0 and "no region 'elsewhere'" in bad.stderr and "Traceback" not in bad.stderr
    regions = json.loads(cli(tmp_path, "regions", "--json").stdout)
    cortex = next(r for r in regions["regions"] if r["name"] == "cortex")
    assert len(cortex["dead_ids"]) + len(cortex["new_ids"]) >= report["killed"], "the region map shows every neuron hit, dead or new"
    assert cli(tmp_path, "say", "hello").returncode == 0, "the brain lives on"


def test_bench_lesion_reports_both_arms(tmp_path):
    from typer.testing import CliRunner

    from brainchat.cli import app

    done = CliRunner().invoke(app, ["bench", "lesion", "--neurons", "4000", "--pairs", "2", "--teachings", "2", "--watch", "2",
                                    "--fraction", "0.2", "--json", "--plot", str(tmp_path / "lesion.png")])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout[done.stdout.index("{"):])
    renewed, kept = report["with_renewal"], report["without_renewal"]
    assert renewed["killed"] == kept["killed"] > 0, "both arms lose the same neurons (the same seed and step)"
    assert renewed["dead_at_end"] == 0 and renewed["renewed_at_end"] == renewed["killed"], "renewed after 1 s"
    assert kept["dead_at_end"] == kept["killed"] and kept["renewed_at_end"] == 0, "without renewal the dead stay dead"
    assert renewed["firing"] and all(0 <= p["firing_fraction"] < 1 for p in renewed["firing"])
    assert [p["brain_s"] for p in renewed["replies"]][0] == 0.0 and len(renewed["replies"]) >= 3
    assert (tmp_path / "lesion.png").stat().st_size > 10_000
