"""Grouping from data alone: TAG selection on a training-free alignment affinity
(Anon. 2025 (ICLR'26 sub.), App. A.4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..affinity.alignment import alignment_affinity
from .selection import Selection
from .tag import select_groups_from_affinity


def group_tasks_from_data(
    source: Any,
    n_groups: int,
    *,
    tasks: Sequence[str] | None = None,
    score: str = "spectrum_gain",
    max_group_size: int | None = None,
    whiten: str = "pca",
    center: bool = True,
) -> Selection:
    """Pick at most ``n_groups`` task groups from the data's alignment, with no training.

    The affinity is :func:`tasklens.affinity.alignment_affinity` (default: the predicted
    learning-rate gain from sharing); the selection maximizes the summed best score per
    task (:func:`select_groups_from_affinity`).
    """
    affinity = alignment_affinity(source, tasks, score=score, whiten=whiten, center=center)
    return select_groups_from_affinity(affinity, n_groups, max_group_size=max_group_size)
