"""Ground-truth data sources: sample factors, render observations, encode them.

The intervention metrics (FactorVAE, BetaVAE scores) must draw batches in which one factor is
held fixed, so they take a *source* rather than arrays. A source is any object with

- ``factor_levels`` : tuple of F int — the number of levels of each factor (codes
  ``0..L_f - 1``);
- ``num_factors`` : int;
- ``sample_factors(n, rng)`` → (n, F) int64 factor codes, uniform over the grid;
- ``sample_observations_from_factors(factors, rng)`` → (n, ...) observations.

(the ``GroundTruthData`` interface of google-research ``disentanglement_lib``).
:class:`GridDataSource` implements it over a full factor grid held in memory or rendered by a
function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._common.validation import check_array, check_positive_int, check_seed


@runtime_checkable
class GroundTruthSource(Protocol):
    """What the source-based metrics need; see the module docstring."""

    @property
    def factor_levels(self) -> tuple[int, ...]: ...

    @property
    def num_factors(self) -> int: ...

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


class GridDataSource:
    """A ground-truth source over a full grid of discrete factors.

    Parameters
    ----------
    observations : (prod(levels), ...) array or callable
        Either one observation per grid cell, in row-major (C) order of the factor codes (the
        layout of dSprites' and Shapes3D's arrays), or a function mapping ``(n, F)`` int64
        factor codes to ``(n, ...)`` observations. A function may take a second argument, the
        ``np.random.Generator``, to add observation noise.
    levels : sequence of F int
        Number of levels of each factor.

    Examples
    --------
    >>> src = GridDataSource(lambda f: f.astype(float), (3, 4))
    >>> src.sample_factors(2, np.random.default_rng(0)).shape
    (2, 2)
    """

    def __init__(self, observations: np.ndarray | Callable[..., np.ndarray],
                 levels: Sequence[int]) -> None:
        lv = tuple(check_positive_int(v, "levels", minimum=1) for v in levels)
        if not lv:
            raise ValueError("levels is empty; give the number of levels of each factor")
        self._levels = lv
        self._strides = np.array(
            [int(np.prod(lv[j + 1:])) for j in range(len(lv))], dtype=np.int64)
        if callable(observations):
            self._fn: Callable[..., np.ndarray] | None = observations
            self._table: np.ndarray | None = None
            self._fn_takes_rng = _takes_two_args(observations)
        else:
            table = np.asarray(observations)
            size = int(np.prod(lv))
            if table.ndim == 0 or table.shape[0] != size:
                raise ValueError(
                    f"observations has {table.shape[0] if table.ndim else 0} rows but the grid "
                    f"{lv} has {size} cells; give one observation per cell in row-major order"
                )
            self._fn, self._table, self._fn_takes_rng = None, table, False

    @classmethod
    def from_arrays(cls, inputs: Any, factors: Any,
                    levels: Sequence[int] | None = None) -> GridDataSource:
        """A source over samples that cover every cell of the factor grid.

        Several samples in one cell are drawn from uniformly (with the caller's generator).
        Passing codes as ``inputs`` with an identity representation lets FactorVAE/BetaVAE
        score precomputed codes of a complete grid.

        Parameters
        ----------
        inputs : (N, ...) array
        factors : (N, F) array-like of int
            Factor codes ``0..L_f - 1`` of each sample.
        levels : sequence of F int, optional
            Default: ``max + 1`` of each column.
        """
        x = np.asarray(inputs)
        f = check_array(factors, "factors", ndim=2)
        if not np.all(f == np.round(f)) or f.min() < 0:
            raise ValueError("factors must be non-negative integer codes 0..L-1")
        f = f.astype(np.int64)
        if len(x) != len(f):
            raise ValueError(f"inputs has {len(x)} rows but factors has {len(f)}")
        lv = tuple(int(v) for v in (f.max(axis=0) + 1 if levels is None else levels))
        src = cls(lambda codes: codes, lv)  # placeholder function, replaced below
        cell = f @ src._strides
        order = np.argsort(cell, kind="stable")
        counts = np.bincount(cell, minlength=int(np.prod(lv)))
        if np.any(counts == 0):
            missing = np.unravel_index(int(np.flatnonzero(counts == 0)[0]), lv)
            raise ValueError(
                f"factors do not cover the grid {lv}: {int(np.sum(counts == 0))} cells empty, "
                f"e.g. {tuple(int(m) for m in missing)}; a grid source needs every combination"
            )
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

        def lookup(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            c = codes @ src._strides
            pick = starts[c] + (rng.integers(0, counts[c]) if counts.max() > 1 else 0)
            return x[order[pick]]

        src._fn, src._fn_takes_rng = lookup, True
        return src

    @classmethod
    def from_taskset(cls, taskset: Any) -> GridDataSource:
        """A source over a :class:`tasklens.data.TaskSet` with factors covering their grid."""
        if taskset.factors is None:
            raise ValueError("taskset has no factors; build it with factors=... first")
        return cls.from_arrays(taskset.inputs, taskset.factors.codes(),
                               [len(lv) for lv in taskset.factors.levels])

    @property
    def factor_levels(self) -> tuple[int, ...]:
        """Number of levels of each factor."""
        return self._levels

    @property
    def num_factors(self) -> int:
        """Number of factors F."""
        return len(self._levels)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, F) int64 codes drawn uniformly and independently per factor."""
        n = check_positive_int(n, "n")
        return np.stack([rng.integers(0, lv, size=n) for lv in self._levels], axis=1)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Observations of the given (n, F) factor codes."""
        f = np.asarray(factors, dtype=np.int64)
        if f.ndim != 2 or f.shape[1] != self.num_factors:
            raise ValueError(f"factors must have shape (n, {self.num_factors}), got {f.shape}")
        if np.any(f < 0) or np.any(f >= np.array(self._levels)):
            raise ValueError(f"factors out of range for levels {self._levels}")
        if self._table is not None:
            return self._table[f @ self._strides]
        assert self._fn is not None
        return self._fn(f, rng) if self._fn_takes_rng else self._fn(f)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(factors, observations) of ``n`` uniform samples."""
        f = self.sample_factors(n, rng)
        return f, self.sample_observations_from_factors(f, rng)


def _takes_two_args(fn: Callable[..., Any]) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in positional)


