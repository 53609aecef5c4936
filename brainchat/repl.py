"""The ``brainchat run`` front end: an interactive prompt, or one reply per line from a pipe.

Interactive: one prompt_toolkit session on the main thread, history in the user's data
folder, completion of the slash commands, a bottom toolbar with live figures refreshed four
times a second, and replies printed as ``brain> ...`` through ``patch_stdout`` so they never
break the line being typed. Meta-commands live in :data:`COMMANDS`; ``/help`` and
completion are generated from it.

Piped (stdin is not a terminal): each input line gives exactly one output line, the reply;
slash commands work too; an empty line lets the brain run and prints nothing.
"""

from __future__ import annotations

import io
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, TextIO

import numpy as np
from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from brainchat.config import user_data_folder
from brainchat.errors import BrainchatError
from brainchat.report import chemistry_table, region_tables, sleep_line, sleep_short, sparkline
from brainchat.runtime.runner import Reply, Runner, RunnerStats, RunnerStopped, teaching_summary



@dataclass(frozen=True)
class MetaCommand:
    """A slash command: its name, other spellings, argument hint, one-line help and handler."""

    name: str
    aliases: tuple[str, ...]
    arguments: str
    help: str
    handler: Callable[["Session", str], bool]  # returns False to leave


def _help(session: "Session", argument: str) -> bool:
    width = max(len(f"/{c.name} {c.arguments}") for c in COMMANDS)
    lines = ["Anything else you type is said to the brain. Commands:"]
    for command in COMMANDS:
        usage = f"/{command.name} {command.arguments}".rstrip()
        aliases = f"  (also {', '.join(command.aliases)})" if command.aliases else ""
        lines.append(f"  {usage:<{width}}  {command.help}{aliases}")
    session.show("\n".join(lines))
    return True


def _stats(session: "Session", argument: str) -> bool:
    try:
        raster = session.runner.raster(neurons=24, steps=72).result(timeout=60)
    except TimeoutError:
        session.show("no raster: the brain did not take 72 steps within 60 s")
        return True
    session.show_rich(stats_panel(session.runner.stats, raster))
    return True


def _regions(session: "Session", argument: str) -> bool:
    runner = session.runner
    firing = dict(runner.stats.region_firing)
    layout = runner.layout
    damage = runner.brain.damage()
    report = {"regions": [{**row, "firing": firing.get(row["name"]), **damage.get(row["name"], {"dead_ids": [], "new_ids": []})} for row in layout["regions"]],
              "pathways": layout["pathways"], "running": True}
    for table in region_tables(report):
        session.show_rich(table)
    return True


def _pause(session: "Session", argument: str) -> bool:
    session.runner.pause()
    session.show("paused: the brain holds still until /resume")
    return True


def _resume(session: "Session", argument: str) -> bool:
    session.runner.resume()
    session.show("resumed")
    return True


def _speed(session: "Session", argument: str) -> bool:
    text = argument.strip().lower()
    try:
        speed = 0.0 if text == "max" else float(text)
        if not (speed >= 0 and np.isfinite(speed)):
            raise ValueError
    except ValueError:
        session.show("usage: /speed X  (X brain-ms per wall-ms, e.g. 1 for real time, 0.5, 10, or max)")
        return True
    session.runner.set_speed(speed)
    session.show("speed: as fast as the machine can" if speed == 0 else f"speed: {speed:g} x real time")
    return True


def _save(session: "Session", argument: str) -> bool:
    from brainchat.persistence.snapshot import snapshot_path, timestamp_name

    try:
        path = snapshot_path(session.snapshots, argument.strip() or timestamp_name())
        saved = session.runner.save(path, timeout=600)
    except BrainchatError as error:
        session.show(f"not saved: {error}")
        return True
    session.show(
        f"saved {saved.path} ({saved.size / 1e6:.1f} MB, step {saved.step:,}; the brain paused {saved.pause_ms:.0f} ms)"
    )
    return True


def _load(session: "Session", argument: str) -> bool:
    from brainchat.persistence.snapshot import snapshot_path

    if not argument.strip():
        session.show("usage: /load NAME  (brainchat snapshots lists them)")
        return True
    try:
        step = session.runner.load(snapshot_path(session.snapshots, argument.strip()), timeout=600)
    except BrainchatError as error:
        session.show(f"not loaded: {error}")
        return True
    session.show(f"loaded {argument.strip()}: the brain goes on from step {step:,}")
    return True


def _reward(session: "Session", argument: str) -> bool:
    word = argument.strip()
    if word not in ("+", "-"):
        session.show("usage: /reward + (or just +) to reward the last reply, /reward - (or -) to punish it")
        return True
    level = session.runner.reward(1.0 if word == "+" else -1.0)
    session.show(f"{'rewarded' if word == '+' else 'punished'}: dopamine {level:+.2f}")
    return True


