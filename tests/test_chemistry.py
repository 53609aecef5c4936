"""The neuromodulators (brainchat/model/chemistry.py): each one's effect measured on a real brain, and the pools in snapshots."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
from typer.testing import CliRunner

from brainchat.cli import app
from brainchat.config import Config
from brainchat.model import chemistry
from brainchat.model.brain import Brain
from brainchat.persistence import snapshot as snapshots
from brainchat.runtime.runner import Runner

SMALL = Config().replace(**{"brain.neurons": 10_000, "brain.device": "cpu", "brain.seed": 3})


def test_pools_burst_relax_hold_and_refuse_what_is_out_of_range():
    pools = chemistry.Chemistry(Config().chemistry)
    assert pools.line("hello") is True and pools.levels["noradrenaline"] == pytest.approx(0.2), "a new line: a burst of noradrenaline"
    assert pools.line("hello") is False, "the same line again is not new"
    assert pools.levels["acetylcholine"] == 1.0 and pools.attending
    for step in range(100, 20_100, 100):
        pools.relax(step)
    assert pools.levels["noradrenaline"] < 0.01, "uptake: 20 s at a 2-s time constant"
    assert pools.levels["acetylcholine"] == 1.0, "held at 1 while the line is attended to"
    pools.line_done()
    for step in range(20_100, 80_100, 100):
        pools.relax(step)
    assert 0.7 < pools.levels["acetylcholine"] < 0.8, "between lines it relaxes toward its idle rest (0.7, 30-s time constant)"
    pools.dose("serotonin", 2.0, until_step=81_000)
    pools.relax(80_500)
    assert pools.levels["serotonin"] == 2.0, "held"
    pools.relax(81_100)
    assert pools.levels["serotonin"] < 2.0 and "serotonin" not in pools.holds, "the hold ended; it relaxes again"
    for name, level in (("serotonin", 9.0), ("noradrenaline", -1.0), ("glutamate", 1.0), ("dopamine", math.nan)):
        with pytest.raises(ValueError):
            pools.dose(name, level)
    for _ in range(30):
        pools.reward(-1.0)
    assert pools.mood < -0.9 and pools.rest_level("serotonin") < 1.0, "punished again and again: a low mood lowers serotonin's rest"


def test_the_reply_choice_is_the_busiest_patch_at_rest_and_spreads_with_temperature():
    spikes = np.zeros(96)
    spikes[[10, 11, 12]] = [100, 90, 80]
    assert chemistry.choose(spikes, 5, 0.0, 0.99) == 10 and chemistry.choose(np.zeros(96), 5, 0.0, 0.5) is None
    rng = np.random.default_rng(0)
    for temperature, least in ((0.05, 1), (1.0, 3)):
        picks = Counter(chemistry.choose(spikes, 5, temperature, float(rng.random())) for _ in range(600))
        assert set(picks) <= {10, 11, 12} and len(picks) >= least, "only patches that spoke are chosen"
    assert Counter(chemistry.choose(spikes, 5, 1.0, float(d)) for d in rng.random(600))[10] < 300, "hot: the winner no longer takes most"


def _patch_rate(brain: Brain, ids: np.ndarray, current: float, steps: int = 300) -> float:
    """Spikes per neuron and step of ``ids`` under a constant extra input ``current``."""
    stimulus = brain.stimulus(ids, current)
    fired = 0
    for _ in range(steps):
        brain.run(1, stimulus)
        fired += int(brain.backend.to_host(brain.last_spikes)[ids].sum())
    return fired / (ids.size * steps)


def test_noradrenaline_raises_the_gain_of_a_regions_response_to_input():
    """The slope of a cortex patch's firing rate over its input current, at rest and with noradrenaline 1 (gain x1.5)."""
    slopes = {}
    for level in (0.0, 1.0):
        with Brain(SMALL) as brain:
            brain.run(1000)
            cortex = brain.layout["cortex"]
            ids = np.arange(cortex.start, cortex.start + 300)
            brain.dose("noradrenaline", level, seconds=60)
            low, high = _patch_rate(brain, ids, 0.02), _patch_rate(brain, ids, 0.10)
            slopes[level] = (high - low) / 0.08
    assert slopes[0.0] > 0
    assert slopes[1.0] > 1.2 * slopes[0.0], f"rate per unit of input: {slopes}"


