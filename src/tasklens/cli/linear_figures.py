"""``tasklens linear figures``: regenerate figures 3-6 of Anon. 2025 and print its numbers.

The computations, settings (``QUICK``/``FULL``) and drawings live in :mod:`tasklens.studies`
(``paper000``, ``paper000_settings``, ``paper000_plots``); this module parses and prints.

The lead registers :func:`figures` as a command of ``linear_app`` (``tasklens.cli.linear``);
its parameters use ``Annotated`` options so that it is also a plain Python function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console

console = Console()


def _fmt(values: Any) -> str:
    return "[" + ", ".join(f"{float(v):.3f}" for v in np.atleast_1d(values)) + "]"


def print_numbers(results: dict[str, Any]) -> dict[str, Any]:
    """Print the numbers the paper quotes next to ours; returns them as a dict."""
    from ..studies.paper000 import PAPER_VALUES
    from ..studies.paper000_settings import paper_numbers

    fig3 = results["figure3"].numbers()
    rows = [
        ("Fig. 3 aligned S_ξ", fig3["fig3_aligned_s_xi"], PAPER_VALUES["fig3_aligned_s_xi"]),
        ("Fig. 3 conflicting overlap α", fig3["fig3_conflicting_overlap"],
         PAPER_VALUES["fig3_conflicting_overlap"]),
    ]
    rows += [(f"App. D.2 {c.name.split('_')[1]} S_ξ", c.computed, c.paper)
             for c in results["appendix_d2"]]
    console.print("[bold]Anon. 2025: computed vs printed[/]")
    for label, ours, paper in rows:
        console.print(f"  {label:<32} {_fmt(ours)}   paper {_fmt(paper)}")
    console.print(f"  {'Fig. 3 orthogonal overlap α':<32} "
                  f"{', '.join(f'{v:.2e}' for v in fig3['fig3_orthogonal_overlap'])}"
                  "   paper 1.90e-16, 6.29e-17")
    fig6 = results["figure6"]
    st = fig6.settings
    console.print(f"[bold]Multi-MNIST overlap singular values[/] (n = {st['n']:,} images, "
                  f"{st['placement']} placement, {st['source_pool']}, {st['whitening']}, "
                  f"one-hot targets; the paper used 50,000 images)")
    for run in fig6.runs:
        console.print(f"  {run.variant:<9} here  {_fmt(run.overlaps)}")
        console.print(f"  {'':<9} paper {_fmt(PAPER_VALUES[f'mnist_{run.variant}_overlap'])}")
    console.print("[bold]closed form vs gradient descent[/] (max |L_GD − L_CF|, t = epochs·lr)")
    for run in results["figure4"].runs:
        console.print(f"  Fig. 4 γ = {run.gamma:<4g} α = {_fmt(run.overlaps)}  "
                      f"S_ξ = {_fmt(run.s_xi)}  error {run.max_abs_error:.3g} "
                      f"(lr {results['figure4'].settings['learning_rate']:g}, {run.method})")
    for run in fig6.runs:
        err = float(np.abs(run.gd_losses - run.cf_losses).max())
        console.print(f"  Fig. 6 {run.variant:<9} final loss GD {_fmt(run.gd_losses[-1])} "
                      f"closed form {_fmt(run.cf_losses[-1])}  error {err:.3g} "
                      f"(lr {st['learning_rate']:g}, {run.method})")
    return paper_numbers(results)


def figures(
    out: Annotated[Path, typer.Option("--out", help="Output folder.")] = Path(
        "tasklens-output/paper000"),
    quick: Annotated[bool, typer.Option(
        "--quick", help="Small Multi-MNIST sample and fewer time points (< 1 min).")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every construction.")] = 0,
    mnist_n: Annotated[int | None, typer.Option(
        "--mnist-n", help="Multi-MNIST images (default 20,000; 1,000 with --quick).")] = None,
) -> list[Path]:
    """Regenerate figures 3-6 of Anon. 2025 as PNGs, print the numbers it quotes, save JSON."""
    from .. import __version__
    from .._common.io import write_json
    from ..report import save_figure
    from ..studies.paper000_plots import plot_figure3, plot_figure4, plot_figure5, plot_figure6
    from ..studies.paper000_settings import compute_paper_figures

    if mnist_n is not None and mnist_n < 20:
        raise ValueError(f"--mnist-n must be at least 20 images (two 10-way tasks), got "
                         f"{mnist_n}")
    from ._common import check_output_dir

    check_output_dir(out)
    results = compute_paper_figures(quick=quick, seed=seed, mnist_n=mnist_n)
    numbers = print_numbers(results)
    numbers["settings"] = {"quick": quick, "seed": seed, "tasklens_version": __version__}
    out = Path(out)
    written = [
        save_figure(plot_figure3(results["figure3"]), out / "paper000_fig3_dynamics.png"),
        save_figure(plot_figure4(results["figure4"]), out / "paper000_fig4_gamma_mtl.png"),
        save_figure(plot_figure5(results["figure5"]), out / "paper000_fig5_rsms.png"),
        save_figure(plot_figure6(results["figure6"]), out / "paper000_fig6_multi_mnist.png"),
        write_json(out / "paper000_figures.json", numbers),
    ]
    for path in written:
        console.print(f"wrote {path}")
    return written
