"""The two run settings of ``tasklens linear figures`` (Anon. 2025, figures 3-6) and the run.

``QUICK`` is a small Multi-MNIST sample and fewer time points (under a minute); ``FULL`` the
sizes used for docs/linear.md. Moved here from ``tasklens.cli.linear_figures`` so that the
settings of a reproduction live with the reproduction (:mod:`tasklens.studies.paper000`).
"""

from __future__ import annotations

from typing import Any

from .paper000 import (
    PAPER_VALUES,
    appendix_d2_spectra,
    figure3,
    figure4,
    figure5,
    figure6,
)

#: Time points, Multi-MNIST images / learning rate / epochs, and Figure 4's recorded steps.
QUICK: dict[str, Any] = {"n_times": 80, "mnist_n": 1000, "mnist_lr": 0.05,
                         "mnist_epochs": 600, "fig4_records": 60}
FULL: dict[str, Any] = {"n_times": 400, "mnist_n": 20_000, "mnist_lr": 1e-2,
                        "mnist_epochs": 5000, "fig4_records": 300}


def compute_paper_figures(quick: bool = False, seed: int = 0,
                          mnist_n: int | None = None) -> dict[str, Any]:
    """Run the four figure configurations of Anon. 2025 (and App. D.2's spectra).

    Parameters
    ----------
    quick : bool
        :data:`QUICK` instead of :data:`FULL`.
    seed : int
        Seed of every construction.
    mnist_n : int, optional
        Multi-MNIST images for Figure 6 (default from the setting).

    Returns
    -------
    dict
        ``"figure3"``, ``"appendix_d2"``, ``"figure4"``, ``"figure5"``, ``"figure6"`` →
        the result objects of :mod:`tasklens.studies.paper000`.
    """
    cfg = QUICK if quick else FULL
    n = cfg["mnist_n"] if mnist_n is None else mnist_n
    return {
        "figure3": figure3(seed=seed, n_times=cfg["n_times"]),
        "appendix_d2": appendix_d2_spectra(seed=seed),
        "figure4": figure4(seed=seed, n_records=cfg["fig4_records"]),
        "figure5": figure5(seed=seed),
        "figure6": figure6(n=n, seed=seed, learning_rate=cfg["mnist_lr"],
                           max_epochs=cfg["mnist_epochs"]),
    }


def paper_numbers(results: dict[str, Any]) -> dict[str, Any]:
    """JSON-friendly numbers of :func:`compute_paper_figures`, with the paper's printed ones."""
    return {
        "figure3": results["figure3"].to_dict(),
        "appendix_d2": [c.to_dict() for c in results["appendix_d2"]],
        "figure4": results["figure4"].to_dict(),
        "figure5": results["figure5"].to_dict(),
        "figure6": results["figure6"].to_dict(),
        "paper_values": {k: list(v) for k, v in PAPER_VALUES.items()},
    }
