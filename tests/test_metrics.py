"""/metrics and /healthz served from the brain's own process (``brainchat run --metrics-port``), on a real runner and a real HTTP server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from test_control import cli, environment

parser = pytest.importorskip("prometheus_client.parser", reason="the web extra is not installed (pip install 'brainchat[web]')")

from brainchat.config import load_config  # noqa: E402
from brainchat.metrics import MetricsServer  # noqa: E402
from brainchat.model.brain import Brain  # noqa: E402
from brainchat.runtime.runner import Runner  # noqa: E402


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def samples(text: str) -> dict[str, float]:
    return {sample.name + "".join(f"[{v}]" for v in sample.labels.values()): sample.value
            for family in parser.text_string_to_metric_families(text) for sample in family.samples}


def test_healthz_turns_unhealthy_when_the_stepping_thread_stops():
    config = load_config(None, {"brain.neurons": "5000", "brain.device": "cpu"})
    brain = Brain(config)
    runner = Runner(brain, speed=0).start()
    try:
        runner.wait_ready(60)
        deadline = time.monotonic() + 120
        while runner.stats.step == 0 and time.monotonic() < deadline:  # the kernels compile first
            time.sleep(0.1)
        with MetricsServer(runner.status, 0) as server:
            base = f"http://127.0.0.1:{server.port}"
            code, body = get(base + "/healthz")
            assert code == 200 and json.loads(body)["healthy"]
            first = samples(get(base + "/metrics")[1])
            time.sleep(0.5)
            second = samples(get(base + "/metrics")[1])
            assert second["brainchat_steps_total"] > first["brainchat_steps_total"] > 0, "the step counter moves while the brain runs"
            assert second["brainchat_healthy"] == 1 and "brainchat_firing_ratio[cortex]" in second
            runner.stop()
            code, body = get(base + "/healthz")
            answer = json.loads(body)
            assert code == 503 and not answer["healthy"] and answer["health"] == "the stepping thread has stopped" and answer["step"] > 0
            assert samples(get(base + "/metrics")[1])["brainchat_healthy"] == 0
            assert get(base + "/other")[0] == 404
    finally:
        runner.stop()
        brain.close()


def test_run_serves_metrics_without_the_page(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "brainchat", "run", "--headless", "-n", "5000", "--metrics-port", "0"],
                               env=environment(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            assert line, "brainchat run ended early"
            found = re.search(r"metrics on (http://127\.0\.0\.1:\d+/metrics)", line)
            url = found.group(1) if found else None
        assert url is not None
        while cli(tmp_path, "status").returncode != 0:
            time.sleep(0.2)
        code, text = get(url)
        assert code == 200 and samples(text)["brainchat_neurons"] == 5000
        assert get(url.replace("/metrics", "/healthz"))[0] == 200
    finally:
        process.terminate()
        process.wait(30)


def test_the_dashboard_and_the_docs_name_only_metrics_that_exist():
    from pathlib import Path

    from brainchat.metrics import exposition

    status = {"step": 1, "healthy": True, "health": "stepping", "device": "cpu", "realtime_factor": 1.0, "ms_per_step": 1.0, "firing_fraction": 0.05,
              "mean_threshold": 1.0, "drive": 0.1, "dopamine": 0.0, "neurons": 10, "speed": 1.0, "paused": False, "regions": {"cortex": 0.05},
              "rewards_positive": 1, "rewards_negative": 0, "events": {"say": 1}}
    served = {sample.name for family in parser.text_string_to_metric_families(exposition(status).decode()) for sample in family.samples}
    docs = Path(__file__).parent.parent / "docs"
    for name in ("grafana-dashboard.json", "web.md"):
        named = set(re.findall(r"brainchat_[a-z_]+", (docs / name).read_text()))
        assert named and named <= served, f"{name} names metrics that are not served: {sorted(named - served)}"