def _entropy(replies: list[str]) -> float:
    counts = np.array(list(Counter(replies).values()), dtype=np.float64)
    share = counts / counts.sum()
    return float(-(share * np.log2(share)).sum())


def test_noradrenaline_makes_the_reply_choice_less_deterministic():
    """The same line 16 times: the first characters of the replies at rest and with noradrenaline held high."""
    entropy = {}
    for level in (0.0, 2.0):
        with Brain(SMALL) as brain, Runner(brain, lockstep=True) as runner:
            runner.wait_ready()
            runner.dose("noradrenaline", level, seconds=600)
            entropy[level] = _entropy([runner.say("hello").text[:1] for _ in range(16)])
    assert entropy[2.0] > entropy[0.0] + 0.5, f"bits of the first character's choice: {entropy}"


def test_acetylcholine_scales_the_learning_speed_of_bench_teach():
    reports = {}
    for level in ("0.25", "1"):
        result = CliRunner().invoke(app, ["bench", "teach", "--pairs", "5", "--teachings", "2", "--dose", f"acetylcholine={level}",
                                          "--neurons", "10000", "--device", "cpu", "--seed", "0", "--json"])
        assert result.exit_code == 0, result.output
        reports[level] = json.loads(result.stdout)
    assert reports["1"]["doses"] == {"acetylcholine": 1.0}
    slow, normal = (sum(point["char_accuracy"] for point in reports[level]["curve"]) for level in ("0.25", "1"))
    assert normal > slow + 0.2, f"character accuracy summed over the curve: {slow} at ACh 0.25, {normal} at 1"
    bad = CliRunner().invoke(app, ["bench", "teach", "--dose", "acetylcholine=9", "--neurons", "10000"])
    assert bad.exit_code == 2 and "acetylcholine goes from 0 to 4, not 9" in bad.output


def _reward_change(serotonin: float, delay_ms: int) -> float:
    """How far one reward, ``delay_ms`` after a reply, moves the plastic weights (sum of |change|)."""
    with Brain(SMALL) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        runner.dose("serotonin", serotonin, seconds=600)
        runner.say("hello")
        runner.rest(delay_ms)
        weights = brain.backend.to_host(brain.synapses.weights[brain.plastic.synapses]).astype(np.float64)
        runner.reward(1.0)
        runner.rest(1000)
        return float(np.abs(brain.backend.to_host(brain.synapses.weights[brain.plastic.synapses]) - weights).sum())


def test_serotonin_lengthens_the_delay_over_which_a_reward_still_changes_the_weights():
    """Patience: a reward 5 s after the reply keeps more of its effect at 1 s when serotonin is high (eligibility tau 3 s x serotonin)."""
    change = {(s, d): _reward_change(s, d) for s in (1.0, 2.0) for d in (1000, 5000)}
    assert all(value > 0 for value in change.values()), change
    kept = {s: change[(s, 5000)] / change[(s, 1000)] for s in (1.0, 2.0)}
    assert kept[2.0] > 1.5 * kept[1.0], f"share of the 1-s effect left at 5 s: {kept}"
    assert change[(2.0, 5000)] > change[(1.0, 5000)]


