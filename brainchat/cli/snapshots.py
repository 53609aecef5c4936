"""Commands that read snapshots on disk: ``snapshots`` (the list) and ``inspect`` (one of them)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich import box
from rich.table import Table

from brainchat.cli.app import SNAPSHOTS, _cell, _config, _json, app, stdout

@app.command("snapshots")
def list_snapshots(
    ctx: typer.Context,
    snapshots_dir: Optional[str] = SNAPSHOTS,
    as_json: bool = typer.Option(False, "--json", help="One JSON list instead of a table."),
) -> None:
    """List the saved snapshots: name, created, neurons, steps lived, rewards, size."""
    from brainchat.persistence.snapshot import list_snapshots as found

    config = _config(ctx, **{"brain.snapshots": snapshots_dir})
    infos = found(config.brain.snapshots)
    if as_json:
        print(_json([{"name": i.name, "created_utc": i.created_utc, "neurons": i.neurons, "steps": i.steps,
                           "rewards": i.rewards, "bytes": i.size, "problem": i.problem} for i in infos]))
        return
    if not infos:
        stdout.print(f"no snapshots in {config.brain.snapshots}", highlight=False)
        return
    table = Table(title=f"snapshots in {config.brain.snapshots}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("name", "created (UTC)", "neurons", "steps lived", "rewards", "size"):
        table.add_column(column, justify="left" if column in ("name", "created (UTC)") else "right")
    for info in infos:
        if info.problem:
            table.add_row(info.name, f"[red]unreadable: {info.problem}[/red]", "", "", "", f"{info.size / 1e6:.1f} MB")
        else:
            table.add_row(info.name, info.created_utc.replace("+00:00", ""), f"{info.neurons:,}", f"{info.steps:,}", f"{info.rewards:,}", f"{info.size / 1e6:.1f} MB")
    stdout.print(table)


@app.command()
def inspect(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Snapshot name (as in `brainchat snapshots`) or a path to an .h5 file."),
    snapshots_dir: Optional[str] = SNAPSHOTS,
    as_json: bool = typer.Option(False, "--json", help="One JSON object instead of tables."),
) -> None:
    """Show a snapshot's metadata and statistics of its weights and thresholds."""
    from brainchat.persistence import snapshot as snapshots

    config = _config(ctx, **{"brain.snapshots": snapshots_dir})
    path = Path(name) if name.endswith(".h5") and Path(name).exists() else snapshots.snapshot_path(config.brain.snapshots, name)
    snap = snapshots.read(path)
    synapses = {}
    for spec in snap.config.pathway_specs:
        weights = snap.arrays[f"pathways/{spec.name}/weights"].astype(np.float64)
        lengths = snap.arrays[f"pathways/{spec.name}/lengths"]
        synapses[spec.name] = weights[np.arange(weights.shape[1])[None, :] < lengths[:, None]]
    weights = np.concatenate(list(synapses.values())) if synapses else np.zeros(0)
    thresholds = (snap.config.neurons.threshold_rest + snap.arrays["neurons/threshold_fast"].astype(np.float64)
                  + snap.arrays["neurons/threshold_homeostatic"].astype(np.float64))
    thresholds = thresholds[np.isfinite(thresholds)]  # the dead's are +inf (model/lesions.py)

    def summary(values: np.ndarray) -> dict[str, float]:
        if values.size == 0:
            return {"count": 0}
        return {"count": int(values.size), "mean": float(values.mean()), "sd": float(values.std()),
                "min": float(values.min()), "max": float(values.max())}

    report = {
        "name": path.stem, "path": str(path), "created_utc": snap.created_utc, "brainchat_version": snap.brainchat_version,
        "neurons": snap.neurons, "synapses": int(weights.size), "steps_lived": snap.step,
        "brain_seconds": snap.step / 1000.0, "seed": snap.config.brain.seed, "dtype": snap.config.brain.dtype,
        "device": snap.device, "rewards": int(snap.rewards.shape[0]), "bytes": path.stat().st_size,
        "drive": {spec.name: float(value) for spec, value in zip(snap.config.region_specs, np.atleast_1d(snap.arrays["homeostasis/drive"])) if spec.living},
        "excitatory_weights": summary(weights[weights > 0]),
        "inhibitory_weights": summary(weights[weights < 0]),
        "thresholds": summary(thresholds),
        "pathways": {name: summary(values) for name, values in synapses.items()},
    }
    if as_json:
        print(_json(report))
        return
    meta = Table(title=f"snapshot {report['name']}", title_justify="left", box=box.SIMPLE_HEAD, show_header=False)
    for key in ("path", "created_utc", "brainchat_version", "neurons", "synapses", "steps_lived", "brain_seconds",
                "seed", "dtype", "device", "rewards", "bytes", "drive"):
        meta.add_row(key, _cell(report[key]))
    stats = Table(box=box.SIMPLE_HEAD)
    for column in ("", "count", "mean", "sd", "min", "max"):
        stats.add_column(column, justify="right")
    rows = [(key.replace("_", " "), report[key]) for key in ("excitatory_weights", "inhibitory_weights", "thresholds")]
    rows += [(f"pathway {name}", row) for name, row in report["pathways"].items()]
    for label, row in rows:
        stats.add_row(label, f"{row.get('count', 0):,}", *(f"{row[k]:.4f}" if k in row else "" for k in ("mean", "sd", "min", "max")))
    stdout.print(meta)
    stdout.print(stats)
