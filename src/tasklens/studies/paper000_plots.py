"""Figures 3-6 of Anon. 2025 (ICLR'26 sub.), drawn from
:mod:`tasklens.studies.paper000` results. Only drawing happens here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..report.figures import _pyplot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .paper000 import (
        Figure3Result,
        Figure4Result,
        Figure5Result,
        Figure6Result,
    )

TASK_COLORS = ("tab:blue", "tab:orange")


def plot_figure3(result: Figure3Result) -> Figure:
    """Entries of ``W_i W_S(t)`` (closed form), task 1 solid, task 2 dotted; 2 x 3 panels."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5), sharex=False)
    cmap = plt.get_cmap("tab10")
    letters = "abcdef"
    for idx, panel in enumerate(result.panels):
        ax = axes[int(panel.normalized), idx % 3]
        for task, style in enumerate(("-", ":")):
            funcs = panel.network_functions[task].reshape(len(panel.t), -1)
            for c in range(funcs.shape[1]):
                ax.plot(panel.epochs, funcs[:, c], ls=style, color=cmap(c % 10), lw=1.2)
        row = "balanced" if panel.normalized else "imbalanced"
        alphas = ", ".join(f"{a:.3f}" for a in panel.overlaps)
        ax.set_title(f"({letters[idx]}) {panel.regime}, {row}\nα = [{alphas}]", fontsize=9)
        ax.set_xlabel(f"epochs (lr = {result.settings['learning_rate']:g})", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("entries of W_i W_S(t)")
    axes[1, 0].set_ylabel("entries of W_i W_S(t)")
    fig.suptitle("Figure 3 (Anon. 2025): closed-form network functions (task 1 solid, 2 dotted)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_figure4(result: Figure4Result) -> Figure:
    """Losses (GD solid, closed form dashed; L2 / 16) and gradient cosine similarities."""
    plt = _pyplot()
    runs = result.runs
    fig, axes = plt.subplots(2, len(runs), figsize=(4.2 * len(runs), 6.2), squeeze=False)
    for j, run in enumerate(runs):
        ax = axes[0, j]
        for task, scale in ((0, 1.0), (1, 16.0)):
            label = f"L{task + 1}" + (" / 16" if scale != 1.0 else "")
            ax.plot(run.t, run.gd_losses[:, task] / scale, color=TASK_COLORS[task],
                    label=f"{label} GD")
            ax.plot(run.t, run.cf_losses[:, task] / scale, color="k", ls="--", lw=0.8,
                    label="closed form" if task == 0 else None)
        ax.set_title(f"γ = {run.gamma:g} (α_1 = {run.overlaps[0]:.3f})", fontsize=9)
        ax.set_xlabel("t = epochs × lr", fontsize=8)
        ax.legend(fontsize=7)
        ax = axes[1, j]
        ax.plot(run.t, run.cosine_shared, label="shared W_S", color="tab:purple")
        ax.plot(run.t, run.cosine_heads, label="task heads", color="tab:green", ls="--")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("t = epochs × lr", fontsize=8)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("task loss (eq. 2)")
    axes[1, 0].set_ylabel("cos(∇L_1, ∇L_2)")
    lr = result.settings["learning_rate"]
    fig.suptitle(f"Figure 4 (Anon. 2025): γ-MTL, N_i = 20, N_S = 2, α = (1, 4), GD lr = {lr:g}",
                 fontsize=10)
    fig.tight_layout()
    return fig


def _rsm_image(ax, mat: np.ndarray, title: str, vmax: float) -> None:
    ax.imshow(mat, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_figure5(result: Figure5Result) -> Figure:
    """Rows: gamma. Columns: U_1S_1U_1ᵀ, U_ξS_ξU_ξᵀ, ΔUSUᵀ (A balanced, B imbalanced), ΔVSVᵀ."""
    plt = _pyplot()
    n = len(result.gammas)
    fig, axes = plt.subplots(n, 7, figsize=(14, 2.1 * n + 0.6), squeeze=False)
    for i, g in enumerate(result.gammas):
        for part, (rsms, tag) in enumerate(((result.balanced[i], "A"),
                                            (result.imbalanced[i], "B"))):
            first = rsms.task_names[0]
            mats = [(rsms.stl_output[first], f"{tag}: U1S1U1ᵀ"),
                    (rsms.output, f"{tag}: UξSξUξᵀ"),
                    (rsms.delta_output[first], f"{tag}: ΔUSUᵀ (task 1)")]
            vmax = max(max(float(np.abs(m).max()) for m, _ in mats), 1e-12)
            for c, (mat, title) in enumerate(mats):
                _rsm_image(axes[i, 3 * part + c], mat, title, vmax)
        delta = result.balanced[i].delta_input
        _rsm_image(axes[i, 6], delta, "C: ΔVSVᵀ",
                   max(float(np.abs(result.balanced[i].shared_input).max()), 1e-12))
        axes[i, 0].set_ylabel(f"γ = {g:g}", fontsize=9)
    fig.suptitle("Figure 5 (Anon. 2025): RSMs at convergence (Theorem 3), A/C: α = (1, 1), "
                 "B: α = (1, 4); red > 0 > blue", fontsize=10)
    fig.tight_layout()
    return fig


def plot_figure6(result: Figure6Result) -> Figure:
    """Per variant: losses (GD solid, closed form dashed), overlaps next to the paper's,
    and the predicted MTL vs STL output RSM of task 1 (Fig. 6B)."""
    from .paper000 import PAPER_VALUES

    plt = _pyplot()
    fig, axes = plt.subplots(len(result.runs), 4, figsize=(15, 3.3 * len(result.runs)),
                             squeeze=False, gridspec_kw={"width_ratios": [3, 2.2, 1.3, 1.3]})
    n = result.settings["n"]
    for i, run in enumerate(result.runs):
        ax = axes[i, 0]
        for task, name in enumerate(("left (task 1)", "right (task 2)")):
            ax.plot(run.t, run.gd_losses[:, task], color=TASK_COLORS[task], label=f"{name} GD")
            ax.plot(run.t, run.cf_losses[:, task], color="k", ls="--", lw=0.8,
                    label="closed form" if task == 0 else None)
        ax.set_title(f"{run.variant}: learning curves (N_S = {result.settings['n_hidden']})",
                     fontsize=9)
        ax.set_xlabel("t = epochs × lr", fontsize=8)
        ax.set_ylabel("loss (eq. 2)")
        ax.legend(fontsize=7)
        ax = axes[i, 1]
        paper = PAPER_VALUES[f"mnist_{run.variant}_overlap"]
        idx = np.arange(len(run.overlaps))
        ax.bar(idx - 0.2, run.overlaps, width=0.4, label=f"here (n = {n:,})")
        ax.bar(idx[: len(paper)] + 0.2, paper, width=0.4, label="paper (App. D.5)")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"overlap singular values α_i ({result.settings['placement']} placement)",
                     fontsize=8)
        ax.legend(fontsize=7)
        first = run.rsms.task_names[0]
        vmax = float(np.abs(run.rsms.stl_output[first]).max())
        _rsm_image(axes[i, 2], run.rsms.stl_output[first], "STL U1S1U1ᵀ", vmax)
        _rsm_image(axes[i, 3], run.rsms.task_output[first], "MTL (UξSξUξᵀ)_11", vmax)
    fig.suptitle(f"Figure 6 (Anon. 2025): Multi-MNIST baseline vs permuted, n = {n:,} images from "
                 f"{result.settings['source_pool']}", fontsize=10)
    fig.tight_layout()
    return fig