def test_time_awake_raises_the_sleep_pressure_and_sleep_brings_acetylcholine_low():
    """Process S (Borbely 1982) lowers acetylcholine's idle rest; asleep it is low between replays (Hasselmo 1999), a replay is attended at 1."""
    pools = chemistry.Chemistry(Config().chemistry)
    rested = pools.rest_level("acetylcholine")
    for step in range(100, 40 * 60_000 + 100, 100):  # 40 brain minutes awake, no line
        pools.relax(step)
    assert pools.pressure == pytest.approx(1 - math.exp(-1), abs=0.01), "the pressure's time constant is 40 minutes"
    assert pools.rest_level("acetylcholine") == pytest.approx(rested * (1 - 0.5 * pools.pressure)) and pools.levels["acetylcholine"] < rested - 0.15
    pools.line("hello")
    assert pools.levels["acetylcholine"] == 1.0, "a line is attended to at 1, however long the brain has been awake"
    pools.line_done()
    pools.fall_asleep()
    assert pools.rest_level("acetylcholine") == pytest.approx(0.1) and pools.levels["acetylcholine"] == 1.0, "asleep: its rest is low; the level follows"
    end = 40 * 60_000 + 20 * 60_000
    for step in range(40 * 60_000 + 100, end + 100, 100):
        pools.relax(step, asleep=True)
    assert pools.levels["acetylcholine"] == pytest.approx(0.1, abs=0.001), "20 minutes asleep, nothing replayed"
    assert pools.pressure == pytest.approx((1 - math.exp(-1)) * math.exp(-2), abs=0.01), "20 minutes asleep at a 10-minute time constant"
    pools.line("a replayed prompt")
    assert pools.levels["acetylcholine"] == 1.0, "a replay is attended to"
    pools.line_done()
    for step in range(end + 100, end + 120_100, 100):
        pools.relax(step, asleep=False)
    assert pools.levels["acetylcholine"] > 0.6 and not pools.asleep, "awake again, it goes toward its idle rest"


def test_a_brain_asleep_learns_at_its_sleep_acetylcholine_between_replays():
    with Brain(SMALL.replace(**{"chemistry.acetylcholine_tau_ms": 1000.0})) as brain:
        brain.run(100)
        awake = float(brain.learning_now[1])
        assert awake == pytest.approx(brain.learning.learning_rate * brain.chemistry.levels["acetylcholine"], rel=1e-5) and awake > 0
        brain.fall_asleep(1.0)
        brain.run(8000)  # 8 time constants
        assert brain.chemistry.levels["acetylcholine"] == pytest.approx(0.1, abs=0.001)
        assert float(brain.learning_now[1]) == pytest.approx(brain.learning.learning_rate * 0.1, rel=0.01), "the kernels learn at a tenth"
        assert "asleep" in chemistry.report(brain)["doing"]["acetylcholine"]


def test_a_replay_in_sleep_is_attended_and_between_replays_acetylcholine_falls():
    """Watched from outside a free-running brain: at some moment of its sleep a replay holds ACh at 1, at others it has fallen."""
    import time

    with Brain(SMALL) as brain, Runner(brain, speed=0) as runner:
        runner.wait_ready()
        runner.teach("hi", "yo", timeout=60)
        heard = len(brain.chemistry.heard)
        runner.sleep(0.5)
        attended, fallen = False, 1.0
        deadline = time.monotonic() + 60
        while runner.status()["sleep"]["asleep"] and time.monotonic() < deadline and not (attended and fallen < 0.95):
            pools = brain.chemistry
            attended |= pools.attending and pools.levels["acetylcholine"] == 1.0
            if not pools.attending:
                fallen = min(fallen, pools.levels["acetylcholine"])
            time.sleep(0.001)
        assert attended, "a replay is attended: its teaching learns as awake"
        assert fallen < 0.95, "between replays acetylcholine relaxes toward sleep's 0.1"
        assert len(brain.chemistry.heard) == heard, "a replay is nothing new"
        runner.wake()
        assert not brain.chemistry.asleep and "asleep" not in runner.chem()["doing"]["acetylcholine"], "awake at once"


