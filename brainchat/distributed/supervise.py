"""``brainchat run --ranks R``: this process keeps the terminal, the brain steps on R MPI ranks under mpiexec.

The ranks run ``brainchat run --headless`` (rank 0 serves the control socket; in pipe mode
on a private socket, in lockstep, so that a pipe gets the replies ``brainchat run`` gives),
with stdin closed. This process gives the user the same prompt or pipe through a
:class:`~brainchat.control.remote_runner.RemoteRunner`, or, headless, waits. It stops the
brain as ``brainchat run`` stops: SIGTERM to mpiexec, which passes it to every rank; rank 0
autosaves and tells the others to stop. A rank that dies makes mpiexec end the others; this
process then says so in one line (mpiexec's own banner is left out) and exits 1.

mpiexec runs in a session of its own, so a Ctrl-C at the terminal reaches only this process,
which then stops the brain in order.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from brainchat.distributed import UNDER_MPI, mpi, mpiexec
from brainchat.errors import BrainchatError

SERVED = "BRAINCHAT_RANKS_SERVED"  # set for the ranks this process starts: rank 0 leaves the talking to it
# mpiexec's (MPICH hydra's) own lines when a rank dies or a signal is passed on: this process says it in one line instead
_BANNER = re.compile(r"^(=+|=\s.*|YOUR APPLICATION TERMINATED.*|This typically refers to a problem with your application\.?"
                     r"|Please see the FAQ page.*|\[mpiexec@[^\]]*\].*|\[proxy:.*)$")
_EXIT_CODE = re.compile(r"EXIT CODE:\s*(\d+)")
STOP_SECONDS = 600.0  # how long a stop may take (the autosave of a large brain)
START_POLL_SECONDS = 0.2


class Ranks:
    """mpiexec running ``brainchat ARGUMENTS`` on ``ranks`` ranks; its output goes on to stderr, its banners left out."""

    def __init__(self, ranks: int, hosts: str | None, arguments: list[str]):
        mpi()  # the one-line error now, before anything starts
        placement = ["-hosts", hosts] if hosts else []
        command = [mpiexec(), "-n", str(ranks), *placement, sys.executable, "-m", "mpi4py", "-m", "brainchat", *arguments]
        self.asked_to_stop = False
        self.rank_exit: int | None = None
        self.errors_seen = False  # a rank said what went wrong (e.g. a bad config): nothing to add
        self._said: set[str] = set()
        self._reported = False
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, UNDER_MPI: "1", SERVED: "1"}, text=True, bufsize=1, errors="replace",
        )
        self._forwarder = threading.Thread(target=self._forward, name="brainchat-ranks-output", daemon=True)
        self._forwarder.start()

    def _forward(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            text = line.rstrip("\n")
            found = _EXIT_CODE.search(text)
            if found:
                self.rank_exit = int(found.group(1))
            if _BANNER.match(text) or not text.strip():
                continue
            if text.startswith("brainchat: error:"):
                self.errors_seen = True
                if text in self._said:  # every rank says the same
                    continue
                self._said.add(text)
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def stopped(self, wait: float = 0.0) -> str | None:
        """Why the brain's ranks have ended (waiting up to ``wait`` s for it), or None while they run."""
        try:
            code = self.process.wait(timeout=wait) if wait else self.process.poll()
        except subprocess.TimeoutExpired:
            return None
        if code is None:
            return None
        if self.asked_to_stop and code == 0:
            return "the brain has stopped"
        if self.errors_seen:
            return "the brain stopped (its ranks said why above)"
        code = self.rank_exit if self.rank_exit is not None else code
        return (f"the brain stopped: one of its MPI ranks ended unexpectedly (exit code {code}) and mpiexec ended the others; "
                "snapshots saved before are intact, what it did since the last save is lost")

    def report(self) -> str | None:
        """:meth:`stopped`'s reason, the first time it is asked for after an unexpected end (so that it is said once)."""
        why = self.stopped()
        if why is None or self._reported or (self.asked_to_stop and self.process.returncode == 0):
            return None
        self._reported = True
        return why

    def stop(self, timeout: float = STOP_SECONDS) -> int:
        """SIGTERM to every rank (rank 0 autosaves and stops the others); a second Ctrl-C meanwhile aborts them. Returns mpiexec's exit code."""
        self.asked_to_stop = True
        on_main = threading.current_thread() is threading.main_thread()
        # as one process does during its autosave: a Ctrl-C now is ignored rather than left to lose it
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if on_main else None
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            for _ in range(2):  # mpiexec: a second SIGINT aborts its processes at once
                if self.process.poll() is None:
                    self.process.send_signal(signal.SIGINT)
                    time.sleep(0.2)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        finally:
            if on_main:
                signal.signal(signal.SIGINT, previous)
        self._forwarder.join(2)
        return self.process.returncode

    def __enter__(self) -> "Ranks":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.stop()


