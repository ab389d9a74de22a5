"""Random-network regression tasks of known generative factors (Maziarka et al. 2022, §3.1).

Each task is ``y_i = h(z, θ_i)``: an MLP with ``depth`` hidden layers of ``hidden`` units and one
output, whose parameters ``θ_i`` are drawn i.i.d. from ``N(0, 1)`` (Maziarka et al. 2022 §3.1:
"four hidden layers
with 300 units, tanh activations, and an output layer which returns a single number ... θ_i ~
N(0, 1)"), applied to the factors ``z`` of each sample.

Decisions where the paper is silent:

- **Biases** are part of θ, so they are drawn from the same ``N(0, weight_std²)`` as the weights
  (``bias=False`` drops them).
- **Input normalization**: each factor is mapped linearly to [-1, 1] by a range that does not
  depend on the sample (``factor_ranges``, e.g. a grid's first and last level); without it the
  observed min and max are used. Raw dSprites factors span 0.5 (scale) to 6.28 (orientation),
  which would let orientation dominate the first layer.
- **Output standardization**: each task's outputs are centred and divided by their standard
  deviation over the given rows (``standardize=False`` keeps the raw network output). With
  ``N(0, 1)`` weights the raw output has a standard deviation of ~17 (a sum of 300 saturated
  units), so unstandardized tasks would dwarf any other loss.
- **Weight scale**: the literal ``N(0, 1)`` (``weight_std=1.0``, the default) saturates the
  tanh units of the second and later layers (pre-activation standard deviation ~12). Measured
  on dSprites factors (10 tasks, seed 0): a linear fit of the five factors explains only
  R² = 0.13-0.37 of a task, and one step along the position grid (1/31) changes a task by
  ~16 % of its variance — non-linear and non-convex, as §3.1 requires. ``weight_std="fan_in"``
  (``N(0, 1/fan_in)``) gives much smoother but nearly linear tasks (R² = 0.81-0.95), which
  §3.1 would call trivial; it is offered, not the default.
- **Factor subsets** (Maziarka et al. 2022 App. H): a task sees only its subset of factors (the
other factors
  never enter its network). ``"halves"``: tasks 0, 2, 4, ... (the paper's odd tasks, counting
  from 1) use the first ``ceil(F/2)`` factors, the others the remaining ones.

Each task's network is drawn from its own child generator (``seed`` spawns ``n_tasks + 1``
children: one for the random subsets, one per task), so task ``i`` is the same function
whatever ``n_tasks`` is.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._common.validation import (
    check_array,
    check_choice,
    check_positive_int,
    check_scalar,
    check_seed,
)
from .taskset import Factors

ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),
    "sin": np.sin,
}
_ROWS_PER_STEP = 65536  # rows pushed through a network at once; bounds memory to ~160 MB


def random_mlp_tasks(
    factors: Any,
    n_tasks: int = 10,
    seed: int | np.random.Generator | None = 0,
    hidden: int = 300,
    depth: int = 4,
    activation: str = "tanh",
    factor_subsets: Sequence[Sequence[int]] | int | str | None = None,
    *,
    weight_std: float | str = 1.0,
    bias: bool = True,
    factor_ranges: Any = None,
    standardize: bool = True,
) -> np.ndarray:
    """Targets of ``n_tasks`` random-MLP regression tasks (Maziarka et al. 2022, §3.1).

    Parameters
    ----------
    factors : (N, F) array-like or :class:`~tasklens.data.Factors`
        Generative factor values. A ``Factors`` object supplies its levels' ranges for the
        input normalization.
    n_tasks : int
    seed : int, Generator or None
    hidden : int
        Units per hidden layer (paper: 300).
    depth : int
        Number of hidden layers (paper: 4).
    activation : {"tanh", "relu", "sigmoid", "sin"}
        Hidden-layer non-linearity (paper: tanh); the output layer is linear.
    factor_subsets : None, list of F-index lists, int or "halves"
        None: every task sees all factors. A list (one entry per task) of factor indices; an
        int ``k``: a random subset of ``k`` factors per task; ``"halves"``: see module doc.
    weight_std : float or "fan_in"
        Standard deviation of weights and biases (paper: 1); ``"fan_in"``: ``1/sqrt(fan_in)``.
    bias : bool
    factor_ranges : (F, 2) array-like, optional
        ``[low, high]`` per factor, mapped to [-1, 1]; default: the levels' range of a
        ``Factors`` input, else the observed min and max (then a task depends on the sample).
    standardize : bool
        Centre and scale each task's outputs to unit standard deviation over the rows.

    Returns
    -------
    targets : (N, n_tasks) float64 array
        The factor subsets a procedural data set used are recorded in its
        ``info["factor_subsets"]``.
    """
    return _random_mlp(factors, n_tasks, seed, hidden, depth, activation, factor_subsets,
                       weight_std=weight_std, bias=bias, factor_ranges=factor_ranges,
                       standardize=standardize)[0]


def _random_mlp(
    factors: Any,
    n_tasks: int,
    seed: int | np.random.Generator | None,
    hidden: int,
    depth: int,
    activation: str,
    factor_subsets: Sequence[Sequence[int]] | int | str | None,
    *,
    weight_std: float | str,
    bias: bool,
    factor_ranges: Any,
    standardize: bool,
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """:func:`random_mlp_tasks` and the factor subsets each task used."""
    z, default_ranges = _factor_matrix(factors)
    n_rows, n_factors = z.shape
    n_tasks = check_positive_int(n_tasks, "n_tasks")
    hidden = check_positive_int(hidden, "hidden")
    depth = check_positive_int(depth, "depth", minimum=0)
    check_choice(activation, "activation", tuple(ACTIVATIONS))
    _weight_std(weight_std, 1)  # validate at the boundary, before any drawing
    if standardize and n_rows < 2:
        raise ValueError("standardize=True needs at least 2 rows of factors")
    ranges = default_ranges if factor_ranges is None else check_array(
        factor_ranges, "factor_ranges", ndim=2)
    if ranges.shape != (n_factors, 2):
        raise ValueError(f"factor_ranges must have shape ({n_factors}, 2), got {ranges.shape}")
    if np.any(ranges[:, 1] < ranges[:, 0]):
        raise ValueError("factor_ranges rows must be [low, high] with low <= high")
    z_scaled = _scale_to_unit_interval(z, ranges)

    rng = check_seed(seed)
    subset_rng, *task_rngs = rng.spawn(n_tasks + 1)
    subsets = resolve_factor_subsets(factor_subsets, n_factors, n_tasks, subset_rng)
    act = ACTIVATIONS[activation]
    out = np.empty((n_rows, n_tasks))
    for i, (subset, task_rng) in enumerate(zip(subsets, task_rngs)):
        params = _draw_network(task_rng, len(subset), hidden, depth, weight_std, bias)
        x = z_scaled[:, list(subset)]
        for lo in range(0, n_rows, _ROWS_PER_STEP):
            out[lo:lo + _ROWS_PER_STEP, i] = _forward(x[lo:lo + _ROWS_PER_STEP], params, act)
    if standardize:
        mean, std = out.mean(axis=0), out.std(axis=0)
        # a task whose factors are constant on these rows is set to 0: dividing its round-off
        # by a tiny std would invent a unit-variance signal
        constant = std <= 1e-12 * np.maximum(np.abs(mean), 1.0)
        out = np.where(constant, 0.0, (out - mean) / np.where(constant, 1.0, std))
    return out, subsets


def resolve_factor_subsets(
    factor_subsets: Sequence[Sequence[int]] | int | str | None,
    n_factors: int,
    n_tasks: int,
    seed: int | np.random.Generator | None = 0,
) -> list[tuple[int, ...]]:
    """The factor indices each task sees (Maziarka et al. 2022, App. H).

    Parameters
    ----------
    factor_subsets : None, list of index lists, int or "halves"
        See :func:`random_mlp_tasks`.
    n_factors, n_tasks : int
    seed : int, Generator or None
        Draws the random subsets of an int ``factor_subsets``.

    Returns
    -------
    subsets : list of n_tasks sorted tuples of int
    """
    if factor_subsets is None:
        return [tuple(range(n_factors))] * n_tasks
    if isinstance(factor_subsets, str):
        check_choice(factor_subsets, "factor_subsets", ("halves",))
        if n_factors < 2:
            raise ValueError("factor_subsets='halves' needs at least 2 factors")
        cut = (n_factors + 1) // 2
        halves = (tuple(range(cut)), tuple(range(cut, n_factors)))
        return [halves[i % 2] for i in range(n_tasks)]
    if isinstance(factor_subsets, (int, np.integer)) and not isinstance(factor_subsets, bool):
        k = int(factor_subsets)
        if not 1 <= k <= n_factors:
            raise ValueError(
                f"factor_subsets={k} must be a subset size between 1 and {n_factors} (the "
                "number of factors)"
            )
        rng = check_seed(seed)
        return [tuple(sorted(rng.choice(n_factors, size=k, replace=False).tolist()))
                for _ in range(n_tasks)]
    if not isinstance(factor_subsets, Sequence) or len(factor_subsets) != n_tasks:
        got = len(factor_subsets) if isinstance(factor_subsets, Sequence) else type(
            factor_subsets).__name__
        raise ValueError(
            f"factor_subsets must be None, an int, 'halves' or a list of {n_tasks} index lists "
            f"(one per task); got {got}"
        )
    subsets = []
    for i, subset in enumerate(factor_subsets):
        idx = np.asarray(subset)
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
            raise ValueError(f"factor_subsets[{i}] must be a non-empty list of factor indices, "
                             f"got {subset!r}")
        if idx.min() < 0 or idx.max() >= n_factors:
            raise ValueError(f"factor_subsets[{i}] = {idx.tolist()} has an index out of range "
                             f"0..{n_factors - 1}")
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"factor_subsets[{i}] = {idx.tolist()} repeats a factor")
        subsets.append(tuple(sorted(idx.tolist())))
    return subsets


def _factor_matrix(factors: Any) -> tuple[np.ndarray, np.ndarray]:
    """The (N, F) factor values and default [low, high] ranges (levels, else observed)."""
    if isinstance(factors, Factors):
        z = check_array(factors.values, "factors", ndim=2)
        ranges = np.array([[np.min(lv), np.max(lv)] for lv in factors.levels], dtype=np.float64)
        return z, ranges
    z = check_array(factors, "factors", ndim=2)
    return z, np.stack([z.min(axis=0), z.max(axis=0)], axis=1)


def _scale_to_unit_interval(z: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """Map each column linearly from ``[low, high]`` to [-1, 1]; a constant column maps to 0."""
    low, high = ranges[:, 0], ranges[:, 1]
    width = np.where(high > low, high - low, 1.0)
    scaled = 2.0 * (z - low) / width - 1.0
    return np.where(high > low, scaled, 0.0)


def _draw_network(rng: np.random.Generator, n_in: int, hidden: int, depth: int,
                  weight_std: float | str, bias: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Weights ``(fan_in, fan_out)`` and biases ``(fan_out,)`` of each layer, hidden then output."""
    sizes = [n_in] + [hidden] * depth + [1]
    params = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        std = _weight_std(weight_std, fan_in)
        w = rng.normal(0.0, std, size=(fan_in, fan_out))
        b = rng.normal(0.0, std, size=fan_out) if bias else np.zeros(fan_out)
        params.append((w, b))
    return params


