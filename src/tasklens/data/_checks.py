"""Argument checks shared by the task-set constructors (kept out of taskset.py for its size)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def task_mapping(value: Any, name: str, targets: Mapping[str, Any]) -> dict[str, Any]:
    """``kinds`` / ``classes``: a mapping keyed by task names of ``targets`` (None: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping {{task name: ...}}, got "
                        f"{type(value).__name__} {value!r}")
    unknown = [k for k in value if k not in targets]
    if unknown:
        raise ValueError(f"{name} names tasks that are not in targets: {unknown}; "
                         f"tasks are {list(targets)}")
    return dict(value)


def check_groups(groups: Any, n: int) -> np.ndarray | None:
    if groups is None:
        return None
    try:
        grp = np.asarray(groups)
    except ValueError as exc:  # ragged nested lists
        raise TypeError(f"groups must be an (N,) array of group labels: {exc}") from exc
    if grp.shape != (n,):
        raise ValueError(f"groups must have shape ({n},), got {grp.shape}")
    if grp.dtype.kind in "fc" and not np.all(np.isfinite(grp)):
        raise ValueError("groups contains NaN or infinite labels; give every row a group")
    if grp.dtype.kind == "O":
        import pandas as pd

        if pd.isna(grp).any():
            raise ValueError("groups contains missing labels; give every row a group")
    return grp
