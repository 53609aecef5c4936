"""The ``brainchat bench`` sub-app: ``speed``, ``teach``, ``reward``, ``memory``, ``lesion``, ``sleep``, ``models``, ``scale``."""

from __future__ import annotations

import math
from typing import Callable, Optional

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from brainchat.cli.app import DEVICE, DTYPE, JSON_OBJECT, KERNELS, _backend, _brain_options, _cell, _config, _json, app, stderr, stdout
from brainchat.config import Config
from brainchat.errors import ConfigError

bench_app = typer.Typer(help="Measured speed and learning of the brain, as JSON or tables.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _sizes(text: Optional[str], gpu: bool) -> list[int]:
    from brainchat.bench import DEFAULT_CPU_SIZES, DEFAULT_GPU_SIZES

    if text is None:
        return list(DEFAULT_GPU_SIZES if gpu else DEFAULT_CPU_SIZES)
    sizes = []
    for part in text.split(","):
        word = part.strip().lower().replace("_", "")
        scale = {"k": 1_000, "m": 1_000_000}.get(word[-1:], 1)
        try:
            sizes.append(int(float(word[:-1] if scale > 1 else word) * scale))
        except (ValueError, OverflowError):
            raise ConfigError(f"--neurons {text!r}: give sizes like 200000 or 1k,10k,200k,1m") from None
    return sizes


@bench_app.command("speed")
def bench_speed(
    ctx: typer.Context,
    neurons: Optional[str] = typer.Option(None, "--neurons", "-n", metavar="N[,N...]", help="One size or a sweep (1k,10k,200k,1m); default 1k..1M on a CPU, on to 20M on a GPU."),
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE,
    cpu_kernels: Optional[str] = KERNELS,
    steps: int = typer.Option(1000, "--steps", min=10, help="Timed steps per size."),
    warmup: int = typer.Option(300, "--warmup", min=0, help="Untimed steps first (compilation, settling)."),
    chunk: int = typer.Option(10, "--chunk", min=1, help="Steps per timed call."),
    compare: bool = typer.Option(False, "--compare", help="Also run the NumPy reference path on the same network; report the ratio."),
    plot_path: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="Plot ms per step against neurons (needs matplotlib)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object with a list `results`."),
) -> None:
    """ms per step (median, p99), updates and events per second, real-time factor, memory."""
    from brainchat.bench import measure, plot

    base = _config(ctx, **_brain_options(None, None, device, dtype, cpu_kernels))
    backend = _backend(base)
    sizes = _sizes(neurons, backend.is_gpu)
    for size in sizes:
        base.replace(**{"brain.neurons": size})  # every size is checked before the first runs
    results = []
    runs = len(sizes) * (warmup + steps) * (2 if compare else 1)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True) as progress:
        task = progress.add_task("bench speed", total=runs)
        for size in sizes:
            progress.update(task, description=f"{size:,} neurons")
            config = base.replace(**{"brain.neurons": size})
            result = measure(config, backend, steps, warmup, chunk, compare, lambda n: progress.advance(task, n))
            progress.advance(task, warmup * (2 if compare else 1))
            results.append(result)
    if plot_path and not plot(results, plot_path):
        stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); no plot written", highlight=False, markup=False)
    if as_json:
        print(_json({"results": [r.as_dict() for r in results]}))
        return
    first = results[0]
    table = Table(title=f"brainchat bench speed: {first.device}, {first.kernels} kernels, {first.dtype}", title_justify="left", box=box.SIMPLE_HEAD)
    columns = ["neurons", "ms/step", "p99", "x real", "events/s", "RSS MB"] + (["numpy ms", "speed-up"] if compare else [])
    for column in columns:
        table.add_column(column, justify="right")
    for r in results:
        row = [f"{r.neurons:,}", f"{r.ms_per_step_median:.3f}", f"{r.ms_per_step_p99:.3f}", f"{r.realtime_factor:.2f}",
               f"{r.synaptic_events_per_s:.2e}", f"{r.peak_rss_mb:,.0f}"]
        if compare:
            row += [f"{r.numpy_ms_per_step_median:.3f}", f"{r.speedup_vs_numpy:.2f}x"]
        table.add_row(*row)
    stdout.print(table)


