"""Figures of CORE-MTL's scaling and grounding experiments (Wu, Zou, Wu and Wang 2026,
"CORE-MTL: Rethinking Gradient Balancing via Causal Orthogonal Representations",
arXiv:2606.02221, §4.5 Table 4 and §4.6.2 Table 6).

Results are read by duck typing (:mod:`tasklens.studies.core_mtl_scaling`,
:mod:`tasklens.studies.core_mtl_grounding`); nothing here trains a model.

- :func:`plot_scaling` — seconds per epoch and Δm against the number of tasks K;
- :func:`plot_grounding` — in-distribution and shifted accuracy per model, and the
  semantic / residual code shifts under the photometric shift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .figures import _pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_scaling(result: Any, *, labels: Any = None) -> Figure:
    """Two panels against K: seconds per epoch (log scale) and Δm vs EW, mean ± SE.

    ``result`` has ``methods``, ``task_counts`` and
    ``summary[method][K]["epoch_s"|"delta_m"] = (mean, SE)`` (a ``ScalingResult``).
    """
    methods = list(getattr(result, "methods", ()))
    counts = list(getattr(result, "task_counts", ()))
    summary = getattr(result, "summary", {})
    if not methods or not counts:
        raise ValueError("result has no methods or task counts (pass a ScalingResult)")
    labels = dict(labels or {})
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.3))
    for key, ax, ylabel in (("epoch_s", axes[0], "seconds / epoch (log)"),
                            ("delta_m", axes[1], "Δm vs EW, test MSE (%, ↑)")):
        for m in methods:
            mean = np.array([summary[m][k][key][0] for k in counts], dtype=float)
            se = np.array([summary[m][k][key][1] for k in counts], dtype=float)
            ax.errorbar(counts, mean, yerr=se, marker="o", capsize=3, label=labels.get(m, m))
        ax.set_xlabel("number of tasks K")
        ax.set_ylabel(ylabel)
        ax.set_xticks(counts)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].axhline(0.0, color="grey", lw=0.8)
    axes[0].legend(fontsize=8, frameon=False)
    axes[0].set_title("Training cost", fontsize=10)
    axes[1].set_title("Multi-task performance relative to EW", fontsize=10)
    fig.tight_layout()
    return fig
