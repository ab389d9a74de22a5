"""How well does an affinity score predict the measured multi-task gain?

:func:`evaluate_scores` compares each score matrix with a gain matrix (usually
:attr:`tasklens.affinity.gains.GroundTruth.metric_gain`) on the off-diagonal entries
``[a, b]`` (effect of ``b`` onto ``a``), as Azorin et al. 2023 does when it ranks
the scores against MTL results:

- Spearman and Kendall (tau-b) correlation over all ordered pairs, and per target task
  (row ``a``: how well the score ranks the partners of ``a``);
- sign agreement: the fraction of pairs where the score and the gain agree on "helps" vs
  "hurts";
- top-1 partner match: the fraction of targets whose best partner by the score is the best
  partner by the gain. Decision on ties (frequent when the gain is an accuracy on a small
  test set): each target counts the probability that the two argmaxes agree when each
  breaks its ties uniformly at random, ``|S ∩ G| / (|S| |G|)`` for the tied best sets ``S``
  (score) and ``G`` (gain) — 1 or 0 without ties, and chance level rather than a free hit
  with them; a target whose gains are equal for every partner has no best partner and is
  left out.

Symmetric scores (GS, IAS, RSA, TD) are compared with the asymmetric gain as given: entry
``[a, b]`` of the score predicts ``gain[a, b]``.

Decision (sign agreement): a score's sign needs a zero that means "no effect". Scores with
such a natural zero — gradient similarity (cosine: 0 = orthogonal gradients), gradient
transference and label injection (0 = no change in loss), the spectrum gain, and any gain —
are read as they are. Similarities without one (RSA, CKA, IAS, the taxonomical distance
TD ≤ 0, the alignment overlap ≥ 0) are always, or almost always, of one sign, so their raw
sign says nothing; they are centred at their median off-diagonal value ("above-median
affinity predicts a positive gain"). ``centers=`` overrides this per score.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from .. import __version__
from .._common.io import atomic_write, write_json
from ..data.matrix import TaskMatrix

#: score keys (or TaskMatrix names, lower-case prefixes) whose zero means "no effect"
NATURAL_ZERO_SCORES: tuple[str, ...] = (
    "gs", "gt", "li", "spectrum_gain", "gain", "gradient similarity",
    "gradient transference", "label injection", "spectrum gain", "multi-task gain",
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "spearman", "spearman_p", "kendall", "kendall_p", "sign_agreement", "top1_match",
    "n_pairs", "center",
)


def _natural_zero(key: str, matrix: TaskMatrix) -> bool:
    k, n = key.lower(), matrix.name.lower()
    return k in NATURAL_ZERO_SCORES or any(n.startswith(s) for s in NATURAL_ZERO_SCORES
                                           if len(s) > 3)


def _aligned(matrix: Any, names: tuple[str, ...], what: str) -> np.ndarray:
    if not isinstance(matrix, TaskMatrix):
        raise TypeError(f"{what} must be a TaskMatrix, got {type(matrix).__name__}")
    missing = [t for t in names if t not in matrix.task_names]
    if missing:
        raise ValueError(f"{what} has no entries for task(s) {missing}; it covers "
                         f"{list(matrix.task_names)}. Compute it on the same tasks as the gains")
    idx = [matrix.index(t) for t in names]
    return matrix.values[np.ix_(idx, idx)]


def _correlations(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """Spearman rho, p, Kendall tau-b, p; NaN when fewer than 2 points or a constant side."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan, math.nan, math.nan
    rho, rho_p = stats.spearmanr(x, y)
    tau, tau_p = stats.kendalltau(x, y)
    return float(rho), float(rho_p), float(tau), float(tau_p)


def _sign_agreement(score: np.ndarray, gain: np.ndarray, center: float) -> float:
    """Fraction of pairs with sign(score − center) == sign(gain) among those where neither
    is exactly zero (a tie carries no prediction)."""
    s, g = np.sign(score - center), np.sign(gain)
    used = (s != 0) & (g != 0)
    if not np.any(used):
        return math.nan
    return float(np.mean(s[used] == g[used]))


def _best(row: np.ndarray) -> set[int]:
    finite = np.isfinite(row)
    if not np.any(finite):
        return set()
    top = np.max(row[finite])
    return {int(i) for i in np.flatnonzero(finite & (row == top))}