def _learning_report(report: dict, plot_path: Optional[str], as_json: bool, keys: tuple[str, ...]) -> None:
    """Print a learning benchmark's report: JSON, or its headline figures and a curve."""
    from brainchat.bench_learning import plot, terminal_chart

    if plot_path and not plot(report, plot_path):
        stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); the curve is drawn in the terminal instead", highlight=False, markup=False)
        plot_path = None
    if as_json:
        print(_json(report))
        return
    table = Table(title=f"brainchat bench {report['benchmark']}: {report['neurons']:,} neurons, seed {report['seed']}", title_justify="left", box=box.SIMPLE_HEAD, show_header=False)
    for key in keys:
        if key in report:
            table.add_row(key, _cell(report[key]))
    for name, band in report.get("firing_by_region", {}).items():
        table.add_row(f"firing {name} (min-max of intervals)", f"{band['min']:.4f}-{band['max']:.4f}")
    stdout.print(table)
    if not plot_path:
        for line in terminal_chart(report):
            print(line)


def _run_learning(description: str, total: int, work: Callable[[Callable[[int], None]], dict]) -> dict:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True) as progress:
        task = progress.add_task(description, total=total)
        return work(lambda n: progress.advance(task, n))


LEARN_NEURONS = typer.Option(200_000, "--neurons", "-n", min=1000, help="Size of the brain.")
LEARN_SEED = typer.Option(0, "--seed", min=0, help="Seed of the brain and of the pairs.")
PLOT = typer.Option(None, "--plot", metavar="FILE.png", help="Draw the learning curve into a PNG (needs matplotlib); otherwise it is drawn in the terminal.")


def _learning_config(ctx: typer.Context, neurons: int, seed: int, device: Optional[str], cpu_kernels: Optional[str]) -> Config:
    """The brain a learning benchmark builds; the device is checked before the run starts."""
    config = _config(ctx, **_brain_options(str(neurons), str(seed), device, None, cpu_kernels))
    _backend(config)
    return config


def _doses(given: list[str]) -> dict[str, float]:
    """``NAME=LEVEL`` options as {name: level}; a malformed one, an unknown name or a level out of range stops with one line."""
    from brainchat.model import chemistry

    doses = {}
    for item in given:
        name, equals, level = item.partition("=")
        try:
            value = float(level)
        except ValueError:
            value = math.nan
        if not equals or name not in chemistry.NAMES or not math.isfinite(value):
            raise typer.BadParameter(f"{item!r}: expected NAME=LEVEL with NAME one of {', '.join(chemistry.NAMES)}", param_hint="--dose")
        try:
            chemistry.Chemistry(Config().chemistry).dose(name, value)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--dose") from None
        doses[name] = value
    return doses


@bench_app.command("teach")
def bench_teach(
    ctx: typer.Context,
    pairs: int = typer.Option(10, "--pairs", min=1, max=200, help="Prompt -> reply pairs (random lowercase; replies of 3-8 characters)."),
    teachings: int = typer.Option(10, "--teachings", min=1, max=1000, help="Teachings of each pair, round-robin."),
    neurons: int = LEARN_NEURONS,
    seed: int = LEARN_SEED,
    second_set: bool = typer.Option(False, "--second-set", help="Then teach a second set of pairs and test the first again."),
    typos: bool = typer.Option(False, "--typos", help="Then say each taught prompt with one letter changed: how often does the taught reply still come?"),
    doses: list[str] = typer.Option([], "--dose", metavar="NAME=LEVEL", help="Hold a neuromodulator at a level for the whole run, e.g. acetylcholine=0.5 (repeatable; /chem names them)."),
    device: Optional[str] = DEVICE,
    cpu_kernels: Optional[str] = KERNELS,
    plot_path: Optional[str] = PLOT,
    as_json: bool = JSON_OBJECT,
) -> None:
    """Teach prompt -> reply pairs, then measure exact-match and character accuracy."""
    from brainchat.bench_learning import teach_benchmark

    held = _doses(doses)
    config = _learning_config(ctx, neurons, seed, device, cpu_kernels)
    total = pairs * teachings * (2 if second_set else 1)
    report = _run_learning("bench teach", total, lambda advance: teach_benchmark(config, pairs, teachings, seed, second_set, advance, held, typos))
    _learning_report(report, plot_path, as_json, ("pairs", "teachings", "exact_match_accuracy", "char_accuracy", "typo_accuracy", "typo_char_accuracy", "second_set",
                                                  "first_set_after_second", "firing_min", "firing_max", "brain_seconds", "wall_seconds"))


