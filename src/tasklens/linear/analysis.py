"""One call from a task set to the linear-theory picture of its tasks (Anon. 2025 (ICLR'26 sub.)).

:func:`analyze_tasks` chains the pieces of this subpackage: whitened input–output
correlations (eq. 6), pairwise alignment (eq. 8, Definition 2.1) and magnitudes (eq. 11),
the shared spectrum (eq. 9/10), task loadings (eq. 44) and the predicted tabula-rasa
learning curves (eq. 43/45) with the learning order they imply (Section 4). Nothing is
trained: this is the training-free forecast that a deep linear network would follow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .alignment import (
    RANK_RTOL,
    PairwiseAlignment,
    SharedSpectrum,
    pairwise_alignment,
    shared_spectrum,
)
from .learning_order import LearningOrder, learning_order
from .statistics import TaskCorrelations, task_correlations
from .tabula_rasa import TabulaRasaSolution, TaskLoadings, mode_learning_time, tabula_rasa_solution


@dataclass(frozen=True)
class LinearTaskAnalysis:
    """The training-free linear-theory analysis of a set of tasks.

    Attributes
    ----------
    correlations : TaskCorrelations
    alignment : PairwiseAlignment
    spectrum : SharedSpectrum
    loadings : TaskLoadings
    dynamics : TabulaRasaSolution
        Predicted per-task excess losses over ``dynamics.times``.
    order : LearningOrder
        When each task reaches half of its predicted loss drop.
    settings : dict
    """

    correlations: TaskCorrelations
    alignment: PairwiseAlignment
    spectrum: SharedSpectrum
    loadings: TaskLoadings
    dynamics: TabulaRasaSolution
    order: LearningOrder
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def task_names(self) -> tuple[str, ...]:
        return self.spectrum.task_names

    def summary_lines(self, max_values: int = 10, max_pairs: int = 6) -> list[str]:
        """Human-readable findings: overlaps and regimes per pair (or, with many pairs,
        regime counts and the most / least aligned pairs), spectrum, learning order."""
        lines = []
        names = self.task_names
        pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
        if len(pairs) > max_pairs:
            regimes = [str(self.alignment.regimes[i, j]) for i, j in pairs]
            counts = ", ".join(f"{regimes.count(r)} {r}" for r in sorted(set(regimes)))
            lines.append(f"{len(pairs)} task pairs: {counts}")
            ranked = sorted(pairs, key=lambda p: -self.alignment.mean_overlap[p])
            for label, chosen in (("most aligned", ranked[:3]), ("least aligned", ranked[-3:])):
                lines.append(f"{label}: " + "; ".join(
                    f"{names[i]}–{names[j]} {self.alignment.mean_overlap[i, j]:.3f}"
                    for i, j in chosen))
            pairs = []
        for i, j in pairs:
            a, b = names[i], names[j]
            alphas = self.alignment.overlaps[f"{a}|{b}"]
            shown = ", ".join(f"{v:.3f}" for v in alphas[:max_values])
            more = " …" if len(alphas) > max_values else ""
            lines.append(f"{a} vs {b}: {self.alignment.regimes[i, j]}; overlap singular "
                         f"values [{shown}{more}] (mean {alphas.mean():.3f})")
        s = self.spectrum.nonzero()
        lines.append(f"shared spectrum S_ξ: rank {self.spectrum.rank}, top "
                     + ", ".join(f"{v:.3g}" for v in s[:max_values]))
        times = ", ".join(f"{n}: t½ = {t:.3g}" for n, t in zip(names, self.order.task_times))
        lines.append(f"predicted learning order: {' → '.join(self.order.order)} ({times})")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "correlations": self.correlations.to_dict(),
                "alignment": self.alignment.to_dict(), "spectrum": self.spectrum.to_dict(),
                "loadings": self.loadings.to_dict(), "order": self.order.to_dict(),
                "dynamics": self.dynamics.to_dict()}


def analyze_tasks(
    source: Any,
    tasks: Sequence[str] | None = None,
    *,
    whiten: str = "pca",
    center: bool = True,
    u0: float = 1e-3,
    tau: float = 1.0,
    regime_tol: float = 0.05,
    n_times: int = 400,
    rtol: float = RANK_RTOL,
) -> LinearTaskAnalysis:
    """Alignment, spectrum, loadings and predicted learning curves of a task set's tasks.

    Parameters
    ----------
    source : TaskSet
        Its inputs are flattened; classification targets are one-hot encoded.
    tasks : sequence of str, optional
        Subset and order of tasks (default: all).
    whiten : {"pca", "zca", "none"}
        Input whitening (the closed forms assume whitened inputs, 000 assumption A1). PCA
        whitening keeps only the non-null input directions, so it works with fewer
        samples than pixels.
    center : bool
        Subtract the input mean: removes the trivial shared mode one-hot targets get
        from the mean input (see :func:`tasklens.linear.task_correlations`).
    u0 : float
        Initial strength of every mode for the predicted curves (small = tabula rasa).
    tau : float
        Time constant (τ = 1/learning rate: times are in epochs × learning rate).
    regime_tol : float
        Tolerance of Definition 2.1 for real data (overlaps within ``tol`` of 1 or 0).
    n_times : int
        Time points of the predicted curves, up to 1.5 × the time the weakest nonzero
        mode takes to reach 99 % of its strength.
    """
    if n_times < 2:
        raise ValueError(f"n_times must be >= 2, got {n_times}")
    corr = task_correlations(source, tasks=tasks, whiten=whiten, center=center, warn=False)
    if len(corr.task_names) < 2:
        raise ValueError("analyze_tasks needs at least two tasks; select more tasks")
    align = pairwise_alignment(corr, tol=regime_tol, rtol=rtol)
    spec = shared_spectrum(corr, rtol=rtol)
    if spec.rank == 0:
        raise ValueError("every task has zero input-output correlation; nothing to learn")
    s = spec.nonzero()
    t_end = 1.5 * float(np.max(mode_learning_time(s, u0, fraction=0.99, tau=tau)))
    times = np.linspace(0.0, t_end, n_times)
    dyn = tabula_rasa_solution(spec, times, u0=u0, tau=tau, rtol=rtol)
    order = learning_order(times, dyn.losses, task_names=list(spec.task_names), fraction=0.5,
                           strengths=dyn.mode_strengths, loadings=dyn.loadings.gamma)
    settings = {"whiten": whiten, "center": center, "u0": u0, "tau": tau,
                "regime_tol": regime_tol, "n_times": n_times, "rtol": rtol}
    return LinearTaskAnalysis(corr, align, spec, dyn.loadings, dyn, order, settings)
