"""The four exact paths of :class:`tasklens.linear.dynamics.MTLDynamics` as solver objects.

``MTLDynamics`` decides once which path applies (``.method``) and dispatches its
``trajectory``, ``losses`` and ``steady_state`` to that path's object, instead of comparing
``self.method`` in every method. Each path reads the problem it was built for (the
``MTLDynamics`` instance: basis, init factors, cached constants).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tasklens.linear.lambda_balanced import DenseTrajectory
from tasklens.linear.riccati import closed_form_factors, saddle_limit, semigroup_factors
from tasklens.linear.riccati_losses import LossConstants, closed_form_losses
from tasklens.linear.simulate import gradient_flow

if TYPE_CHECKING:
    from tasklens.linear.dynamics import MTLDynamics

LOSS_ENTRIES = 51_200  # time points x k^2 per batch in the closed-form losses


class Path:
    """One exact path: the factored trajectory, the task losses and the limit."""

    name = ""

    def trajectory(self, dyn: MTLDynamics, times: np.ndarray) -> Any:
        """The factored trajectory ``Q Q^T(t) = Y Y^T`` at ``times`` (already checked)."""
        raise NotImplementedError

    def losses(self, dyn: MTLDynamics, times: np.ndarray) -> np.ndarray:
        """(T, N_T) squared errors ``||Sigma_io - W_i W_S(t)||_F^2``."""
        return self.trajectory(dyn, times).squared_errors(dyn.xi, dyn._slices)

    def steady_state(self, dyn: MTLDynamics) -> np.ndarray:
        raise ValueError(
            "steady_state() has no closed form for a non-zero-balanced init (method='ode'); "
            "evaluate qqt(t) at a large t instead"
        )


class ClosedForm(Path):
    """Theorem 2 (eq. 18-22), vectorised over time points."""

    name = "closed_form"

    def trajectory(self, dyn: MTLDynamics, times: np.ndarray) -> Any:
        return closed_form_factors(dyn.basis, dyn._U0, dyn._S0, dyn._V0, times / dyn.tau,
                                   constants=dyn._closed_form_constants())

    def losses(self, dyn: MTLDynamics, times: np.ndarray) -> np.ndarray:
        if dyn.n_outputs <= dyn.n_inputs:
            # U is square: the k x k trace formula of closed_form_losses (no factors)
            if dyn._loss_constants is None:
                dyn._loss_constants = LossConstants.build(
                    dyn.basis, dyn._closed_form_constants(), dyn._slices
                )
            return closed_form_losses(dyn.basis.S, dyn._loss_constants, times / dyn.tau)
        # Time points are independent here: blocks of ~LOSS_ENTRIES / k^2 points keep every
        # temporary small (cache-resident, no page faults); measured ~1.4x faster for k=20.
        size = max(64, LOSS_ENTRIES // dyn.basis.k**2)
        out = np.empty((times.shape[0], len(dyn._slices)))
        for start in range(0, times.shape[0], size):
            block = slice(start, start + size)
            out[block] = self.trajectory(dyn, times[block]).squared_errors(dyn.xi, dyn._slices)
        return out

    def steady_state(self, dyn: MTLDynamics) -> np.ndarray:
        b = dyn.basis
        Y = np.concatenate([b.V, b.U], axis=0)
        return (Y * b.S[None, :]) @ Y.T


class Semigroup(Path):
    """Exact stepping of the Riccati flow (any zero-balanced init)."""

    name = "semigroup"

    def trajectory(self, dyn: MTLDynamics, times: np.ndarray) -> Any:
        top, bot = dyn._factor_top_bottom()
        return semigroup_factors(dyn.basis, top, bot, times / dyn.tau, max_step=dyn.max_step)

    def steady_state(self, dyn: MTLDynamics) -> np.ndarray:
        top, bot = dyn._factor_top_bottom()
        return saddle_limit(dyn.basis, top, bot)


class LambdaBalanced(Path):
    """The closed form from a λ-balanced init (:mod:`tasklens.linear.lambda_balanced`)."""

    name = "lambda_balanced"

    def trajectory(self, dyn: MTLDynamics, times: np.ndarray) -> Any:
        assert dyn._lambda_solution is not None
        return dyn._lambda_solution.trajectory(times)

    def steady_state(self, dyn: MTLDynamics) -> np.ndarray:
        assert dyn._lambda_solution is not None
        return dyn._lambda_solution.steady_state()


class Ode(Path):
    """Numerical integration of eq. 5 (no Riccati form holds)."""

    name = "ode"

    def trajectory(self, dyn: MTLDynamics, times: np.ndarray) -> Any:
        flow = gradient_flow(dyn.sigmas, dyn.W_S0, list(dyn.heads0), times, tau=dyn.tau)
        bot = np.concatenate(flow.heads, axis=1)
        return DenseTrajectory(t=times / dyn.tau, top=flow.shared.swapaxes(1, 2), bot=bot)


PATHS: dict[str, Path] = {p.name: p for p in (ClosedForm(), Semigroup(), LambdaBalanced(), Ode())}