@bench_app.command("lesion")
def bench_lesion(
    ctx: typer.Context,
    fraction: float = typer.Option(0.1, "--fraction", min=0.0, max=1.0, help="Share of the region's neurons that die at once, (0, 1]."),
    region: str = typer.Option("cortex", "--region", help="The region lesioned."),
    pairs: int = typer.Option(10, "--pairs", min=1, max=200, help="Prompt -> reply pairs taught before the lesion."),
    teachings: int = typer.Option(10, "--teachings", min=1, max=1000, help="Teachings of each pair, round-robin."),
    watch: float = typer.Option(20.0, "--watch", min=1.0, max=600.0, help="Brain seconds watched after the lesion."),
    neurons: int = LEARN_NEURONS,
    seed: int = LEARN_SEED,
    device: Optional[str] = DEVICE,
    cpu_kernels: Optional[str] = KERNELS,
    plot_path: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="Draw the firing and the taught replies after the lesion, both arms (needs matplotlib)."),
    as_json: bool = JSON_OBJECT,
) -> None:
    """Teach pairs, kill a share of a region, then watch the firing band and the taught replies, with renewal and without."""
    from brainchat.bench_lesion import CHECKPOINTS, lesion_benchmark, plot

    if not 0 < fraction <= 1:
        raise ConfigError("--fraction must be above 0 and at most 1")
    config = _learning_config(ctx, neurons, seed, device, cpu_kernels)
    total = pairs * teachings + 2 * sum(1 for c in CHECKPOINTS if c <= watch)
    report = _run_learning("bench lesion", total, lambda advance: lesion_benchmark(config, pairs, teachings, fraction, region, watch, seed, advance))
    if plot_path and not plot(report, plot_path):
        stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); no plot written", highlight=False, markup=False)
    if as_json:
        print(_json(report))
        return
    table = Table(title=f"bench lesion: {fraction:.0%} of {region}, {neurons:,} neurons, seed {seed}", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("")
    for name in ("with renewal", "without renewal"):
        table.add_column(name, justify="right")
    arms = [report["with_renewal"], report["without_renewal"]]
    table.add_row("neurons killed", *(f"{a['killed']:,}" for a in arms))
    table.add_row("taught replies before", *(f"{a['exact_before']:.2f}" for a in arms))
    for k, point in enumerate(arms[0]["replies"]):
        table.add_row(f"taught replies at {point['brain_s']:.1f} s", *(f"{a['replies'][k]['exact_match_accuracy']:.2f}" for a in arms))
    table.add_row("left the band", *("yes" if a["left_band"] else "no" for a in arms))
    table.add_row("back in the band after (s)", *(f"{a['recovered_after_s']:.1f}" for a in arms))
    table.add_row("dead / renewed at the end", *(f"{a['dead_at_end']:,} / {a['renewed_at_end']:,}" for a in arms))
    stdout.print(table)
    if plot_path:
        stderr.print(f"plot written to {plot_path}", highlight=False, markup=False)


@bench_app.command("sleep")
def bench_sleep(
    ctx: typer.Context,
    pairs: int = typer.Option(10, "--pairs", min=1, max=200, help="Pairs in set A, and as many in set B (B's prompts share A's letters at every other place)."),
    teachings: int = typer.Option(5, "--teachings", min=1, max=1000, help="Teachings of each pair, round-robin, for A and then for B."),
    minutes: float = typer.Option(2.0, "--minutes", min=0.01, max=600.0, help="Brain minutes of sleep, and of idle waking in the control."),
    neurons: int = LEARN_NEURONS,
    seed: int = LEARN_SEED,
    device: Optional[str] = DEVICE,
    cpu_kernels: Optional[str] = KERNELS,
    plot_path: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="Draw the learning curves and A and B after sleep and after idling (needs matplotlib)."),
    as_json: bool = JSON_OBJECT,
) -> None:
    """Teach set A, then an interfering set B, then sleep, or idle as long (the control): is A still known?"""
    from brainchat.bench_sleep import plot, sleep_benchmark

    config = _learning_config(ctx, neurons, seed, device, cpu_kernels)
    report = _run_learning("bench sleep", 2 * pairs * teachings + 2, lambda advance: sleep_benchmark(config, pairs, teachings, minutes, seed, advance))
    if plot_path and not plot(report, plot_path):
        stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); no plot written", highlight=False, markup=False)
    if as_json:
        print(_json(report))
        return
    table = Table(title=f"bench sleep: {pairs} + {pairs} pairs, {neurons:,} neurons, seed {seed}, {minutes:g} brain min", box=box.SIMPLE_HEAD, title_justify="left")
    alone = report.get("association", {})
    for column, justify in (("exact match", "left"), ("set A", "right"), ("set B", "right"), ("A, association alone", "right"), ("B, association alone", "right"),
                            ("plastic weights' mean", "right")):
        table.add_column(column, justify=justify)

    def share(key: str) -> str:
        return f"{alone[key]:.2f}" if key in alone else ""

    table.add_row("after A", f"{report['a_before_b']:.2f}", "", "", "", "")
    table.add_row("after B", f"{report['a_after_b']:.2f}", f"{report['b_after_b']:.2f}", share("a_after_b"), "", f"{report['weights_after_b'].get('mean', 0):.3f}")
    table.add_row(f"after sleep ({report['replays']} replays)", f"{report['a_after_sleep']:.2f}", f"{report['b_after_sleep']:.2f}", share("a_after_sleep"), share("b_after_sleep"),
                  f"{report['weights_after_sleep'].get('mean', 0):.3f}")
    table.add_row("after idling as long", f"{report['a_after_idle']:.2f}", f"{report['b_after_idle']:.2f}", share("a_after_idle"), share("b_after_idle"),
                  f"{report['weights_after_idle'].get('mean', 0):.3f}")
    stdout.print(table)
    stdout.print(f"firing awake {report['firing_min']:.4f}-{report['firing_max']:.4f}, asleep {report['firing_asleep_min']:.4f}-{report['firing_asleep_max']:.4f} "
                 f"(per step, the living neurons)", highlight=False)
    if plot_path:
        stderr.print(f"plot written to {plot_path}", highlight=False, markup=False)