def _weight_std(weight_std: float | str, fan_in: int) -> float:
    if isinstance(weight_std, str):
        check_choice(weight_std, "weight_std", ("fan_in",))
        return 1.0 / np.sqrt(fan_in)
    return check_scalar(weight_std, "weight_std", numbers.Real, low=0.0, include_low=False,
                        finite=True)


def _forward(x: np.ndarray, params: list[tuple[np.ndarray, np.ndarray]],
             act: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    for w, b in params[:-1]:
        x = act(x @ w + b)
    w, b = params[-1]
    return (x @ w + b)[:, 0]


def random_mlp_targets(
    values: np.ndarray,
    factor_names: Sequence[str],
    factor_levels: Sequence[np.ndarray],
    n_tasks: int,
    seed: int | np.random.Generator | None,
    *,
    hidden: int = 300,
    depth: int = 4,
    activation: str = "tanh",
    factor_subsets: Sequence[Sequence[int]] | int | str | None = None,
    weight_std: float | str = 1.0,
) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, Any]]:
    """Targets, kinds and provenance of random-MLP tasks over a factor grid.

    The shared step of the procedural data sets (sprites, Shapes3D, MPI3D) when they are
    built with ``tasks="random_mlp"``: factors are scaled by their grid's range (not the
    sample's), tasks are named ``mlp_0 …`` and are regression.

    Returns
    -------
    targets : dict of str to (N,) array
    kinds : dict of str to str
    info : dict
        The generator settings and each task's factor subset by name.
    """
    n_tasks = check_positive_int(n_tasks, "n_tasks")
    ranges = np.array([[lv[0], lv[-1]] for lv in factor_levels])
    y, subsets = _random_mlp(
        values, n_tasks, seed, hidden, depth, activation, factor_subsets,
        weight_std=weight_std, bias=True, factor_ranges=ranges, standardize=True,
    )
    targets = {f"mlp_{i}": y[:, i] for i in range(n_tasks)}
    kinds = {name: "regression" for name in targets}
    info = {"n_tasks": n_tasks, "hidden": hidden, "depth": depth, "activation": activation,
            "weight_std": weight_std,
            "factor_subsets": [[factor_names[j] for j in s] for s in subsets]}
    return targets, kinds, info
