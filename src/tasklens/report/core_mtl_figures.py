"""Figures of CORE-MTL's analyses (Wu, Zou, Wu and Wang 2026, "CORE-MTL: Rethinking
Gradient Balancing via Causal Orthogonal Representations", arXiv:2606.02221, §4.4, App. A).

Each function draws results computed elsewhere (:mod:`tasklens.studies.core_mtl_analysis`,
:mod:`tasklens.studies.core_mtl_scm`); nothing here trains or evaluates a model. Results
are read by duck typing, so this module imports nothing above :mod:`tasklens.report`.

- :func:`plot_stability` — Table 3 / Fig. 3: ``ΔZ_s`` and ``ΔZ_r`` per setting, with ratios;
- :func:`plot_gradient_cosines` — Fig. 4: task vs reconstruction gradient cosines over
  training, and their distribution;
- :func:`plot_gradient_cosine_bands` — Fig. 4 over seeds: per task, the mean ± SE band of
  the task vs reconstruction cosine over training, one panel per model;
- :func:`plot_task_gradient_heatmap` — Fig. 5: the task × task cosine matrix;
- :func:`plot_counterfactual_grid` — Fig. 2: ``D(z_s(x_i), z_r(x'_j))`` (defined in
  :mod:`tasklens.report.image_figures`, re-exported here);
- :func:`plot_scm_gap` — App. A eq. 27 against the simulated OOD gap;
- :func:`plot_shortcut` — App. I: source vs target accuracy per method (± SE);
- :func:`plot_sensitivity` — App. G/H: accuracy against λ_CKA and λ_CFA (± SE);
- :func:`plot_corruption` — App. J: accuracy against corruption severity per method (± SE).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.validation import check_array
from .figures import _pyplot
from .image_figures import plot_counterfactual_grid  # drawn there, with the other image grids

__all__ = ["plot_counterfactual_grid", "plot_gradient_cosine_bands", "plot_gradient_cosines",
           "plot_scm_gap", "plot_shortcut", "plot_stability", "plot_task_gradient_heatmap"]

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def plot_stability(result: Any, title: str = "Stability under intervention") -> Figure:
    """Bars of ``ΔZ_s`` (semantic) and ``ΔZ_r`` (residual) per setting; ratio on top.

    ``result`` has ``rows``, each with ``setting``, ``delta_semantic``,
    ``delta_residual`` and ``ratio`` (a ``StabilityResult``).
    """
    rows = list(getattr(result, "rows", []))
    if not rows:
        raise ValueError("result has no rows (pass a StabilityResult)")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.8 * len(rows), 3.2))
    pos = np.arange(len(rows))
    ds = [r.delta_semantic for r in rows]
    dr = [r.delta_residual for r in rows]
    ax.bar(pos - 0.18, ds, 0.36, label="ΔZ_s (semantic, ↓)", color="#4c72b0")
    ax.bar(pos + 0.18, dr, 0.36, label="ΔZ_r (residual, ↑)", color="#dd8452")
    for p, r in zip(pos, rows):
        ax.annotate(f"ratio {r.ratio:.2f}", (p, max(r.delta_semantic, r.delta_residual)),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 3),
                    textcoords="offset points")
    ax.set_xticks(pos, [r.setting for r in rows])
    ax.set_ylabel("relative code shift")
    ax.set_ylim(0, 1.2 * max(max(ds), max(dr), 1e-12))
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_gradient_cosines(steps: Any, cosines: Any, tasks: Sequence[str], *,
                          baseline: Any = None, baseline_label: str = "baseline",
                          label: str = "CORE-MTL") -> Figure:
    """Task vs reconstruction gradient cosines over training (Wu et al. 2026 Fig. 4).

    Parameters
    ----------
    steps : (M,) array
    cosines : (M, K) array
        ``cos(∇L_t, ∇L_rec)`` at each recorded step (``GradientCosineRecorder``).
    tasks : K names
    baseline : (M', K) array, optional
        The same measurement for another model, drawn in the histogram for comparison.
    """
    cos = check_array(cosines, "cosines", ndim=2)
    st = check_array(steps, "steps", ndim=1)
    if len(st) != len(cos) or cos.shape[1] != len(tasks):
        raise ValueError(f"cosines must be (len(steps), len(tasks)) = ({len(st)}, "
                         f"{len(tasks)}), got {cos.shape}")
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2), width_ratios=(1.6, 1))
    for k, name in enumerate(tasks):
        a1.plot(st, cos[:, k], lw=1, alpha=0.8, label=name)
    a1.axhline(0.0, color="k", lw=0.6)
    a1.set_xlabel("step")
    a1.set_ylabel("cos(∇L_task, ∇L_rec)")
    a1.set_ylim(-1, 1)
    a1.legend(fontsize=7, frameon=False, ncol=2)
    bins = np.linspace(-1, 1, 41)
    a2.hist(cos.ravel(), bins=bins, alpha=0.7, label=label, density=True)
    if baseline is not None:
        a2.hist(check_array(baseline, "baseline").ravel(), bins=bins, alpha=0.5,
                label=baseline_label, density=True)
    a2.set_xlabel("cosine")
    a2.set_ylabel("density")
    a2.legend(fontsize=7, frameon=False)
    fig.suptitle("Task vs reconstruction gradients at the last shared layer", fontsize=10)
    fig.tight_layout()
    return fig


def plot_gradient_cosine_bands(steps: Any, panels: dict[str, Any], tasks: Sequence[str], *,
                               steps_per_epoch: int | None = None,
                               reference: float | None = None) -> Figure:
    """Task vs reconstruction gradient cosines over training, mean ± SE over seeds.

    Parameters
    ----------
    steps : (M,) array
    panels : dict {title: (S, M, K) array}
        One panel per model: ``cos(∇L_t, ∇L_rec)`` per seed, recorded step and task
        (``OrthogonalityResult.task_vs_rec``). The band is ± one standard error over the
        ``S`` seeds (none when ``S = 1``).
    tasks : K names
    steps_per_epoch : int, optional
        Draws faint vertical lines at epoch boundaries.
    reference : float, optional
        Draws ``± reference`` (e.g. ``E|cos|`` of random directions) as dotted lines.
    """
    st = check_array(steps, "steps", ndim=1)
    if not panels:
        raise ValueError("panels is empty; pass {title: (seeds, steps, tasks) array}")
    arrays = {t: check_array(a, f"panels[{t!r}]", ndim=3) for t, a in panels.items()}
    for title, a in arrays.items():
        if a.shape[1:] != (len(st), len(tasks)):
            raise ValueError(f"panels[{title!r}] must be (seeds, {len(st)}, {len(tasks)}), "
                             f"got {a.shape}")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(arrays), figsize=(4.4 * len(arrays), 3.4), sharey=True,
                             squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for ax, (title, a) in zip(axes[0], arrays.items()):
        mean = a.mean(0)
        se = a.std(0, ddof=1) / np.sqrt(len(a)) if len(a) > 1 else np.zeros_like(mean)
        for k, name in enumerate(tasks):
            c = colors[k % len(colors)]
            ax.plot(st, mean[:, k], color=c, lw=1.2, label=name)
            ax.fill_between(st, mean[:, k] - se[:, k], mean[:, k] + se[:, k], color=c,
                            alpha=0.25, lw=0)
        ax.axhline(0.0, color="k", lw=0.6)
        if reference is not None:
            for r in (-reference, reference):
                ax.axhline(r, color="0.4", ls=":", lw=0.8)
        if steps_per_epoch:
            for b in np.arange(steps_per_epoch, st.max() + 1, steps_per_epoch):
                ax.axvline(b, color="0.85", lw=0.5, zorder=0)
        ax.set_xlabel("optimiser step")
        ax.set_title(f"{title} ({len(a)} seeds)", fontsize=9)
    axes[0][0].set_ylabel("cos(∇L_task, ∇L_rec), mean ± SE")
    axes[0][0].legend(fontsize=7, frameon=False, ncol=len(tasks))
    fig.suptitle("Task vs reconstruction gradients at the last shared layer"
                 + ("" if reference is None else f" (dotted: ± {reference:.3f}, random "
                    "directions)"), fontsize=10)
    fig.tight_layout()
    return fig


def plot_task_gradient_heatmap(task_task: Any, tasks: Sequence[str], *,
                               title: str = "Task × task gradient cosine") -> Figure:
    """The (K, K) matrix of task-gradient cosines (Wu et al. 2026 Fig. 5), diverging colours in
    [-1, 1]."""
    m = check_array(task_task, "task_task", ndim=2)
    if m.shape != (len(tasks), len(tasks)):
        raise ValueError(f"task_task must be ({len(tasks)}, {len(tasks)}), got {m.shape}")
    plt = _pyplot()
    side = 1.5 + 0.45 * len(tasks)
    fig, ax = plt.subplots(figsize=(side + 0.8, side))
    im = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(tasks)), tasks, fontsize=8)
    if len(tasks) <= 12:
        for i in range(len(tasks)):
            for j in range(len(tasks)):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(m[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_scm_gap(psis: Any, gaps: Any, se: Any, theory: Any, *,
                 label: str = "eq. 27") -> Figure:
    """Simulated OOD gap (points ± 2 SE) against the closed form, versus the mixing angle.

    Parameters
    ----------
    psis, gaps, se, theory : (M,) arrays
        Angles (radians), simulated gaps, their standard errors, closed-form gaps.
    """
    arrays = [check_array(a, n, ndim=1) for a, n in
              ((psis, "psis"), (gaps, "gaps"), (se, "se"), (theory, "theory"))]
    if len({len(a) for a in arrays}) != 1:
        raise ValueError("psis, gaps, se and theory must have the same length")
    p, g, e, t = arrays
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    order = np.argsort(p)
    ax.plot(np.degrees(p[order]), t[order], color="k", lw=1.2, label=label)
    ax.errorbar(np.degrees(p), g, yerr=2 * e, fmt="o", ms=3, capsize=2, color="#c44e52",
                label="simulation ± 2 SE")
    ax.set_xlabel("mixing angle ψ (degrees)")
    ax.set_ylabel("E_T − E_S")
    ax.set_title("OOD gap of the source-optimal linear head", fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    return fig


def plot_shortcut(result: Any, task: str = "digit", *, labels: Any = None) -> Figure:
    """Source vs target accuracy per method, mean ± SE bars (the App. I stress test).

    ``result`` has ``methods`` and ``summary[method][task]["source"|"target"|"gap"]`` =
    ``(mean, SE)`` (a ``ShortcutResult``); the gap is written above each pair.
    """
    methods = list(getattr(result, "methods", ()))
    summary = getattr(result, "summary", {})
    if not methods or any(task not in summary.get(m, {}) for m in methods):
        raise ValueError(f"result has no summary for task {task!r} (pass a ShortcutResult)")
    labels = dict(labels or {})
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(methods), 3.4))
    pos = np.arange(len(methods))
    legend = {"source": "source (training colour map)", "target": "target (colours permuted)"}
    for offset, domain, color in ((-0.2, "source", "#4c72b0"), (0.2, "target", "#c44e52")):
        mean = [summary[m][task][domain][0] for m in methods]
        se = [summary[m][task][domain][1] for m in methods]
        ax.bar(pos + offset, mean, 0.4, yerr=se, capsize=3, color=color,
               label=legend[domain])
    for p, m in zip(pos, methods):
        gap, gap_se = summary[m][task]["gap"]
        ax.annotate(f"gap {gap:.2f}\n± {gap_se:.2f}", (p, 1.02), ha="center", va="bottom",
                    fontsize=7)
    per_seed = getattr(result, "per_seed", {})
    seeds = getattr(result, "seeds", ())
    names = [labels.get(m, m) + (f"\n({len(per_seed[m])}/{len(seeds)} runs)"
                                 if m in per_seed and len(per_seed[m]) < len(seeds) else "")
             for m in methods]
    ax.set_xticks(pos, names, fontsize=8)
    ax.set_ylabel(f"{task} accuracy (held-out)")
    ax.set_ylim(0, 1.25)
    ax.legend(fontsize=8, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.14),
              ncol=2)
    ax.set_title("Shortcut stress test: trained on source colours", fontsize=10)
    fig.tight_layout()
    return fig


def plot_sensitivity(result: Any, *, weights: Sequence[str] | None = None,
                     chance: float | None = None) -> Figure:
    """Digit accuracy against λ_CKA and λ_CFA, mean ± SE bars (Wu et al. 2026 App. G, H).

    ``result`` has ``grid`` (``{"cka"|"cfa": values}``) and
    ``summary[weight][value]["source"|"target"|"gap"]`` = ``(mean, SE)`` (a
    ``SensitivityResult``). One panel per weight; the λ values sit at even spacing
    (the grids span 0 to 100, which no linear or log axis shows well) and are labelled.
    A ``corrupted`` entry (mean accuracy under corruptions), when present, is drawn too;
    ``chance`` adds a dashed chance level.
    """
    grid = dict(getattr(result, "grid", {}))
    summary = getattr(result, "summary", {})
    weights = list(grid if weights is None else weights)
    if not weights or any(w not in grid or w not in summary for w in weights):
        raise ValueError(f"result has no sweep for {weights!r} (pass a SensitivityResult)")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(weights), figsize=(3.9 * len(weights), 3.8),
                             squeeze=False, sharey=True)
    styles = (("source", "source (clean)", "#4c72b0", "o"),
              ("target", "target (colours permuted)", "#c44e52", "s"),
              ("gap", "gap = source − target", "#55a868", "^"),
              ("corrupted", "mean under corruptions", "#8172b3", "D"))
    for ax, w in zip(axes[0], weights):
        values = list(grid[w])
        pos = np.arange(len(values))
        if chance is not None:
            ax.axhline(chance, color="0.4", ls="--", lw=1, label=f"chance ({chance:g})")
        for key, label, color, marker in styles:
            if any(key not in summary[w][v] for v in values):
                continue
            mean = np.array([summary[w][v][key][0] for v in values], dtype=float)
            se = np.array([summary[w][v][key][1] for v in values], dtype=float)
            ax.errorbar(pos, mean, yerr=se, color=color, marker=marker, ms=4, capsize=3,
                        lw=1.2, label=label)
        ax.set_xticks(pos, [f"{v:g}" for v in values])
        ax.set_xlabel(f"λ_{w.upper()} (others = 1; even spacing)")
        ax.grid(alpha=0.3)
        ax.set_title(f"Sensitivity to λ_{w.upper()}", fontsize=10)
    axes[0][0].set_ylabel("digit accuracy (mean ± SE over seeds)")
    axes[0][0].set_ylim(bottom=min(0.0, axes[0][0].get_ylim()[0]))
    handles, texts = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, texts, fontsize=8, frameon=False, loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def plot_corruption(result: Any, *, labels: Any = None) -> Figure:
    """Digit accuracy against severity (0 = clean … 5), one panel per corruption, one line
    per method with SE bars (Wu et al. 2026 App. J, at small scale).

    ``result`` has ``methods`` and ``summary[method]["curve"][corruption]`` = six
    ``(mean, SE)`` (a ``CorruptionResult``).
    """
    methods = list(getattr(result, "methods", ()))
    summary = getattr(result, "summary", {})
    if not methods or any("curve" not in summary.get(m, {}) for m in methods):
        raise ValueError("result has no severity curves (pass a CorruptionResult)")
    names = list(summary[methods[0]]["curve"])
    labels = dict(labels or {})
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(2.9 * len(names), 3.2), sharey=True,
                             squeeze=False)
    colors = plt.get_cmap("tab10").colors
    for ax, name in zip(axes[0], names):
        for i, m in enumerate(methods):
            curve = np.asarray(summary[m]["curve"][name], dtype=float)
            ax.errorbar(np.arange(len(curve)) + 0.04 * (i - len(methods) / 2), curve[:, 0],
                        yerr=curve[:, 1], color=colors[i % len(colors)], marker="o", ms=3,
                        capsize=2, lw=1.6 if i == 0 else 1.0, label=labels.get(m, m))
        ax.set_xticks(range(len(curve)), ["clean", *map(str, range(1, len(curve)))])
        ax.set_xlabel("severity")
        ax.set_title(name.replace("_", " "), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("digit accuracy (mean ± SE)")
    axes[0][0].set_ylim(0, 1.02)
    handles, texts = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, texts, fontsize=8, frameon=False, loc="lower center",
               ncol=min(len(methods), 7))
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