@bench_app.command("reward")
def bench_reward(
    ctx: typer.Context,
    pairs: int = typer.Option(5, "--pairs", min=1, max=95, help="Prompts, each with a target first character among the 95 printable ones."),
    trials: int = typer.Option(1000, "--trials", min=1, max=100_000, help="Trials: say a prompt, + if the reply starts with its target, - if not."),
    neurons: int = LEARN_NEURONS,
    seed: int = LEARN_SEED,
    device: Optional[str] = DEVICE,
    cpu_kernels: Optional[str] = KERNELS,
    plot_path: Optional[str] = PLOT,
    as_json: bool = JSON_OBJECT,
) -> None:
    """Learn a first character per prompt from rewards and punishments alone."""
    from brainchat.bench_learning import reward_benchmark

    config = _learning_config(ctx, neurons, seed, device, cpu_kernels)
    report = _run_learning("bench reward", trials, lambda advance: reward_benchmark(config, pairs, trials, seed, advance))
    _learning_report(report, plot_path, as_json, ("pairs", "trials", "first_trials_accuracy", "final_accuracy", "trials_to_criterion", "firing_min", "firing_max",
                                                  "brain_seconds", "wall_seconds"))


@bench_app.command("memory")
def bench_memory(
    ctx: typer.Context,
    words: int = typer.Option(5, "--words", min=2, max=100, help="Words to tell apart."),
    repeats: int = typer.Option(5, "--repeats", min=2, max=50, help="Times each word is said (one is held out for testing, in turn)."),
    horizon_ms: int = typer.Option(5000, "--horizon-ms", min=100, max=600_000, help="How long after each word the activity is recorded."),
    bin_ms: int = typer.Option(100, "--bin-ms", min=1, max=10_000, help="Width of a time bin of the read-out."),
    neurons: int = LEARN_NEURONS,
    seed: int = LEARN_SEED,
    device: Optional[str] = DEVICE,
    cpu_kernels: Optional[str] = KERNELS,
    plot_path: Optional[str] = PLOT,
    as_json: bool = JSON_OBJECT,
) -> None:
    """How long after a word a linear read-out of the activity still tells which word it was."""
    from brainchat.bench_learning import memory_benchmark

    if bin_ms > horizon_ms:
        raise ConfigError(f"--bin-ms {bin_ms} is longer than --horizon-ms {horizon_ms}")
    config = _learning_config(ctx, neurons, seed, device, cpu_kernels)
    report = _run_learning(
        "bench memory", words * repeats,
        lambda advance: memory_benchmark(config, words, seed, repeats, bin_ms, horizon_ms, advance),
    )
    _learning_report(report, plot_path, as_json, ("words", "repeats", "memory_span_ms", "span_reaches_horizon", "firing_min", "firing_max",
                                                  "brain_seconds", "wall_seconds"))


