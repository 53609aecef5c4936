"""Rich renderings of reports that both front ends show (the CLI's commands and the REPL's slash commands), and their sparklines."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table


def region_tables(report: dict[str, Any]) -> list[Table]:
    """The two rich tables of a regions report (also the REPL's ``/regions``)."""
    regions = Table(title="regions" + (" (firing: per step, last interval)" if report.get("running") else ""), title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("region", "ids", "neurons", "model", "kind", "exc", "target", "patches", "sectors", "firing"):
        regions.add_column(column, justify="left" if column in ("region", "model", "kind") else "right", no_wrap=True)
    for row in report["regions"]:
        regions.add_row(
            row["name"], f"{row['first_id']}-{row['last_id']}", f"{row['neurons']:,}", row["model"] + (f" {row['preset']}" if row.get("preset") else ""),
            "living" if row["living"] else "quiet", f"{row['excitatory_share']:.2f}",
            f"{row['target_fraction']:.3f}" if row.get("target_fraction") else "",
            str(row["patches"] or ""), str(row["sectors"] or ""),
            f"{row['firing']:.4f}" if row.get("firing") is not None else "",
        )
    pathways = Table(title="pathways", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("pathway", "source -> target", "connector", "synapses", "K", "plastic"):
        pathways.add_column(column, justify="right" if column in ("synapses", "K") else "left", no_wrap=True)
    for row in report["pathways"]:
        pathways.add_row(row["name"], f"{row['source']} -> {row['target']}", row["connector"], f"{row['synapses']:,}", str(row["fan_out"]),
                         "yes" if row["plastic"] else "")
    damaged = [row for row in report["regions"] if row.get("dead_ids") or row.get("new_ids")]
    if not damaged:
        return [regions, pathways]
    deaths = Table(title="dead and new neurons (renewed at the dead's ids)", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("region", "dead", "new", "of"):
        deaths.add_column(column, justify="left" if column == "region" else "right", no_wrap=True)
    for row in damaged:
        deaths.add_row(row["name"], f"{len(row.get('dead_ids') or []):,}", f"{len(row.get('new_ids') or []):,}", f"{row['neurons']:,}")
    return [regions, pathways, deaths]


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: Any, low: float | None = None, high: float | None = None) -> str:
    """Values as a row of block characters, scaled to their own range (or to ``low .. high``)."""
    import numpy as np

    data = np.asarray(list(values), dtype=np.float64)
    if data.size == 0:
        return ""
    low = data.min() if low is None else low
    high = data.max() if high is None else high
    scale = np.clip((data - low) / (high - low), 0, 1) if high > low else np.zeros_like(data)
    return "".join(SPARK[int(round(v * (len(SPARK) - 1)))] for v in scale)


def chemistry_table(report: dict[str, Any]) -> list[Table]:
    """/chem and `brainchat chem`: each neuromodulator's level, its last 30 s and what it does; then glutamate and GABA per region."""
    levels = Table(title="neuromodulators" + ("" if report.get("enabled", True) else " (off: [chemistry] enabled = false)"), title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("", "level", "last 30 s", "doing"):
        levels.add_column(column, justify="right" if column == "level" else "left", no_wrap=column != "doing")
    holds = report.get("holds", {})
    for name, level in report["levels"].items():
        held = holds.get(name, False)
        note = "" if held is False else (" (held)" if held is None else f" (held {held:.0f} s more)")
        # a common scale for the pools (0..2), dopamine's own (signed)
        line = sparkline(report["history"].get(name, []), *((None, None) if name == "dopamine" else (0.0, 2.0)))
        levels.add_row(name, f"{level:+.2f}" if name == "dopamine" else f"{level:.2f}", line, report["doing"][name] + note)
    mood = report["mood"]
    levels.add_row("mood", f"{mood:+.2f}", "", "the balance of recent rewards and punishments; it sets serotonin's rest")
    balance = Table(title="glutamate and GABA (synaptic input per neuron and step, at the last interval's firing)", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("region", "glutamate", "GABA", "E/I"):
        balance.add_column(column, justify="left" if column == "region" else "right", no_wrap=True)
    for row in report["balance"]:
        balance.add_row(row["region"], f"{row['glutamate']:.3f}", f"{row['gaba']:.3f}", "" if row["ratio"] is None else f"{row['ratio']:.2f}")
    return [levels, balance]


def _clock(seconds: float) -> str:
    """Brain seconds as H:MM:SS or M:SS."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def sleep_line(report: dict[str, Any]) -> str:
    """The sleep report (model/sleep.py) in a few words: "awake · sleeps in 32:10", "asleep · wakes in 7:50 · 12 replays"."""
    if not report:
        return ""
    left = report.get("seconds_to_change")
    if report.get("asleep"):
        words = ["asleep", f"wakes in {_clock(left or 0)}"]
        if report.get("replays"):
            words.append(f"{report['replays']} replays")
        if report.get("kept_lines"):
            words.append(f"{report['kept_lines']} lines kept")
        return " · ".join(words)
    if left is None:
        return "awake"
    return f"awake · sleeps in {_clock(left)}" if left > 0 else "awake · sleep due (after a quiet minute)"


def sleep_short(report: dict[str, Any]) -> str:
    """The toolbar's few characters of the sleep report: "sleep in 32:10", "asleep, wake in 7:50", "awake"."""
    if not report:
        return ""
    left = report.get("seconds_to_change")
    if report.get("asleep"):
        return f"asleep, wake in {_clock(left or 0)}"
    if left is None:
        return "awake"
    return f"sleep in {_clock(left)}" if left > 0 else "sleep due"