def _teach(session: "Session", argument: str) -> bool:
    prompt, arrow, reply = argument.partition("=>")
    image = session.last_image if arrow and not prompt.strip() else None
    if not arrow or not reply.strip() or (not prompt.strip() and image is None):
        session.show("usage: /teach PROMPT => REPLY   e.g. /teach hello => hi there   (after /see PATH: /teach => REPLY names the image)")
        return True
    prompt, reply = prompt.strip(), reply.strip()

    def done(future) -> None:
        try:
            taught = future.result()
        except Exception as error:  # paused, replaced or stopped: say so instead of a traceback
            session.show(f"not taught: {error}")
            return
        for notice in taught.notices:
            session.notify(notice)
        session.show(teaching_summary(taught.said, taught.text, taught.before))

    future = session.runner.teach_async(prompt, reply, image)
    if session.interactive:
        future.add_done_callback(done)
    else:
        done(future)  # in a pipe the next line waits for this teaching
    return True


def _see(session: "Session", argument: str) -> bool:
    """An image as a prompt: the brain answers what it sees; /teach => REPLY then teaches that image."""
    from brainchat.vision.images import read_image

    path = argument.strip()
    if not path:
        session.show("usage: /see PATH   a PNG, a PGM, or a text file of digit rows (0-9, 9 = brightest); then /teach => REPLY names it")
        return True
    try:
        image = read_image(Path(path).expanduser())
        session.runner.brain.image_stimulus(image)  # a brain without eyes says so now
    except BrainchatError as error:
        session.show(f"not seen: {error}")
        return True
    session.last_image = image
    future = session.runner.say_async("", image)
    if session.interactive:
        future.add_done_callback(session._print_reply)
    else:
        session._print_reply_now(future.result())
    return True


def _damaged(session: "Session", result: dict) -> None:
    renewal = f"; renewed from their neighbours in {result['renewal_ms'] / 1000:g} s of brain time" if result["renewal_ms"] is not None else "; renewal is off: they stay dead"
    session.show(f"{result['killed']:,} neurons of {result['region']} died ({result['dead']:,} dead in all){renewal}")


def _lesion(session: "Session", argument: str) -> bool:
    words = argument.split()
    try:
        region, fraction = words[0], float(words[1].rstrip("%")) / (100 if words[1].endswith("%") else 1)
        if len(words) != 2:
            raise ValueError
    except (IndexError, ValueError):
        session.show("usage: /lesion REGION FRACTION   e.g. /lesion cortex 0.1 (or 10%): that share of its neurons dies")
        return True
    try:
        _damaged(session, session.runner.lesion(region, fraction))
    except BrainchatError as error:
        session.show(f"no lesion: {error}")
    return True


def _stroke(session: "Session", argument: str) -> bool:
    words = argument.split()
    try:
        x, y, radius = (float(w) for w in words[:3])
        if len(words) not in (3, 4):
            raise ValueError
    except ValueError:
        session.show("usage: /stroke X Y RADIUS [REGION]   a disc on the region's grid (column, row, in neurons; default region: the cortex) dies")
        return True
    try:
        _damaged(session, session.runner.stroke(x, y, radius, words[3] if len(words) == 4 else None))
    except BrainchatError as error:
        session.show(f"no stroke: {error}")
    return True


def _rhythm(session: "Session", argument: str) -> bool:
    from brainchat import rhythm

    try:
        result = session.runner.rhythm()
    except ValueError as error:
        session.show(f"no rhythm yet: {error}")
        return True
    session.show("\n".join(rhythm.chart(result)))
    return True


def _chem(session: "Session", argument: str) -> bool:
    words = argument.split()
    try:
        if not words:
            report = session.runner.chem()
        elif words[0] == "set" and len(words) in (3, 4):
            seconds = float(words[3]) if len(words) == 4 else None
            report = session.runner.dose(words[1], float(words[2]), seconds)
        else:
            session.show("usage: /chem  (levels)   /chem set NAME LEVEL [SECONDS]  (NAME: dopamine, serotonin, noradrenaline, acetylcholine)")
            return True
    except ValueError as error:
        session.show(f"no dose: {error}")
        return True
    for table in chemistry_table(report):
        session.show_rich(table)
    return True


def _sleep(session: "Session", argument: str) -> bool:
    text = argument.strip()
    try:
        minutes = float(text) if text else None
        if minutes is not None and not (0 < minutes <= 24 * 60):
            raise ValueError
    except ValueError:
        session.show("usage: /sleep [MINUTES]   sleep now, for MINUTES brain minutes (default: [sleep] asleep_minutes); /wake wakes it")
        return True
    report = session.runner.sleep(minutes)
    if report.get("asleep"):
        scaled = report.get("downscaling") or {}
        extra = f"; plastic weights downscaled, mean {scaled['mean_before']:.3f} -> {scaled['mean_after']:.3f}" if scaled else ""
        session.show(f"{sleep_line(report)}: it replays the {report['remembered_pairs']} pairs it was taught{extra}. "
                     "Lines said meanwhile are kept for its waking")
    else:  # a pipe's brain sleeps it through at once
        session.show(f"slept and woke ({report.get('replays', 0)} replays)")
    return True