@dataclass(frozen=True)
class ScoreEvaluation:
    """Agreement of each score with the gains.

    Attributes
    ----------
    overall : dict {score: {column: value}}
        Columns of :data:`SUMMARY_COLUMNS`.
    per_task : dict {score: {target task: {"spearman", "kendall", "sign_agreement",
        "best_by_score", "best_by_gain", "top1_match"}}}
        ``top1_match`` per target is in [0, 1] (below 1 only with ties), None when the
        target's gains are all equal.
    task_names : tuple of str
    gain_name : str
    version : str
    """

    overall: dict[str, dict[str, Any]]
    per_task: dict[str, dict[str, dict[str, Any]]]
    task_names: tuple[str, ...]
    gain_name: str = ""
    version: str = field(default=__version__)

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "per_task": self.per_task,
                "task_names": list(self.task_names), "gain_name": self.gain_name,
                "version": self.version}

    def to_frame(self) -> Any:
        """One row per score (pandas DataFrame indexed by score)."""
        import pandas as pd

        return pd.DataFrame.from_dict(self.overall, orient="index")[list(SUMMARY_COLUMNS)]

    def per_task_frame(self) -> Any:
        """One row per (score, target task)."""
        import pandas as pd

        rows = [{"score": s, "task": t, **v} for s, tasks in self.per_task.items()
                for t, v in tasks.items()]
        return pd.DataFrame(rows)

    def to_markdown(self, digits: int = 3) -> str:
        """The summary table as GitHub Markdown."""
        cols = ["spearman", "kendall", "sign_agreement", "top1_match", "n_pairs"]
        lines = ["| score | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for name, row in self.overall.items():
            cells = []
            for c in cols:
                v = row[c]
                cells.append(str(v) if isinstance(v, int) else
                             ("nan" if not math.isfinite(v) else f"{v:.{digits}f}"))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def save(self, out_dir: str | Path) -> Path:
        """Write ``evaluation.json``, ``evaluation.csv``, ``evaluation_per_task.csv`` and
        ``evaluation.md`` into ``out_dir``, atomically."""
        out = Path(out_dir)
        write_json(out / "evaluation.json", self.to_dict())
        with atomic_write(out / "evaluation.csv") as handle:
            self.to_frame().to_csv(handle)
        with atomic_write(out / "evaluation_per_task.csv") as handle:
            self.per_task_frame().to_csv(handle, index=False)
        with atomic_write(out / "evaluation.md") as handle:
            handle.write(self.to_markdown() + "\n")
        return out


def _center(spec: Any, key: str, used_scores: np.ndarray) -> float:
    """The value a score's sign is read against: "zero", "median" or a finite number."""
    if spec == "zero":
        return 0.0
    if spec == "median":
        return float(np.median(used_scores))
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool) and math.isfinite(spec):
        return float(spec)
    raise ValueError(f"centers[{key!r}] must be 'zero', 'median' or a finite number, "
                     f"got {spec!r}")


def _task_row(names: Sequence[str], i: int, score: np.ndarray, gain: np.ndarray,
              mask: np.ndarray, center: float) -> dict[str, Any]:
    """Per-target agreement of one score row with the gain row over the usable partners."""
    r_rho, _, r_tau, _ = _correlations(score[i, mask], gain[i, mask])
    best_s = _best(np.where(mask, score[i], -np.inf))
    best_g = _best(np.where(mask, gain[i], -np.inf))
    match: float | None = None
    if best_s and best_g and len(best_g) < int(mask.sum()):
        # ties: the chance that both argmaxes agree when each breaks its ties at random; a
        # gain row tied across all partners names no best one (skipped)
        match = len(best_s & best_g) / (len(best_s) * len(best_g))
    return {
        "spearman": r_rho, "kendall": r_tau,
        "sign_agreement": _sign_agreement(score[i, mask], gain[i, mask], center),
        "best_by_score": [names[j] for j in sorted(best_s)],
        "best_by_gain": [names[j] for j in sorted(best_g)],
        "top1_match": match,
    }


def evaluate_scores(scores: Mapping[str, TaskMatrix], gains: Any, *,
                    centers: Mapping[str, str | float] | None = None) -> ScoreEvaluation:
    """Compare affinity scores with measured gains (see the module docstring).

    Parameters
    ----------
    scores : mapping {name: TaskMatrix}
        Each covering at least the gains' tasks (extra tasks are ignored; order does not
        matter). NaN entries (e.g. LI's diagonal) are left out pair by pair.
    gains : TaskMatrix or GroundTruth
        ``[a, b]`` = gain of ``a`` from ``b``; a GroundTruth contributes its
        ``metric_gain``. At least 3 tasks (a per-target ranking needs 2 partners).
    centers : mapping {name: "zero" | "median" | float}, optional
        The value a score is compared with for its sign (default: see the module docstring).

    Returns
    -------
    ScoreEvaluation
    """
    gain_matrix = getattr(gains, "metric_gain", gains)
    if not isinstance(gain_matrix, TaskMatrix):
        raise TypeError(f"gains must be a TaskMatrix or a GroundTruth, got "
                        f"{type(gains).__name__}")
    if not isinstance(scores, Mapping) or not scores:
        raise ValueError("scores must be a non-empty mapping {name: TaskMatrix}")
    names = gain_matrix.task_names
    k = len(names)
    if k < 3:
        raise ValueError(f"the gains cover {k} task(s) {list(names)}; evaluating scores needs "
                         "at least 3 tasks (2 partners per target)")
    gain = gain_matrix.values
    off = ~np.eye(k, dtype=bool)
    centers = dict(centers or {})
    overall: dict[str, dict[str, Any]] = {}
    per_task: dict[str, dict[str, dict[str, Any]]] = {}
    for key, matrix in scores.items():
        score = _aligned(matrix, names, f"scores[{key!r}]")
        used = off & np.isfinite(score) & np.isfinite(gain)
        if not np.any(used):
            raise ValueError(f"scores[{key!r}] and the gains share no finite off-diagonal "
                             "entry")
        spec = centers.get(key, "zero" if _natural_zero(key, matrix) else "median")
        center = _center(spec, key, score[used])
        rho, rho_p, tau, tau_p = _correlations(score[used], gain[used])
        rows = {a: _task_row(names, i, score, gain, used[i], center)
                for i, a in enumerate(names)}
        matches = [r["top1_match"] for r in rows.values() if r["top1_match"] is not None]
        overall[key] = {
            "spearman": rho, "spearman_p": rho_p, "kendall": tau, "kendall_p": tau_p,
            "sign_agreement": _sign_agreement(score[used], gain[used], center),
            "top1_match": float(np.mean(matches)) if matches else math.nan,
            "n_pairs": int(used.sum()), "center": center,
        }
        per_task[key] = rows
    return ScoreEvaluation(overall, per_task, tuple(names), gain_matrix.name)
