"""Frozen result types of the representation metrics (each with ``to_dict()``).

Field names are the keys ``disentanglement_lib`` writes, so ``to_dict()`` gives the same JSON
as before these types existed. ``result["key"]`` still works (read-only, the old dict access)
so code written against the dict return values keeps running.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BetaVAEResult",
    "DCIResult",
    "FactorVAEResult",
    "IRSResult",
    "ModularityExplicitnessResult",
    "RepresentationEvaluation",
]

_UNSET: Any = object()


def resolve_seed(seed: Any, random_state: Any, func: str, default: Any) -> Any:
    """``seed`` with the deprecated ``random_state=`` keyword folded in (one of the two)."""
    if random_state is _UNSET:
        return default if seed is _UNSET else seed
    if seed is not _UNSET:
        raise TypeError(f"{func}: pass seed= only (random_state= is its deprecated old name)")
    warnings.warn(f"{func}: random_state= is deprecated, use seed=", DeprecationWarning,
                  stacklevel=3)
    return random_state


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, _Result):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Result:
    """``to_dict()`` plus read-only ``result[key]`` (the pre-dataclass dict access)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (arrays as lists), the layout the functions used to return."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def keys(self) -> list[str]:
        """Field names, so ``dict(result)`` and ``**result`` keep working."""
        return [f.name for f in dataclasses.fields(self)]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(f"{type(self).__name__} has no field {key!r}; fields: {self.keys()}")
        return getattr(self, key)


@dataclass(frozen=True)
class DCIResult(_Result):
    """:func:`~tasklens.represent.dci`: disentanglement, completeness, informativeness.

    Attributes
    ----------
    disentanglement, completeness : float
        Weighted means of ``1 - entropy`` of the importance matrix rows / columns, in [0, 1].
    informativeness_train, informativeness_test : float
        Mean accuracy of the per-factor boosted trees on each split.
    """

    disentanglement: float
    completeness: float
    informativeness_train: float
    informativeness_test: float


@dataclass(frozen=True)
class ModularityExplicitnessResult(_Result):
    """:func:`~tasklens.represent.modularity_explicitness` (Ridgeway & Mozer, 2018).

    Attributes
    ----------
    modularity_score : float
    explicitness_score_train, explicitness_score_test : float
        Mean macro one-vs-rest ROC-AUC of the per-factor logistic regressions.
    """

    modularity_score: float
    explicitness_score_train: float
    explicitness_score_test: float


@dataclass(frozen=True)
class IRSResult(_Result):
    """:func:`~tasklens.represent.irs` (Suter et al., 2019).

    Attributes
    ----------
    irs : float
        Score weighted by each active code's maximal deviation.
    num_active_dims : int
    per_code : (D_active,) array
        Score of each active code.
    parents : (D_active,) int array
        Factor each active code depends on most.
    """

    irs: float
    num_active_dims: int
    per_code: np.ndarray = field(repr=False)
    parents: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class FactorVAEResult(_Result):
    """:func:`~tasklens.represent.factor_vae_score` (Kim & Mnih, 2018).

    Attributes
    ----------
    train_accuracy, eval_accuracy : float
        Majority-vote classifier accuracy.
    num_active_dims : int
        Codes whose std is at least ``prune_threshold``.
    """

    train_accuracy: float
    eval_accuracy: float
    num_active_dims: int


@dataclass(frozen=True)
class BetaVAEResult(_Result):
    """:func:`~tasklens.represent.beta_vae_score` (Higgins et al., 2017).

    Attributes
    ----------
    train_accuracy, eval_accuracy : float
        Logistic-regression accuracy at predicting the fixed factor.
    """

    train_accuracy: float
    eval_accuracy: float


@dataclass(frozen=True)
class RepresentationEvaluation(_Result):
    """:func:`~tasklens.represent.evaluate_representation`: every requested metric.

    Attributes
    ----------
    scores : dict of str → float or result
        Metric name (``DISENTANGLEMENT_METRICS``) → a float (``mig``, ``sap``) or the
        metric's result object (``irs`` without its per-code arrays).
    settings : dict
        Sizes, seed, DCI backend and tasklens version.
    """

    scores: dict[str, Any]
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """``{metric: float or dict, ..., "settings": {...}}`` (JSON-friendly)."""
        out = {m: _plain(v) for m, v in self.scores.items()}
        out["settings"] = _plain(self.settings)
        return out

    def keys(self) -> list[str]:
        """Metric names and ``"settings"``."""
        return [*self.scores, "settings"]

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __getitem__(self, key: str) -> Any:
        if key == "settings":
            return self.settings
        if key not in self.scores:
            raise KeyError(f"no metric {key!r} was evaluated; evaluated: {list(self.scores)}")
        return self.scores[key]
