"""Configuration: defaults, precedence of the sources, and one-line errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from brainchat.config import Config, load_config, render_toml
from brainchat.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_config_toml_at_the_repo_root_mirrors_the_defaults(isolated_config):
    text = (REPO / "config.toml").read_text()
    regenerate = "python -c 'from brainchat.config import render_toml; print(render_toml(commented=True), end=\"\")' > config.toml"
    assert text == render_toml(Config(), commented=True), regenerate
    uncommented = isolated_config / "uncommented.toml"
    uncommented.write_text(re.sub(r"(?m)^# (\w+ = |\[\[)", r"\1", text))
    assert load_config(uncommented) == Config(), "the commented values are the defaults"


def test_config_toml_at_the_repo_root_does_not_override_the_user_file(isolated_config):
    """It documents every key, commented out, so running from the repo keeps the user's settings."""
    write(isolated_config / "xdg" / "brainchat" / "config.toml", "[brain]\nneurons = 5000\n")
    write(isolated_config / "config.toml", (REPO / "config.toml").read_text())
    assert load_config().brain.neurons == 5000


def test_defaults_without_any_source(isolated_config):
    config = load_config()
    assert config == Config()
    assert config.brain.neurons == 200_000
    assert config.brain.dtype == "float32"
    assert config.homeostasis.target_fraction == 0.05


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_precedence_command_line_env_file_local_user(isolated_config, monkeypatch):
    root = isolated_config
    write(root / "xdg" / "brainchat" / "config.toml", "[brain]\nseed = 1\nneurons = 1001\ndtype = 'float64'\nstats_interval = 7\n")
    write(root / "config.toml", "[brain]\nseed = 2\nneurons = 1002\ndtype = 'float16'\n")
    extra = write(root / "extra.toml", "[brain]\nseed = 3\nneurons = 1003\n")
    monkeypatch.setenv("BRAINCHAT_SEED", "4")
    config = load_config(extra, {"brain.seed": 5, "brain.neurons": None})
    assert config.brain.seed == 5  # command line
    assert config.brain.neurons == 1003  # --config file (the None override is "not given")
    assert config.brain.dtype == "float16"  # ./config.toml
    assert config.brain.stats_interval == 7  # user config folder
    monkeypatch.delenv("BRAINCHAT_SEED")
    monkeypatch.setenv("BRAINCHAT_NEURONS", "5_000")
    monkeypatch.setenv("BRAINCHAT_HOMEOSTASIS_TARGET_FRACTION", "0.1")
    config = load_config(extra)
    assert config.brain.seed == 3 and config.brain.neurons == 5000
    assert config.homeostasis.target_fraction == 0.1


@pytest.mark.parametrize(
    "toml, key",
    [
        ("[brain]\nneuron = 5000\n", "brain.neuron"),
        ("[brian]\nneurons = 5000\n", "brian.neurons"),
        ("neurons = 5000\n", "neurons"),
    ],
)
def test_unknown_key_is_an_error_naming_it(isolated_config, toml, key):
    path = write(isolated_config / "bad.toml", toml)
    with pytest.raises(ConfigError, match=f"'{key}'") as caught:
        load_config(path)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("brain.neurons", -5, "at least 1"),
        ("brain.neurons", 999, "the chat layout needs 1,000 neurons or more"),
        ("brain.neurons", "many", "expected int"),
        ("brain.dtype", "float8", "one of float16, float32, float64"),
        ("brain.device", "tpu", "one of auto, cpu, gpu"),
        ("homeostasis.target_fraction", 1.5, "between 0 and 1"),
        ("homeostasis.target_fraction", 0, "between 0 and 1"),
        ("neurons.membrane_tau_ms", float("nan"), "not a finite number"),
        ("neurons.refractory_ms", 5000, "between 0 and 1000"),
        ("regions.cortex.excitatory", 1.5, "between 0.0 and 1.0"),
        ("pathways.readout.fan_out", 2.5, "expected int"),
        ("regions.cortex.model", "hodgkin", "one of lif"),
    ],
)
def test_invalid_value_is_an_error_naming_the_key(isolated_config, key, value, words):
    with pytest.raises(ConfigError) as caught:
        load_config(overrides={key: value})
    message = str(caught.value)
    assert f"'{key}'" in message and words in message and "command line" in message
    assert "\n" not in message


def test_invalid_toml_and_missing_file_are_one_line_errors(isolated_config):
    broken = write(isolated_config / "broken.toml", "[brain\nseed = 1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
    binary = isolated_config / "binary.toml"
    binary.write_bytes(b"[brain]\nseed = \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(isolated_config / "missing.toml")


def test_environment_values_are_parsed_by_type(isolated_config, monkeypatch):
    monkeypatch.setenv("BRAINCHAT_NEURONS_NOISE_SIGMA", "0.3")
    monkeypatch.setenv("BRAINCHAT_STATS_INTERVAL", "50")
    config = load_config()
    assert config.neurons.noise_sigma == 0.3 and config.brain.stats_interval == 50
    monkeypatch.setenv("BRAINCHAT_STATS_INTERVAL", "fifty")
    with pytest.raises(ConfigError, match="brain.stats_interval.*environment"):
        load_config()


def test_replace_validates_too():
    assert Config().replace(**{"brain.neurons": 2000}).brain.neurons == 2000
    assert Config().replace(brain__seed=9).brain.seed == 9
    with pytest.raises(ConfigError, match="brain.neurons"):
        Config().replace(**{"brain.neurons": 10})
