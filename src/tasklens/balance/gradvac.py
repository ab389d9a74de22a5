"""GradVac: steer pairwise gradient similarity towards a running target."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, SeededMethod, check_real, gramian_numpy, reference_tensor


class GradVac(SeededMethod):
    """Gradient Vaccine (Wang et al. 2021, "Gradient Vaccine: Investigating and Improving
    Multi-task Optimization in Massively Multilingual Models", ICLR, Sec. 3.2, eq. 2–3).

    Formula: for each task ``i`` and each other task ``j`` (random order), with
    ``φᵢⱼ = cos(gᵢᴾᶜ, gⱼ)`` and the target ``φ̂ᵢⱼ`` (EMA, initially 0): if ``φᵢⱼ < φ̂ᵢⱼ``,
    ``gᵢᴾᶜ ← gᵢᴾᶜ + ‖gᵢᴾᶜ‖ (φ̂ᵢⱼ √(1−φᵢⱼ²) − φᵢⱼ √(1−φ̂ᵢⱼ²)) / (‖gⱼ‖ √(1−φ̂ᵢⱼ²)) gⱼ``, which
    raises the cosine to exactly ``φ̂ᵢⱼ``; then ``φ̂ᵢⱼ ← (1−β) φ̂ᵢⱼ + β φᵢⱼ``. Direction
    ``Σᵢ gᵢᴾᶜ``. Coefficients are tracked in the span of the gradients (Gramian only). With the
    initial target 0 the first call equals PCGrad.

    Scale: sum (as published).

    Head gradient: ``task`` — no official code was released; LibMTL's GradVac
    (``rep_grad=False``) backpropagates every task loss and rewrites only the shared gradients,
    leaving heads ``∇ Σ_k L_k``.

    Parameters
    ----------
    beta : float
        EMA rate in [0, 1] (1e-2 in the paper; LibMTL and TorchJD default to 0.5).
    eps : float
        Added to denominators.
    seed : int, numpy Generator or None
        Randomness of the visiting order.
    """

    name = "gradvac"
    head_gradient: ClassVar[str] = "task"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True
    permutation_invariant = False

    def __init__(
        self, *, beta: float = 0.01, eps: float = 1e-8, seed: int | np.random.Generator | None = 0
    ) -> None:
        self.beta = check_real(beta, "beta", low=0.0, high=1.0)
        self.eps = check_real(eps, "eps", low=0.0)
        self._set_seed(seed)

    def reset(self) -> None:
        super().reset()
        self._target: np.ndarray | None = None

    @property
    def target(self) -> np.ndarray | None:
        """Current EMA targets ``φ̂`` (K, K), or None before the first call."""
        return None if self._target is None else self._target.copy()

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        gram = gramian_numpy(ctx)
        if self._target is None or self._target.shape[0] != k:
            self._target = np.zeros((k, k))
        norms = np.sqrt(np.clip(np.diag(gram), 0.0, None))
        coefs = np.eye(k)
        for i in range(k):
            c = coefs[i]
            for j in (j for j in self._rng.permutation(k) if j != i):
                inner = float(c @ gram[:, j])
                norm_i = np.sqrt(max(float(c @ gram @ c), 0.0))
                phi = inner / (norm_i * norms[j] + self.eps)
                target = self._target[i, j]
                if phi < target:
                    root_phi = np.sqrt(max(1.0 - phi**2, 0.0))
                    root_target = np.sqrt(max(1.0 - target**2, 0.0))
                    step = norm_i * (target * root_phi - phi * root_target)
                    c[j] += step / (norms[j] * root_target + self.eps)
                self._target[i, j] = (1.0 - self.beta) * target + self.beta * phi
        ref = reference_tensor(ctx)
        return torch.as_tensor(coefs.sum(axis=0), dtype=ref.dtype, device=ref.device)
