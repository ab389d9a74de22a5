"""The :class:`LinearTaskFamily` value and whitened sampling that realizes its correlations.

A linear task family is a set of input–output correlation matrices ``Σ_io`` sharing one input
space (Anon. 2025 (ICLR'26 sub.), eq. 6). With the convention of this module,

    Σ_io = (1/N) Σ_n y_n x_nᵀ = (1/N) Y_iᵀ X,    X : (N, N_i),  Y_i : (N, N_io),

so ``Σ_io`` has shape ``(N_io, N_i)``. Whitened inputs ((1/N) XᵀX = I, assumption A1 of Anon. 2025)
and targets ``Y_i = X Σ_ioᵀ`` realize each ``Σ_io`` exactly: (1/N) Y_iᵀ X = Σ_io (1/N) XᵀX = Σ_io.

The random regression tasks of App. D.3, which are defined by sampled data, live here too;
every generator of Anon. 2025 Appendix D.1–D.4 is importable from
:mod:`tasklens.data.linear_families`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .._common.validation import check_array, check_positive_int, check_seed
from .taskset import TaskSet

__all__ = [
    "LinearTaskFamily",
    "TaskFactors",
    "random_regression",
    "random_regression_family",
    "whitened_inputs",
]

SeedLike = int | np.random.Generator | None


class TaskFactors(NamedTuple):
    """Thin SVD factors of one task's correlation, ``Σ_io = U diag(S) Vᵀ`` (Anon. 2025, eq. 7).

    Attributes
    ----------
    U : (N_io, r) array
        Left singular vectors (orthonormal columns).
    S : (r,) array
        Singular values, non-increasing and positive.
    V : (N_i, r) array
        Right singular vectors (orthonormal columns).
    """

    U: np.ndarray
    S: np.ndarray
    V: np.ndarray


def _readonly(a: np.ndarray) -> np.ndarray:
    out = np.array(a, dtype=np.float64, copy=True)
    out.setflags(write=False)
    return out


def seed_record(seed: SeedLike) -> int | str | None:
    """A JSON-friendly record of a seed argument (a Generator's state is not recorded)."""
    if isinstance(seed, np.random.Generator):
        return "numpy.random.Generator (state not recorded)"
    return None if seed is None else int(seed)


def orthonormal_columns(rng: np.random.Generator, n_rows: int, n_cols: int) -> np.ndarray:
    """(n_rows, n_cols) matrix with orthonormal columns, uniform (Haar) on the Stiefel manifold.

    QR of a standard Gaussian matrix (Anon. 2025 (ICLR'26 sub.), eq. 158); the signs of R's
    diagonal are moved into Q so that the distribution does not depend on the QR routine.
    """
    q, r = np.linalg.qr(rng.standard_normal((n_rows, n_cols)))
    signs = np.sign(np.diag(r))
    signs[signs == 0] = 1.0
    return q * signs


def whitened_inputs(n_samples: int, n_inputs: int, seed: SeedLike = None) -> np.ndarray:
    """Random inputs whitened so that (1/N) XᵀX = I exactly (assumption A1 of Anon. 2025).

    ``X = sqrt(N) Q`` where ``Q`` has orthonormal columns drawn uniformly (QR of a Gaussian
    matrix), so the whitening holds to machine precision (about 1e-15), not only in
    expectation. The inputs are not centered: 000 (eq. 6, App. D.2) whitens the raw second
    moment, and the networks it studies have no bias.

    Parameters
    ----------
    n_samples : int
        N, at least ``n_inputs`` (N whitened directions need N >= N_i samples).
    n_inputs : int
        N_i.
    seed : int, numpy Generator or None

    Returns
    -------
    X : (N, N_i) float64 array
    """
    n_inputs = check_positive_int(n_inputs, "n_inputs")
    n_samples = check_positive_int(n_samples, "n_samples")
    if n_samples < n_inputs:
        raise ValueError(
            f"n_samples={n_samples} is smaller than n_inputs={n_inputs}: whitened inputs "
            "((1/N) XᵀX = I) need at least as many samples as input dimensions; "
            f"pass n_samples >= {n_inputs}"
        )
    rng = check_seed(seed)
    return np.sqrt(n_samples) * orthonormal_columns(rng, n_samples, n_inputs)


@dataclass(frozen=True, eq=False)
class LinearTaskFamily:
    """Input–output correlations of a set of linear regression tasks on one input space.

    Attributes
    ----------
    sigmas : list of (N_io, N_i) arrays
        ``Σ_io`` of each task (Anon. 2025 (ICLR'26 sub.), eq. 6), convention
        ``Σ_io = (1/N) Σ_n y_n x_nᵀ``. Read-only float64.
    task_names : list of str
    params : dict
        The construction parameters (generator name, seed record, sizes, values), JSON-friendly.
    factors : list of TaskFactors or None
        ``(U_i, S_i, V_i)`` with ``Σ_io = U_i diag(S_i) V_iᵀ`` (eq. 7), where the construction
        defines them; ``None`` otherwise.
    arrays : dict of str to array
        Other arrays the construction drew (teacher weights, the shared regression signal,
        raw data), named in each generator's docstring.
    name : str
    """

    sigmas: list[np.ndarray]
    task_names: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    factors: list[TaskFactors] | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    name: str = "linear_family"

    def __post_init__(self) -> None:
        if len(self.sigmas) == 0:
            raise ValueError("sigmas must hold at least one (N_io, N_i) correlation matrix")
        sigmas = [
            _readonly(check_array(s, f"sigmas[{k}]", ndim=2)) for k, s in enumerate(self.sigmas)
        ]
        n_in = {s.shape[1] for s in sigmas}
        if len(n_in) != 1:
            raise ValueError(
                f"all sigmas must share the input dimension N_i (their column count), got "
                f"shapes {[s.shape for s in sigmas]}"
            )
        names = [str(n) for n in self.task_names]
        if len(names) != len(sigmas) or len(set(names)) != len(names):
            raise ValueError(
                f"task_names must be {len(sigmas)} distinct names, one per sigma; got {names}"
            )
        object.__setattr__(self, "sigmas", sigmas)
        object.__setattr__(self, "task_names", names)
        if self.factors is not None:
            if len(self.factors) != len(sigmas):
                raise ValueError("factors must hold one (U, S, V) triple per sigma")
            object.__setattr__(
                self, "factors",
                [TaskFactors(*(_readonly(a) for a in f)) for f in self.factors],
            )
        object.__setattr__(
            self, "arrays", {k: _readonly(v) for k, v in dict(self.arrays).items()}
        )

    # ------------------------------------------------------------------ shapes
    @property
    def n_tasks(self) -> int:
        return len(self.sigmas)

    @property
    def n_inputs(self) -> int:
        """N_i, the shared input dimension."""
        return int(self.sigmas[0].shape[1])

    @property
    def n_outputs(self) -> tuple[int, ...]:
        """N_io of each task."""
        return tuple(int(s.shape[0]) for s in self.sigmas)

    @property
    def xi(self) -> np.ndarray:
        """(Σ_t N_to, N_i) stacked correlations ``ξ = (Σ_1oᵀ Σ_2oᵀ ...)ᵀ`` (Anon. 2025, eq. 9, 157).

        Its singular values are the shared MTL spectrum ``S_ξ``.
        """
        return np.vstack(self.sigmas)

    # ------------------------------------------------------------------ sampling
    def sample(self, n_samples: int, seed: SeedLike = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Whitened inputs and targets that realize every ``Σ_io`` exactly.

        Parameters
        ----------
        n_samples : int
            N >= N_i.
        seed : int, numpy Generator or None

        Returns
        -------
        X : (N, N_i) float64 array
            (1/N) XᵀX = I to about 1e-15 (see :func:`whitened_inputs`).
        Ys : list of (N, N_io) float64 arrays
            ``Y_i = X Σ_ioᵀ``, so that (1/N) Y_iᵀ X = Σ_io.
        """
        x = whitened_inputs(n_samples, self.n_inputs, seed)
        return x, [x @ s.T for s in self.sigmas]

    def to_taskset(self, n_samples: int, seed: SeedLike = None, name: str | None = None) -> TaskSet:
        """A :class:`TaskSet` of regression tasks, one per ``Σ_io``, from :meth:`sample`.

        Targets are multi-output ``(N, N_io)``. The task set stores float32, so its empirical
        correlations match ``sigmas`` to float32 precision (about 1e-6 relative), not 1e-10;
        use :meth:`sample` for exact float64 arrays.

        ``info`` records the generator, the family's construction parameters, the sampling
        seed and the correlation convention.
        """
        x, ys = self.sample(n_samples, seed)
        return TaskSet.from_arrays(
            x,
            dict(zip(self.task_names, ys, strict=True)),
            kinds=dict.fromkeys(self.task_names, "regression"),
            name=name or self.name,
            info={
                "generator": self.params.get("generator", "LinearTaskFamily"),
                "family_params": dict(self.params),
                "sample_seed": seed_record(seed),
                "n_samples": int(n_samples),
                "sigma_convention": "Sigma_io = (1/N) Y_i^T X, inputs whitened (1/N) X^T X = I",
                "source": "Anon. 2025 (ICLR'26 sub.), App. D",
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary: names, parameters and correlation matrices as nested lists."""
        return {
            "name": self.name,
            "task_names": list(self.task_names),
            "params": dict(self.params),
            "sigmas": [s.tolist() for s in self.sigmas],
        }


def check_values(
    values: Any, name: str, *, positive: bool = True, allow_zero: bool = False
) -> np.ndarray:
    """1-D finite float array, entries > 0 (or >= 0 with ``allow_zero``)."""
    arr = check_array(values, name, ndim=1)
    if allow_zero and np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got {arr.tolist()}")
    if positive and not allow_zero and np.any(arr <= 0):
        raise ValueError(
            f"{name} must be > 0, got {arr.tolist()}; a zero or negative value is not a mode "
            "strength (drop zero modes to lower the rank)"
        )
    return arr


def check_sizes(values: int | Sequence[int], name: str, n_tasks: int) -> tuple[int, ...]:
    """An int (repeated for every task) or one positive int per task."""
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        return (check_positive_int(values, name),) * n_tasks
    try:
        seq = list(values)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {values!r}") from None
    if len(seq) != n_tasks:
        raise ValueError(f"{name} must have one entry per task ({n_tasks}), got {len(seq)}")
    return tuple(check_positive_int(v, f"{name}[{k}]") for k, v in enumerate(seq))


# ====================================================================== D.3
def random_regression_family(
    n_inputs: int,
    n_outputs: int,
    n_samples: int,
    scales: Sequence[float] = (1.0, 1.0),
    noise: Sequence[float] = (0.1, 0.1),
    seed: SeedLike = None,
) -> LinearTaskFamily:
    """Random regression tasks sharing a signal, ``Y_t = α_t (B + ε_t)`` (Anon. 2025, App. D.3, eq.
    166).

    ``X`` whitened (``(1/N) XᵀX = I``), ``B ~ N(0, 1/N_o)`` of shape ``(N, N_o)`` shared by
    all tasks (Anon. 2025 writes ``N(0, 1/sqrt(N_oi))``; we read ``1/sqrt(N_o)`` as the standard
    deviation), ``ε_t ~ N(0, σ_t²)`` per task. The targets are not a function of ``X``, so the
    correlations are the empirical ``Σ_to = (1/N) Y_tᵀ X`` (eq. 6); with ``noise=0`` all tasks
    are exactly aligned and ``Σ_to ∝ α_t``.

    Parameters
    ----------
    n_inputs : int
        N_i.
    n_outputs : int
        N_o, the same for every task (B is shared).
    n_samples : int
        N >= N_i.
    scales : sequence of float
        α_t > 0; its length is the number of tasks.
    noise : sequence of float
        σ_t >= 0, one per task (000 gives no values; default 0.1).
    seed : int, numpy Generator or None

    Returns
    -------
    LinearTaskFamily
        ``arrays``: ``"inputs"`` (N, N_i), ``"shared_signal"`` B (N, N_o) and
        ``"targets_task_t"`` (N, N_o), the raw data (see :func:`random_regression`).
        ``sample``/``to_taskset`` draw fresh whitened inputs with targets ``X Σ_toᵀ``, i.e.
        only the part of the raw targets a linear map of the inputs explains.
    """
    n_inputs = check_positive_int(n_inputs, "n_inputs")
    n_outputs = check_positive_int(n_outputs, "n_outputs")
    alphas = check_values(scales, "scales")
    sigmas_noise = check_values(noise, "noise", allow_zero=True)
    if len(sigmas_noise) != len(alphas):
        raise ValueError(
            f"noise must have one value per task (len(scales) = {len(alphas)}), "
            f"got {len(sigmas_noise)}"
        )
    rng = check_seed(seed)
    x = whitened_inputs(n_samples, n_inputs, rng)
    b = rng.normal(0.0, 1.0 / np.sqrt(n_outputs), size=(n_samples, n_outputs))
    ys = [a * (b + rng.normal(0.0, s, size=b.shape)) for a, s in zip(alphas, sigmas_noise,
                                                                      strict=True)]
    names = [f"task_{t + 1}" for t in range(len(ys))]
    arrays = {"inputs": x, "shared_signal": b,
              **{f"targets_{n}": y for n, y in zip(names, ys, strict=True)}}
    params = {
        "generator": "tasklens.data.linear_families.random_regression_family",
        "n_inputs": n_inputs,
        "n_outputs": n_outputs,
        "n_samples": int(n_samples),
        "scales": alphas.tolist(),
        "noise": sigmas_noise.tolist(),
        "seed": seed_record(seed),
        "source": "Anon. 2025 (ICLR'26 sub.), App. D.3, eq. 166",
    }
    return LinearTaskFamily(
        [y.T @ x / n_samples for y in ys], names, params, None, arrays, name="random_regression"
    )


def random_regression(
    n_inputs: int = 20,
    n_outputs: int = 3,
    n_samples: int = 100,
    scales: Sequence[float] = (1.0, 1.0),
    noise: Sequence[float] = (0.1, 0.1),
    seed: SeedLike = 0,
) -> TaskSet:
    """The raw data of :func:`random_regression_family` as a :class:`TaskSet`.

    Defaults follow Figure 14 of 000 (N_1 = 20, N_1o = N_2o = 3, N_D = 100). Targets are
    ``α_t (B + ε_t)`` including the part that no linear map of the inputs explains.
    """
    fam = random_regression_family(n_inputs, n_outputs, n_samples, scales, noise, seed)
    targets = {n: fam.arrays[f"targets_{n}"] for n in fam.task_names}
    return TaskSet.from_arrays(
        fam.arrays["inputs"], targets, kinds=dict.fromkeys(targets, "regression"),
        name="random_regression",
        info={"generator": fam.params["generator"], "family_params": dict(fam.params),
              "seed": seed_record(seed)},
    )
