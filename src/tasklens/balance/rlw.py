"""RLW: random loss weights, redrawn every step."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, SeededMethod, reference_tensor


class RLW(SeededMethod):
    """Random loss weighting (Lin et al. 2022, "Reasonable Effectiveness of Random Weighting:
    A Litmus Test for Multi-Task Learning", TMLR, Sec. 3, eq. 2; a baseline of
    Wu et al. 2026 (CORE-MTL), Sec. 4.1).

    Formula: each step draws ``z ~ N(0, I_K)`` and uses ``λ = softmax(z)`` (the paper's default
    distribution).

    Scale: sum convention — weights ``K softmax(z)`` (mean 1, like EW).

    Head gradient: ``weighted`` — the gradient of the sampled objective ``Σ_k w_k L_k`` (Lin et
    al. 2022; LibMTL's RLW backpropagates ``Σ_k w_k L_k``).

    Parameters
    ----------
    seed : int, numpy Generator or None
        Randomness of ``z``; :meth:`reset` restarts the sequence for an int seed.
    """

    name = "rlw"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset()
    permutation_invariant = False

    def __init__(self, *, seed: int | np.random.Generator | None = 0) -> None:
        self._set_seed(seed)

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        z = self._rng.standard_normal(k)
        z = np.exp(z - z.max())
        ref = reference_tensor(ctx)
        return torch.as_tensor(k * z / z.sum(), dtype=ref.dtype, device=ref.device)
