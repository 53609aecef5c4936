"""Shared fixtures: the model tests run on every usable backend (NumPy always, CuPy with a GPU)."""

from __future__ import annotations

import functools
import signal

import pytest

from brainchat.backend import Backend, numpy_backend, probe_gpu, select_backend


def pytest_configure(config):
    """Ctrl-C as a terminal sends it, in every child the tests start, however pytest was started.

    A command started in the background by a non-interactive shell (``.ci/run &``, ``nohup``)
    inherits SIGINT ignored, and so does every process it starts: a brainchat child then
    never hears the Ctrl-C a test sends it (what made tests/test_top.py fail in some CI runs;
    checked: ``bash -c 'python3 -c "..." &'`` sees SIG_IGN). A handler set here is reset to
    the default in an exec'd child; an ignored disposition would be inherited.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@functools.lru_cache(maxsize=1)
def gpu_probe():
    return probe_gpu()


def pytest_collection_modifyitems(config, items):
    probe = gpu_probe()
    if probe.usable:
        return
    skip = pytest.mark.skip(reason=f"no usable GPU: {probe.reason}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request) -> Backend:
    """The array backend a model test runs on."""
    if request.param == "numpy":
        return numpy_backend()
    return select_backend("gpu")


@pytest.fixture
def isolated_config(tmp_path, monkeypatch):
    """Run from an empty folder with no user config and no BRAINCHAT_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith("BRAINCHAT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def private_data_folder(tmp_path_factory, monkeypatch):
    """No test writes a conversation log or a history into the real ``~/.local/share``: brains started by a test inherit this."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("data")))
