"""``tasklens analyze`` and its stage subcommands (thin: parse, check, call, print).

Every check of the data and the options runs before any work and before anything is
written to ``--out``; a bad input prints one line and exits with code 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ._common import check_output_dir, cli_errors, fail

console = Console(stderr=True)

Data = Annotated[str | None, typer.Argument(
    help="Built-in set name, or a .csv / .parquet / .npz file, or a .npy inputs file whose "
         "task NAME's targets are NAME.npy next to it (memory-mapped, never loaded whole) "
         "(default: multi_digits_mixed, 5 tasks of 3 kinds).", show_default=False)]
Tasks = Annotated[list[str] | None, typer.Option(
    "--task", help="Target column NAME or NAME:KIND (regression, classification, binary, "
                   "multilabel); repeat for each task. Kind inferred when omitted.")]
Inputs = Annotated[str | None, typer.Option(
    "--inputs", help="Comma-separated input columns (default: every other numeric or "
                     "categorical column).")]
Out = Annotated[Path, typer.Option("--out", help="Output folder.")]
Budget = Annotated[str, typer.Option("--budget", help="fast, standard or thorough.")]
Seed = Annotated[int, typer.Option("--seed", help="Split and first replicate seed.")]
MaxNetworks = Annotated[int | None, typer.Option(
    "--max-networks", help="Grouping budget: at most this many networks (default 2).")]
Methods = Annotated[str | None, typer.Option(
    "--methods", help="Comma-separated balancing methods (default by budget; EW always).")]
Resume = Annotated[bool, typer.Option(
    "--resume", help="Reuse finished stages in --out when settings and data match.")]
Epochs = Annotated[int | None, typer.Option(
    "--epochs", help="Override the budget's epochs per training.")]
MaxSteps = Annotated[int | None, typer.Option(
    "--max-steps", help="Override the budget's cap on the optimizer steps of one training "
                        "(fast 400, standard 2000; a training may stop inside an epoch).",
    show_default=False)]
Seeds = Annotated[int | None, typer.Option(
    "--seeds", help="Override the budget's number of seeds (replicates).")]
MaxRows = Annotated[int | None, typer.Option(
    "--max-rows", help="Use a seeded random subset of at most this many rows.")]
Executor = Annotated[str | None, typer.Option(
    "--executor", help="Where the independent trainings run: serial (this process), process "
                       "(a local process pool) or ray (default: process with >= 4 CPUs, "
                       "else serial). Results are the same.", show_default=False)]
Workers = Annotated[int | None, typer.Option(
    "--workers", help="Parallel workers of --executor process/ray (default: the CPUs "
                      "available).", show_default=False)]
CoreMtl = Annotated[bool | None, typer.Option(
    "--core-mtl/--no-core-mtl", help="Also compare CORE-MTL (dual-stream model, soft "
    "grounding) in the balancing stage (default: on for image data, off otherwise).",
    show_default=False)]
ImageModel = Annotated[str | None, typer.Option(
    "--image-model", help="Models on image data: conv (the default: a LeNet encoder at "
    "--budget fast, SmallResNet above) or mlp (an MLP on the flattened pixels). Ignored for "
    "tabular data.",
    show_default=False)]
RayAddress = Annotated[str | None, typer.Option(
    "--ray-address", help="Existing Ray cluster for --executor ray ('auto', HOST:PORT, "
                          "ray://HOST:10001); default a local instance.")]

OutOfCore = Annotated[bool, typer.Option(
    "--out-of-core", help="Read a .parquet DATA file's inputs row group by row group instead "
                          "of loading it (numeric inputs without missing values); .npy DATA "
                          "always stays on disk.")]


@dataclass(frozen=True)
class Options:
    """Every option of ``analyze`` and the stage subcommands (one object, one check)."""

    data: str | None
    task: list[str] | None
    inputs: str | None
    out: Path
    budget: str
    seed: int
    max_networks: int | None
    methods: str | None
    resume: bool
    epochs: int | None
    seeds: int | None
    max_rows: int | None
    executor: str | None
    workers: int | None
    ray_address: str | None
    out_of_core: bool = False
    core_mtl: bool | None = None
    max_steps: int | None = None
    image_model: str | None = None


def prepare(o: Options) -> tuple[Any, Any, Any]:
    """Check every option and load the data; nothing is written. Returns (data, settings,
    executor settings)."""
    from ..analysis import AnalysisSettings, load_data
    from ..analysis.executor import ExecutorSettings
    from ..analysis.settings import check_against_data

    executor = ExecutorSettings.resolve(o.executor, o.workers, o.ray_address)
    method_list = None
    if o.methods is not None:
        method_list = tuple(m.strip().lower() for m in o.methods.split(",") if m.strip())
        if not method_list:
            raise ValueError("--methods is empty; name methods separated by commas, e.g. ew,uw")
    settings = AnalysisSettings.for_budget(
        o.budget, seed=o.seed, max_networks=o.max_networks, methods=method_list,
        epochs=o.epochs, n_seeds=o.seeds, max_rows=o.max_rows, core_mtl=o.core_mtl,
        max_steps=o.max_steps, image_model=o.image_model)
    check_output_dir(o.out)
    loaded = load_data(o.data, o.task, o.inputs, max_rows=settings.max_rows,
                       seed=settings.seed, out_of_core=o.out_of_core)
    check_against_data(settings, loaded.taskset.n_tasks)
    return loaded, settings, executor


def run(stages: list[str] | None, o: Options) -> dict[str, Any]:
    """Check, run the stages with the report rewritten after each, print where things are."""
    from ..report.html import run_and_report

    loaded, settings, executor = prepare(o)
    out = o.out
    ts = loaded.taskset
    kinds = ", ".join(f"{t.name}:{t.kind}" for t in ts.tasks.values())
    where = "" if ts.storage == "memory" else f" (on disk, {ts.storage})"
    console.print(f"[bold]tasklens analyze[/] {escape(ts.name)}: {ts.n_samples:,} rows{where}, "
                  f"{ts.n_tasks} tasks ({escape(kinds)}); budget {settings.budget}, seeds "
                  f"{escape(str(list(settings.seeds)))}; executor {executor.executor}"
                  + (f" ({executor.workers} workers)" if executor.executor != "serial"
                     else ""))
    for note in loaded.notes:
        console.print(f"  note: {escape(note)}")

    def start(name: str, title: str) -> None:
        console.print(f"[bold]▶ {escape(title)}[/]")

    def end(results: dict[str, Any]) -> None:
        for name, entry in results["stages"].items():
            if entry["status"] != "missing" and name not in shown:
                shown.add(name)
                lines = entry["finding"] or [f"{entry['status']}: {entry['reason']}"]
                secs = entry.get("seconds") or 0.0
                for line in lines:
                    console.print(f"  {escape(line)}")
                reused = ", reused" if name in results["run"]["reused"] else ""
                console.print(f"  [dim]({secs:.1f} s{reused})[/]")

    shown: set[str] = set()
    try:
        results = run_and_report(loaded, settings, out, stages=stages, resume=o.resume,
                                 on_stage_start=start, on_stage_end=end, executor=executor)
    except KeyboardInterrupt:
        raise fail(f"interrupted; finished stages are kept in {out} (report.html says which "
                   "are missing); rerun with --resume", 130) from None
    written = f"{out / 'report.html'}, {out / 'results.json'}, {out / 'figures'}" + (
        f", {out / 'model.pt'}" if results.get("checkpoint") else "")
    console.print(f"wrote {escape(written)}")
    return results


@cli_errors
def analyze(data: Data = None, task: Tasks = None, inputs: Inputs = None,
            out: Out = Path("tasklens-analysis"), budget: Budget = "fast", seed: Seed = 0,
            max_networks: MaxNetworks = None, methods: Methods = None, resume: Resume = False,
            epochs: Epochs = None, seeds: Seeds = None, max_rows: MaxRows = None,
            executor: Executor = None, workers: Workers = None,
            ray_address: RayAddress = None, out_of_core: OutOfCore = False,
            core_mtl: CoreMtl = None, max_steps: MaxSteps = None,
            image_model: ImageModel = None) -> None:
    """Which tasks should share a network, which weighting method, and why: every stage,
    one report (report.html, results.json, figures/, model.pt in --out)."""
    run(None, Options(data, task, inputs, out, budget, seed, max_networks, methods, resume,
                      epochs, seeds, max_rows, executor, workers, ray_address, out_of_core,
                      core_mtl, max_steps, image_model))


def _stage_command(stages: list[str], doc: str) -> Any:
    @cli_errors
    def command(data: Data = None, task: Tasks = None, inputs: Inputs = None,
                out: Out = Path("tasklens-analysis"), budget: Budget = "fast", seed: Seed = 0,
                max_networks: MaxNetworks = None, methods: Methods = None,
                resume: Resume = False, epochs: Epochs = None, seeds: Seeds = None,
                max_rows: MaxRows = None, executor: Executor = None, workers: Workers = None,
                ray_address: RayAddress = None, out_of_core: OutOfCore = False,
                core_mtl: CoreMtl = None, max_steps: MaxSteps = None,
                image_model: ImageModel = None) -> None:
        run(stages, Options(data, task, inputs, out, budget, seed, max_networks, methods,
                            resume, epochs, seeds, max_rows, executor, workers, ray_address,
                            out_of_core, core_mtl, max_steps, image_model))

    command.__doc__ = doc
    return command


#: name → (stages, help) of the stage subcommands; each also runs what its stages need
STAGE_COMMANDS: dict[str, tuple[list[str], str]] = {
    "train": (["multitask"], "Stage 3: a multi-task training with loss curves (next to the "
              "theory's) and gradient cosines (same options as analyze)."),
    "affinity": (["multitask", "theory"], "Theory alignment and the GS/GT affinities "
                 "(stages 2-3; same options as analyze)."),
    "group": (["grouping"], "Which tasks share a network (stage 5 and what it needs)."),
    "compare-methods": (["balancing"], "Balancing methods' Δm ± SE and a recommendation "
                        "(stage 6 and what it needs)."),
}


def register(app: typer.Typer) -> None:
    """Add ``analyze`` and the stage subcommands to the root app."""
    app.command("analyze")(analyze)
    for name, (stages, doc) in STAGE_COMMANDS.items():
        app.command(name)(_stage_command(stages, doc))
