"""The README's commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def command_after(marker: str) -> str:
    lines = (REPO / "README.md").read_text().splitlines()
    start = lines.index(marker)
    fence = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
    return lines[fence + 1]


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert command_after("<!-- test-command -->") == ci_lines[-1]
    assert "pytest" in ci_lines[-1]


def test_the_readme_run_command_starts_the_brain():
    assert command_after("<!-- run-command -->").endswith("brainchat run")
