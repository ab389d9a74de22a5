"""Tabula-rasa solution of linear MTL gradient flow and the task loadings of shared modes.

Anon. 2025 (ICLR'26 sub.), App. B.3-B.6: in the basis of the shared spectrum
``ξ = U_ξ S_ξ V_ξᵀ`` and from a tabula-rasa (small, mode-aligned) initialisation, every
shared mode ``α`` evolves on its own with effective strength ``u_α(t)`` (eq. 43, from the
scalar ODE ``τ du/dt = 2u(s - u)``, eq. 50), and task ``j`` reads mode ``α`` with the
constant loading ``γ_α^(j) = ‖rows of U_ξ for task j, column α‖`` (eq. 44/45):

``W_j W_S(t) = U_ξj diag(u(t)) V_ξᵀ`` (eq. 42).

Decisions where the paper is loose:

- Eq. 43 names its left side ``h^α`` but it is the solution of eq. 50 for ``u = h·m``
  (the effective singular value); ``h_0²`` there is ``u(0)`` for balanced ``h = m``. We call
  it ``u`` and take ``u0 = u(0)``.
- Eq. 43 as printed, ``s e^{2st/τ} / (s/u0 + e^{2st/τ} - 1)``, overflows to ``inf/inf`` for
  ``2st/τ > 709``. We evaluate the algebraically identical
  ``u0 / (e^{-x} + u0 (1 - e^{-x}) / s)`` with ``x = 2st/τ`` and ``1 - e^{-x}`` from
  ``expm1``; its ``s → 0`` limit ``u0 / (1 + 2 u0 t/τ)`` is used for zero modes.
- Eq. 42 writes ``U_1 H(t) V_ξ``; from eq. 41 it is ``U_ξ1 H(t) V_ξᵀ``.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.validation import check_array, check_scalar
from .alignment import RANK_RTOL, SharedSpectrum, shared_spectrum


def _check_tau(tau: float) -> float:
    # tau = 1 / learning rate
    return check_scalar(tau, "tau", numbers.Real, low=0.0, include_low=False, finite=True)


def mode_strength(t: Any, singular_values: Any, u0: Any = 1e-3, tau: float = 1.0) -> np.ndarray:
    """Effective strength ``u_α(t)`` of each mode (Anon. 2025 (ICLR'26 sub.), eq. 43/50).

    Solves ``τ du/dt = 2u(s - u)``, ``u(0) = u0`` in closed form, in an overflow-free
    arrangement (see the module notes), so very late times give ``u = s``.

    Parameters
    ----------
    t : (T,) array-like of times >= 0
    singular_values : (k,) array-like >= 0
        Mode strengths ``s_α`` (e.g. ``S_ξ``).
    u0 : float or (k,) array-like >= 0
        Initial strength of each mode.
    tau : float > 0
        Time constant ``τ = 1/α`` (eq. 5).

    Returns
    -------
    (T, k) array
    """
    tau = _check_tau(tau)
    times = check_array(t, "t", ndim=(0, 1)).reshape(-1)
    s = check_array(singular_values, "singular_values", ndim=(0, 1)).reshape(-1)
    u_init = np.broadcast_to(check_array(u0, "u0", ndim=(0, 1)), s.shape).astype(np.float64)
    if np.any(times < 0):
        raise ValueError("t must be >= 0; the closed form runs forward from t = 0")
    if np.any(s < 0):
        raise ValueError("singular_values must be >= 0")
    if np.any(u_init < 0):
        raise ValueError("u0 must be >= 0 (u = h·m is a squared norm for balanced weights)")
    tt = times[:, None]
    x = 2.0 * s[None, :] * tt / tau
    decay = np.exp(-x)
    with np.errstate(divide="ignore", invalid="ignore"):
        # (1 - e^{-x}) / s, with its s -> 0 limit 2t/τ
        growth = np.where(s[None, :] > 0, -np.expm1(-x) / np.where(s > 0, s, 1.0)[None, :],
                          2.0 * tt / tau)
        out = u_init[None, :] / (decay + u_init[None, :] * growth)
    return np.where(u_init[None, :] == 0, 0.0, out)


def mode_learning_time(singular_values: Any, u0: Any = 1e-3, fraction: float = 0.5,
                       tau: float = 1.0) -> np.ndarray:
    """Time at which each mode reaches ``fraction`` of its strength, ``u_α(t) = f · s_α``.

    Inverting eq. 43 gives ``t = τ/(2s) · ln[f (s - u0) / (u0 (1 - f))]``, the single-task
    learning time of Anon. 2025 (ICLR'26 sub.), eq. 77 with ``K = 1``.

    Parameters
    ----------
    singular_values : (k,) array-like >= 0
    u0 : float or (k,) array-like > 0
    fraction : float in (0, 1)
    tau : float > 0

    Returns
    -------
    (k,) array
        0 where ``u0 >= f · s`` already; ``inf`` for modes with ``s = 0``.
    """
    tau = _check_tau(tau)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    s = check_array(singular_values, "singular_values", ndim=(0, 1)).reshape(-1)
    u_init = np.broadcast_to(check_array(u0, "u0", ndim=(0, 1)), s.shape).astype(np.float64)
    if np.any(s < 0):
        raise ValueError("singular_values must be >= 0")
    if np.any(u_init <= 0):
        raise ValueError("u0 must be > 0: a mode that starts at exactly 0 is never learned")
    out = np.full(s.shape, np.inf)
    pos = s > 0
    reached = pos & (u_init >= fraction * s)
    todo = pos & ~reached
    out[reached] = 0.0
    out[todo] = tau / (2 * s[todo]) * np.log(
        fraction * (s[todo] - u_init[todo]) / (u_init[todo] * (1 - fraction)))
    return out


@dataclass(frozen=True)
class TaskLoadings:
    """How strongly each task reads each shared mode (Anon. 2025 (ICLR'26 sub.), eq. 44).

    Attributes
    ----------
    gamma : (N_T, r) array
        ``γ_α^(j)``, over the ``r`` nonzero modes of ``ξ``; each column has unit norm
        (``Σ_j (γ_α^(j))² = 1``) because ``U_ξ`` has orthonormal columns.
    task_names : tuple of str
    singular_values : (r,) array
        ``S_ξ`` of those modes.
    """

    gamma: np.ndarray
    task_names: tuple[str, ...]
    singular_values: np.ndarray

    def dominant_task(self) -> list[str]:
        """The task with the largest loading on each mode."""
        return [self.task_names[i] for i in np.argmax(self.gamma, axis=0)]

    def task_modes(self, threshold: float = 0.1) -> dict[str, list[int]]:
        """Modes each task reads with loading above ``threshold``, strongest mode first."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}")
        return {n: [int(a) for a in np.flatnonzero(self.gamma[j] > threshold)]
                for j, n in enumerate(self.task_names)}

    def effective_strengths(self) -> np.ndarray:
        """``(N_T, r)`` converged per-task strengths ``γ_α^(j) s_α`` (eq. 45 at t → ∞)."""
        return self.gamma * self.singular_values[None, :]

    def to_dict(self) -> dict[str, Any]:
        return {"task_names": list(self.task_names), "gamma": self.gamma.tolist(),
                "singular_values": self.singular_values.tolist(),
                "dominant_task": self.dominant_task()}


def _spectrum(sigmas: Any, rtol: float) -> SharedSpectrum:
    return sigmas if isinstance(sigmas, SharedSpectrum) else shared_spectrum(sigmas, rtol=rtol)


def task_loadings(sigmas: Any, *, rtol: float = RANK_RTOL) -> TaskLoadings:
    """Loadings ``γ_α^(j) = ‖[U_ξ]_{rows of j, α}‖`` of each task on each nonzero shared mode.

    Anon. 2025 (ICLR'26 sub.), eq. 44: a mode with ``γ^(1) ≫ γ^(2)`` is used mostly by
    task 1; ``γ^(1) ≈ γ^(2)`` means the mode is shared equally.

    Parameters
    ----------
    sigmas : SharedSpectrum, TaskCorrelations, mapping of str to (N_io, N_i) array, or list
    rtol : float
        Relative threshold for nonzero modes (ignored for a SharedSpectrum).
    """
    spec = _spectrum(sigmas, rtol)
    r = spec.rank
    gamma = np.vstack([np.linalg.norm(spec.u_task(n)[:, :r], axis=0) for n in spec.task_names])
    return TaskLoadings(gamma, spec.task_names, spec.singular_values[:r].copy())


@dataclass(frozen=True)
class TabulaRasaSolution:
    """Closed-form tabula-rasa trajectory of a two-layer linear MTL network.

    Attributes
    ----------
    times : (T,) array
    mode_strengths : (T, r) array
        ``u_α(t)`` of the ``r`` nonzero shared modes (eq. 43).
    task_strengths : (T, N_T, r) array
        ``γ_α^(j) u_α(t)`` (eq. 45): strength of mode ``α`` in task ``j``'s map.
    losses : (T, N_T) array
        Excess loss ``‖Σ_jo - W_j W_S(t)‖_F² = Σ_α (γ_α^(j))² (s_α - u_α(t))²`` of each
        task; with whitened inputs the MSE of eq. 2 is this plus the constant
        ``tr(Σ_yy,j) - ‖Σ_jo‖_F²``.
    loadings : TaskLoadings
    spectrum : SharedSpectrum
    u0 : (r,) array
    tau : float
    """

    times: np.ndarray
    mode_strengths: np.ndarray
    task_strengths: np.ndarray
    losses: np.ndarray
    loadings: TaskLoadings
    spectrum: SharedSpectrum
    u0: np.ndarray
    tau: float

    @property
    def task_names(self) -> tuple[str, ...]:
        return self.spectrum.task_names

    def network_function(self, task: str, index: int = -1) -> np.ndarray:
        """``W_j W_S`` at ``times[index]``: ``U_ξj diag(u) V_ξᵀ`` (eq. 42), ``(N_jo, N_i)``."""
        r = self.spectrum.rank
        u = self.mode_strengths[index]
        return (self.spectrum.u_task(task)[:, :r] * u) @ self.spectrum.v[:, :r].T

    def to_dict(self) -> dict[str, Any]:
        return {"task_names": list(self.task_names), "times": self.times.tolist(),
                "mode_strengths": self.mode_strengths.tolist(),
                "losses": self.losses.tolist(), "u0": self.u0.tolist(), "tau": self.tau,
                "loadings": self.loadings.to_dict()}


def tabula_rasa_solution(sigmas: Any, times: Any, *, u0: Any = 1e-3, tau: float = 1.0,
                         rtol: float = RANK_RTOL) -> TabulaRasaSolution:
    """Mode strengths, per-task strengths and losses over time (App. B.3-B.4, eq. 42-45).

    Assumes whitened inputs and a tabula-rasa initialisation: the network starts as
    ``W_j W_S(0) = U_ξj diag(u0) V_ξᵀ`` with balanced, mode-aligned layers.

    Parameters
    ----------
    sigmas : SharedSpectrum, TaskCorrelations, mapping of str to (N_io, N_i) array, or list
    times : (T,) array-like >= 0
    u0 : float or (r,) array-like >= 0
        Initial strength of each nonzero mode.
    tau : float > 0
    rtol : float
        Relative threshold for nonzero modes.
    """
    spec = _spectrum(sigmas, rtol)
    loadings = task_loadings(spec)
    r = spec.rank
    s = spec.singular_values[:r]
    u_init = np.broadcast_to(check_array(u0, "u0", ndim=(0, 1)), s.shape).astype(np.float64)
    t = check_array(times, "times", ndim=1)
    u = mode_strength(t, s, u_init, tau)
    strengths = loadings.gamma[None, :, :] * u[:, None, :]
    # ‖U_ξj diag(s-u) V_ξᵀ‖²_F = Σ_α (γ_α^(j))² (s_α - u_α)² since V_ξ has orthonormal columns
    losses = ((s[None, :] - u) ** 2) @ (loadings.gamma**2).T
    return TabulaRasaSolution(t.copy(), u, strengths, losses, loadings, spec, u_init.copy(),
                              float(tau))