def wait_for_socket(ranks: Ranks, socket: Path) -> None:
    """Until rank 0 answers on ``socket`` (building a large brain takes a while); a one-line error if the ranks end first."""
    from brainchat.control.client import NoBrainRunning, request

    while True:
        why = ranks.stopped()
        if why is not None:
            ranks._reported = True
            raise BrainchatError(why)
        try:
            request(socket, "status", timeout=5)
            return
        except (NoBrainRunning, BrainchatError):
            time.sleep(START_POLL_SECONDS)


def check_hosts(hosts: str) -> None:
    """``--hosts`` must list this machine first: rank 0 serves the socket this process waits for (else it would wait forever).

    Hydra's forms ``A,B`` and ``A:2,B:2`` (``[::1]:2`` for an IPv6 address); the first is this
    machine if it is its name, or an address of its own: one a socket can be bound to.
    """
    import socket as sockets

    first = hosts.split(",")[0].strip()
    first = first[1:].split("]")[0] if first.startswith("[") else first.split(":")[0]
    if not first:
        raise BrainchatError(f"--hosts {hosts!r}: no machine named first")
    if first in ("localhost", sockets.gethostname(), sockets.getfqdn()):
        return
    try:
        addresses = sockets.getaddrinfo(first, None, type=sockets.SOCK_STREAM)
    except OSError:
        raise BrainchatError(f"--hosts: cannot find the machine {first!r}") from None
    for family, kind, _, _, address in addresses:
        try:
            with sockets.socket(family, kind) as probe:
                probe.bind((address[0], 0))  # only an address of this machine's own can be bound
            return
        except OSError:
            continue
    raise BrainchatError(f"--hosts: list this machine first ({sockets.gethostname()}), not {first!r}: rank 0 serves the brain's socket here")


def run_on_ranks(count: int, hosts: str | None, arguments: list[str], config: Any, mode: str, socket: Path | None, history: Path | None) -> int:
    """``brainchat run ARGUMENTS`` with its brain on ``count`` ranks; ``mode`` is ``interactive``, ``pipe`` or ``headless``. Returns the exit code."""
    from rich.console import Console

    if hosts:
        check_hosts(hosts)

    private = None
    if socket is None:  # a pipe: a socket of its own, in a folder only this user can enter
        private = tempfile.TemporaryDirectory(prefix="brainchat-ranks-")
        socket = Path(private.name) / "brain.sock"
    extra = ["--headless", "--socket", str(socket), *(["--lockstep"] if mode == "pipe" else [])]
    console = Console(stderr=True)
    try:
        with Ranks(count, hosts, [*arguments, *extra]) as ranks:
            try:
                with console.status(f"starting the brain on {count} MPI ranks", spinner="dots") if mode == "interactive" else _nothing():
                    wait_for_socket(ranks, socket)
            except KeyboardInterrupt:
                ranks.stop()
                return 130
            if mode == "headless":
                return _wait_headless(ranks, count, socket)
            return _talk(ranks, socket, config, mode, history)
    finally:
        if private is not None:
            private.cleanup()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _wait_headless(ranks: Ranks, count: int, socket: Path) -> int:
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        print(f"brainchat: headless brain on {count} MPI ranks listening on {socket}; SIGTERM or Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            if ranks.stopped() is not None:
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return _ended(ranks)


def _ended(ranks: Ranks) -> int:
    """Stop the ranks if they still run; one line if they ended on their own; the exit code."""
    why = ranks.report()
    if why is not None:
        print(f"brainchat: {why}", file=sys.stderr, flush=True)
        return 1
    code = ranks.stop()
    return 0 if code == 0 else 1


def _talk(ranks: Ranks, socket: Path, config: Any, mode: str, history: Path | None) -> int:
    from brainchat.control.remote_runner import RemoteRunner
    from brainchat.repl import run_interactive, run_piped

    prompting = threading.Event()

    def watch() -> None:
        """At the prompt: when the ranks end, the prompt ends (as on SIGTERM) and the reason is said."""
        while ranks.stopped(1.0) is None and prompting.is_set():
            pass
        if prompting.is_set() and not ranks.asked_to_stop:
            os.kill(os.getpid(), signal.SIGTERM)

    with RemoteRunner(socket, config, ranks.stopped) as remote:
        if mode == "interactive":
            prompting.set()
            threading.Thread(target=watch, name="brainchat-ranks-watch", daemon=True).start()
            try:
                run_interactive(remote, history)
            finally:
                prompting.clear()  # (a SIGTERM after the prompt's handler is gone would end this process)
        else:
            run_piped(remote, sys.stdin)
    if remote.stopped_said:
        ranks._reported = True
    return _ended(ranks)
