"""``brainchat bench models``: every model x precision measured, as JSON, a table and a picture."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from brainchat.cli import app

QUICK = ["--neurons", "10000", "--steps", "20", "--float16-steps", "10", "--warmup", "10", "--chunk", "5", "--device", "cpu"]


def test_every_model_and_precision_is_reported_with_its_error_against_float64(tmp_path):
    picture = tmp_path / "models.png"
    result = CliRunner().invoke(app, ["bench", "models", *QUICK, "--json", "--plot", str(picture)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {(r["model"], r["dtype"]): r for r in report["results"]}
    assert set(rows) == {(m, d) for m in ("lif", "adex", "izhikevich") for d in ("float16", "float32", "float64")}
    for (model, dtype), row in rows.items():
        assert row["neurons"] == 10_000 and row["neuron_updates_per_s"] > 0 and row["ms_per_step_median"] > 0
        assert row["synaptic_events_per_s"] > 0 and row["bytes_per_neuron"] > 0 and row["bytes_per_synapse"] > 0
        assert row["spikes_in_sweep"] > 0, "the f-I sweep fires"
        assert row["spike_count_error"] == 0.0 if dtype == "float64" else 0 <= row["spike_count_error"] < 0.1
        assert row["kernels"] == ("numpy" if dtype == "float16" else "numba")
    assert rows[("adex", "float32")]["bytes_per_neuron"] > rows[("lif", "float32")]["bytes_per_neuron"], "AdEx keeps w"
    assert rows[("lif", "float16")]["spike_count_error"] > 0, "float16 LIF arithmetic rounds: the sweep sees it"
    assert picture.stat().st_size > 10_000


def test_the_table_and_the_mistakes_a_user_can_make():
    table = CliRunner().invoke(app, ["bench", "models", *QUICK, "--models", "izhikevich", "--dtypes", "float32"])
    assert table.exit_code == 0 and "izhikevich" in table.stdout and "float32" in table.stdout
    for option, value in (("--models", "lif,hodgkin"), ("--dtypes", "float8")):
        wrong = CliRunner().invoke(app, ["bench", "models", option, value])
        assert wrong.exit_code != 0 and f"{option} '{value}': give one or more of" in wrong.output
