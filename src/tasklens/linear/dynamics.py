"""Exact learning dynamics of a two-layer linear multi-task network (Anon. 2025).

Paper: Anon. 2025 (ICLR'26 sub.): the gradient flow of eq. 5, its Riccati form
(Lemma 1, eq. 13), the closed form of Theorem 2 (eq. 18-22) and the steady state of Theorem 3
(eq. 23). With whitened inputs the network ``y_i = W_i W_S x`` trained on tasks
``Sigma_io`` is the single-task network with stacked output ``xi = [Sigma_1o; ...]`` (eq. 9),
so every quantity is computed from the stacked problem and read back per task.

Four exact paths, chosen by :class:`MTLDynamics` and reported in ``.method``:

- ``"closed_form"``: Theorem 2, vectorised over time points (zero-balanced init, initial map of
  full rank ``k = min(N_i, sum N_io)``, well-conditioned ``A``);
- ``"semigroup"``: exact stepping of the Riccati flow (any zero-balanced init; used when
  ``A`` is singular or ill-conditioned or the initial map has rank below ``k``);
- ``"lambda_balanced"``: the closed form for a λ-balanced init ``W^T W - W_S W_S^T = λ I``
  (Dominé et al. 2025, arXiv 2409.14623; :mod:`tasklens.linear.lambda_balanced`), where the
  Riccati form holds with ``R`` shifted by ``diag(-λ/2 I, λ/2 I)``;
- ``"ode"``: numerical integration of eq. 5 (:func:`tasklens.linear.simulate.gradient_flow`)
  when the init is neither zero- nor λ-balanced, where no Riccati form holds.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from tasklens._common.validation import check_array, check_choice, check_scalar, check_seed
from tasklens.linear._paths import PATHS
from tasklens.linear._problem import check_init_sizes, check_mtl_problem
from tasklens.linear.lambda_balanced import DenseTrajectory as _DenseTrajectory
from tasklens.linear.lambda_balanced import (
    LambdaBalancedSolution,
    lambda_of,
)
from tasklens.linear.riccati import (
    ClosedFormConstants,
    FactorTrajectory,
    SpectralBasis,
    gram_singular_pairs,
    thin_svd,
)
from tasklens.linear.riccati_losses import LossConstants

__all__ = ["METHODS", "MTLDynamics", "check_mtl_problem", "zero_balanced_init"]

METHODS = ("auto", "closed_form", "semigroup", "lambda_balanced", "ode")


def zero_balanced_init(
    n_inputs: int,
    n_hidden: int,
    n_outputs: int | Sequence[int],
    scale: float = 1e-2,
    seed: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random zero-balanced weights: ``W_S W_S^T = sum_i W_i^T W_i`` (assumption A2, eq. 14).

    ``W_S = P D Q_in^T`` and ``W = [W_1; ...] = Q_out D P^T`` with random orthonormal
    ``P (N_s, r)``, ``Q_in (N_i, r)``, ``Q_out (N_o, r)``, ``r = min(N_s, N_i, N_o)`` and
    ``D = scale * diag(u)``, ``u ~ U(0.5, 1.5)``. The initial map ``W W_S = Q_out D^2 Q_in^T``
    has rank ``r``: Theorem 2 needs rank ``k = min(N_i, N_o)``, i.e. ``n_hidden >= k``;
    with fewer hidden units :class:`MTLDynamics` uses its exact semigroup path instead.

    Parameters
    ----------
    n_inputs, n_hidden : int
    n_outputs : int or sequence of int
        Output size per task (an int means one task).
    scale : float
        Singular values of ``W_S`` lie in ``[0.5, 1.5] * scale``.
    seed : int, Generator or None

    Returns
    -------
    W_S : (n_hidden, n_inputs) array
    heads : list of (N_io, n_hidden) arrays
    """
    sizes = check_init_sizes(n_inputs, n_hidden, n_outputs, scale)
    rng = check_seed(seed)
    n_out = int(sum(sizes))
    r = min(n_hidden, n_inputs, n_out)

    def orthonormal(rows: int) -> np.ndarray:
        q, rr = np.linalg.qr(rng.standard_normal((rows, r)))
        return q * np.sign(np.diag(rr))[None, :]

    P, Q_in, Q_out = orthonormal(n_hidden), orthonormal(n_inputs), orthonormal(n_out)
    d = scale * rng.uniform(0.5, 1.5, size=r)
    W_S = (P * d) @ Q_in.T
    W = (Q_out * d) @ P.T
    bounds = np.cumsum([0, *sizes])
    return W_S, [W[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]


def _choose_path(method: str, problems: list[str], balanced: bool, has_lambda: bool,
                 lambda_note: str) -> str:
    """The exact path: ``method`` itself after checking it applies, or the one ``"auto"``
    picks (closed form, else semigroup for a zero-balanced init, else λ-balanced or ODE)."""
    if method == "auto":
        if not problems:
            return "closed_form"
        if balanced:
            return "semigroup"
        return "lambda_balanced" if has_lambda else "ode"
    if method == "closed_form" and problems:
        raise ValueError(
            "method='closed_form' (Theorem 2) does not apply: "
            + "; ".join(problems)
            + ". Use method='auto' for the exact fallback."
        )
    if method == "semigroup" and not balanced:
        raise ValueError(
            "method='semigroup' needs a zero-balanced init: "
            + problems[0]
            + ". Use method='ode' (or 'auto'), or build the init with zero_balanced_init."
        )
    if method == "lambda_balanced" and not has_lambda:
        why = lambda_note or "the init is zero-balanced: use method='closed_form' or 'auto'"
        raise ValueError(
            f"method='lambda_balanced' does not apply: {why}. Use method='auto' (or "
            "'ode'), or build the init with lambda_balanced_init."
        )
    return method


class MTLDynamics:
    """Exact gradient-flow dynamics of ``y_i = W_i W_S x`` under whitened inputs (Anon. 2025).

    Parameters
    ----------
    sigmas : list of (N_io, N_i) arrays
        Task input-output correlations ``Sigma_io`` (eq. 6), inputs whitened (A1).
    W_S0 : (N_s, N_i) array
        Initial shared weights.
    heads0 : list of (N_io, N_s) arrays
        Initial task heads.
    tau : float
        Time constant of eq. 5; ``tau = 1 / learning_rate`` and ``t`` in epochs, or ``tau = 1``
        and ``t = epochs * learning_rate`` (the convention of :mod:`tasklens.linear.simulate`).
    method : {"auto", "closed_form", "semigroup", "lambda_balanced", "ode"}
        ``"auto"`` picks Theorem 2 when it applies, else the exact semigroup stepping, else
        (not zero-balanced) the λ-balanced closed form when the init is λ-balanced and its
        assumptions hold, else the ODE. Naming a path whose assumptions fail raises ValueError.
    balance_tol : float
        Relative tolerance of the zero-balance check
        ``||W_S W_S^T - W^T W|| <= balance_tol (||W_S W_S^T|| + ||W^T W||)``.
    cond_max : float
        Largest condition number of ``A = U0^T U + V0^T V`` accepted by the closed form. Its
        rounding error grows like ``~1e-17 cond(A)^2`` relative to the largest loss (measured
        against the ODE of eq. 5 at rtol 1e-12: 1.1e-11 at cond 1.8e3, 7e-9 at 4.2e4, 4e-7
        at 2e5), so the default ``1e4`` keeps it below ~1e-9; above it the exact semigroup
        path is used (the previous default ``1e6`` allowed errors ~1e-5).
    init_cond_max : float
        Largest condition number of the initial map accepted by the closed form: its
        ``S0^{-1}`` term loses about ``eps * cond`` relative accuracy near ``t = 0``
        (measured: cond 1e8 gives 2e-7), while the semigroup path needs no inverse.
    rank_tol : float
        Singular values of the initial map below ``rank_tol * max`` count as zero.
    lambda_cond_max : float
        Largest condition number of the init's coordinates along the ``N_s`` fastest-growing
        modes accepted by the λ-balanced closed form (see
        :class:`tasklens.linear.lambda_balanced.LambdaBalancedSolution`); the λ-balance check
        itself uses ``balance_tol`` (:func:`tasklens.linear.lambda_balanced.lambda_of`).
    max_step : float
        Largest ``s_max * dt / tau`` per semigroup step.

    Attributes
    ----------
    method : str
        The path used: ``"closed_form"``, ``"semigroup"``, ``"lambda_balanced"`` or ``"ode"``.
    lam : float or None
        λ of a λ-balanced init (``0.0`` when zero-balanced), ``None`` otherwise.
    reason : str
        Why that path (which assumption of Theorem 2 failed, if any).
    basis : SpectralBasis
        Compact SVD of ``xi``.
    cond_A : float
        Condition number of ``A`` (``inf`` when the initial map has rank below ``k``).
    init_rank, init_cond : int, float
        Numerical rank and condition number of the initial map ``W(0) W_S(0)``.
    balance_residual : float
        Relative zero-balance residual of the init.

    Notes
    -----
    Outputs are ordered as ``Q = [W_S^T; W_1; ...; W_T]`` (eq. 12), so ``qqt(t)[:, :N_i, :N_i]``
    is ``W_S^T W_S`` and the block below it holds the stacked network function. Theorem 2 as
    printed has typos; the corrected form is in :func:`tasklens.linear.riccati.closed_form_factors`.
    """

    def __init__(
        self,
        sigmas: Sequence[Any],
        W_S0: Any,
        heads0: Sequence[Any],
        tau: float = 1.0,
        *,
        method: str = "auto",
        balance_tol: float = 1e-8,
        cond_max: float = 1e4,
        init_cond_max: float = 1e7,
        rank_tol: float = 1e-10,
        max_step: float = 4.0,
        lambda_cond_max: float = 1e6,
    ) -> None:
        check_choice(method, "method", METHODS)
        sig, ws, heads = check_mtl_problem(sigmas, W_S0, heads0)
        tau = check_scalar(tau, "tau", numbers.Real, low=0.0, include_low=False, finite=True)
        max_step = check_scalar(max_step, "max_step", numbers.Real, low=0.0, include_low=False)
        self.sigmas = tuple(sig)
        self.W_S0 = ws
        self.heads0 = tuple(heads)
        self.tau = float(tau)
        self.max_step = float(max_step)
        self.task_sizes = tuple(s.shape[0] for s in sig)
        bounds = np.cumsum([0, *self.task_sizes])
        self._slices = [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(len(sig))]
        self.xi = np.concatenate(sig, axis=0)
        self.n_inputs = ws.shape[1]
        self.n_hidden = ws.shape[0]
        self.n_outputs = self.xi.shape[0]
        self.basis = SpectralBasis.from_xi(self.xi)
        self._factor_init(ws, np.concatenate(heads, axis=0), balance_tol, rank_tol)
        problems = self._theorem2_problems(balance_tol, init_cond_max, cond_max)
        balanced = self.balance_residual <= balance_tol
        self.lam = 0.0 if balanced else lambda_of(ws, heads, tol=balance_tol)
        self._lambda_solution: LambdaBalancedSolution | None = None
        lambda_note = ""
        if not balanced and method in ("auto", "lambda_balanced"):
            lambda_note = self._try_lambda_balanced(balance_tol, lambda_cond_max)
        self.method = _choose_path(method, problems, balanced,
                                   self._lambda_solution is not None, lambda_note)
        self._path = PATHS[self.method]
        self._constants: ClosedFormConstants | None = None
        self._loss_constants: LossConstants | None = None
        if lambda_note:
            problems.append(lambda_note)
        self.reason = "; ".join(problems) if problems else "assumptions of Theorem 2 hold"

    # ------------------------------------------------------------------ the path
    def _factor_init(self, ws: np.ndarray, W: np.ndarray, balance_tol: float,
                     rank_tol: float) -> None:
        """Zero-balance residual, thin SVD, rank and conditioning of the initial map."""
        k = self.basis.k
        gram_s, gram_h = ws @ ws.T, W.T @ W
        denom = np.linalg.norm(gram_s) + np.linalg.norm(gram_h)
        self.balance_residual = float(np.linalg.norm(gram_s - gram_h) / denom if denom > 0 else 0.0)
        pairs = None
        if self.balance_residual <= balance_tol and W.shape[0] * 2 < ws.shape[1]:
            # zero balance: (W W_S)(W W_S)^T = W (W_S W_S^T) W^T, no N_i-sized Gram product
            pairs = gram_singular_pairs(W @ gram_s @ W.T)
        if pairs is not None:
            u0, s0 = pairs
            v0t = ((u0.T @ W) @ ws) / s0[:, None]
        else:
            u0, s0, v0t = thin_svd(W @ ws)
        s_top = float(s0[0]) if s0.size else 0.0
        self.init_rank = int(np.sum(s0 > rank_tol * s_top)) if s_top > 0 else 0
        self.cond_A = np.inf
        self._U0, self._S0, self._V0 = u0[:, :k], s0[:k], v0t[:k].T
        self._VtV0: np.ndarray | None = None
        if self.init_rank == k:
            self._VtV0 = self.basis.V.T @ self._V0
            A = self._U0.T @ self.basis.U + self._VtV0.T
            self.cond_A = float(np.linalg.cond(A))
        self.init_cond = float(s_top / s0[k - 1]) if self.init_rank == k else np.inf

    def _theorem2_problems(self, balance_tol: float, init_cond_max: float,
                           cond_max: float) -> list[str]:
        """Which assumptions of Theorem 2 fail (empty: the closed form applies)."""
        k = self.basis.k
        problems = []
        if self.balance_residual > balance_tol:
            problems.append(
                f"the init is not zero-balanced (relative residual {self.balance_residual:.2e} "
                f"> balance_tol={balance_tol:g}), so the Riccati form (eq. 13) does not hold"
            )
        if self.init_rank < k:
            problems.append(
                f"the initial map W(0) W_S(0) has rank {self.init_rank} < k = {k} "
                f"(N_s = {self.n_hidden}); Theorem 2 needs a full-rank init"
            )
        elif self.init_cond > init_cond_max:
            problems.append(
                f"the initial map is ill-conditioned (cond {self.init_cond:.2e} > "
                f"init_cond_max={init_cond_max:g}): Theorem 2's S0^-1 term would lose accuracy"
            )
        if self.init_rank == k and self.cond_A > cond_max:
            hint = ""
            if self.n_inputs == self.n_outputs:
                hint = (
                    " (with N_i = sum N_io this happens when sign det W(0) W_S(0) differs from "
                    "sign det xi; the exact flow then stops at a saddle)"
                )
            problems.append(
                f"A = U0^T U + V0^T V is singular or ill-conditioned (cond {self.cond_A:.2e} "
                f"> cond_max={cond_max:g}){hint}"
            )
        return problems

    def _try_lambda_balanced(self, balance_tol: float, lambda_cond_max: float) -> str:
        """Build the λ-balanced solution when it applies; a note saying why (not)."""
        if self.lam is None:
            return "the init is not λ-balanced either (W^T W - W_S W_S^T != λ I)"
        try:
            self._lambda_solution = LambdaBalancedSolution(
                list(self.sigmas), self.W_S0, list(self.heads0), self.tau, tol=balance_tol,
                cond_max=lambda_cond_max
            )
        except ValueError as err:
            return f"the init is λ-balanced (λ = {self.lam:.4g}) but {err}"
        return (f"the init is λ-balanced (λ = {self.lam:.4g}), so the exact λ-balanced "
                "solution applies (Dominé et al. 2025)")

    # ------------------------------------------------------------------ evaluation
    def _times(self, t: Any) -> np.ndarray:
        arr = check_array(np.atleast_1d(np.asarray(t, dtype=float)), "t", ndim=1)
        if np.any(arr < 0):
            raise ValueError("t must be non-negative times (t = 0 is the init)")
        return arr

    def _factor_top_bottom(self) -> tuple[np.ndarray, np.ndarray]:
        """A factor ``L`` of ``Q Q^T(0)`` with at most ``n`` columns."""
        Q = np.concatenate([self.W_S0.T, *self.heads0], axis=0)
        if Q.shape[1] > Q.shape[0]:  # Q Q^T = R^T R with Q^T = Q_r R: a square exact factor
            Q = np.linalg.qr(Q.T, mode="r").T
        return Q[: self.n_inputs], Q[self.n_inputs :]

    def _closed_form_constants(self) -> ClosedFormConstants:
        if self._constants is None:
            self._constants = ClosedFormConstants.build(
                self.basis, self._U0, self._S0, self._V0, vtv0=self._VtV0
            )
        return self._constants

    def trajectory(self, t: Any) -> FactorTrajectory | _DenseTrajectory:
        """The factored trajectory ``Q Q^T(t) = Y Y^T`` at times ``t`` (internal form)."""
        return self._path.trajectory(self, self._times(t))

    def qqt(self, t: Any) -> np.ndarray:
        """``Q Q^T(t)`` (eq. 12, 18) with ``Q = [W_S^T; W_1; ...]``.

        Parameters
        ----------
        t : float or (T,) array, non-negative

        Returns
        -------
        (T, n, n) array, ``n = N_i + sum N_io``.
        """
        return self.trajectory(t).qqt()

    def network_functions(self, t: Any) -> list[np.ndarray]:
        """Task network functions ``W_i W_S(t)`` (eq. 4): list of (T, N_io, N_i) arrays."""
        traj = self.trajectory(t)
        return [traj.network_function(rows) for rows in self._slices]

    def losses(self, t: Any, target_variance: Any = None) -> np.ndarray:
        """Task losses of eq. 2 under whitened inputs: (T, N_T) array.

        ``L_i = tr(Sigma_yy,i) - 2 <Sigma_io, W_i W_S> + ||W_i W_S||_F^2``. The target variance
        ``tr(Sigma_yy,i)`` is not determined by ``Sigma_io``; pass it as ``target_variance``
        ((N_T,) array). Without it ``||Sigma_io||_F^2`` is used, so that
        ``L_i = ||Sigma_io - W_i W_S||_F^2`` (eq. 2 minus the error no linear map can remove).
        Computed in the ``k``-dimensional basis: no ``N_io x N_i`` map is formed. On the
        closed-form path with ``sum N_io <= N_i`` the losses come straight from ``C(t)^{-1}``
        by a trace identity (:func:`tasklens.linear.riccati_losses.closed_form_losses`), without
        the factored trajectory.
        """
        out = self._path.losses(self, self._times(t))
        if target_variance is not None:
            tv = check_array(target_variance, "target_variance", ndim=1)
            if tv.shape[0] != len(self._slices):
                raise ValueError(
                    f"target_variance needs one value per task ({len(self._slices)}), "
                    f"got {tv.shape[0]}"
                )
            out = out + (tv - np.array([np.sum(s**2) for s in self.sigmas]))[None, :]
        return out

    def steady_state(self) -> np.ndarray:
        """``lim_{t->inf} Q Q^T(t)``: (n, n) array.

        Theorem 3 (eq. 23): ``[V; U] S [V; U]^T`` from the SVD of ``xi`` (the printed proof,
        eq. 156, has ``S^{-1}``: a typo, the limit of eq. 18 is ``S``). For the semigroup path
        (singular ``A`` or low-rank init) the exact limit is a saddle that misses the modes
        the init cannot reach; see :func:`tasklens.linear.riccati.saddle_limit`.
        Raises ValueError for a non-balanced init (no closed form: integrate with ``qqt``).
        """
        return self._path.steady_state(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly record of the problem, the path used and why."""
        from tasklens import __version__

        return {
            "method": self.method,
            "reason": self.reason,
            "tau": self.tau,
            "n_inputs": self.n_inputs,
            "n_hidden": self.n_hidden,
            "task_sizes": list(self.task_sizes),
            "singular_values_xi": self.basis.S.tolist(),
            "init_rank": self.init_rank,
            "init_cond": self.init_cond,
            "cond_A": self.cond_A,
            "balance_residual": self.balance_residual,
            "lam": self.lam,
            "tasklens_version": __version__,
        }

    def __repr__(self) -> str:
        return (
            f"MTLDynamics(N_i={self.n_inputs}, N_s={self.n_hidden}, task_sizes={self.task_sizes}, "
            f"tau={self.tau:g}, method={self.method!r})"
        )
