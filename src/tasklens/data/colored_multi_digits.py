"""Colored Multi-digits: two class-coloured digits per image, the colour shortcut of Wu et al.
2026 (CORE-MTL, App. I) on the two-task Multi-MNIST construction.

The images are those of :func:`tasklens.data.multi_digits` (the same ``seed`` and ``shift``
draw the same pairs and shifts; Anon. 2025 App. D.5 after Sabour et al. 2017): two
scikit-learn 8×8 digits of different classes pasted on a ``(8 + 2·shift)``-pixel canvas, the left
one never right of the right one (``placement="sides"``). Each digit is painted in its class
colour of the domain's map — source ``PALETTE[c]``, target ``PALETTE[perm[c]]`` with
``perm`` the derangement of :func:`~tasklens.data.digits.target_color_permutation` — as in
:func:`~tasklens.data.colored_digits`, so in the source domain a model can read either
digit's class from its colour, and in the target domain that shortcut is always wrong. The
two coloured digits are combined by the channel-wise maximum (values stay in [0, 1]).

Tasks: ``left`` and ``right`` (10-way), the classes of the two digits.

Unseen digits: ``pool_part="train"`` / ``"test"`` draw digits from two disjoint parts of
the scikit-learn pool (:func:`~tasklens.data.digits.pool_part_indices`), so a test set
holds only digit instances no training image contains. Within one set every image is a
distinct ordered pair of digit instances (never a silent duplicate).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._common.validation import (
    check_choice,
    check_positive_int,
    check_scalar,
    check_seed,
    seed_info,
)
from .digits import (
    DOMAINS,
    MULTI_FACTOR_NAMES,
    N_CLASSES,
    PALETTE,
    _render,
    _sample_pairs,
    _sample_shifts,
    _sklearn_digits,
    pool_part_indices,
    target_color_permutation,
)
from .taskset import TaskSet

COLOR_FACTOR_NAMES: tuple[str, ...] = (*MULTI_FACTOR_NAMES, "left_color", "right_color")


def _colours(classes: np.ndarray, color_map: np.ndarray, follows: np.ndarray,
             other: np.ndarray) -> np.ndarray:
    """Palette index per digit: its class colour, or (``~follows``) one of the 9 others."""
    own = color_map[classes]
    return np.where(follows, own, (own + other) % N_CLASSES)


def colored_multi_digits(
    n: int = 2000,
    domain: str = "source",
    seed: int | np.random.Generator = 0,
    color_correlation: float = 1.0,
    permutation_seed: int = 0,
    *,
    shift: int = 4,
    pool_part: str = "all",
    pool_test_fraction: float = 0.2,
) -> TaskSet:
    """Two coloured scikit-learn digits per image; classify the left and the right one.

    Parameters
    ----------
    n : int
        Number of images (distinct ordered pairs of digit instances of different classes).
    domain : {"source", "target"}
        Which class → colour map paints the digits.
    seed : int or numpy Generator
        Draws the pairs, shifts and colour deviations; the same ``seed`` gives the same
        images in both domains up to colour, and the same pairs and shifts as
        :func:`~tasklens.data.multi_digits` with the same ``shift`` and ``pool_part``.
    color_correlation : float in [0, 1]
        Probability that a digit wears its class colour (else one of the 9 others,
        uniformly; each digit independently). Wu et al. 2026: 1.
    permutation_seed : int
        Seed of the target-domain derangement (keep it equal across domains).
    shift : int, >= 0
        Maximum shift in pixels; the canvas is ``8 + 2·shift`` pixels square. Default 4
        (16×16, where :func:`~tasklens.data.multi_digits` uses 2): CORE-MTL's
        convolutional decoders need a power-of-two side.
    pool_part : {"all", "train", "test"}
        Digits from the whole pool or from one part of its fixed split (unseen test digits).
    pool_test_fraction : float in (0, 1)

    Returns
    -------
    TaskSet
        ``inputs`` (n, 3, S, S) float32 in [0, 1]; tasks ``left``, ``right``; factors
        :data:`COLOR_FACTOR_NAMES` (classes, shifts, palette index of each digit);
        ``info["color_map"]`` the domain's class → palette map, ``info["left_source_index"]``
        and ``info["right_source_index"]`` the scikit-learn index of each digit.
    """
    n = check_positive_int(n, "n")
    shift = check_positive_int(shift, "shift", minimum=0)
    check_choice(domain, "domain", DOMAINS)
    color_correlation = float(check_scalar(color_correlation, "color_correlation",
                                           numbers.Real, low=0.0, high=1.0))
    images, labels = _sklearn_digits()
    pool_index = pool_part_indices(labels, pool_part, pool_test_fraction)
    images, labels = images[pool_index], labels[pool_index]
    rng = check_seed(seed)
    # same draw order as multi_digits (pairs, then shifts), then the colour draws
    left, right = _sample_pairs(labels, n, rng)
    shifts = _sample_shifts(n, shift, "sides", rng)
    follows = rng.random((n, 2)) < color_correlation
    other = rng.integers(1, N_CLASSES, size=(n, 2))
    perm = target_color_permutation(permutation_seed)
    color_map = np.arange(N_CLASSES) if domain == "source" else perm
    left_class, right_class = labels[left], labels[right]
    left_color = _colours(left_class, color_map, follows[:, 0], other[:, 0])
    right_color = _colours(right_class, color_map, follows[:, 1], other[:, 1])
    # each digit alone on the canvas (pasting a digit onto itself at one offset)
    grey_left = _render(images, left, left, shifts[:, [0, 1, 0, 1]], shift)
    grey_right = _render(images, right, right, shifts[:, [2, 3, 2, 3]], shift)
    rgb = np.maximum(grey_left[:, None] * PALETTE[left_color][:, :, None, None],
                     grey_right[:, None] * PALETTE[right_color][:, :, None, None])
    factors = np.column_stack([left_class, right_class, shifts, left_color, right_color])
    class_levels = np.arange(N_CLASSES, dtype=np.float64)
    shift_levels = np.arange(-shift, shift + 1, dtype=np.float64)
    info: dict[str, Any] = {
        "generator": "tasklens.data.colored_multi_digits",
        "source": "sklearn.datasets.load_digits (1,797 digits, 8x8)",
        "domain": domain, "color_correlation": color_correlation,
        "permutation_seed": permutation_seed, "color_map": color_map, "palette": PALETTE,
        "seed": "generator" if seed_info(seed) is None else seed_info(seed),
        "shift": shift, "canvas": images.shape[1] + 2 * shift, "placement": "sides",
        "overlay": "channel-wise max of the two coloured digits",
        "pairs": "distinct ordered pairs of different classes, uniform",
        "pool_part": pool_part, "pool_size": len(pool_index) if pool_part == "all" else None,
        "pool_part_size": len(pool_index),
        "pool_test_fraction": float(pool_test_fraction) if pool_part != "all" else None,
        "left_source_index": pool_index[left], "right_source_index": pool_index[right],
    }
    return TaskSet.from_arrays(
        rgb.astype(np.float32), {"left": left_class, "right": right_class},
        {"left": "classification", "right": "classification"},
        factors=factors.astype(np.float64), factor_names=list(COLOR_FACTOR_NAMES),
        factor_levels=[class_levels, class_levels] + [shift_levels] * 4
        + [class_levels, class_levels],
        name=f"colored_multi_digits_{domain}", info=info,
        classes={"left": np.arange(N_CLASSES), "right": np.arange(N_CLASSES)},
    )
