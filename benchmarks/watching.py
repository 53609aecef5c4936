"""What watching costs the brain: a headless brain's step rate alone, and with `brainchat web` + the page in chromium + `brainchat top` open.

Phases alternate (alone, watched, alone, watched, ...); in a watched phase the viewers are
started, given ``--settle`` seconds to attach and draw, then the brain's steps are counted
over ``--seconds`` from two ``status`` calls. The ratio of each watched phase to the mean of
the alone phases around it is printed, and the median over the rounds. Everything runs on
this machine's cores together, as a user's would.

    .venv/bin/python benchmarks/watching.py --neurons 200000 --speed max --rounds 3
    .venv/bin/python benchmarks/watching.py --neurons 200000 --speed 1 --rounds 3   # real-time pacing

Needs the web extra, Playwright and chromium (/usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pexpect

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def brainchat(env: dict, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "brainchat", *args], capture_output=True, text=True, env=env, timeout=120)
    if done.returncode:
        raise RuntimeError(done.stderr.strip())
    return json.loads(done.stdout) if "--json" in args else {}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children so far (from /proc)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pids += [int(c) for c in children]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy so far (/proc/stat: everything but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def steps_per_second(env: dict, seconds: float, watch: dict[str, int]) -> tuple[float, dict[str, float]]:
    """The brain's steps per second over ``seconds``, and the share of one core each watched process (and all the others together) used meanwhile."""
    first = brainchat(env, "status", "--json")
    cpu = {name: cpu_seconds(pid) for name, pid in watch.items()}
    busy = machine_busy_seconds()
    started = time.monotonic()
    time.sleep(seconds)
    busy = machine_busy_seconds() - busy
    last = brainchat(env, "status", "--json")
    elapsed = time.monotonic() - started
    used = {name: (cpu_seconds(pid) - cpu[name]) / elapsed for name, pid in watch.items()}
    used["everything else"] = busy / elapsed - sum(used.values())
    return (last["step"] - first["step"]) / elapsed, used


def wait_for_quiet(brain_pid: int, limit: float = 30.0) -> None:
    """Until the viewers' processes are gone: nothing but the brain busy (at most a tenth of a core) for a second."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        busy, own = machine_busy_seconds(), cpu_seconds(brain_pid)
        time.sleep(1.0)
        if machine_busy_seconds() - busy - (cpu_seconds(brain_pid) - own) < 0.1:
            return


class Viewers:
    """brainchat web with the page open in headless chromium, and brainchat top in a pseudo-terminal whose output is drained."""

    def __init__(self, env: dict, playwright, fps: float, which: set[str]):
        self.web = self.browser = self.page = self.top = None
        if "page" in which:
            self.web = subprocess.Popen([sys.executable, "-m", "brainchat", "web", "--port", "0", "--fps", os.environ.get("WEB_FPS", "10")], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
            url = self.web.stdout.readline().strip()
            self.browser = playwright.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_FLAGS)
            self.page = self.browser.new_page(viewport={"width": 1500, "height": 1100})
            self.page.goto(url)
        if "top" in which:
            self.top = pexpect.spawn(sys.executable, ["-m", "brainchat", "top", "--fps", str(fps)], env={**env, "TERM": "xterm"},
                                     dimensions=(50, 160))
            self._draining = True
            self._drain = threading.Thread(target=self._read_top, daemon=True)
            self._drain.start()

    def _read_top(self) -> None:
        while self._draining:
            try:
                self.top.read_nonblocking(65536, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                return

    def frames_seen(self) -> int:
        return int(self.page.evaluate("window.brainchat.frames")) if self.page is not None else 0

    def processes(self) -> dict[str, int]:
        found = {}
        if self.web is not None:
            found["web"] = self.web.pid
            # chromium runs under Playwright's driver, a child of this process: counted as "browser"
            own = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()
            drivers = [int(c) for c in own if "playwright" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]
            if drivers:
                found["browser"] = drivers[0]
        if self.top is not None:
            found["top"] = self.top.pid
        return found

    def close(self) -> None:
        if self.top is not None:
            self._draining = False
            self.top.sendcontrol("c")
            self.top.expect(pexpect.EOF, timeout=30)
        if self.browser is not None:
            self.browser.close()
            self.web.terminate()
            self.web.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", default="200000")
    parser.add_argument("--speed", default="max")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--fps", type=float, default=5.0, help="top's frames a second (its default)")
    parser.add_argument("--viewers", default="page,top", help="which viewers watch: page (brainchat web + chromium), top, or both")
    parser.add_argument("--threads", type=int, default=0, help="the brain's kernel threads (brain.cpu_threads; 0: its default)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()

    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="brainchat-watching-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINCHAT_")}
    env.update(XDG_RUNTIME_DIR=str(folder / "run"), XDG_DATA_HOME=str(folder / "data"), XDG_CONFIG_HOME=str(folder / "config"))
    brain_env = {**env, **({"BRAINCHAT_CPU_THREADS": str(options.threads)} if options.threads else {})}
    brain = subprocess.Popen([sys.executable, "-m", "brainchat", "run", "--headless", "--no-log", "-n", options.neurons, "--speed", options.speed],
                             env=brain_env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if brainchat(env, "status", "--json")["step"] > 2000:
                    break
            except RuntimeError:
                pass
            if time.monotonic() > deadline or brain.poll() is not None:
                raise SystemExit("the brain did not start")
            time.sleep(0.5)
        with sync_playwright() as playwright:
            alone_used = []
            wait_for_quiet(brain.pid)
            rate, used = steps_per_second(env, options.seconds, {"brain": brain.pid})
            alone, alone_used = [rate], [used]
            for round_ in range(options.rounds):
                viewers = Viewers(env, playwright, options.fps, set(options.viewers.split(",")))
                try:
                    time.sleep(options.settle)
                    before = viewers.frames_seen()
                    watch = {"brain": brain.pid, **viewers.processes()}
                    watched, used = steps_per_second(env, options.seconds, watch)
                    frames = viewers.frames_seen() - before
                finally:
                    viewers.close()
                wait_for_quiet(brain.pid)
                rate, used_alone = steps_per_second(env, options.seconds, {"brain": brain.pid})
                alone.append(rate)
                alone_used.append(used_alone)
                ratio = watched / statistics.mean(alone[-2:])
                rows.append({"round": round_ + 1, "alone_before": alone[-2], "watched": watched, "alone_after": alone[-1],
                             "ratio": ratio, "page_frames": frames, "cores_used": used, "cores_used_alone_after": used_alone})
                if not options.json:
                    print(f"round {round_ + 1}: alone {alone[-2]:,.0f} steps/s, watched {watched:,.0f} (page drew {frames} frames), "
                          f"alone {alone[-1]:,.0f}: ratio {ratio:.3f}; cores used: "
                          + ", ".join(f"{name} {share:.2f}" for name, share in used.items())
                          + f"; alone after: everything else {used_alone['everything else']:.2f}", flush=True)
    finally:
        brain.terminate()
        brain.wait(60)
    report = {"neurons": int(options.neurons), "speed": options.speed, "rounds": rows, "ratio_median": statistics.median(r["ratio"] for r in rows)}
    print(json.dumps(report) if options.json else f"median ratio {report['ratio_median']:.3f}")


if __name__ == "__main__":
    main()
