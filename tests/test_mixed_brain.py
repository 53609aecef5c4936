"""The mixed brain of docs/examples/mixed-brain.toml: an adapting AdEx cortex, fast-spiking Izhikevich interneurons.

It is a brain a user runs (``brainchat --config docs/examples/mixed-brain.toml run``): it
must stay in its firing band and answer what it was taught, as the default brain does.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from brainchat import Brain
from brainchat.bench_learning import teach_benchmark
from brainchat.config import load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "mixed-brain.toml"
SMALL = {"brain.neurons": 20_000, "brain.device": "cpu"}


def test_the_example_builds_the_regions_it_describes():
    with Brain(load_config(EXAMPLE, SMALL)) as brain:
        rows = {row["name"]: row for row in brain.region_table()}
        assert rows["cortex"]["model"] == "adex" and rows["cortex"]["excitatory_share"] == 1.0
        assert rows["interneurons"]["model"] == "izhikevich" and rows["interneurons"]["excitatory_share"] == 0.0
        assert rows["interneurons"]["living"] and rows["cortex"]["living"]
        assert brain.layout["cortex"].model.preset == "adapting" and brain.layout["interneurons"].model.preset == "FS"
        assert {"interneurons_to_cortex", "cortex_to_interneurons", "interneurons_to_output"} <= {p.name for p in brain.pathways}


def test_it_stays_in_its_band_for_60_seconds_of_brain_time():
    """Every 1-s interval's mean within 0.05 +- 0.01 after 2 s, every step within 0.03..0.07 (20k neurons: ~6,000 living), both living regions near the target."""
    with Brain(load_config(EXAMPLE, SMALL)) as brain:
        brain.run(2000)
        brain.read_vitals() if brain.recorder.pending else None
        records = brain.run(60_000)
        steps = np.concatenate([r.firing_fraction for r in records])
        means = np.array([r.fraction_mean for r in records])
        assert len(steps) >= 59_000
        assert np.all(np.abs(means - 0.05) <= 0.01), (means.min(), means.max())
        assert 0.03 < steps.min() and steps.max() < 0.07
        for region in ("cortex", "interneurons"):
            rates = [r.region_firing[region] for r in records]
            assert 0.04 < float(np.mean(rates)) < 0.06, region
        assert np.isfinite(brain.neurons.membrane).all() and np.isfinite(brain.recovery).all()
        cortex = brain.layout["cortex"]
        assert brain.recovery[cortex.start : cortex.stop].mean() > 0, "the AdEx cortex adapts (w > 0 while it fires)"


def test_it_answers_its_taught_prompts():
    report = teach_benchmark(load_config(EXAMPLE, SMALL), pairs=5, teachings=10, seed=0)
    assert report["exact_match_accuracy"] >= 0.8, report["examples"]
    assert 0.03 < report["firing_min"] <= report["firing_max"] < 0.075


def test_brainchat_run_with_the_example_replies_as_taught(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINCHAT_")}
    lines = "/teach hi => yo\n" * 8 + "hi\n"
    done = subprocess.run([sys.executable, "-m", "brainchat", "--config", str(EXAMPLE), "run", "--neurons", "20000", "--device", "cpu"],
                          input=lines, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "yo", done.stdout
