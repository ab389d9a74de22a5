"""Seeded index splits: random, stratified (on one task's labels) and group-aware."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._common.validation import check_seed

SPLIT_STRATEGIES = ("random", "stratified", "group")


@dataclass(frozen=True)
class SplitIndices:
    """Disjoint row indices of a train / validation / test split (``val`` may be empty)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _check_fractions(val_size: float, test_size: float) -> None:
    for name, value in (("val_size", val_size), ("test_size", test_size)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1), got {value}")
    if val_size + test_size >= 1.0:
        raise ValueError(
            f"val_size + test_size = {val_size + test_size} leaves no training data; "
            "make their sum < 1"
        )


def _counts(n: int, val_size: float, test_size: float, what: str) -> tuple[int, int]:
    n_test = int(round(n * test_size))
    n_val = int(round(n * val_size))
    if (test_size > 0 and n_test == 0) or (val_size > 0 and n_val == 0) or n - n_test - n_val < 1:
        raise ValueError(
            f"too few {what} ({n}) for val_size={val_size}, test_size={test_size}: "
            "each requested part needs at least one; use more data or larger fractions"
        )
    return n_val, n_test


def random_split(n: int, val_size: float, test_size: float, seed: int | None) -> SplitIndices:
    """Shuffle ``range(n)`` and cut it into train / val / test."""
    _check_fractions(val_size, test_size)
    n_val, n_test = _counts(n, val_size, test_size, "samples")
    perm = check_seed(seed).permutation(n)
    train, val = perm[n_test + n_val :], perm[n_test : n_test + n_val]
    return SplitIndices(np.sort(train), np.sort(val), np.sort(perm[:n_test]))


def stratified_split(
    labels: np.ndarray, val_size: float, test_size: float, seed: int | None
) -> SplitIndices:
    """Split each class in proportion, so every part keeps the label distribution.

    Rows are assigned per class by largest-remainder rounding; a class with a single
    member goes to train.
    """
    _check_fractions(val_size, test_size)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError("stratified splits need 1-D class labels; choose a classification task")
    _counts(len(labels), val_size, test_size, "samples")
    rng = check_seed(seed)
    train, val, test = [], [], []
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        n_test = int(round(len(rows) * test_size))
        n_val = int(round(len(rows) * val_size))
        if n_test + n_val >= len(rows):
            n_test, n_val = min(n_test, len(rows) - 1), 0
        test.append(rows[:n_test])
        val.append(rows[n_test : n_test + n_val])
        train.append(rows[n_test + n_val :])
    parts = [np.sort(np.concatenate(p)) for p in (train, val, test)]
    if (test_size > 0 and parts[2].size == 0) or (val_size > 0 and parts[1].size == 0):
        raise ValueError(
            "too few samples per class for a stratified split; use strategy='random' or more data"
        )
    return SplitIndices(*parts)


def group_split(
    groups: np.ndarray, val_size: float, test_size: float, seed: int | None
) -> SplitIndices:
    """Split whole groups (e.g. buildings), so no group appears in two parts.

    Fractions count groups, not rows.
    """
    _check_fractions(val_size, test_size)
    unique = np.unique(groups)
    n_val, n_test = _counts(len(unique), val_size, test_size, "groups")
    perm = check_seed(seed).permutation(unique)
    test_groups, val_groups = perm[:n_test], perm[n_test : n_test + n_val]
    in_test, in_val = np.isin(groups, test_groups), np.isin(groups, val_groups)
    return SplitIndices(
        np.flatnonzero(~in_test & ~in_val), np.flatnonzero(in_val), np.flatnonzero(in_test)
    )
