"""``tasklens core-mtl``: CORE-MTL's small-scale experiments (Wu et al. 2026): the shortcut
stress test (App. I; the default), corruption robustness (App. J), the component ablation
(Table 5) and the λ_CKA / λ_CFA sensitivity (App. G/H)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ._common import check_output_dir, cli_errors

console = Console()


def _seeds(text: str) -> tuple[int, ...]:
    """``"3"`` → seeds 0, 1, 2; ``"0,4,7"`` → those seeds."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--seeds must be a count (3) or comma-separated seeds (0,1,2), "
                         f"got {text!r}") from None
    if len(values) == 1 and "," not in text:
        if values[0] < 1:
            raise ValueError(f"--seeds must be at least 1, got {text!r}")
        return tuple(range(values[0]))
    if not values or min(values) < 0:
        raise ValueError(f"--seeds must be non-negative integers, got {text!r}")
    return tuple(values)


EXPERIMENTS = ("shortcut", "corruption", "ablation", "sensitivity")


def _run_robustness(experiment: str, out: Path, seeds: str, epochs: int, methods: str,
                    quick: bool) -> None:
    """``--experiment corruption|ablation|sensitivity``: run, save and print
    (:mod:`tasklens.studies.core_mtl_robustness`)."""
    from ..studies import core_mtl_robustness as rob

    if experiment not in EXPERIMENTS:
        raise ValueError(f"--experiment must be one of {', '.join(EXPERIMENTS)}, "
                         f"got {experiment!r}")
    common: dict = {"seeds": _seeds(seeds), "epochs": epochs, "n": None}
    if quick:
        common.update(seeds=common["seeds"][:1], epochs=1, n=200)
    if experiment == "corruption":
        method_list = tuple(m.strip() for m in methods.split(",") if m.strip())
        result = rob.corruption_robustness(out, methods=method_list, **common)
    elif experiment == "ablation":
        result = rob.component_ablation(out, **common)
    else:
        result = rob.lambda_sensitivity(out, **common)
    result = rob.save_robustness(result, out)
    console.print(Path(result.files["markdown"]).read_text())
    for path in result.files.values():
        console.print(f"wrote {path}")


@cli_errors
def core_mtl(
    out: Path = typer.Option(Path("tasklens-output/core-mtl"), "--out",
                             help="Output folder (JSON, table, PNG); a rerun resumes there."),
    seeds: str = typer.Option("3", "--seeds", help="Seed count (3) or list (0,1,2)."),
    epochs: int = typer.Option(10, "--epochs", help="Training epochs of every model."),
    experiment: str = typer.Option(
        "shortcut", "--experiment",
        help="shortcut (App. I), corruption (App. J; uses --methods), ablation (Table 5) or "
             "sensitivity (App. G/H); the last three may share one --out."),
    methods: str = typer.Option(
        "core_mtl,ew,pcgrad,gradnorm,stch,rlw,mtan", "--methods",
        help="Comma-separated subset of core_mtl, ew, pcgrad, gradnorm, stch, rlw, mtan."),
    quick: bool = typer.Option(False, "--quick",
                               help="Smoke test: 1 seed, 1 epoch, 200 digits."),
    figures: bool = typer.Option(
        True, "--figures/--no-figures",
        help="Also draw CORE-MTL's reconstructions and counterfactual swaps (first seed; "
             "retrains that one model)."),
    dataset: str = typer.Option(
        "colored_digits", "--dataset",
        help="colored_digits (one digit) or colored_multi_digits (two digits, tasks left "
             "and right, unseen test digits)."),
) -> None:
    """Shortcut stress test: train on source colours, test on permuted colours."""
    from ..studies.core_mtl_shortcut import (
        save_core_mtl_figures,
        save_shortcut,
        shortcut_stress_test,
    )

    check_output_dir(out)
    if experiment != "shortcut":
        _run_robustness(experiment, out, seeds, epochs, methods, quick)
        return
    seed_list = _seeds(seeds)
    method_list = tuple(m.strip() for m in methods.split(",") if m.strip())
    n = None
    if quick:
        seed_list, epochs, n = seed_list[:1], 1, 200
    result = shortcut_stress_test(out, methods=method_list, seeds=seed_list, epochs=epochs,
                                  n=n, dataset=dataset)
    result = save_shortcut(result, out)
    console.print(result.table())
    task = next(iter(result.tasks))
    console.print(f"smallest {task} gap: {result.smallest_gap(task)}")
    written = list(result.files.values())
    if figures:
        written += list(save_core_mtl_figures(result, out).values())
    for path in written:
        console.print(f"wrote {path}")
