"""Regions and pathways as a user declares them: in config.toml, in the running brain, in `brainchat regions`.

The default layout's mechanisms are tested in tests/test_pathways.py, the kernels' equivalence
in tests/test_fused_cpu.py; here: a user's own region and pathway run and show, bad
declarations stop with one line naming the key, and what the layout builds is what it says.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from brainchat import Brain, Config
from brainchat.backend import numpy_backend
from brainchat.config import load_config
from brainchat.errors import ConfigError

USER_REGION = """
[brain]
neurons = 20000

[[regions]]
name = "amygdala"
size = 2000
living = true
target_fraction = 0.02
excitatory = 0.9

[[pathways]]
name = "cortex_to_amygdala"
source = "cortex"
target = "amygdala"
fan_out = 6
weight = 0.05
inhibitory_weight = 0.2

[[pathways]]
name = "amygdala_recurrent"
source = "amygdala"
target = "amygdala"
connector = "probability"
probability = 0.01
weight = 0.03
inhibitory_weight = 0.15
"""


def run_cli(folder: Path, *args: str, stdin: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "XDG_CONFIG_HOME": str(folder / "xdg"), "XDG_RUNTIME_DIR": str(folder)}
    return subprocess.run([sys.executable, "-m", "brainchat", *args], cwd=folder, env=env, input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def user_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("user")
    (folder / "config.toml").write_text(USER_REGION)
    return folder


def test_a_users_region_and_pathways_join_the_default_brain(user_folder):
    config = load_config(cwd=user_folder, user_file=user_folder / "none.toml", environ={})
    with Brain(config, numpy_backend()) as brain:
        names = [r.name for r in brain.layout.regions]
        assert names == ["input", "association", "cortex", "basket", "output", "hippocampus", "recall", "amygdala"]
        amygdala = brain.layout["amygdala"]
        assert amygdala.size == 2000 and amygdala.stop == 20_000, "the cortex (the rest) made room"
        into = brain.pathway("cortex_to_amygdala").projection
        assert np.asarray(into.targets).min() >= amygdala.start
        recurrent = brain.pathway("amygdala_recurrent")
        assert recurrent.synapses == pytest.approx(2000 * 2000 * 0.01, rel=0.05), "a connection probability of 0.01"
        records = brain.run(3000)
        late = [r.region_firing["amygdala"] for r in records[-10:]]
        assert 0.01 < np.mean(late) < 0.03, f"the new living region is held near its own target 0.02: {late}"
        assert abs(np.mean([r.region_firing["cortex"] for r in records[-10:]]) - 0.05) < 0.01, "and the cortex near its own"


def test_a_users_region_shows_in_vitals_regions_and_a_conversation(user_folder):
    vitals = run_cli(user_folder, "vitals", "--steps", "1500", "--json")
    assert vitals.returncode == 0, vitals.stderr
    report = json.loads(vitals.stdout)
    assert set(report["regions"]) == {"input", "association", "cortex", "basket", "output", "hippocampus", "recall", "amygdala"}
    assert report["regions"]["amygdala"]["firing_mean"] > 0
    listed = run_cli(user_folder, "regions", "--json")
    assert listed.returncode == 0, listed.stderr
    tables = json.loads(listed.stdout)
    assert [r["name"] for r in tables["regions"]][-1] == "amygdala"
    assert {"cortex_to_amygdala", "amygdala_recurrent", "readout"} <= {p["name"] for p in tables["pathways"]}
    assert next(p for p in tables["pathways"] if p["name"] == "readout")["plastic"]
    talked = run_cli(user_folder, "run", "--speed", "max", stdin="hello\n/regions\n")
    assert talked.returncode == 0, talked.stderr
    assert "amygdala" in talked.stdout and "cortex_to_amygdala" in talked.stdout


def test_regions_draws_its_map(tmp_path):
    pytest.importorskip("matplotlib", reason="the map needs matplotlib (extra 'plot')")
    (tmp_path / "config.toml").write_text("[brain]\nneurons = 5000\n")
    drawn = run_cli(tmp_path, "regions", "--plot", str(tmp_path / "map.png"))
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "readout" in drawn.stdout and "association" in drawn.stdout


@pytest.mark.parametrize(
    "toml, key, words",
    [
        ('[[pathways]]\nname = "p"\nsource = "cortex"\ntarget = "amygdala"\nfan_out = 3\nweight = 0.1\n', "pathways.p.target", "names no region 'amygdala'"),
        ('[[regions]]\nname = "big"\nsize = 500000\n', "regions.big.size", "need"),
        ('[[regions]]\nname = "second"\nsize = "rest"\n', "regions.cortex.size", "only one region can take the rest"),
        ('[[regions]]\nname = "cortex"\nmodel = "hodgkin_huxley"\n', "regions.cortex.model", "must be one of lif, adex, izhikevich"),
        ('[[regions]]\nname = "cortex"\nmodel = "adex"\npreset = "bursty"\n', "regions.cortex.preset", "adex has no preset 'bursty'; presets: tonic, adapting"),
        ('[[regions]]\nname = "cortex"\nmodel = "izhikevich"\nparameters = "e=1"\n', "regions.cortex.parameters", "izhikevich has no parameter e; it has a, b, c, d"),
        ('[[regions]]\nname = "cortex"\nmodel = "adex"\nparameters = "b_pA=lots"\n', "regions.cortex.parameters", "'lots' is not a number"),
        ('[[regions]]\nname = "cortex"\nmodel = "adex"\nparameters = {VT_mV = -80.0}\n', "regions.cortex.parameters", "EL_mV < VT_mV < V_peak_mV"),
        ('[[regions]]\nname = "cortex"\npreset = "FS"\n', "regions.cortex.preset", "a LIF region takes its parameters from [neurons]"),
        ('[[regions]]\nname = "cortex"\nmodel = "izhikevich"\nmembrane_tau_ms = 10.0\n', "regions.cortex.membrane_tau_ms", "are LIF keys"),
        ('[[regions]]\nname = "cortex"\nmembrane_size = 3\n', "regions.cortex.membrane_size", "unknown config key"),
        ('[[pathways]]\nname = "readout"\nconnector = "magic"\n', "pathways.readout.connector", "must be one of"),
        ('[[pathways]]\nname = "q"\nsource = "cortex"\ntarget = "output"\nweight = 0.1\n', "pathways.q.fan_out", "needs fan_out"),
        ('[[pathways]]\nname = "loop"\nsource = "cortex"\ntarget = "output"\nconnector = "neighbours"\nweight = 0.1\n', "pathways.loop.target", "same"),
        ('[[regions]]\nname = "input"\npatches = 10\n', "codec.input_region", "needs 95 patches"),
        ('[[regions]]\nsize = 5\n', "regions", "has no name"),
        ("[pathways]\nenabled = false\n", "pathways", "is gone"),
        ('[[regions]]\nname = "one"\nsize = 1\nliving = true\n[[pathways]]\nname = "self"\nsource = "one"\ntarget = "one"\nfan_out = 5\nweight = 0.1\n', "pathways.self.source", "no other neuron"),
        ('[[regions]]\nname = "row"\nsize = 10\nwidth = 10\nliving = true\n[[pathways]]\nname = "nn"\nsource = "row"\ntarget = "row"\nconnector = "neighbours"\nweight = 0.1\n', "pathways.nn.source", "2 rows"),
        ('[[pathways]]\nname = "dense"\nsource = "association"\ntarget = "association"\nconnector = "probability"\nprobability = 0.9\nweight = 0.1\n', "pathways.dense.probability", "synapses"),
        ('[[regions]]\nname = "cortex"\ntonic = -1.0\n', "regions.cortex.tonic", "quiet regions"),
        ('[[regions]]\nname = "association"\ntarget_fraction = 0.1\n', "regions.association.target_fraction", "living = true"),
        ('[[regions]]\nname = "cortex"\nnoise_sigma = -0.5\n', "regions.cortex.noise_sigma", "-1 for the [neurons] value"),
        ('[[regions]]\nname = "input"\nsize = "rest"\n', "regions.input.size", "give no size"),
        ('[codec]\ninput_region = "ears"\n', "codec.input_region", "names no region 'ears'"),
        ("[synapses]\nper_neuron = 16\n", "synapses", "is gone"),
        ('[[pathways]]\nname = "readout"\ntarget = "cortex"\n', "pathways.readout.target", "the target needs patches"),
        ('[[pathways]]\nname = "readout"\nfan_out = 0\n', "pathways.readout.fan_out", "needs fan_out > 0"),
    ],
)
def test_bad_region_and_pathway_settings_are_one_line_errors_naming_the_key(isolated_config, toml, key, words):
    path = isolated_config / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert key in message and words in message and "\n" not in message
    assert caught.value.exit_code == 2
    assert str(path) in message or "layout" in message or key.split(".")[0] in ("codec",), "it says where the setting came from"


def test_bad_region_settings_from_the_command_line_exit_2_in_one_line(tmp_path):
    (tmp_path / "config.toml").write_text('[[regions]]\nname = "cortex"\nexcitatory = 2\n')
    done = run_cli(tmp_path, "vitals", "--steps", "10")
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "regions.cortex.excitatory" in lines[0] and "config.toml" in lines[0]


def test_a_layout_and_its_tables_compare_equal_however_they_are_written():
    """Declaring the defaults explicitly is the default brain (snapshots compare configs)."""
    explicit = Config().replace(**{"regions.cortex.living": True, "pathways.readout.fan_out": 1, "pathways.readout.connector": "every_patch"})
    assert explicit == Config() and explicit.regions == () and explicit.pathways == ()
    changed = Config().replace(**{"pathways.readout.fan_out": 16})
    assert changed != Config() and changed.pathways == (("readout", (("fan_out", 16),)),)


def test_the_chat_layout_builds_what_it_declares():
    with Brain(Config().replace(**{"brain.neurons": 20_000}), numpy_backend()) as brain:
        layout = brain.layout
        assert [r.name for r in layout.regions] == ["input", "association", "cortex", "basket", "output", "hippocampus", "recall"]
        assert layout.bounds.tolist() == [0, *(layout[name].start for name in ("association", "cortex", "basket", "output", "hippocampus", "recall")), 20_000]
        assert not np.asarray(brain.excitatory)[layout["basket"].start : layout["basket"].stop].any(), "the basket cells are inhibitory"
        assert [p.spec.connector for p in brain.pathways if "basket" in (p.spec.source, p.spec.target)] == ["all_to_all", "all_to_all"]
        excitatory = np.asarray(brain.excitatory)
        assert excitatory[: layout["cortex"].start].all(), "memory and association are excitatory"
        assert 0.75 < excitatory[layout["cortex"].start : layout["cortex"].stop].mean() < 0.85
        readout = brain.pathway("readout")
        patches = layout["output"].spec.patches
        assert readout.projection.fan_out == patches and brain.plastic.size == (layout["association"].size + 4 * layout["recall"].size) * patches, "and recall_readout, 4 onto each patch"
        reached = np.sort((np.asarray(readout.projection.targets) - layout["output"].start) // layout["output"].patch_size, axis=1)
        assert (reached == np.arange(patches)).all(), "every association neuron reaches every character and the end, once each"
        targets = np.asarray(readout.projection.targets)
        assert targets.min() >= layout["output"].start, "the readout ends on the output patches only"
        neighbours = np.asarray(brain.pathway("cortex_neighbours").projection.lengths)
        cortex = slice(layout["cortex"].start, layout["cortex"].stop)
        assert np.array_equal(neighbours > 0, excitatory[cortex]), "only excitatory neurons excite their neighbours"
        units = np.asarray(brain.pathway("memory_to_association").projection.lengths)
        assert units.sum() == 2 * layout["association"].size, "every association neuron listens to 2 memory neurons"
        phases = brain.memory_phase[: layout["input"].stop]
        assert set(np.unique(phases).tolist()) == {0, 1, 2}
        sectors = [brain.sector(k) for k in range(9)]
        assert sum(s.size for s in sectors) == layout["association"].size + layout["recall"].size and all(s.size for s in sectors)
        assert sum(brain.sector(k, association=False).size for k in range(9)) == layout["recall"].size, "a recalled reply opens the recall sectors only"
        detectors = brain.pathway("memory_to_hippocampus").projection
        assert not np.asarray(detectors.weights).any(), "no line is bound yet"
        assert np.asarray(detectors.lengths).sum() == layout["input"].spec.patches * layout["input"].places * 3 * 4 * layout["hippocampus"].size, \
            "every unit's every phase reaches every detector through 4 synapses"
        slots = brain.pathway("hippocampus_to_recall").projection
        per_slot = [np.unique(np.asarray(slots.targets)[i * 4 : (i + 1) * 4]) for i in range(brain.hippocampus.count)]
        assert all(np.intersect1d(a, b).size == 0 for a, b in zip(per_slot, per_slot[1:])), "each slot has recall neurons of its own"


def test_a_brain_without_the_codecs_regions_says_so_and_lives_on():
    """A custom layout of one living region: saying a line is a one-line error, and the brain keeps stepping."""
    from brainchat.runtime.runner import Runner

    config = Config().replace(**{
        "brain.neurons": 5000, "brain.layout": "custom", "codec.gate_region": "",
        "regions.cortex.size": "rest", "regions.cortex.living": True,
        "pathways.rec.source": "cortex", "pathways.rec.target": "cortex", "pathways.rec.fan_out": 30,
        "pathways.rec.weight": 0.03, "pathways.rec.inhibitory_weight": 0.15,
    })
    with Brain(config, numpy_backend()) as brain, Runner(brain, lockstep=True, settle_steps=200) as runner:
        for ask in (lambda: runner.say("hello", timeout=30), lambda: runner.teach("hello", "hi", timeout=30)):
            with pytest.raises(ConfigError, match="no region 'input'"):
                ask()
        before = brain.step_count
        runner.rest(300)
        assert runner.alive and brain.step_count == before + 300
        assert abs(runner.stats.firing_fraction - 0.05) < 0.015


def test_a_layouts_pathway_can_be_left_out():
    config = Config().replace(**{"brain.neurons": 20_000, "pathways.cortex_to_output.enabled": False})
    assert "cortex_to_output" not in [p.name for p in config.pathway_specs]
    with Brain(config, numpy_backend()) as brain:
        assert [p.name for p in brain.pathways] == [p.name for p in Config().pathway_specs if p.name != "cortex_to_output"]
        assert brain.run(200)[-1].fraction_mean > 0


def test_a_pathway_left_out_stays_out_in_a_snapshot(tmp_path):
    from brainchat.persistence import snapshot as snapshots

    config = Config().replace(**{"brain.neurons": 5000, "pathways.cortex_to_output.enabled": False})
    with Brain(config, numpy_backend()) as brain:
        brain.run(50)
        snapshots.write(snapshots.capture(brain), tmp_path / "s.h5")
    read = snapshots.read(tmp_path / "s.h5")
    assert read.config == config and "cortex_to_output" not in [p.name for p in read.config.pathway_specs]
