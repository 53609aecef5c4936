"""``printf 'hello\\ncat\\n' | brainchat run`` and ``brainchat chat``: real processes, real pipes."""

from __future__ import annotations

import os
import subprocess
import sys

ARGS = ["--neurons", "20000", "--device", "cpu"]


def brainchat(*args: str, stdin: str = "", cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAINCHAT_")}
    return subprocess.run(
        [sys.executable, "-m", "brainchat", *args], input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_one_reply_line_per_input_line_and_exit_0_at_end_of_input(tmp_path):
    done = brainchat("run", *ARGS, "--seed", "3", stdin="hello\ncat\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(lines)
    assert "\x1b" not in done.stdout, "no escape codes in pipe mode"
    assert "you>" not in done.stdout


def test_same_seed_same_lines_same_replies(tmp_path):
    lines = "hello\ncat\nhello there\n"
    first = brainchat("run", *ARGS, "--seed", "5", stdin=lines, cwd=tmp_path)
    second = brainchat("run", *ARGS, "--seed", "5", stdin=lines, cwd=tmp_path)
    other = brainchat("run", *ARGS, "--seed", "6", stdin=lines, cwd=tmp_path)
    assert first.returncode == second.returncode == other.returncode == 0
    assert first.stdout == second.stdout
    assert first.stdout != other.stdout, "another seed is another brain"


def test_empty_lines_print_nothing_and_notices_go_to_stderr(tmp_path):
    done = brainchat("run", *ARGS, stdin="\nnaïve\x07 line\n\n/quit\nnever said\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1, "one reply: the empty lines print nothing and /quit ends the input"
    assert "note: control characters were removed" in done.stderr
    assert "note: non-ASCII characters were transliterated" in done.stderr


def test_chat_says_one_line_and_repeats_itself_with_one_seed(tmp_path):
    first = brainchat("chat", "hello", *ARGS, "--seed", "2", cwd=tmp_path)
    second = brainchat("chat", "hello", *ARGS, "--seed", "2", cwd=tmp_path)
    assert first.returncode == 0 and first.stdout == second.stdout
    assert len(first.stdout.splitlines()) == 1


def test_bad_speed_is_a_one_line_error(tmp_path):
    done = brainchat("run", "--speed", "fast", *ARGS, stdin="", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("brainchat: error: --speed 'fast'")


def test_save_then_load_in_a_new_process_continues_the_same_conversation(tmp_path):
    first = brainchat("run", *ARGS, "--seed", "4", stdin="hello\n/save midway\ncat\ndog\n", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    hello, saved, cat, dog = first.stdout.splitlines()
    assert saved.startswith("saved checkpoints/midway.h5")
    second = brainchat("run", *ARGS, "--load", "midway", stdin="cat\ndog\n", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [cat, dog], "the loaded brain answers as the saved one went on to"
    resumed = brainchat("run", *ARGS, "--resume", stdin="", cwd=tmp_path)
    assert resumed.returncode == 0 and "loaded autosave" in resumed.stderr


def test_loading_a_corrupt_or_misfit_snapshot_at_start_is_one_line(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "junk.h5").write_text("not a snapshot")
    for args, words in ((["--load", "junk"], "not a readable snapshot"), (["--load", "absent"], "no snapshot at"),
                        (["--load", "junk", "--resume"], "give one")):
        done = brainchat("run", *ARGS, *args, stdin="", cwd=tmp_path)
        assert done.returncode in (1, 2) and done.stderr.strip().splitlines()[-1].startswith("brainchat: error:")
        assert words in done.stderr and "Traceback" not in done.stderr


def test_a_paused_brain_in_a_pipe_says_so_and_the_pipe_goes_on(tmp_path):
    done = brainchat("run", *ARGS, stdin="/pause\nhello\n/resume\nhello\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "brainchat: the brain is paused; resume it first (/resume or `brainchat resume`)"
    assert len(lines) == 4 and lines[3]


def test_a_reply_taught_in_a_pipe_is_given_afterwards(tmp_path):
    done = brainchat("run", *ARGS, stdin="/teach good morning => hi\n/teach good morning => hi\ngood morning\n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("taught 'good morning' => 'hi' (it said ")
    assert lines[1] == "it already answers 'good morning' with 'hi': nothing to teach"
    assert lines[2] == "hi"
