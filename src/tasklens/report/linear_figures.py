"""Figures of the linear-theory analysis (:func:`tasklens.linear.analysis.analyze_tasks`).

- :func:`plot_alignment` — the overlap singular values of every task pair (eq. 8) and the
  shared spectrum S_ξ. One-output tasks have one overlap per pair, drawn as a task × task
  "alignment" matrix; multi-output tasks a pairs × mode heatmap (all pairs, integer modes).
- :func:`plot_predicted_losses` — predicted learning curves, cropped to where they settle,
  and the task loadings γ_α.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .figures import _pyplot
from .style import informative_xmax, text_color_for

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..linear.analysis import LinearTaskAnalysis

#: annotate the pairs × mode heatmap up to this many cells
_MAX_ANNOTATED_CELLS = 200


def _pairs(names: tuple[str, ...], max_pairs: int | None) -> list[tuple[str, str]]:
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    return pairs if max_pairs is None else pairs[:max_pairs]


def overlap_table(analysis: LinearTaskAnalysis,
                  max_pairs: int | None = None) -> tuple[list[str], np.ndarray]:
    """Pair labels ``"a ↔ b"`` and their overlaps α_i as a (P, m) array (NaN-padded).

    Returns
    -------
    labels : list of P str
    table : (P, m) array, m the largest number of overlap modes of any pair
    """
    pairs = _pairs(analysis.task_names, max_pairs)
    rows = [np.asarray(analysis.alignment.overlaps[f"{a}|{b}"], dtype=np.float64)
            for a, b in pairs]
    width = max((len(r) for r in rows), default=0)
    table = np.full((len(rows), max(width, 1)), np.nan)
    for p, r in enumerate(rows):
        table[p, :len(r)] = r
    return [f"{a} ↔ {b}" for a, b in pairs], table


def _pair_mode_heatmap(ax: Axes, labels: list[str], table: np.ndarray) -> Any:
    from matplotlib.colors import Normalize

    plt = _pyplot()
    cmap = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")
    norm = Normalize(0.0, 1.0)
    image = ax.imshow(np.ma.masked_invalid(table), cmap=cmap, norm=norm, aspect="auto")
    n_pairs, n_modes = table.shape
    if table.size <= _MAX_ANNOTATED_CELLS:
        for p in range(n_pairs):
            for i in range(n_modes):
                v = table[p, i]
                if np.isfinite(v):
                    ax.text(i, p, f"{v:.2f}", ha="center", va="center", fontsize=6.5,
                            color=text_color_for(cmap(norm(v))))
    ax.set_xticks(range(n_modes), [str(i + 1) for i in range(n_modes)], fontsize=7)
    ax.set_yticks(range(n_pairs), labels, fontsize=7 if n_pairs <= 15 else 5.5)
    ax.set_xlabel("overlap mode i", fontsize=8)
    ax.set_title("task alignment α_i = singular values of V_aᵀV_b\n(1 aligned, 0 orthogonal)",
                 fontsize=9)
    return image


def _one_pair_bars(ax: Axes, label: str, alphas: np.ndarray) -> None:
    alphas = alphas[np.isfinite(alphas)]
    modes = np.arange(1, len(alphas) + 1)
    ax.bar(modes, alphas, color="tab:blue", width=0.6)
    for m, a in zip(modes, alphas):
        ax.text(m, a + 0.02, f"{a:.2f}", ha="center", va="bottom", fontsize=7)
    ax.axhline(1.0, color="k", lw=0.6, ls=":")
    ax.set_xticks(modes, [str(m) for m in modes], fontsize=7)
    ax.set_ylim(0.0, 1.1)
    ax.set_xlabel("overlap mode i", fontsize=8)
    ax.set_ylabel("α_i (singular value of V_aᵀV_b)", fontsize=8)
    ax.set_title(f"task alignment of {label} (1 aligned, 0 orthogonal)", fontsize=9)
    ax.tick_params(labelsize=7)


def _spectrum_panel(ax: Axes, analysis: LinearTaskAnalysis) -> None:
    s = analysis.spectrum.nonzero()
    modes = np.arange(1, len(s) + 1)
    ax.bar(modes, s, color="tab:gray")
    ax.set_xticks(modes if len(s) <= 20 else modes[:: max(1, len(s) // 10)])
    ax.set_xlabel("shared mode α (strongest first)", fontsize=8)
    ax.set_ylabel("S_ξ", fontsize=8)
    ax.set_title(f"shared spectrum (rank {analysis.spectrum.rank})", fontsize=9)
    ax.tick_params(labelsize=7)


def plot_alignment(analysis: LinearTaskAnalysis, max_pairs: int | None = None) -> Figure:
    """Overlap singular values of every task pair (eq. 8) and the shared spectrum S_ξ.

    Parameters
    ----------
    analysis : LinearTaskAnalysis
    max_pairs : int, optional
        Show only the first pairs (default: all of them).

    Returns
    -------
    Figure
        Left: when every pair has one overlap (one-output tasks), a task × task matrix of
        the alignment ``|cos|`` between the tasks; otherwise a pairs × mode heatmap of α_i.
        Right: the shared spectrum.
    """
    plt = _pyplot()
    labels, table = overlap_table(analysis, max_pairs)
    names = list(analysis.task_names)
    one_mode = table.shape[1] == 1 and max_pairs is None
    k = len(names)
    height = max(3.4, 1.4 + (0.45 * k if one_mode else 0.24 * len(labels)))
    fig, axes = plt.subplots(1, 2, figsize=(10.5, height),
                             gridspec_kw={"width_ratios": [1.25, 1]})
    if one_mode:
        from .matrix_figures import plot_matrix

        plot_matrix(analysis.alignment.mean_overlap, names, symmetric=True,
                    exclude_diagonal_from_scale=True, vmin=0.0, vmax=1.0,
                    value_label="alignment", ax=axes[0],
                    title="task alignment (one overlap per pair: 1 aligned, 0 orthogonal)")
    elif len(labels) == 1:  # one pair: bars read better than a one-row heatmap
        _one_pair_bars(axes[0], labels[0], table[0])
    else:
        image = _pair_mode_heatmap(axes[0], labels, table)
        bar = fig.colorbar(image, ax=axes[0], fraction=0.05)
        bar.set_label("α_i", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    _spectrum_panel(axes[1], analysis)
    fig.tight_layout(w_pad=2.0)
    return fig


def plot_predicted_losses(analysis: LinearTaskAnalysis, *, fraction: float = 0.99) -> Figure:
    """Predicted per-task losses (normalized to their initial value) and mode loadings.

    Parameters
    ----------
    analysis : LinearTaskAnalysis
    fraction : float in (0, 1]
        The time axis ends shortly after every curve has made this fraction of its
        change (the rest is a flat tail).
    """
    plt = _pyplot()
    dyn = analysis.dynamics
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    curves = []
    for j, name in enumerate(dyn.task_names):
        curve = dyn.losses[:, j] / max(dyn.losses[0, j], 1e-300)
        curves.append(curve)
        (line,) = ax.plot(dyn.times, curve, label=name)
        t_half = analysis.order.task_times[j]
        if np.isfinite(t_half):
            ax.axvline(t_half, color=line.get_color(), lw=0.7, ls="--")
    ax.set_xlim(float(dyn.times[0]), informative_xmax(dyn.times, curves, fraction))
    ax.set_xlabel("time t (epochs × learning rate)")
    ax.set_ylabel("excess loss / initial")
    ax.set_title("predicted learning curves (tabula rasa, eq. 43/45); dashed: half-way",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=2 if len(curves) > 8 else 1)
    gamma = analysis.loadings.gamma
    shown = min(gamma.shape[1], 20)
    im = axes[1].imshow(gamma[:, :shown], aspect="auto", cmap="viridis", vmin=0, vmax=1)
    axes[1].set_yticks(range(len(dyn.task_names)), labels=list(dyn.task_names), fontsize=7)
    axes[1].set_xticks(range(shown), [str(i + 1) for i in range(shown)], fontsize=7)
    axes[1].set_xlabel("shared mode α (strongest first)")
    axes[1].set_title("task loadings γ_α (eq. 44)", fontsize=9)
    fig.colorbar(im, ax=axes[1], fraction=0.05)
    fig.tight_layout()
    return fig
