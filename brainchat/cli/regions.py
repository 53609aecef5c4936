"""``brainchat regions``: the brain's regions and pathways, with the live firing of a running brain, and a map."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import typer
from rich.console import Console
from brainchat.cli.app import NEURONS, SEED, SOCKET, _config, _json, _socket_path, app, stderr, stdout
from brainchat.report import region_tables


@app.command()
def regions(
    ctx: typer.Context,
    neurons: Optional[str] = NEURONS,
    seed: Optional[str] = SEED,
    socket_path: Optional[str] = SOCKET,
    as_json: bool = typer.Option(False, "--json", help='One JSON object: lists "regions" and "pathways", each item with its "name".'),
    plot: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="Draw the region map and the pathways into a PNG (needs matplotlib)."),
) -> None:
    """The regions (ids, neurons, model, living or quiet, excitatory share, firing now) and pathways (source -> target, synapses, plastic).

    Asks the running brain, so the firing is live; with none running, builds the brain of
    this config (no firing then).
    """
    from brainchat.control.client import NoBrainRunning, request

    config = _config(ctx, **{"brain.neurons": neurons, "brain.seed": seed, "brain.socket": socket_path})
    running = neurons is None and seed is None
    report: dict[str, Any] | None = None
    if running:
        try:
            report = request(_socket_path(config), "regions")
            report.pop("ok", None)
            report["running"] = True
        except NoBrainRunning:
            report = None
    if report is None:
        report = _built(config)
    if plot:
        _plot(report, plot)
    if as_json:
        print(_json(report))
        return
    # a pipe or a file gets the whole table (rich would cut it to 80 columns)
    console = stdout if stdout.is_terminal else Console(width=max(stdout.width, 110))
    for table in region_tables(report):
        console.print(table)
    if plot:
        stderr.print(f"map written to {plot}", highlight=False, markup=False)


def _built(config) -> dict[str, Any]:
    """The tables of the brain ``config`` describes, built here (CPU, NumPy: nothing is stepped)."""
    from rich.status import Status

    from brainchat.backend import numpy_backend
    from brainchat.model.brain import Brain

    with Status(f"building the {config.brain.neurons:,}-neuron brain ...", console=stderr):
        with Brain(config.replace(**{"brain.cpu_kernels": "numpy", "brain.device": "cpu"}), numpy_backend()) as brain:
            return {"regions": brain.region_table(), "pathways": brain.pathway_table(), "running": False}


def _plot(report: dict[str, Any], path: str) -> None:
    """The region map: every region's grid to scale, one colour each, patches and sectors outlined; beside it the pathways."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import FancyArrowPatch, Rectangle
    except ImportError:
        stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); no map written", highlight=False, markup=False)
        return
    rows = report["regions"]
    colours = plt.get_cmap("tab10")
    figure, (sheet, graph) = plt.subplots(1, 2, figsize=(13, 6.5), gridspec_kw={"width_ratios": [1.1, 1]})
    total = sum(r["neurons"] for r in rows)
    width = max(r["grid"][1] for r in rows)
    top = 0.0
    for index, row in enumerate(rows):
        height = row["neurons"] / width  # rows of the common width: the map's area is the neurons
        colour = colours(index % 10)
        sheet.add_patch(Rectangle((0, top), width, height, color=colour, alpha=0.55, linewidth=0))
        if row["patches"]:  # the patches as a mosaic of 19 columns
            columns = min(19, row["patches"])
            lines = -(-row["patches"] // columns)
            for k in range(1, columns):
                sheet.plot([width * k / columns] * 2, [top, top + height], color="white", linewidth=0.4)
            for k in range(1, lines):
                sheet.plot([0, width], [top + height * k / lines] * 2, color="white", linewidth=0.4)
        if row["sectors"]:
            for k in range(1, row["sectors"]):
                sheet.plot([0, width], [top + height * k / row["sectors"]] * 2, color="black", linewidth=0.5, linestyle=":")
        label = f"{row['name']}  {row['neurons']:,} {'living' if row['living'] else 'quiet'}"
        if row["patches"]:
            label += f", {row['patches']} patches"
        if row["sectors"]:
            label += f", {row['sectors']} sectors"
        if row.get("firing") is not None:
            label += f", firing {row['firing']:.3f}"
        for key, mark, what in (("dead_ids", "black", "dead"), ("new_ids", "limegreen", "new")):
            ids = np.asarray(row.get(key) or [], dtype=np.int64) - row["first_id"]
            if ids.size:  # each neuron at its place in the region's rows of the common width
                sheet.scatter(ids % width + 0.5, top + ids // width + 0.5, s=2, color=mark, linewidths=0, label=f"{row['name']}: {ids.size:,} {what}")
                label += f", {ids.size:,} {what}"
        sheet.text(width * 0.02, top + height / 2, label, va="center", fontsize=9)
        top += height
    sheet.set_xlim(0, width)
    sheet.set_ylim(top, 0)
    sheet.set_title(f"regions: {total:,} neurons in id order (area = neurons)")
    sheet.set_xticks([])
    sheet.set_ylabel("neuron id")
    ticks = [0.0]
    for row in rows:
        ticks.append(ticks[-1] + row["neurons"] / width)
    labels = [f"{r['first_id']:,}" for r in rows] + [f"{total:,}"]
    # a boundary closer than 2 % of the height to the last one labelled keeps its tick, not its label
    shown = -1.0
    for i, tick in enumerate(ticks):
        if shown >= 0 and tick - shown < 0.02 * ticks[-1] and i < len(ticks) - 1:
            labels[i] = ""
        else:
            shown = tick
    sheet.set_yticks(ticks, labels, fontsize=7)
    names = [r["name"] for r in rows]
    places = {name: (0.5, 1 - (i + 0.5) / len(names)) for i, name in enumerate(names)}
    places["*"] = (0.1, 0.5)
    for i, name in enumerate(names):
        x, y = places[name]
        graph.text(x, y, name, ha="center", va="center", fontsize=10, bbox={"boxstyle": "round", "facecolor": colours(i % 10), "alpha": 0.55})
    seen: dict[tuple[str, str], int] = {}
    placed: list[tuple[float, float, str]] = []  # labels between regions so far: (x, y, side), so that two do not overprint

    def free(x: float, y: float, side: str) -> float:
        while any(side == s and abs(x - px) < 0.35 and abs(y - py) < 0.03 for px, py, s in placed):
            y -= 0.035
        placed.append((x, y, side))
        return y
    for row in report["pathways"]:
        source, target = places.get(row["source"]), places.get(row["target"])
        if source is None or target is None:
            continue
        bend = seen.get((row["source"], row["target"]), 0)
        seen[(row["source"], row["target"])] = bend + 1
        colour = "crimson" if row["plastic"] else "0.35"
        label = f"{row['name']} ({row['synapses']:,})"
        if row["source"] == row["target"]:
            x, y = source
            arrow = FancyArrowPatch((x + 0.08, y + 0.015), (x + 0.08, y - 0.015), connectionstyle=f"arc3,rad={-2.5 - bend}", arrowstyle="-|>", color=colour, mutation_scale=10)
            graph.text(x + 0.17, y + 0.03 - 0.045 * bend, label, fontsize=7, va="center", color=colour)
        else:
            rad = 0.35 + 0.2 * bend
            arrow = FancyArrowPatch(source, target, connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>", color=colour, mutation_scale=10, shrinkA=14, shrinkB=14)
            dx, dy = target[0] - source[0], target[1] - source[1]
            x, y = (source[0] + target[0]) / 2 + 0.5 * rad * dy, (source[1] + target[1]) / 2 - 0.5 * rad * dx  # the arc's middle
            side = "right" if dy < 0 else "left"
            graph.text(x, free(x, y, side), label, fontsize=7, ha=side, va="center", color=colour)
        graph.add_patch(arrow)
    graph.set_xlim(-0.1, 1.1)
    graph.set_ylim(0, 1)
    graph.axis("off")
    graph.set_title("pathways (red: plastic; synapses in brackets)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
