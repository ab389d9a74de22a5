"""Exact dynamics of a two-layer linear MTL network from a λ-balanced init (issue 3, mode (d)).

Reference: Dominé et al. 2025, "From Lazy to Rich: Exact Learning Dynamics in Deep Linear
Networks" (ICLR 2025, arXiv 2409.14623): the λ-balanced condition, its conservation under
gradient flow and the Riccati form of the dynamics with the matrix ``F`` below. Only the
abstract of the paper was retrievable from the reference store while writing this module, so
the formulas here are re-derived (in the notation of Anon. 2025 (ICLR'26 sub.)) and checked
against an independent ODE of eq. 5 of 000 in ``tests/linear/test_lambda_balanced.py``;
equation numbers of 2409.14623 are therefore not cited. The authors' public reference code
(class ``QQT_lambda_balanced``) uses the same ``F`` and sign convention and the form
``QQ^T = Z C^{-1} Z^T`` with ``e^{-sqrt(s^2 + λ^2/4) t}`` decays; it requires an invertible
matrix ``B`` (the init's coordinates along the growing modes: our ``Lc_G``) and, for
``N_i != N_o``, multiplies by ``e^{+λ t / 2}`` on the null-space directions. Here those
directions are folded into the "rest" set below, so that no growing exponential is formed.

Notation (Anon. 2025, eq. 4-12): shared layer ``W_S (N_s, N_i)`` (the paper's ``W_1``), stacked
heads
``W = [W_1; ...; W_T] (N_o, N_s)`` (the paper's ``W_2``), whitened inputs,
``xi = [Sigma_1o; ...] (N_o, N_i)`` and ``Q = [W_S^T; W] (n, N_s)``, ``n = N_i + N_o``.

λ-balance (same sign convention as the paper, ``W_2^T W_2 - W_1 W_1^T = λ I``)::

    W^T W - W_S W_S^T = λ I_{N_s}                                              (LB)

is conserved by the flow of eq. 5 (its time derivative is ``W^T E W_S^T - W_S E^T W`` plus its
transpose, ``E = xi - W W_S``, which is zero). Substituting (LB) into eq. 5 gives
``tau dQ/dt = F Q - Q Q^T Q / 2`` and hence the Riccati equation::

    tau d(QQ^T)/dt = F QQ^T + QQ^T F - (QQ^T)^2,   F = [[-λ/2 I_{N_i}, xi^T], [xi, λ/2 I_{N_o}]]

(``λ = 0`` is eq. 13 of Anon. 2025). Its solution from ``QQ^T(0) = L L^T`` is
``X(t) = e^{Ft} L (I + L^T G(t) L)^{-1} L^T e^{Ft}``, ``G(t) = int_0^t e^{2Fs} ds``.

Eigenbasis of ``F`` (from the full SVD ``xi = U S V^T``, ``a = λ/2``): for each of the
``k = min(N_i, N_o)`` modes a 2x2 block ``[[-a, s_j], [s_j, a]]`` with eigenvalues
``±mu_j = ±sqrt(s_j^2 + a^2)`` and eigenvectors ``(cos p_j V_j; sin p_j U_j)`` (for ``+mu_j``)
and ``(-sin p_j V_j; cos p_j U_j)`` (for ``-mu_j``), ``p_j = atan2(s_j, -a) / 2``; the input
null space ``V_perp`` has eigenvalue ``-a`` and the output null space ``U_perp`` ``+a``.

Stable closed form (never ``e^{+Ft}``): let ``G`` index the ``r = N_s`` largest eigenvalues
``nu_G`` of ``F``, ``Lc = O^T L`` the init in the eigenbasis and ``K = Lc_G^{-1}``. With
``E = e^{-nu_G t}`` and ``R = Lc_rest K``::

    X(t) = O Z C^{-1} Z^T O^T,   Z = [I_r; e^{(nu_i - nu_g) t} R_ig]
    C = E K^T K E + diag((1 - e^{-2 nu_G t}) / (2 nu_G)) + H^T H,
    H_ig = sqrt(g(nu_i, t)) e^{-nu_g t} R_ig,   g(nu, t) = (e^{2 nu t} - 1) / (2 nu)

Every factor is bounded for all ``t >= 0`` when ``nu_G > 0`` and ``nu_i <= nu_g``: exponents are
formed in log space and only ``e^{-|.| t}`` is evaluated, so large ``t`` underflows harmlessly
to the limit ``X(inf) = O_G diag(2 nu_G) O_G^T`` (when ``nu_rest < nu_G`` strictly). ``C`` is a
sum of positive semi-definite terms (no cancellation); it is factored by Cholesky and
``Y = O Z chol(C)^{-T}`` gives ``X = Y Y^T`` exactly symmetric positive semi-definite.

Assumptions (checked): whitened inputs; (LB) within ``tol``; the ``r`` largest eigenvalues of
``F`` are positive (always true for ``λ != 0``: (LB) forces ``N_s <= N_o`` for ``λ > 0`` and
``N_s <= N_i`` for ``λ < 0``, and ``F`` has ``N_o`` resp. ``N_i`` positive eigenvalues; for
``λ = 0`` it needs ``s_r > 0``); ``Lc_G`` invertible with ``cond(Lc_G) <= cond_max``. The
last one is the analogue of the invertibility of ``A`` in Theorem 2 of Anon. 2025: an init with no
component along a growing mode (e.g. ``N_i = N_o``, λ small and ``sign det`` opposite to
``xi``'s) stops at a saddle and has no such closed form. This covers the paper's
``N_h = min(N_i, N_o)`` and every smaller ``N_s``, any number of tasks (the tasks only enter
through the stacked ``xi``).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasklens._common.validation import check_array, check_scalar, check_seed
from tasklens.linear._problem import check_init_sizes, check_mtl_problem

__all__ = [
    "LAMBDA_TOL",
    "DenseTrajectory",
    "LambdaBalancedSolution",
    "lambda_balanced_init",
    "lambda_of",
]

LAMBDA_TOL = 1e-8  # relative residual of (LB) accepted by lambda_of


def _lambda_residual(W_S0: np.ndarray, W: np.ndarray) -> tuple[float, float]:
    """``(λ, relative residual)`` of the best fit ``W^T W - W_S W_S^T ≈ λ I``."""
    gram_s, gram_h = W_S0 @ W_S0.T, W.T @ W
    diff = gram_h - gram_s
    lam = float(np.trace(diff) / diff.shape[0])
    denom = np.linalg.norm(gram_s) + np.linalg.norm(gram_h)
    resid = diff - lam * np.eye(diff.shape[0])
    return lam, float(np.linalg.norm(resid) / denom) if denom > 0 else 0.0


def _weights(W_S0: Any, heads0: Sequence[Any] | Any) -> tuple[np.ndarray, np.ndarray]:
    ws = check_array(W_S0, "W_S0", ndim=2)
    if isinstance(heads0, np.ndarray) and heads0.ndim == 2:
        raise TypeError("heads0 must be a list of (N_io, N_s) arrays, one per task; wrap it: [W]")
    heads = [check_array(h, f"heads0[{i}]", ndim=2) for i, h in enumerate(heads0)]
    if not heads:
        raise ValueError("heads0 is empty; pass one (N_io, N_s) head per task")
    for i, h in enumerate(heads):
        if h.shape[1] != ws.shape[0]:
            raise ValueError(
                f"heads0[{i}] must have N_s = {ws.shape[0]} columns (the rows of W_S0), "
                f"got shape {h.shape}"
            )
    return ws, np.concatenate(heads, axis=0)


def lambda_of(W_S0: Any, heads0: Sequence[Any], tol: float = LAMBDA_TOL) -> float | None:
    """λ of a λ-balanced init, ``W^T W - W_S W_S^T = λ I`` (LB), else ``None``.

    Parameters
    ----------
    W_S0 : (N_s, N_i) array
    heads0 : list of (N_io, N_s) arrays
        Stacked as ``W = [W_1; ...] (N_o, N_s)``.
    tol : float
        The init is λ-balanced when ``||D - λ I||_F <= tol (||W_S W_S^T||_F + ||W^T W||_F)``
        with ``D = W^T W - W_S W_S^T`` and ``λ = tr(D) / N_s`` (the least-squares fit). The
        default 1e-8 accepts rounding of a constructed init (~1e-16) and rejects any random one.

    Returns
    -------
    float or None
        ``0.0`` for a zero-balanced init.
    """
    tol = check_scalar(tol, "tol", numbers.Real, low=0.0, finite=True)
    ws, W = _weights(W_S0, heads0)
    lam, resid = _lambda_residual(ws, W)
    return lam if resid <= tol else None


def lambda_balanced_init(
    n_inputs: int,
    n_hidden: int,
    n_outputs: int | Sequence[int],
    lam: float,
    scale: float = 1e-2,
    seed: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Random λ-balanced weights: ``W^T W - W_S W_S^T = lam I`` (LB) up to rounding.

    For ``lam >= 0``: ``W_S`` Gaussian with entries of std ``scale`` and
    ``W = R (W_S W_S^T + lam I)^{1/2}`` with random orthonormal ``R (N_o, N_s)``; for
    ``lam < 0`` the roles swap: ``W`` Gaussian and ``W_S = (W^T W - lam I)^{1/2} R^T``,
    ``R (N_i, N_s)``. (LB) then needs ``N_s <= N_o`` (``lam > 0``) or ``N_s <= N_i``
    (``lam < 0``): otherwise no λ-balanced weights exist.

    Parameters
    ----------
    n_inputs, n_hidden : int
    n_outputs : int or sequence of int
        Output size per task (an int means one task).
    lam : float
    scale : float
    seed : int, Generator or None

    Returns
    -------
    W_S : (n_hidden, n_inputs) array
    heads : list of (N_io, n_hidden) arrays
    """
    sizes = check_init_sizes(n_inputs, n_hidden, n_outputs, scale)
    lam = check_scalar(lam, "lam", numbers.Real, finite=True)
    n_out = int(sum(sizes))
    if lam > 0 and n_hidden > n_out:
        raise ValueError(
            f"lam > 0 needs n_hidden <= sum(n_outputs) = {n_out} (W^T W = W_S W_S^T + lam I "
            f"must have full rank {n_hidden}); lower n_hidden or use lam <= 0"
        )
    if lam < 0 and n_hidden > n_inputs:
        raise ValueError(
            f"lam < 0 needs n_hidden <= n_inputs = {n_inputs}; lower n_hidden or use lam >= 0"
        )
    rng = check_seed(seed)

    def orthonormal(rows: int) -> np.ndarray:
        q, rr = np.linalg.qr(rng.standard_normal((rows, n_hidden)))
        return q * np.sign(np.diag(rr))[None, :]

    def sqrtm_psd(m: np.ndarray) -> np.ndarray:
        w, v = np.linalg.eigh(0.5 * (m + m.T))
        return (v * np.sqrt(np.clip(w, 0.0, None))[None, :]) @ v.T

    eye = np.eye(n_hidden)
    if lam >= 0:
        W_S = scale * rng.standard_normal((n_hidden, n_inputs))
        W = orthonormal(n_out) @ sqrtm_psd(W_S @ W_S.T + lam * eye)
    else:
        W = scale * rng.standard_normal((n_out, n_hidden))
        W_S = sqrtm_psd(W.T @ W - lam * eye) @ orthonormal(n_inputs).T
    bounds = np.cumsum([0, *sizes])
    return W_S, [W[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]


@dataclass(frozen=True)
class DenseTrajectory:
    """``X(t) = Y Y^T`` with ``Y = [Y_top; Y_bot]`` stored densely.

    Attributes
    ----------
    t : (T,) array
        Times divided by ``tau``.
    top : (T, N_i, r) array
        ``W_S(t)^T`` on the ODE path; a factor with the same Gram matrices otherwise.
    bot : (T, N_o, r) array
    """

    t: np.ndarray
    top: np.ndarray
    bot: np.ndarray

    def qqt(self) -> np.ndarray:
        """``X(t) : (T, n, n)``."""
        y = np.concatenate([self.top, self.bot], axis=1)
        return y @ y.swapaxes(1, 2)

    def network_function(self, rows: slice) -> np.ndarray:
        """Rows ``rows`` of ``W W_S(t)``: (T, n_rows, N_i)."""
        return self.bot[:, rows] @ self.top.swapaxes(1, 2)

    def squared_errors(self, xi: np.ndarray, slices: list[slice]) -> np.ndarray:
        """``||Sigma_io - W_i W_S(t)||_F^2`` per task: (T, N_T)."""
        out = np.empty((self.t.shape[0], len(slices)))
        for j, rows in enumerate(slices):
            diff = xi[rows][None] - self.network_function(rows)
            out[:, j] = np.sum(diff**2, axis=(1, 2))
        return out


def _log_sqrt_g(nu: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``log sqrt(g(nu, x))``, ``g = (e^{2 nu x} - 1) / (2 nu)`` (``x`` at ``nu = 0``): (T, m).

    ``-inf`` at ``x = 0``. For ``nu > 0`` written as ``nu x + log sqrt((1 - e^{-2 nu x}) / 2nu)``
    so that nothing overflows.
    """
    y = 2.0 * x[:, None] * nu[None, :]
    z = np.abs(y)
    # g = x * (1 - e^{-|y|}) / |y| * e^{max(y, 0)} for either sign of nu
    ratio = np.ones_like(z)
    nz = z > 1e-300
    ratio[nz] = -np.expm1(-z[nz]) / z[nz]
    with np.errstate(divide="ignore"):
        return 0.5 * np.log(x[:, None] * ratio) + 0.5 * np.maximum(y, 0.0)


class LambdaBalancedSolution:
    """Exact ``QQ^T(t)`` from a λ-balanced init (module docstring; Dominé et al. 2025).

    Parameters
    ----------
    sigmas : list of (N_io, N_i) arrays
        Task correlations ``Sigma_io`` (Anon. 2025, eq. 6), whitened inputs.
    W_S0 : (N_s, N_i) array
    heads0 : list of (N_io, N_s) arrays
    tau : float
        Time constant of eq. 5 of Anon. 2025.
    tol : float
        Tolerance of :func:`lambda_of`.
    cond_max : float
        Largest accepted condition number of ``Lc_G`` (the init's coordinates along the
        ``N_s`` fastest-growing eigenvectors of ``F``); ``X`` loses ~``eps cond^2`` relative
        accuracy (as the ``A^{-1}`` of Theorem 2 of Anon. 2025).

    Attributes
    ----------
    lam : float
    eigenvalues : (n,) array
        Eigenvalues ``nu`` of ``F``, in the order of the columns of ``basis``.
    cond : float
        Condition number of ``Lc_G``.

    Raises
    ------
    ValueError
        When the init is not λ-balanced, or an assumption above fails.
    """

    def __init__(
        self,
        sigmas: Sequence[Any],
        W_S0: Any,
        heads0: Sequence[Any],
        tau: float = 1.0,
        *,
        tol: float = LAMBDA_TOL,
        cond_max: float = 1e6,
    ) -> None:
        sig, ws, heads = check_mtl_problem(sigmas, W_S0, heads0)
        tau = check_scalar(tau, "tau", numbers.Real, low=0.0, include_low=False, finite=True)
        W = np.concatenate(heads, axis=0)
        lam, resid = _lambda_residual(ws, W)
        tol = check_scalar(tol, "tol", numbers.Real, low=0.0, finite=True)
        if resid > tol:
            raise ValueError(
                f"W_S0 and heads0 are not λ-balanced: W^T W - W_S W_S^T differs from λ I "
                f"(λ = {lam:.3g}) by a relative {resid:.2e} > tol={tol:g}. Build the init with "
                "lambda_balanced_init, or use MTLDynamics(method='ode') for a general init"
            )
        self.lam = lam
        self.tau = float(tau)
        self.sigmas = tuple(sig)
        self.xi = np.concatenate(sig, axis=0)
        self.n_inputs, self.n_outputs = ws.shape[1], W.shape[0]
        self.n_hidden = ws.shape[0]
        self.basis, self.eigenvalues = self._eigenbasis(self.xi, lam)
        r = self.n_hidden
        order = np.argsort(-self.eigenvalues, kind="stable")
        self._G, self._rest = order[:r], order[r:]
        nu = self.eigenvalues
        if nu[self._G].min() <= 0:
            raise ValueError(
                f"the N_s = {r} largest eigenvalues of F are not all positive (smallest "
                f"{nu[self._G].min():.3g}): with λ = {lam:.3g} this needs xi to have rank >= N_s; "
                "use MTLDynamics (semigroup or ODE path)"
            )
        Lc = self.basis.T @ np.concatenate([ws.T, W], axis=0)
        lc_g = Lc[self._G]
        self.cond = float(np.linalg.cond(lc_g))
        if not self.cond <= cond_max:
            raise ValueError(
                f"the init's coordinates along the N_s fastest-growing modes of F are singular "
                f"or ill-conditioned (cond {self.cond:.2e} > cond_max={cond_max:g}): the flow "
                "would stall at a saddle; use MTLDynamics(method='ode')"
            )
        self._K = np.linalg.inv(lc_g)
        self._R = Lc[self._rest] @ self._K
        self._slices = self._task_slices([s.shape[0] for s in sig])

    @staticmethod
    def _task_slices(sizes: list[int]) -> list[slice]:
        bounds = np.cumsum([0, *sizes])
        return [slice(int(bounds[i]), int(bounds[i + 1])) for i in range(len(sizes))]

    @staticmethod
    def _eigenbasis(xi: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
        """Orthogonal ``O (n, n)`` and ``nu (n,)`` with ``F = O diag(nu) O^T``."""
        n_out, n_in = xi.shape
        U, S, Vt = np.linalg.svd(xi, full_matrices=True)
        V = Vt.T
        k = S.shape[0]
        a = 0.5 * lam
        mu = np.sqrt(S**2 + a**2)
        p = 0.5 * np.arctan2(S, -a)
        c, s = np.cos(p), np.sin(p)
        n = n_in + n_out
        basis = np.zeros((n, n))
        basis[:n_in, :k] = V[:, :k] * c
        basis[n_in:, :k] = U[:, :k] * s
        basis[:n_in, k : 2 * k] = -V[:, :k] * s
        basis[n_in:, k : 2 * k] = U[:, :k] * c
        basis[:n_in, 2 * k : k + n_in] = V[:, k:]
        basis[n_in:, k + n_in :] = U[:, k:]
        nu = np.concatenate([mu, -mu, np.full(n_in - k, -a), np.full(n_out - k, a)])
        return basis, nu

    # ---------------------------------------------------------------- evaluation
    def _times(self, t: Any) -> np.ndarray:
        arr = check_array(np.atleast_1d(np.asarray(t, dtype=float)), "t", ndim=1)
        if np.any(arr < 0):
            raise ValueError("t must be non-negative times (t = 0 is the init)")
        return arr / self.tau

    def trajectory(self, t: Any) -> DenseTrajectory:
        """Factor ``Y(t)`` with ``QQ^T(t) = Y Y^T`` (module docstring): times ``t`` (T,)."""
        x = self._times(t)
        nu_g, nu_r = self.eigenvalues[self._G], self.eigenvalues[self._rest]
        decay = np.exp(-nu_g[None, :] * x[:, None])  # (T, r), <= 1
        # e^{(nu_i - nu_g) x} <= 1 because G holds the largest eigenvalues
        gap = np.exp((nu_r[None, :, None] - nu_g[None, None, :]) * x[:, None, None])
        Z_rest = gap * self._R[None]
        H = np.exp(_log_sqrt_g(nu_r, x)[:, :, None] - (nu_g[None, None, :] * x[:, None, None]))
        H = H * self._R[None]
        EK = self._K[None] * decay[:, None, :]  # K E
        C = EK.swapaxes(1, 2) @ EK + H.swapaxes(1, 2) @ H
        phi_g = np.where(x[:, None] > 0, -np.expm1(-2.0 * nu_g[None] * x[:, None]), 0.0)
        C[:, np.arange(nu_g.size), np.arange(nu_g.size)] += phi_g / (2.0 * nu_g[None])
        C = 0.5 * (C + C.swapaxes(1, 2))
        g_inv_t = np.linalg.inv(np.linalg.cholesky(C)).swapaxes(1, 2)
        n = self.basis.shape[0]
        coef = np.empty((x.shape[0], n, nu_g.size))
        coef[:, self._G] = g_inv_t
        coef[:, self._rest] = Z_rest @ g_inv_t
        Y = self.basis @ coef
        return DenseTrajectory(t=x, top=Y[:, : self.n_inputs], bot=Y[:, self.n_inputs :])

    def qqt(self, t: Any) -> np.ndarray:
        """``QQ^T(t)``, ``Q = [W_S^T; W_1; ...]``: (T, n, n)."""
        return self.trajectory(t).qqt()

    def network_functions(self, t: Any) -> list[np.ndarray]:
        """``W_i W_S(t)`` per task: list of (T, N_io, N_i) arrays."""
        traj = self.trajectory(t)
        return [traj.network_function(rows) for rows in self._slices]

    def losses(self, t: Any) -> np.ndarray:
        """``||Sigma_io - W_i W_S(t)||_F^2`` per task: (T, N_T).

        Anon. 2025 (ICLR'26 sub.), eq. 2 under whitened inputs, less ``tr(Sigma_yy,i)`` minus
        ``||Sigma_io||^2`` (see :meth:`tasklens.linear.dynamics.MTLDynamics.losses`).
        """
        return self.trajectory(t).squared_errors(self.xi, self._slices)

    def steady_state(self) -> np.ndarray:
        """``lim X(t) = O_G diag(2 nu_G) O_G^T``: (n, n).

        Needs a strict gap ``max nu_rest < min nu_G`` (else the limit depends on the init's
        components within the tied eigenspace; evaluate ``qqt`` at a large ``t`` instead).
        """
        nu_g, nu_r = self.eigenvalues[self._G], self.eigenvalues[self._rest]
        if nu_r.size and nu_r.max() >= nu_g.min() * (1 - 1e-12):
            raise ValueError(
                "steady_state() needs the N_s largest eigenvalues of F to be separated from the "
                "rest (a tie, e.g. a zero singular value of xi with λ > 0); use qqt(large t)"
            )
        O_g = self.basis[:, self._G]
        return (O_g * (2.0 * nu_g)[None, :]) @ O_g.T