def test_levels_mood_and_lines_heard_survive_save_and_load(tmp_path):
    with Brain(SMALL) as brain, Runner(brain, lockstep=True) as runner:
        runner.wait_ready()
        runner.say("hello")
        runner.reward(-1.0)
        runner.dose("serotonin", 1.7)
        runner.dose("noradrenaline", 0.9)
        brain.chemistry.pressure = 0.4  # as after about 20 minutes awake
        before = runner.chem()
        runner.save(tmp_path / "chem.h5")
    loaded = snapshots.read(tmp_path / "chem.h5")
    with Brain(SMALL) as brain:
        brain.restore_state(loaded.arrays, loaded.step, loaded.vitals_pending)
        assert brain.chemistry.levels == pytest.approx({k: before["levels"][k] for k in chemistry.POOLS}, abs=1e-6)
        assert brain.chemistry.mood == pytest.approx(before["mood"], abs=1e-6) and before["mood"] < 0
        assert brain.chemistry.pressure == pytest.approx(before["sleep_pressure"], abs=1e-6) and before["sleep_pressure"] >= 0.4
        assert brain.chemistry.line("hello") is False, "it remembers having heard the line"
    old = {name: value for name, value in loaded.arrays.items() if name not in brain_chemistry_arrays()}
    with Brain(SMALL) as brain:
        brain.restore_state(old, loaded.step, loaded.vitals_pending)  # a snapshot from before the pools: at rest
        assert brain.chemistry.levels == {"noradrenaline": 0.0, "acetylcholine": 1.0, "serotonin": 1.0} and brain.chemistry.mood == 0.0
        assert brain.chemistry.pressure == 0.0, "rested"
        bad = dict(loaded.arrays, **{"neuromodulators/serotonin": np.asarray(7.0, dtype=np.float32)})
        with pytest.raises(ValueError, match="neuromodulators/serotonin is 7.0"):
            brain.restore_state(bad, loaded.step, loaded.vitals_pending)
        assert brain.chemistry.levels["serotonin"] == 1.0, "a refused snapshot changes nothing"


def brain_chemistry_arrays() -> tuple[str, ...]:
    from brainchat.model.brain import CHEMISTRY_ARRAYS

    return CHEMISTRY_ARRAYS


from test_control import cli, headless  # noqa: E402,F401 - the fixture: a real headless brain behind a real socket


def test_brainchat_chem_reports_and_doses_from_another_terminal(headless, tmp_path):  # noqa: F811
    assert cli(tmp_path, "say", "hello").returncode == 0
    done = cli(tmp_path, "chem", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["levels"]) == set(chemistry.NAMES) and {"mood", "doing", "history", "balance", "effects"} <= report.keys()
    cortex = next(row for row in report["balance"] if row["region"] == "cortex")
    assert cortex["glutamate"] > 0 and cortex["gaba"] > 0, "the cortex takes both glutamate and GABA"
    basket = next(row for row in report["balance"] if row["region"] == "basket")
    assert basket["glutamate"] > 0 and basket["gaba"] == 0, "the basket cells hear the cortex's excitatory cells (all_to_all), nothing inhibitory"
    dosed = cli(tmp_path, "chem", "set", "noradrenaline", "1.2", "--for", "30", "--json")
    assert dosed.returncode == 0, dosed.stderr
    after = json.loads(dosed.stdout)
    assert after["levels"]["noradrenaline"] == pytest.approx(1.2) and after["effects"]["gain"] == pytest.approx(1.6)
    assert 25 < after["holds"]["noradrenaline"] <= 30 and "gain x1.60" in after["doing"]["noradrenaline"]
    table = cli(tmp_path, "chem")
    assert table.returncode == 0 and "noradrenaline" in table.stdout and "held" in table.stdout and "glutamate" in table.stdout
    for args, message in ((("chem", "set", "gaba", "1"), "no neuromodulator 'gaba'"), (("chem", "set", "serotonin", "9"), "serotonin goes from 0 to 4, not 9")):
        bad = cli(tmp_path, *args)
        assert bad.returncode == 1 and message in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert json.loads(cli(tmp_path, "status", "--json").stdout)["mood"] == 0.0, "no reward yet: a level mood"