def _choices(option: str, text: str, allowed: tuple[str, ...]) -> list[str]:
    chosen = [part.strip().lower() for part in text.split(",") if part.strip()]
    wrong = [part for part in chosen if part not in allowed]
    if wrong or not chosen:
        raise ConfigError(f"{option} {text!r}: give one or more of {','.join(allowed)}, separated by commas")
    return list(dict.fromkeys(chosen))


@bench_app.command("models")
def bench_models(
    ctx: typer.Context,
    models: str = typer.Option("lif,adex,izhikevich", "--models", metavar="M[,M...]", help="Neuron models: lif, adex, izhikevich."),
    dtypes: str = typer.Option("float16,float32,float64", "--dtypes", metavar="D[,D...]", help="Precisions: float16, float32, float64."),
    neurons: Optional[str] = typer.Option("200k", "--neurons", "-n", metavar="N[,N...]", help="One size or a sweep (10k,200k,1m)."),
    device: Optional[str] = DEVICE,
    cpu_kernels: Optional[str] = KERNELS,
    steps: int = typer.Option(1000, "--steps", min=10, help="Timed steps per model x precision x size."),
    float16_steps: int = typer.Option(200, "--float16-steps", min=10, help="Timed steps for float16 (the NumPy path on a CPU: slow)."),
    warmup: int = typer.Option(300, "--warmup", min=0, help="Untimed steps first (compilation, settling)."),
    chunk: int = typer.Option(10, "--chunk", min=1, help="Steps per timed call."),
    plot_path: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="Bars of throughput per model and precision (needs matplotlib)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object with a list `results`."),
) -> None:
    """Each neuron model at each precision: updates and events per second, ms per step, memory, spike-count error against float64."""
    from brainchat import bench_models as bm

    chosen_models = _choices("--models", models, bm.MODELS)
    chosen_dtypes = _choices("--dtypes", dtypes, bm.DTYPES)
    base = _config(ctx, **_brain_options(None, None, device, None, cpu_kernels))
    backend = _backend(base, announce=False)
    sizes = _sizes(neurons, backend.is_gpu)
    for model in chosen_models:
        for dtype in chosen_dtypes:
            for size in sizes:
                bm.model_config(base, model, dtype, size)  # every combination is checked before the first runs

    def steps_for(dtype: str) -> int:
        return float16_steps if dtype == "float16" and not backend.is_gpu else steps

    total = sum(warmup + steps_for(d) for d in chosen_dtypes) * len(chosen_models) * len(sizes)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=stderr, transient=True) as progress:
        task = progress.add_task("bench models", total=total)

        def advance(n: int) -> None:
            progress.advance(task, n)

        results = []
        for model in chosen_models:
            for dtype in chosen_dtypes:
                progress.update(task, description=f"{model} {dtype}")
                part = bm.run(base, backend, [model], [dtype], sizes, warmup, chunk, steps_for, advance)
                progress.advance(task, warmup * len(sizes))
                results += part
    if plot_path and not bm.plot(results, plot_path):
        stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); no plot written", highlight=False, markup=False)
    if as_json:
        print(_json({"results": [r.as_dict() for r in results], "earlier_system_neuron_updates_per_s": bm.EARLIER_SYSTEM}))
        return
    kernels = ", ".join(sorted({f"{r.dtype} {r.kernels}" for r in results}))
    table = Table(title=f"brainchat bench models: {results[0].device} ({kernels}); synaptic events/s and memory in --json",
                  title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    for column in ("model", "dtype", "neurons", "ms/step", "updates/s", "x earlier", "B/neuron", "B/syn", "error"):
        table.add_column(column, justify="left" if column in ("model", "dtype") else "right", no_wrap=True)
    for r in results:
        table.add_row(r.model, r.dtype, f"{r.neurons:,}", f"{r.ms_per_step_median:.3f}", f"{r.neuron_updates_per_s:.3g}",
                      f"{r.neuron_updates_per_s / bm.EARLIER_SYSTEM[r.model]:.1f}", f"{r.bytes_per_neuron:.0f}", f"{r.bytes_per_synapse:.1f}",
                      "-" if r.spike_count_error is None else f"{r.spike_count_error:.2%}")
    Console(width=max(stdout.width, 100)).print(table)  # nine columns of figures: wider than 80 rather than cut
    stdout.print("x earlier: against the earlier system on an RTX 3060 (LIF 8.07 M, AdEx 4.03 M, Izhikevich 1.68 M updates/s); "
                 "error: spike counts of an f-I sweep against float64", highlight=False, soft_wrap=True)


@bench_app.command("scale")
def bench_scale(
    ranks: str = typer.Option("1,2", "--ranks", metavar="R[,R...]", help="Rank counts to run (each under mpiexec; the mpi extra)."),
    neurons: str = typer.Option("200k", "--neurons", "-n", metavar="N", help="Strong scaling: the one brain's size."),
    per_rank: str = typer.Option("100k", "--per-rank", metavar="N", help="Weak scaling: neurons on each rank."),
    repeats: int = typer.Option(2, "--repeats", min=1, max=20, help="Runs of each point, the rank counts in turn; the median is reported."),
    blocks: int = typer.Option(10, "--blocks", min=1, help="Timed blocks per run (the median block counts)."),
    steps: int = typer.Option(100, "--steps", min=1, help="Steps per timed block."),
    warmup: int = typer.Option(300, "--warmup", min=0, help="Untimed steps first (compilation, settling)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the brain."),
    plot_path: Optional[str] = typer.Option(None, "--plot", metavar="FILE.png", help="ms per step and efficiency against ranks (needs matplotlib)."),
    as_json: bool = JSON_OBJECT,
) -> None:
    """Strong and weak scaling over MPI ranks: ms per step, the exchange's share of it, efficiency."""
    from brainchat.bench_scale import Settings, plot, sweep

    try:
        counts = sorted({int(part) for part in ranks.split(",") if part.strip()})
    except ValueError:
        raise ConfigError(f"--ranks {ranks!r}: give rank counts like 1,2,4") from None
    if not counts or counts[0] < 1:
        raise ConfigError(f"--ranks {ranks!r}: give rank counts of 1 or more, like 1,2,4")
    sizes = [_sizes(text, False) for text in (neurons, per_rank)]
    if any(len(s) != 1 or s[0] < 1000 for s in sizes):
        raise ConfigError("--neurons and --per-rank take one size each, 1000 or more (e.g. 200k)")
    settings = Settings(tuple(counts), sizes[0][0], sizes[1][0], repeats, blocks, steps, warmup, seed)
    for size in {settings.neurons, *(settings.per_rank * r for r in counts)}:
        Config().replace(**{"brain.neurons": size})  # every size is checked before the first run
    points = len({(r, settings.neurons) for r in counts} | {(r, settings.per_rank * r) for r in counts})
    report = _run_learning("bench scale", points * repeats, lambda advance: sweep(settings, advance))
    if plot_path and not plot(report, plot_path):
        stderr.print("brainchat: --plot needs matplotlib (pip install matplotlib); no plot written", highlight=False, markup=False)
    if as_json:
        print(_json(report))
        return
    for kind, title in (("strong", f"strong scaling: {settings.neurons:,} neurons"), ("weak", f"weak scaling: {settings.per_rank:,} neurons per rank")):
        table = Table(title=f"bench scale, {title} ({report['processor']}, {report['cores']} cores)", title_justify="left", box=box.SIMPLE_HEAD)
        for column in ("ranks", "neurons", "ms/step", "exchange", "efficiency", "runs (ms/step)"):
            table.add_column(column, justify="right")
        for row in report[kind]:
            flag = " (oversubscribed)" if row["oversubscribed"] else ""
            table.add_row(f"{row['ranks']}{flag}", f"{row['neurons']:,}", f"{row['ms_per_step']:.3f}", f"{row['exchange_share']:.0%}",
                          f"{row['efficiency']:.2f}", ", ".join(f"{t:.3f}" for t in row["runs_ms_per_step"]))
        stdout.print(table)
    if plot_path:
        stderr.print(f"plot written to {plot_path}", highlight=False, markup=False)
