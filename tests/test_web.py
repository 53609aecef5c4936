"""`brainchat web` against a real headless brain: the token, the WebSocket's origin check, /metrics, /healthz, and the page in a real chromium."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_control import cli, environment, headless  # noqa: F401  (the fixture is used by name)

pytest.importorskip("starlette", reason="the web extra is not installed (pip install 'brainchat[web]')")
pytest.importorskip("uvicorn", reason="the web extra is not installed (pip install 'brainchat[web]')")
parser = pytest.importorskip("prometheus_client.parser", reason="the web extra is not installed (pip install 'brainchat[web]')")
websockets_sync = pytest.importorskip("websockets.sync.client", reason="the web extra is not installed (pip install 'brainchat[web]')")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


@pytest.fixture
def web(headless, tmp_path):  # noqa: F811
    """``brainchat web --port 0`` attached to the headless brain; yields (url with token, base url, token, process)."""
    process = subprocess.Popen([sys.executable, "-m", "brainchat", "web", "--port", "0"], env=environment(tmp_path), cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = process.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), process.stderr.read() if process.poll() is not None else url
    base, token = url.split("/?token=")
    yield url, base, token, process
    process.send_signal(signal.SIGINT)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("brainchat web did not stop on Ctrl-C")


def get(url: str, headers: dict | None = None, timeout: float = 10) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(base: str, token: str) -> dict:
    code, text = get(f"{base}/metrics", {"Authorization": f"Bearer {token}"})
    assert code == 200, text
    samples = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items())) + "}" if sample.labels else "")
            samples[key] = sample.value
    return samples


def test_every_request_needs_the_token_and_the_url_file_is_private(web, tmp_path):
    url, base, token, _ = web
    for path in ("/", "/static/app.js", "/metrics", "/healthz"):
        assert get(base + path)[0] == 403, f"{path} without the token is refused"
        assert get(f"{base}{path}?token=wrong-{token}")[0] == 403, f"{path} with a wrong token is refused"
    code, page = get(url)
    assert code == 200 and "<canvas id=\"raster\"" in page
    assert get(f"{base}/static/app.js", {"Authorization": f"Bearer {token}"})[0] == 200
    url_file = tmp_path / "run" / "brainchat" / "web.url"
    assert url_file.read_text().strip() == url
    assert stat.S_IMODE(url_file.stat().st_mode) == 0o600


def test_the_websocket_needs_the_token_and_this_origin(web):
    _, base, token, _ = web
    ws = base.replace("http://", "ws://") + "/ws"
    for address, headers in ((ws, {}), (f"{ws}?token=nope", {}), (f"{ws}?token={token}", {"Origin": "http://evil.example"})):
        with pytest.raises(Exception) as refused:
            websockets_sync.connect(address, additional_headers=headers, open_timeout=10).close()
        assert "403" in str(refused.value), f"{address} {headers}: {refused.value}"
    with websockets_sync.connect(f"{ws}?token={token}", additional_headers={"Origin": base}, open_timeout=10) as socket_:
        kinds = set()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not {"header", "frame"} <= kinds:
            kinds.add(json.loads(socket_.recv(timeout=30))["type"])
        assert {"header", "frame"} <= kinds, "the page gets the stream's header and its frames"
        socket_.send(json.dumps({"id": 7, "cmd": "say", "text": "hi"}))
        while True:
            message = json.loads(socket_.recv(timeout=60))
            if message["type"] == "response":
                break
        assert message["id"] == 7 and message["ok"] and message["said"] == "hi" and "reply" in message
        socket_.send(json.dumps({"id": 8, "cmd": "load", "name": "x"}))
        while (message := json.loads(socket_.recv(timeout=30)))["type"] != "response":
            pass
        assert not message["ok"] and "cannot ask" in message["error"]


def test_metrics_parse_and_their_counters_move(web, tmp_path):
    _, base, token, _ = web
    first = scrape(base, token)
    assert first["brainchat_up"] == 1 and first["brainchat_healthy"] == 1
    assert 0.02 < first["brainchat_firing_ratio{region=cortex}"] < 0.08
    assert cli(tmp_path, "say", "hello").returncode == 0
    assert cli(tmp_path, "reward", "+").returncode == 0
    time.sleep(1.0)
    second = scrape(base, token)
    assert second["brainchat_steps_total"] > first["brainchat_steps_total"], "steps go on"
    assert second["brainchat_lines_total"] == first["brainchat_lines_total"] + 1
    assert second["brainchat_replies_total"] == first["brainchat_replies_total"] + 1
    assert second["brainchat_rewards_total{sign=positive}"] == first["brainchat_rewards_total{sign=positive}"] + 1
    assert second["brainchat_rewards_total{sign=negative}"] == first["brainchat_rewards_total{sign=negative}"]


def test_healthz_turns_unhealthy_while_the_brain_is_stopped(web, headless):  # noqa: F811
    _, base, token, _ = web
    auth = {"Authorization": f"Bearer {token}"}
    code, body = get(f"{base}/healthz", auth)
    assert code == 200 and json.loads(body)["healthy"]
    os.kill(headless.pid, signal.SIGSTOP)
    try:
        code, body = get(f"{base}/healthz", auth)
        assert code == 503 and not json.loads(body)["healthy"] and "did not answer" in json.loads(body)["health"]
        assert scrape(base, token)["brainchat_up"] == 0, "a scrape of a stopped brain says it is down"
    finally:
        os.kill(headless.pid, signal.SIGCONT)
    deadline = time.monotonic() + 20
    while (code := get(f"{base}/healthz", auth)[0]) != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert code == 200, "healthy again once it steps"


def test_web_without_a_brain_says_so_in_one_line(tmp_path):
    done = cli(tmp_path, "web", "--port", "0")
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "no brain is running" in done.stderr


def test_a_busy_port_is_one_line(web, tmp_path):
    _, base, _, _ = web
    port = base.rsplit(":", 1)[1]
    done = cli(tmp_path, "web", "--port", port)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1 and f"port {port} is in use" in done.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (Debian: apt install chromium; .ci/run installs it)")
def test_the_page_in_a_real_browser(web, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (it is in the test extra)")
    url, base, _, _ = web
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1150})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            assert page.goto(base + "/").status == 403, "without the token the page does not load"
            assert page.goto(url).status == 200
            page.wait_for_function("window.brainchat.frames >= 5", timeout=30000)
            assert page.inner_text("#connection") == "watching"
            painted = page.evaluate("""() => {
                const canvas = document.getElementById("raster");
                const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
                let lit = 0;
                for (let i = 0; i < pixels.length; i += 4) if (pixels[i] + pixels[i + 1] + pixels[i + 2] > 3 * 40) lit++;
                return lit;
            }""")
            assert painted > 50, f"the raster canvas shows spikes ({painted} lit pixels)"
            page.click("#raster", position={"x": 700, "y": 350})  # a cortex row: pin that neuron
            page.fill("#say-input", "hello there")
            page.press("#say-input", "Enter")
            reply = page.wait_for_selector(".chat .reply", timeout=60000)
            assert reply.inner_text().startswith("brain: ")
            page.wait_for_selector("#events li[data-kind=reply]", timeout=10000)
            before = float(page.inner_text("#dopamine"))
            page.click("#reward-plus")
            page.wait_for_function(f"Math.abs(Number(document.getElementById('dopamine').textContent) - {before}) > 0.1", timeout=10000)
            page.wait_for_function("window.brainchat.pins.length === 1 && Object.values(window.brainchat.traces).some(t => t.membrane.length > 50)",
                                   timeout=20000)
            page.wait_for_timeout(5500)  # a weight histogram arrives every 5 s
            assert "synapses" in page.inner_text("#weights-note")
            shot = os.environ.get("BRAINCHAT_SCREENSHOT")
            if shot:
                page.screenshot(path=shot, full_page=True)
            assert not errors, errors
        finally:
            browser.close()