def _wake(session: "Session", argument: str) -> bool:
    report = session.runner.wake()
    if not report.get("was_asleep"):
        session.show("it is awake already")
        return True
    lines = [f"awake after {report.get('replays', 0)} replays"]
    for said in report.get("replies", []):
        lines.append(f"  you said {said['said']!r} while it slept; brain> {said['reply'] if said['reply'] is not None else '(no reply)'}")
    session.show("\n".join(lines))
    return True


def _quit(session: "Session", argument: str) -> bool:
    return False


COMMANDS: tuple[MetaCommand, ...] = (
    MetaCommand("help", ("?",), "", "this list", _help),
    MetaCommand("stats", (), "", "vitals with a sparkline of recent firing and a spike raster", _stats),
    MetaCommand("regions", (), "", "the regions with their firing now, and the pathways between them", _regions),
    MetaCommand("pause", (), "", "stop stepping the brain", _pause),
    MetaCommand("resume", (), "", "step it again", _resume),
    MetaCommand("speed", (), "X|max", "brain-ms per wall-ms (1 = real time)", _speed),
    MetaCommand("teach", (), "PROMPT => REPLY", "teach it to answer PROMPT with REPLY (a few teachings make it stick)", _teach),
    MetaCommand("reward", (), "+|-", "reward (+) or punish (-) the last reply; a bare + or - does the same", _reward),
    MetaCommand("see", (), "PATH", "show it an image (PNG, PGM or a text grid of digits): it answers what it sees; /teach => REPLY then names it", _see),
    MetaCommand("lesion", (), "REGION FRACTION", "kill that share of a region's neurons (renewed from their neighbours after [renewal] delay_ms)", _lesion),
    MetaCommand("stroke", (), "X Y RADIUS [REGION]", "kill a disc of neurons on a region's grid (default: the cortex)", _stroke),
    MetaCommand("chem", (), "[set NAME LEVEL [SECONDS]]", "the neuromodulators: levels, what each does, glutamate/GABA; set: dose one (held SECONDS of brain time)", _chem),
    MetaCommand("rhythm", (), "", "the spectrum of the last 10 s of activity and its peak in gamma (30-80 Hz)", _rhythm),
    MetaCommand("sleep", (), "[MINUTES]", "sleep now: input closed, taught pairs replayed, weights downscaled; lines said meanwhile are kept", _sleep),
    MetaCommand("wake", (), "", "wake it; it then answers the lines said while it slept", _wake),
    MetaCommand("save", (), "[NAME]", "snapshot the brain to <snapshots>/NAME.h5 (default name: the time)", _save),
    MetaCommand("load", (), "NAME", "replace the brain's state with a snapshot", _load),
    MetaCommand("quit", ("exit",), "", "leave (Ctrl-D does too)", _quit),
)


def find_command(word: str) -> MetaCommand | None:
    for command in COMMANDS:
        if word == command.name or word in command.aliases:
            return command
    return None


def toolbar_text(stats: RunnerStats) -> str:
    state = "paused" if stats.paused else f"{stats.realtime_factor:.2f}x real time"
    sleep = f"{sleep_short(dict(stats.sleep))} | " if stats.sleep else ""
    return (
        f" step {stats.step:,} | {stats.brain_seconds:,.1f} s | {state} | {sleep}firing {100 * stats.firing_fraction:.2f} % "
        f"| threshold {stats.mean_threshold:.3f} | drive {stats.drive:+.3f} | dopamine {stats.dopamine:+.2f} | mood {stats.mood:+.2f} | {stats.device} "
    )


def stats_panel(stats: RunnerStats, raster: np.ndarray) -> Panel:
    recent = stats.recent_firing
    lines = [
        Text(toolbar_text(stats).strip(" ").replace(" | ", "   ")),
        Text(f"firing, last {len(recent)} intervals ({100 * min(recent, default=0):.2f}-{100 * max(recent, default=0):.2f} %): ")
        + Text(sparkline(recent), style="green"),
        Text(f"spikes of {raster.shape[0]} neurons over {raster.shape[1]} ms:"),
    ]
    rows = ["".join("|" if spike else "." for spike in row) for row in raster]
    return Panel(Group(*lines, Text("\n".join(rows), style="cyan")), title="brain", expand=False)


