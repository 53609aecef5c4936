"""The command line: vitals, config errors, device errors, ``python -m brainchat``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from brainchat.backend import probe_gpu
from brainchat.cli import app

runner = CliRunner()

VITALS_KEYS = {
    "neurons", "steps", "device", "dtype", "firing_fraction_mean", "firing_fraction_min",
    "firing_fraction_max", "ms_per_step_median", "realtime_factor",
}


def invoke(*args: str, env: dict | None = None):
    return runner.invoke(app, list(args), env=env)


def test_vitals_json_is_exactly_one_object_on_stdout(isolated_config):
    result = invoke("vitals", "--neurons", "20000", "--steps", "3000", "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert VITALS_KEYS <= report.keys()
    assert report["neurons"] == 20000 and report["steps"] == 3000 and report["device"] == "cpu"
    assert report["dtype"] == "float32" and report["warmup_steps"] == 2000
    # the living population of a 20k brain is ~6,400 neurons (the rest is the quiet memory,
    # association band and output patches): per-step spread 0.0027, so +-0.015 per step
    assert 0.035 <= report["firing_fraction_min"] <= report["firing_fraction_mean"] <= report["firing_fraction_max"] <= 0.065
    assert abs(report["firing_fraction_mean"] - 0.05) < 0.002
    assert report["ms_per_step_median"] > 0 and report["realtime_factor"] == pytest.approx(1 / report["ms_per_step_median"])
    assert report["finite"] is True
    assert "stepping on cpu" in result.stderr


def test_vitals_table_and_summary(isolated_config):
    result = invoke("vitals", "-n", "2000", "--steps", "1000", "--every", "500", "--warmup", "200")
    assert result.exit_code == 0, result.output
    assert "brain vitals" in result.stdout and "1,000" in result.stdout
    assert "firing after step 200" in result.stdout and "ms per step" in result.stdout


def test_vitals_reads_the_environment(isolated_config):
    result = invoke("vitals", "--steps", "200", "--json", env={"BRAINCHAT_NEURONS": "1500", "BRAINCHAT_DTYPE": "float64"})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["neurons"] == 1500 and report["dtype"] == "float64"


@pytest.mark.parametrize(
    "args, env, key",
    [
        (["vitals", "--neurons", "-5"], None, "brain.neurons"),
        (["vitals", "--dtype", "float8"], None, "brain.dtype"),
        (["vitals", "--seed", "many"], None, "brain.seed"),
        (["vitals"], {"BRAINCHAT_HOMEOSTASIS_TARGET_FRACTION": "1.5"}, "homeostasis.target_fraction"),
        (["--device", "quantum", "vitals"], None, "brain.device"),
        (["vitals", "-n", "2000"], {"BRAINCHAT_LAYOUT": "custom"}, "brain.layout"),
    ],
)
def test_config_errors_are_one_line_naming_the_key_with_exit_code_2(isolated_config, args, env, key):
    result = invoke(*args, env=env)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"'{key}'" in lines[0] and lines[0].startswith("brainchat: error:")


def test_unknown_key_in_a_config_file(isolated_config):
    (isolated_config / "mine.toml").write_text("[homeostasis]\ntarget_rate = 0.1\n")
    result = invoke("--config", "mine.toml", "vitals")
    assert result.exit_code == 2
    assert "unknown config key 'homeostasis.target_rate'" in result.stderr and "mine.toml" in result.stderr


def test_local_config_toml_is_read(isolated_config):
    (isolated_config / "config.toml").write_text("[brain]\nneurons = 1200\n")
    result = invoke("config")
    assert result.exit_code == 0 and "neurons = 1200" in result.stdout


def test_gpu_asked_for_without_one_is_a_one_line_error(isolated_config):
    if probe_gpu().usable:
        pytest.skip("a GPU is usable here")
    result = invoke("vitals", "--device", "gpu", "-n", "1000")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "device 'gpu'" in result.stderr


def test_debug_log_gets_one_line_per_interval(isolated_config):
    log = isolated_config / "logs" / "brain_debug.log"
    result = invoke("vitals", "-n", "1000", "--steps", "500", "--json", env={"BRAINCHAT_DEBUG_LOG": str(log)})
    assert result.exit_code == 0, result.output
    lines = log.read_text().splitlines()
    assert len(lines) == 5
    assert lines[-1].startswith("step=500 spikes=") and "mean_input=" in lines[-1] and "drive=" in lines[-1]


def test_python_dash_m_is_the_same_program(isolated_config):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINCHAT_")}
    done = subprocess.run([sys.executable, "-m", "brainchat", "--version"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.startswith("brainchat ")
    bad = subprocess.run(
        [sys.executable, "-m", "brainchat", "vitals", "--neurons", "12"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "brainchat: error: config key 'brain.neurons' (from command line): the chat layout needs 1,000 neurons or more (its patches), not 12"]


def test_help_lists_the_commands(isolated_config):
    result = invoke("--help")
    assert result.exit_code == 0 and "vitals" in result.stdout and "config" in result.stdout


@pytest.mark.gpu
def test_vitals_on_the_gpu(isolated_config):
    result = invoke("vitals", "--device", "gpu", "-n", "20000", "--steps", "3000", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["device"] == "gpu" and report["finite"] is True
    assert 0.04 <= report["firing_fraction_min"] <= report["firing_fraction_max"] <= 0.06


def test_bench_speed_json_with_numpy_comparison(isolated_config):
    result = invoke("bench", "speed", "--neurons", "1k,2000", "--steps", "50", "--warmup", "20", "--compare", "--json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]
    assert [r["neurons"] for r in rows] == [1000, 2000]
    for row in rows:
        assert {"neurons", "device", "kernels", "dtype", "ms_per_step_median", "ms_per_step_p99", "realtime_factor", "peak_rss_mb", "speedup_vs_numpy"} <= row.keys()
        assert row["ms_per_step_p99"] >= row["ms_per_step_median"] > 0 and row["speedup_vs_numpy"] > 0
        assert 0.01 < row["firing_fraction"] < 0.2


def test_bench_speed_refuses_a_bad_size(isolated_config):
    result = invoke("bench", "speed", "--neurons", "12", "--device", "cpu")
    assert result.exit_code == 2 and "'brain.neurons'" in result.stderr
    result = invoke("bench", "speed", "--neurons", "lots", "--device", "cpu")
    assert result.exit_code == 2 and "--neurons 'lots'" in result.stderr
