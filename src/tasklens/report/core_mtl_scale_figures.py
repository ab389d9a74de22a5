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
    timing = getattr(result, "timing", None)
    for key, ax, ylabel in (("epoch_s", axes[0], "seconds / epoch (log)"),
                            ("delta_m", axes[1], "Δm vs EW, test MSE (%, ↑)")):
        for i, m in enumerate(methods):
            color = f"C{i}"
            mean = np.array([summary[m][k][key][0] for k in counts], dtype=float)
            se = np.array([summary[m][k][key][1] for k in counts], dtype=float)
            dashed = key == "epoch_s" and timing is not None
            ax.errorbar(counts, mean, yerr=se, marker="o", capsize=3, color=color,
                        ls="--" if dashed else "-", alpha=0.5 if dashed else 1.0,
                        label=labels.get(m, m) + (" (runs, mean ± SE)" if dashed else ""))
            if dashed:
                best = [timing[m][k] for k in counts]
                ax.plot(counts, best, marker="s", color=color,
                        label=labels.get(m, m) + " (interleaved best)")
        ax.set_xlabel("number of tasks K")
        ax.set_ylabel(ylabel)
        ax.set_xticks(counts)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].axhline(0.0, color="grey", lw=0.8)
    axes[0].set_title("Training cost", fontsize=10)
    axes[1].set_title("Multi-task performance relative to EW", fontsize=10)
    if timing is not None:  # eight entries: below the panels, not over the curves
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, fontsize=7, frameon=False, ncol=4, loc="lower center")
        fig.set_size_inches(8.4, 4.0)
        fig.tight_layout(rect=(0.0, 0.14, 1.0, 1.0))
    else:
        axes[0].legend(fontsize=8, frameon=False)
        fig.tight_layout()
    return fig


def plot_grounding(result: Any, *, labels: Any = None) -> Figure:
    """Left: ID and OOD metrics per model (mean ± SE); right: ``ΔZ_s`` and ``ΔZ_r`` of the
    CORE-MTL models under the residual swap (intra) and the photometric shift (cross).

    ``result`` has ``models`` and ``summary[model]["id/<metric>"|"ood/<metric>"|
    "<setting>/delta_semantic"|…] = (mean, SE)`` (a ``GroundingResult``).
    """
    models = list(getattr(result, "models", ()))
    summary = getattr(result, "summary", {})
    metrics = ("shape_acc", "orientation_r2", "scale_r2")
    if not models or any(f"id/{metrics[0]}" not in summary.get(m, {}) for m in models):
        raise ValueError("result has no ID metrics per model (pass a GroundingResult)")
    labels = dict(labels or {})
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.6))
    ax = axes[0]
    width = 0.8 / (2 * len(models))
    pos = np.arange(len(metrics))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, m in enumerate(models):
        for j, split in enumerate(("id", "ood")):
            mean = [summary[m][f"{split}/{k}"][0] for k in metrics]
            se = [summary[m][f"{split}/{k}"][1] for k in metrics]
            ax.bar(pos - 0.4 + width * (2 * i + j + 0.5), mean, width, yerr=se, capsize=2,
                   color=colors[i % len(colors)], alpha=1.0 if split == "id" else 0.45,
                   label=f"{labels.get(m, m)} {split.upper()}")
    ax.set_xticks(pos, ["shape accuracy", "orientation R²", "scale R²"])
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.05)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.legend(fontsize=7, frameon=False, ncol=len(models), loc="upper center",
              bbox_to_anchor=(0.5, -0.1))
    ax.set_title("In-distribution (solid) vs held-out albedo / light (light)", fontsize=9)
    ax = axes[1]
    stab = [m for m in models if "cross-domain/delta_semantic" in summary[m]]
    settings = ("intra-domain", "cross-domain")
    width = 0.8 / max(1, 2 * len(stab))
    for i, m in enumerate(stab):
        for j, (q, name) in enumerate((("delta_semantic", "ΔZ_s"), ("delta_residual", "ΔZ_r"))):
            mean = [summary[m][f"{s}/{q}"][0] for s in settings]
            se = [summary[m][f"{s}/{q}"][1] for s in settings]
            ax.bar(np.arange(2) - 0.4 + width * (2 * i + j + 0.5), mean, width, yerr=se,
                   capsize=2, color=colors[models.index(m) % len(colors)],
                   hatch="" if j == 0 else "//", alpha=0.9,
                   label=f"{labels.get(m, m)} {name}")
    ax.set_xticks(np.arange(2), ["residual swap (intra)", "photometric shift (cross)"])
    ax.set_ylabel("relative code shift")
    ax.legend(fontsize=7, frameon=False)
    ax.set_title("Stream stability: ΔZ_s should be small, ΔZ_r large", fontsize=9)
    fig.tight_layout()
    return fig