class Session:
    """What the front end does with lines, shared by the interactive and the piped mode."""

    def __init__(self, runner: Runner, out: TextIO, err: TextIO, interactive: bool):
        self.runner = runner
        self.snapshots = runner.brain.config.brain.snapshots
        self.out = out
        self.err = err
        self.interactive = interactive
        self.last_image: np.ndarray | None = None  # what /see showed last: /teach => REPLY names it

    def show(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def show_rich(self, renderable: object) -> None:
        buffer = io.StringIO()
        Console(file=buffer, force_terminal=self.interactive, width=100, color_system="standard" if self.interactive else None).print(renderable)
        self.out.write(buffer.getvalue())
        self.out.flush()

    def notify(self, text: str) -> None:
        print(f"note: {text}", file=self.err if not self.interactive else self.out, flush=True)

    def handle(self, line: str) -> bool:
        """Act on one line; returns False when the user leaves or the brain has stopped."""
        try:
            return self._handle(line)
        except RunnerStopped as stopped:
            self.show(f"brainchat: {stopped}")
            return False
        except BrainchatError as error:
            self.show(f"brainchat: {error}")
            return True
        except KeyboardInterrupt:
            if not self.interactive:
                raise
            self.show("interrupted (a save already under way finishes in the background)")
            return True

    def _handle(self, line: str) -> bool:
        stripped = line.strip()
        if stripped in ("+", "-"):
            return _reward(self, stripped)
        if stripped.startswith("/"):
            word, _, argument = stripped[1:].partition(" ")
            command = find_command(word.lower())
            if command is None:
                self.show(f"unknown command /{word}; /help lists the commands")
                return True
            return command.handler(self, argument)
        if not stripped:
            self.runner.rest()
            return True
        if self.interactive:
            self.runner.say_async(line).add_done_callback(self._print_reply)
        else:
            self._print_reply_now(self.runner.say(line))
        return True

    def _print_reply(self, future) -> None:
        try:
            reply: Reply = future.result()
        except Exception as error:  # paused, replaced or stopped: say so instead of a traceback
            self.show(f"brain> (no reply: {error})")
            return
        self._print_reply_now(reply)

    def _print_reply_now(self, reply: Reply) -> None:
        """Notices, then the reply: ``brain> ...`` at the prompt, the bare text in a pipe."""
        for notice in reply.notices:
            self.notify(notice)
        if self.interactive:
            self.show(f"brain> {reply.text}" if reply.text else "brain> (silence)")
        else:
            self.show(reply.text)


def history_path(configured: str) -> Path:
    if configured:
        return Path(configured).expanduser()
    return user_data_folder() / "history"


def run_piped(runner: Runner, lines: Iterable[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
    """One output line per input line, until end of input or /quit."""
    session = Session(runner, out, err, interactive=False)
    for line in lines:
        if not session.handle(line.rstrip("\r\n")):
            return


def run_interactive(runner: Runner, history: Path) -> None:
    """The prompt, until /quit, Ctrl-D or SIGTERM."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
    from prompt_toolkit.completion import Completer, Completion
    from prompt_toolkit.history import FileHistory, InMemoryHistory
    from prompt_toolkit.patch_stdout import patch_stdout

    class SlashCompleter(Completer):
        def get_completions(self, document, complete_event):
            text = document.text_before_cursor
            if not text.startswith("/") or " " in text:
                return
            for command in COMMANDS:
                for word in (command.name, *command.aliases):
                    if f"/{word}".startswith(text):
                        yield Completion(f"/{word}", start_position=-len(text), display_meta=command.help)

    try:
        history.parent.mkdir(parents=True, exist_ok=True)
        stored = FileHistory(str(history))
    except OSError:
        stored = InMemoryHistory()
    prompt_session: PromptSession = PromptSession(
        history=stored,
        auto_suggest=AutoSuggestFromHistory(),
        completer=SlashCompleter(),
        bottom_toolbar=lambda: toolbar_text(runner.stats),
        refresh_interval=0.25,
    )

    # SIGTERM leaves as Ctrl-D does, whenever it comes: it only raises a flag (a signal handler
    # that raised could surface anywhere, even while the prompt starts or stops), and the
    # prompt that is running, or the next one as soon as it runs, sees the flag and ends
    stopping = threading.Event()

    def leave_if_asked() -> None:
        if stopping.is_set() and prompt_session.app.is_running:
            try:
                prompt_session.app.exit(exception=EOFError())
            except Exception:  # noqa: BLE001 - it is already leaving
                pass

    def terminate(signum, frame):
        stopping.set()
        leave_if_asked()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with patch_stdout(raw=True):
            session = Session(runner, sys.stdout, sys.stderr, interactive=True)
            session.show("brainchat: type to talk to the brain, /help for commands, Ctrl-D to leave")
            while not stopping.is_set():
                try:
                    line = prompt_session.prompt("you> ", pre_run=leave_if_asked)
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
                if not session.handle(line):
                    break
    finally:
        signal.signal(signal.SIGTERM, previous)
