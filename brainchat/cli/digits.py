"""``brainchat digits``: train, evaluate, list and show spiking digit classifiers (brainchat/vision/digits.py)."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from brainchat.cli.app import _json, app, stderr, stdout
from brainchat.errors import ConfigError

digits_app = typer.Typer(help="A spiking digit classifier that learns by STDP on scikit-learn's 8x8 digits (needs the vision extra).", no_args_is_help=True)
app.add_typer(digits_app, name="digits")

FOLDER = typer.Option("classifiers", "--folder", metavar="DIR", help="Where classifiers are saved (NAME.h5).")
DEVICE = typer.Option("cpu", "--device", metavar="auto|cpu|gpu", help='Where to step: "cpu" (the default: a classifier of a few hundred neurons is far below the '
                                            'sizes where a GPU pays), "gpu" or "auto".')


def _path(folder: str, name: str) -> Path:
    from brainchat.persistence.snapshot import snapshot_path

    return snapshot_path(folder, name)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
                    TimeRemainingColumn(), console=stderr, transient=True)


@digits_app.command("train")
def train(
    hidden: int = typer.Option(100, "--hidden", min=1, max=5000, help="Hidden (competitive) neurons: 100, 400 or any N."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, max=1000, show_default=False,
                                         help="Passes over the training split (default: 10 up to 100 hidden, 14 above, where the accuracy on a "
                                              "validation part of the training split stopped rising; 1 with --continue)."),
    continue_name: Optional[str] = typer.Option(None, "--continue", metavar="NAME", help="Go on training a saved classifier (its hidden size and seed)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the weights, the Poisson inputs and the image order."),
    save_name: Optional[str] = typer.Option(None, "--save", metavar="NAME", help="Save under this name (default: digits-<hidden>-<UTC time>, or the --continue name)."),
    folder: str = FOLDER,
    device: str = DEVICE,
    as_json: bool = typer.Option(False, "--json", help="The learning curve and the test result as one JSON object."),
) -> None:
    """Train on the fixed stratified training split, evaluate on the held-out test split after each epoch, save."""
    from brainchat.vision import digits

    train_x, train_y, test_x, test_y = digits.load_split()
    if continue_name:
        classifier = digits.load(_path(folder, continue_name), device)
        name = save_name or continue_name
    else:
        classifier = digits.DigitClassifier.new(digits.Settings(hidden=hidden), seed, device=device)
        name = save_name or f"digits-{hidden}-{_dt.datetime.now(_dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    if epochs is None:
        epochs = 1 if continue_name else digits.default_epochs(classifier.settings.hidden)
    target = _path(folder, name)
    with _progress() as progress:
        for _ in range(epochs):
            epoch = classifier.epochs + 1
            task = progress.add_task(f"epoch {epoch}", total=len(train_x), note="")
            entry = classifier.train_epoch(train_x, train_y, lambda k, accuracy: progress.update(task, completed=k, note=f"running accuracy {accuracy:.1%}"))
            progress.remove_task(task)
            check = progress.add_task(f"epoch {epoch}: test", total=len(test_x), note="")
            result = classifier.evaluate(test_x, test_y, lambda k: progress.update(check, completed=k))
            progress.remove_task(check)
            entry["test_accuracy"] = result["test_accuracy"]
            stderr.print(f"epoch {epoch}: running training accuracy {entry['train_running_accuracy']:.1%}, test accuracy {result['test_accuracy']:.1%} "
                         f"({entry['seconds']:.0f} s)", highlight=False)
            digits.save(classifier, target)  # after every epoch: Ctrl-C loses at most the epoch under way
    if as_json:
        print(_json({"name": name, "path": str(target), "hidden": classifier.settings.hidden, "epochs": classifier.epochs,
                     "history": classifier.history, "test_accuracy": classifier.history[-1]["test_accuracy"]}))
        return
    stdout.print(f"saved {name} ({classifier.settings.hidden} hidden, {classifier.epochs} epochs, test accuracy "
                 f"{classifier.history[-1]['test_accuracy']:.1%}) to {target}", highlight=False)


@digits_app.command("eval")
def evaluate(
    name: str = typer.Argument(..., help="A saved classifier (see brainchat digits list)."),
    folder: str = FOLDER,
    device: str = DEVICE,
    as_json: bool = typer.Option(False, "--json", help="One JSON object: test_accuracy, per_class_accuracy, confusion."),
) -> None:
    """Accuracy on the held-out test split, per class, and the confusion matrix."""
    from brainchat.vision import digits

    _, _, test_x, test_y = digits.load_split()
    classifier = digits.load(_path(folder, name), device)
    with _progress() as progress:
        task = progress.add_task("test", total=len(test_x), note="")
        result = classifier.evaluate(test_x, test_y, lambda k: progress.update(task, completed=k))
    if as_json:
        print(_json({"name": name, "hidden": classifier.settings.hidden, "epochs": classifier.epochs, **result}))
        return
    stdout.print(f"{name}: test accuracy {result['test_accuracy']:.1%} on {result['images']} images "
                 f"({classifier.settings.hidden} hidden, {classifier.epochs} epochs)", highlight=False)
    table = Table(title="confusion (rows: true digit, columns: answer)", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("digit", justify="right")
    for c in range(10):
        table.add_column(str(c), justify="right")
    table.add_column("accuracy", justify="right")
    for c, row in enumerate(result["confusion"]):
        table.add_row(str(c), *(f"[bold]{v}[/bold]" if k == c else (str(v) if v else "·") for k, v in enumerate(row)), f"{result['per_class_accuracy'][c]:.0%}")
    stdout.print(table)


@digits_app.command("list")
def list_classifiers(
    folder: str = FOLDER,
    as_json: bool = typer.Option(False, "--json", help="One JSON list."),
) -> None:
    """The saved classifiers: name, date, hidden size, epochs, test accuracy."""
    from brainchat.vision.digits import list_saved

    found = list_saved(folder)
    if as_json:
        print(_json([{"name": c.name, "created_utc": c.created_utc, "hidden": c.hidden, "epochs": c.epochs,
                      "test_accuracy": c.test_accuracy, "problem": c.problem} for c in found]))
        return
    if not found:
        stdout.print(f"no classifiers in {folder} (brainchat digits train makes one)", highlight=False)
        return
    table = Table(title=f"classifiers in {folder}", title_justify="left", box=box.SIMPLE_HEAD)
    for column in ("name", "created (UTC)", "hidden", "epochs", "test accuracy"):
        table.add_column(column, justify="left" if column in ("name", "created (UTC)") else "right")
    for c in found:
        if c.problem:
            table.add_row(c.name, f"[red]{c.problem}[/red]", "", "", "")
        else:
            table.add_row(c.name, c.created_utc.replace("+00:00", ""), str(c.hidden), str(c.epochs),
                          "-" if c.test_accuracy is None else f"{c.test_accuracy:.1%}")
    stdout.print(table)


SHADES = " .:-=+*#%@"


@digits_app.command("show")
def show(
    name: str = typer.Argument(..., help="A saved classifier."),
    folder: str = FOLDER,
    plot_path: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="Receptive fields, a raster of one presentation and the learning curve (needs matplotlib)."),
) -> None:
    """What it learned: the receptive fields (8x8 weight images), a raster of one presentation, the learning curve."""
    from brainchat.vision import digits

    classifier = digits.load(_path(folder, name))
    fields = classifier.receptive_fields()
    if plot_path:
        if not _plot(classifier, fields, plot_path):
            raise ConfigError("--plot needs matplotlib: pip install matplotlib")
        stdout.print(f"wrote {plot_path}", highlight=False)
        return
    stdout.print(f"{name}: {classifier.settings.hidden} hidden, {classifier.epochs} epochs", highlight=False)
    for entry in classifier.history:
        stdout.print(f"  epoch {entry['epoch']}: running training accuracy {entry['train_running_accuracy']:.1%}, "
                     f"test accuracy {entry.get('test_accuracy', float('nan')):.1%}", highlight=False)
    shown = fields[:16]
    scale = max(float(shown.max()), 1e-12)
    lines = ["" for _ in range(8)]
    for k, field in enumerate(shown):
        for row in range(8):
            lines[row] += "".join(SHADES[min(9, int(v / scale * 9.99))] for v in field[row]) + " "
    stdout.print("receptive fields of the first 16 hidden neurons (label above each):", highlight=False)
    print(" ".join(f"{int(label):>8}" if label >= 0 else "       -" for label in classifier.labels[:16]))
    for line in lines:
        print(line)


def _plot(classifier, fields: np.ndarray, path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from brainchat.vision import digits

    n = fields.shape[0]
    columns = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    figure = plt.figure(figsize=(11, 6))
    grid = figure.add_gridspec(2, 2, width_ratios=[1.2, 1])
    mosaic = np.full((rows * 9, columns * 9), np.nan)
    for k in range(n):
        r, c = divmod(k, columns)
        mosaic[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = fields[k] / max(float(fields[k].max()), 1e-12)
    axes = figure.add_subplot(grid[:, 0])
    axes.imshow(mosaic, cmap="magma", interpolation="nearest")
    axes.set_title(f"receptive fields of {n} hidden neurons")
    axes.axis("off")
    _, _, test_x, test_y = digits.load_split()
    raster = classifier.raster(test_x[0])
    axes = figure.add_subplot(grid[0, 1])
    times, ids = np.nonzero(raster)
    axes.scatter(times, ids, s=2, color="black")
    axes.axhline(63.5, color="grey", linewidth=0.6)
    axes.set_title(f"one presentation (a {test_y[0]}): inputs 0-63, hidden above")
    axes.set_xlabel("ms")
    axes = figure.add_subplot(grid[1, 1])
    epochs = [e["epoch"] for e in classifier.history]
    axes.plot(epochs, [e["train_running_accuracy"] for e in classifier.history], "o-", label="training (running)")
    axes.plot(epochs, [e.get("test_accuracy", np.nan) for e in classifier.history], "s-", label="held-out test")
    axes.set_xlabel("epoch")
    axes.set_ylabel("accuracy")
    axes.set_ylim(0, 1)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
