"""Data-summary figures: the class balance / target distribution of every task.

- :func:`plot_class_balance` — one panel per task: class proportions for classification,
  binary and multilabel tasks (always categorical bars, never a continuous colour bar),
  a histogram for regression tasks.
- :func:`class_balance_inputs` — the ``(task_names, counts, kinds)`` of a TaskSet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.validation import check_array
from .figures import _pyplot
from .style import POSITIVE_COLOR, check_task_names

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..data import TaskSet

CATEGORICAL_KINDS = ("classification", "binary", "multilabel")
KINDS = (*CATEGORICAL_KINDS, "regression")
#: classes beyond this many (by count) are pooled into "other"
MAX_CLASSES_SHOWN = 12


def _check_counts(task: str, kind: str, value: Any) -> Any:
    if kind in CATEGORICAL_KINDS:
        if not isinstance(value, Mapping) or not value:
            raise TypeError(f"counts[{task!r}] must be a non-empty mapping {{class: count}} "
                            f"for a {kind} task, got {type(value).__name__}")
        counts = {str(c): float(n) for c, n in value.items()}
        if any(not math.isfinite(n) or n < 0 for n in counts.values()):
            raise ValueError(f"counts[{task!r}] must hold finite non-negative counts")
        return counts
    if isinstance(value, Mapping):  # a histogram computed elsewhere
        if set(value) != {"edges", "counts"}:
            raise TypeError(f"counts[{task!r}] for a regression task must be the target values "
                            "or a histogram {'edges': (B+1,), 'counts': (B,)}")
        edges = check_array(value["edges"], f"counts[{task!r}]['edges']", ndim=1)
        n = check_array(value["counts"], f"counts[{task!r}]['counts']", ndim=1)
        if len(edges) != len(n) + 1 or len(n) == 0 or np.any(np.diff(edges) <= 0):
            raise ValueError(f"counts[{task!r}] needs B >= 1 counts and B + 1 increasing edges, "
                             f"got {len(n)} counts and {len(edges)} edges")
        return edges, n
    arr = check_array(value, f"counts[{task!r}]", ndim=(1, 2), finite=False)
    arr = arr.reshape(len(arr), -1)[:, 0]
    return arr[np.isfinite(arr)]


def _histogram_panel(ax: Axes, data: Any) -> None:
    if isinstance(data, tuple):
        edges, n = data
        ax.stairs(n, edges, fill=True, color="#E69F00")
    else:
        ax.hist(data, bins=min(30, max(5, int(np.sqrt(max(len(data), 1))))), color="#E69F00")
    ax.set_ylabel("count", fontsize=7)
    ax.set_xlabel("target value", fontsize=7)


def _categorical_panel(ax: Axes, counts: dict[str, float], kind: str) -> None:
    items = list(counts.items())
    if kind != "multilabel" and len(items) > MAX_CLASSES_SHOWN:
        items.sort(key=lambda kv: -kv[1])
        rest = sum(n for _, n in items[MAX_CLASSES_SHOWN - 1:])
        items = items[:MAX_CLASSES_SHOWN - 1] + [(f"other ({len(counts) - MAX_CLASSES_SHOWN + 1})",
                                                  rest)]
    labels = [c for c, _ in items]
    n = np.array([v for _, v in items])
    if kind == "multilabel":
        share, ylabel = n, "positives"
    else:
        total = n.sum()
        share, ylabel = (n / total if total > 0 else n), "proportion"
    x = np.arange(len(labels))
    ax.bar(x, share, color=POSITIVE_COLOR, width=0.7)
    rotate = len(labels) > 4 or max(len(c) for c in labels) > 6
    ax.set_xticks(x, labels, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                  rotation_mode="anchor", fontsize=6.5)
    if kind != "multilabel":
        ax.set_ylim(0, 1.0 if share.max() > 0.8 else min(1.0, share.max() * 1.25 + 0.02))
        for xi, s in zip(x, share):
            if len(labels) <= 6:
                ax.text(xi, s, f"{s:.0%}", ha="center", va="bottom", fontsize=6)
    ax.set_ylabel(ylabel, fontsize=7)


def plot_class_balance(task_names: Sequence[str], counts: Mapping[str, Any],
                       kinds: Mapping[str, str], *, title: str = "") -> Figure:
    """One panel per task with its label distribution.

    Parameters
    ----------
    task_names : sequence of K str
    counts : mapping {task: mapping {class: count}, (N,) array or histogram mapping}
        Classification / binary tasks: the count of each class. Multilabel: the number of
        positives per label. Regression: the target values (a histogram is drawn), or a
        histogram ``{"edges": (B+1,), "counts": (B,)}`` computed elsewhere.
    kinds : mapping {task: kind}
        ``"classification"``, ``"binary"``, ``"multilabel"`` or ``"regression"``.
    title : str

    Returns
    -------
    Figure
    """
    names = check_task_names(task_names)
    if not isinstance(counts, Mapping) or not isinstance(kinds, Mapping):
        raise TypeError("counts and kinds must be mappings keyed by task name")
    panels = []
    for task in names:
        if task not in counts or task not in kinds:
            raise ValueError(f"task {task!r} is missing from "
                             f"{'counts' if task not in counts else 'kinds'}")
        kind = kinds[task]
        if kind not in KINDS:
            raise ValueError(f"kinds[{task!r}] must be one of {KINDS}, got {kind!r}")
        panels.append((task, kind, _check_counts(task, kind, counts[task])))
    cols = min(4, len(panels))
    rows = math.ceil(len(panels) / cols)
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(2.9 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (task, kind, data) in zip(axes.flat, panels):
        if kind in CATEGORICAL_KINDS:
            _categorical_panel(ax, data, kind)
        else:
            _histogram_panel(ax, data)
        ax.set_title(f"{task} ({kind})", fontsize=8)
        ax.tick_params(labelsize=6.5)
        ax.grid(axis="y", alpha=0.25)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def class_balance_inputs(taskset: TaskSet) -> tuple[list[str], dict[str, Any], dict[str, str]]:
    """The arguments of :func:`plot_class_balance` for a TaskSet.

    Returns
    -------
    task_names, counts, kinds
    """
    names, counts, kinds = [], {}, {}
    for t in taskset.tasks.values():
        names.append(t.name)
        kinds[t.name] = t.kind if t.kind in KINDS else "regression"
        if t.kind in ("classification", "binary"):
            labels = t.classes if t.classes is not None else np.unique(t.targets)
            idx = (t.targets.astype(np.int64) if t.classes is not None
                   else np.searchsorted(labels, t.targets))
            n = np.bincount(np.ravel(idx), minlength=len(labels))
            counts[t.name] = {_class_text(c): int(k) for c, k in zip(labels, n)}
        elif t.kind == "multilabel":
            counts[t.name] = {str(j): int(v) for j, v in
                              enumerate(np.asarray(t.targets).sum(axis=0))}
        else:
            counts[t.name] = np.asarray(t.targets, dtype=np.float64)
    return names, counts, kinds


def _class_text(label: Any) -> str:
    return f"{label:.3g}" if isinstance(label, float | np.floating) else str(label)
