"""Figures of the linear-theory analysis (:func:`tasklens.linear.analysis.analyze_tasks`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .figures import _pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..linear.analysis import LinearTaskAnalysis


def plot_alignment(analysis: LinearTaskAnalysis, max_pairs: int = 6) -> Figure:
    """Overlap singular values of each task pair (eq. 8) and the shared spectrum S_ξ."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    names = analysis.task_names
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]][:max_pairs]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    ax = axes[0]
    width = 0.8 / max(len(pairs), 1)
    for p, (a, b) in enumerate(pairs):
        alphas = analysis.alignment.overlaps[f"{a}|{b}"]
        ax.bar(np.arange(len(alphas)) + p * width, alphas, width=width, label=f"{a} vs {b}")
    ax.axhline(1.0, color="k", lw=0.6, ls=":")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("overlap mode i")
    ax.set_ylabel("singular value α_i of V_aᵀV_b")
    ax.set_title("task alignment (1 aligned, 0 orthogonal)", fontsize=9)
    ax.legend(fontsize=7)
    s = analysis.spectrum.nonzero()
    axes[1].bar(np.arange(len(s)), s, color="tab:gray")
    axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[1].set_xlabel("shared mode α")
    axes[1].set_ylabel("S_ξ")
    axes[1].set_title(f"shared spectrum (rank {analysis.spectrum.rank})", fontsize=9)
    fig.tight_layout()
    return fig


def plot_predicted_losses(analysis: LinearTaskAnalysis) -> Figure:
    """Predicted per-task losses (normalized to their initial value) and mode loadings."""
    plt = _pyplot()
    dyn = analysis.dynamics
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    for j, name in enumerate(dyn.task_names):
        curve = dyn.losses[:, j] / max(dyn.losses[0, j], 1e-300)
        (line,) = ax.plot(dyn.times, curve, label=name)
        t_half = analysis.order.task_times[j]
        if np.isfinite(t_half):
            ax.axvline(t_half, color=line.get_color(), lw=0.7, ls="--")
    ax.set_xlabel("time t (epochs × learning rate)")
    ax.set_ylabel("excess loss / initial")
    ax.set_title("predicted learning curves (tabula rasa, eq. 43/45); dashed: half-way",
                 fontsize=9)
    ax.legend(fontsize=7)
    gamma = analysis.loadings.gamma
    shown = min(gamma.shape[1], 20)
    im = axes[1].imshow(gamma[:, :shown], aspect="auto", cmap="viridis", vmin=0, vmax=1)
    axes[1].set_yticks(range(len(dyn.task_names)), labels=list(dyn.task_names), fontsize=7)
    axes[1].set_xlabel("shared mode α (strongest first)")
    axes[1].set_title("task loadings γ_α (eq. 44)", fontsize=9)
    fig.colorbar(im, ax=axes[1], fraction=0.05)
    fig.tight_layout()
    return fig
