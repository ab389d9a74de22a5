"""``tasklens disentangle``: the disentanglement study of Maziarka et al. 2022 at CPU scale."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ._common import check_output_dir, cli_errors

disentangle_app = typer.Typer(
    help="Does multi-task learning give disentangled codes? (Maziarka et al. 2022)",
    no_args_is_help=True)
console = Console()


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"{name} must be comma-separated integers, got {text!r}") from None


@disentangle_app.command("study")
@cli_errors
def study(
    data: str = typer.Option("sprites", "--data", help="sprites, shapes3d or mpi3d."),
    tasks: int = typer.Option(10, "--tasks", help="Number of random-MLP tasks."),
    seeds: int = typer.Option(3, "--seeds", help="Model seeds 0..N-1."),
    epochs: int = typer.Option(10, "--epochs", help="Epochs of every encoder."),
    n_train: int = typer.Option(2000, "--n-train", help="Training images."),
    n_test: int = typer.Option(1000, "--n-test", help="Held-out images (metrics, errors)."),
    image_size: int = typer.Option(32, "--image-size", help="32 (pooled) or 64."),
    code_dim: int = typer.Option(10, "--code-dim", help="Latent dimension."),
    single_tasks: int = typer.Option(
        3, "--single-tasks", help="Single-task models per seed (0: one per task)."),
    sweep: str = typer.Option("2,5,10", "--sweep", help="App. G task counts."),
    parts: str = typer.Option(
        "encoders,decoders,sweep,autoencoders,ground_truth,figures", "--parts",
        help="Which parts to run (comma-separated)."),
    out: Path = typer.Option(Path("tasklens-output/disentangle"), "--out",
                             help="Output folder; a rerun resumes there."),
    quick: bool = typer.Option(
        False, "--quick", help="Toy sizes: 2 tasks, 1 seed, 1 epoch (smoke test)."),
) -> None:
    """Random vs single-task vs multi-task codes, decoders, task sweep, AE/VAE/FactorVAE."""
    from ..studies.disentanglement import StudyConfig, run_study

    settings = dict(
        data=data, n_tasks=tasks, seeds=tuple(range(seeds)), epochs=epochs, n_train=n_train,
        n_test=n_test, image_size=image_size, code_dim=code_dim,
        n_single_task=single_tasks or None, task_sweep=_ints(sweep, "--sweep"),
        parts=tuple(p.strip() for p in parts.split(",") if p.strip()),
    )
    check_output_dir(out)
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    if quick:
        # toy sizes (2 tasks, 1 seed, 1 epoch, 160 images); data set and parts stay as asked
        config = StudyConfig.quick(data=data, parts=settings["parts"], image_size=image_size)
    else:
        config = StudyConfig(**settings)
    result = run_study(config, out, progress=console.print)
    console.print(open(result.files["markdown"]).read())
    for path in result.files.values():
        console.print(f"wrote {path}")
