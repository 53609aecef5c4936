"""Rich renderings of reports that both front ends show (the CLI's commands and the REPL's slash commands)."""

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
