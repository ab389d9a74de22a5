"""GradDrop: keep, per coordinate, only the gradients of one randomly chosen sign."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, SeededMethod, check_real


class GradDrop(SeededMethod):
    """Gradient sign dropout (Chen et al. 2020, "Just Pick a Sign: Optimizing Deep Multitask
    Models with Gradient Sign Dropout", NeurIPS, Algorithm 1, lines 10–15).

    Formula: per coordinate ``p``, the positive sign purity
    ``Pₚ = ½ (1 + Σᵢ Jᵢₚ / Σᵢ |Jᵢₚ|)``; draw ``Uₚ ~ U(0, 1)``; the mask keeps task ``i`` at
    ``p`` when ``Pₚ > Uₚ`` and ``Jᵢₚ > 0``, or ``Pₚ < Uₚ`` and ``Jᵢₚ < 0``; the direction is
    ``Σᵢ (ℓᵢ + (1 − ℓᵢ) Mᵢ) ⊙ gᵢ`` with leak ``ℓ``. Coordinates where every gradient is zero
    stay zero. Elementwise, so it needs the Jacobian and returns a direction.

    Scale: sum (as published); with leak 1, or when all gradients agree in sign
    coordinatewise, it is exactly EW.

    Head gradient: ``task`` — a direction method applied to the shared gradients; heads receive
    ``∇L_k`` (as in LibMTL's GradDrop).

    Parameters
    ----------
    leak : float
        Leak ``ℓ`` in [0, 1] shared by all tasks (0 in the paper).
    seed : int, numpy Generator or None
        Randomness of ``U``.
    """

    name = "graddrop"
    head_gradient: ClassVar[str] = "task"
    requires: ClassVar[frozenset[str]] = frozenset({"jacobian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    output = "direction"

    def __init__(self, *, leak: float = 0.0, seed: int | np.random.Generator | None = 0) -> None:
        self.leak = check_real(leak, "leak", low=0.0, high=1.0)
        self._set_seed(seed)

    def direction(self, ctx: BalanceContext) -> Tensor:
        self._check_context(ctx)
        jac = ctx.jacobian
        assert jac is not None  # _check_context guarantees it
        abs_sum = jac.abs().sum(dim=0)
        safe = torch.where(abs_sum > 0, abs_sum, torch.ones_like(abs_sum))
        purity = 0.5 * (1.0 + jac.sum(dim=0) / safe)
        uniform = torch.as_tensor(
            self._rng.random(jac.shape[1]), dtype=jac.dtype, device=jac.device
        )
        mask = ((purity > uniform) & (jac > 0)) | ((purity < uniform) & (jac < 0))
        keep = self.leak + (1.0 - self.leak) * mask.to(jac.dtype)
        return (keep * jac).sum(dim=0)
