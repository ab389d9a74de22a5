"""What Nash-MTL and FairGrad share: the α-fair weights, and what to do when they do not exist.

The weights solve ``G w = w^(−1/α)`` (elementwise). There is no positive solution when the task
gradients can cancel out with positive weights (e.g. two exactly opposite gradients, a task
whose gradient is zero, all gradients zero); near that situation the weights run away (the
solver's ``w`` grows without bound) and the update ``Jᵀ w`` becomes a difference of huge,
nearly cancelling terms.

Decisions (never crash mid-run):

* **No solution** — keep the previous step's weights and log a warning on
  ``logging.getLogger("tasklens")`` naming the step and epoch, as the authors' Nash-MTL code
  does when its solver fails (it falls back to the previous ``α``). We keep the previous weights
  *of the unit-mean-diagonal Gramian* and rescale them to this step's gradient scale, so that
  the update has the size the method would give it; before any solution, all-ones (the
  authors' initial ``α``). :attr:`AlphaFairMethod.fallbacks` counts these steps.
* **Runaway weights** — the *cancellation factor* ``κ = Σᵢ wᵢ ‖gᵢ‖ / ‖Σᵢ wᵢ gᵢ‖ ≥ 1``
  (from the Gramian) says how much larger the summed terms are than the update: the update
  keeps about ``−log10(ε κ)`` correct digits (``ε ≈ 6e-8`` in float32). A warning is logged
  when ``κ`` first exceeds :attr:`AlphaFairMethod.cancellation_warning` (1e3, i.e. fewer than
  ~4 correct digits in float32) and again after it has come back below.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, gramian_numpy, reference_tensor
from ._solvers import NoFairSolutionError, alpha_fair_normalized, alpha_fair_unscale, gramian_scale

logger = logging.getLogger("tasklens")


def cancellation_factor(gram: np.ndarray, w: np.ndarray) -> float:
    """``κ = Σᵢ |wᵢ| ‖gᵢ‖ / ‖Σᵢ wᵢ gᵢ‖`` from the Gramian (``inf`` when the update is zero).

    Parameters
    ----------
    gram : (K, K) array
    w : (K,) array
    """
    norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
    total = float(np.abs(w) @ norms)
    update = float(np.sqrt(max(float(w @ gram @ w), 0.0)))
    if total == 0.0:
        return 1.0
    return total / update if update > 0.0 else float("inf")


class AlphaFairMethod(BalanceMethod):
    """Base of Nash-MTL and FairGrad: weights from ``G w = w^(−1/α)`` with a fallback.

    Subclasses set :attr:`fairness` (their ``α``). See the module docstring for the behaviour
    when the weights do not exist or run away.
    """

    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True
    #: κ above which a warning is logged (see the module docstring).
    cancellation_warning: ClassVar[float] = 1e3

    @property
    def fairness(self) -> float:
        """``α`` of the fairness condition."""
        raise NotImplementedError

    @property
    def fallbacks(self) -> int:
        """Number of calls since :meth:`reset` that reused the previous weights."""
        return self._fallbacks

    def reset(self) -> None:
        self._normalized: np.ndarray | None = None
        self._fallbacks = 0
        self._cancelling = False

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        gram = gramian_numpy(ctx)
        scale = gramian_scale(gram)
        try:
            if scale <= 0.0:
                raise NoFairSolutionError("every task gradient is zero", float("inf"))
            normalized = alpha_fair_normalized(gram / scale, self.fairness)
        except NoFairSolutionError as exc:
            normalized = self._fallback(k, ctx, exc)
        else:
            self._normalized = normalized
            self._watch_cancellation(gram / scale, normalized, ctx)
        w = normalized * alpha_fair_unscale(scale, self.fairness) if scale > 0.0 else normalized
        ref = reference_tensor(ctx)
        return torch.as_tensor(w, dtype=ref.dtype, device=ref.device)

    def _fallback(self, k: int, ctx: BalanceContext, exc: NoFairSolutionError) -> np.ndarray:
        self._fallbacks += 1
        previous = self._normalized is not None and len(self._normalized) == k
        logger.warning(
            "%s: step %d (epoch %d): %s; using the %s weights instead (%d such step(s) so far)",
            self.name, ctx.step, ctx.epoch, exc,
            "previous step's" if previous else "initial (all-ones)", self._fallbacks,
        )
        return self._normalized.copy() if previous else np.ones(k)  # type: ignore[union-attr]

    def _watch_cancellation(self, g: np.ndarray, w: np.ndarray, ctx: BalanceContext) -> None:
        kappa = cancellation_factor(g, w)
        above = kappa > self.cancellation_warning
        if above and not self._cancelling:
            logger.warning(
                "%s: step %d (epoch %d): the task gradients nearly cancel: the weighted "
                "terms (weights %s on the unit-mean-diagonal scale) are %.3g times larger "
                "than the update they produce, so the update keeps about %.0f correct digits "
                "in float32; consider float64, a larger batch or another method",
                self.name, ctx.step, ctx.epoch, np.array2string(w, precision=3),
                kappa, max(0.0, -np.log10(np.finfo(np.float32).eps * kappa)),
            )
        self._cancelling = above