def check_source(source: Any, name: str = "source") -> GroundTruthSource:
    """Check ``source`` implements :class:`GroundTruthSource`; the error lists what is missing."""
    needed = ("factor_levels", "num_factors", "sample_factors",
              "sample_observations_from_factors")
    missing = [a for a in needed if not hasattr(source, a)]
    if missing:
        raise TypeError(
            f"{name} must be a ground-truth source (e.g. GridDataSource); it lacks "
            f"{', '.join(missing)}"
        )
    if int(source.num_factors) < 1:
        raise ValueError(f"{name} has no factors")
    return source


def encode(representation_fn: Callable[[np.ndarray], Any], observations: np.ndarray,
           name: str = "representation_fn") -> np.ndarray:
    """Apply ``representation_fn`` and return a validated (n, D) float64 array."""
    if not callable(representation_fn):
        raise TypeError(f"{name} must be callable (observations -> (n, D) codes)")
    out = representation_fn(observations)
    if hasattr(out, "detach"):  # torch tensor
        out = out.detach().cpu().numpy()
    arr = check_array(out, f"{name}(observations)", ndim=(1, 2))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] != len(observations):
        raise ValueError(
            f"{name} returned {arr.shape[0]} rows for {len(observations)} observations")
    return arr


def sample_codes(
    representation_fn: Callable[[np.ndarray], Any], source: Any, num_points: int,
    seed: int | np.random.Generator | None = 0, batch_size: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``num_points`` uniform samples of ``source`` and encode them.

    Feed the result to the array metrics, e.g. ``mig(*sample_codes(fn, src, 10_000))``.

    Parameters
    ----------
    representation_fn : callable
        (n, ...) observations → (n, D) codes (numpy array or torch tensor).
    source : GroundTruthSource
    num_points : int
    seed : int, Generator or None
    batch_size : int
        Observations encoded per call (memory only; the reference uses 16).

    Returns
    -------
    codes : (num_points, D) float64 array
    factors : (num_points, F) int64 array
    """
    src = check_source(source)
    num_points = check_positive_int(num_points, "num_points")
    batch_size = check_positive_int(batch_size, "batch_size")
    rng = check_seed(seed)
    codes, factors = [], []
    for start in range(0, num_points, batch_size):
        f = src.sample_factors(min(batch_size, num_points - start), rng)
        codes.append(encode(representation_fn, src.sample_observations_from_factors(f, rng)))
        factors.append(np.asarray(f, dtype=np.int64))
    return np.concatenate(codes), np.concatenate(factors)


def linear_code_source(
    levels: Sequence[int], code_dim: int, noise: float = 0.1, mixing: str | np.ndarray = "random",
    seed: int | np.random.Generator | None = 0,
) -> tuple[GridDataSource, Callable[[np.ndarray], np.ndarray]]:
    """A tiny synthetic source whose observations are a linear, noisy code of the factors.

    Observation = ``A @ standardized(factors) + noise * eps`` with ``eps ~ N(0, I)`` drawn
    from the sampling generator; the representation function returned with it is the
    identity, so the "code" is the observation.

    Parameters
    ----------
    levels : sequence of F int
    code_dim : int
        Dimension D of the code (>= F for ``mixing="identity"``).
    noise : float
        Standard deviation of the additive noise.
    mixing : {"random", "identity"} or (D, F) array
        ``"random"``: Gaussian matrix; ``"identity"``: code d = factor d (d < F), 0 beyond.
    seed : int, Generator or None
        Draws the random mixing matrix.

    Returns
    -------
    source : GridDataSource
    representation_fn : callable, the identity
    """
    lv = np.array([check_positive_int(v, "levels", minimum=2) for v in levels], dtype=np.float64)
    code_dim = check_positive_int(code_dim, "code_dim")
    if isinstance(mixing, str):
        if mixing == "random":
            a = check_seed(seed).standard_normal((code_dim, lv.size))
        elif mixing == "identity":
            a = np.eye(code_dim, lv.size)
        else:
            raise ValueError(f"unknown mixing {mixing!r}; choose 'random', 'identity' or a matrix")
    else:
        a = check_array(mixing, "mixing", ndim=2)
        if a.shape != (code_dim, lv.size):
            raise ValueError(f"mixing must have shape ({code_dim}, {lv.size}), got {a.shape}")
    # standardize the uniform grid codes so every factor contributes comparably
    mean, std = (lv - 1) / 2, np.sqrt((lv**2 - 1) / 12)

    def render(factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        z = (factors - mean) / std
        return z @ a.T + noise * rng.standard_normal((len(factors), code_dim))

    return GridDataSource(render, [int(v) for v in lv]), _identity


def _identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)
