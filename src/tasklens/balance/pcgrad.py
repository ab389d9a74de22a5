"""PCGrad: project away the conflicting component of each gradient, pairwise."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, SeededMethod, gramian_numpy, reference_tensor


class PCGrad(SeededMethod):
    """Projecting conflicting gradients (Yu et al. 2020, "Gradient Surgery for Multi-Task
    Learning", NeurIPS, Algorithm 1; a baseline of
    Wu et al. 2026 (CORE-MTL), Sec. 4.1).

    Formula: for each task ``i``, start from ``gᵢᴾᶜ = gᵢ`` and, visiting the other tasks ``j`` in
    random order, if ``gᵢᴾᶜ · gⱼ < 0`` set ``gᵢᴾᶜ ← gᵢᴾᶜ − (gᵢᴾᶜ · gⱼ / ‖gⱼ‖²) gⱼ`` (projection on
    the normal plane of the *original* ``gⱼ``). The direction is ``Σᵢ gᵢᴾᶜ``. Each ``gᵢᴾᶜ`` stays
    in the span of the task gradients, so the method tracks its coefficients and needs only
    the Gramian. With two tasks the order is irrelevant and no pair is left in conflict.

    Scale: sum (as published).

    Head gradient: ``task`` — the PyTorch implementations in LibMTL and in the Nash-MTL code
    base (github.com/AvivNavon/nash-mtl, ``methods/weight_methods.py``:
    ``autograd.grad(losses.sum(), task_specific_parameters)``) project the shared gradients
    only. (The authors' TensorFlow code projects the gradients of all variables, heads
    included.)

    Parameters
    ----------
    seed : int, numpy Generator or None
        Randomness of the visiting order; :meth:`reset` restarts the same sequence for an int.
    """

    name = "pcgrad"
    head_gradient: ClassVar[str] = "task"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    linear_under_scaling = True
    permutation_invariant = False

    def __init__(self, *, seed: int | np.random.Generator | None = 0) -> None:
        self._set_seed(seed)

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        gram = gramian_numpy(ctx)
        total = np.zeros(k)
        for i in range(k):
            coef = np.zeros(k)
            coef[i] = 1.0
            others = [j for j in self._rng.permutation(k) if j != i]
            for j in others:
                inner = float(coef @ gram[:, j])  # gᵢᴾᶜ · gⱼ
                if inner < 0.0 and gram[j, j] > 0.0:
                    coef[j] -= inner / gram[j, j]
            total += coef
        ref = reference_tensor(ctx)
        return torch.as_tensor(total, dtype=ref.dtype, device=ref.device)
