"""STCH: smooth Tchebycheff scalarisation of the task losses."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real, reference_tensor


class STCH(BalanceMethod):
    """Smooth Tchebycheff scalarisation (Lin et al. 2024, "Smooth Tchebycheff Scalarization for
    Multi-Objective Optimization", ICML, eq. 8; a baseline of
    001_04ca9f643fb64e21.txt, Sec. 4.1).

    Formula: ``g_μ(L) = μ log Σᵢ exp(λᵢ (Lᵢ − zᵢ*) / μ)``, with gradient weights
    ``∂g_μ/∂Lᵢ = λᵢ softmaxᵢ(λ ⊙ (L − z*) / μ)``. ``μ → 0`` recovers the (non-smooth)
    Tchebycheff max, ``μ → ∞`` the linear scalarisation ``Σ λᵢ Lᵢ / K``.

    Scale: sum convention — weights ``K λᵢ softmaxᵢ(…)``; with the default ``λ = 1`` they tend
    to EW as ``μ → ∞``. (The paper's simplex preference ``λ = 1/K`` is the same as ``λ = 1``
    with ``μ`` multiplied by K.)

    Head gradient: ``weighted`` — the gradient of the smooth Tchebycheff scalarisation (Lin et
    al. 2024's code backpropagates it).

    Parameters
    ----------
    mu : float
        Smoothing ``μ > 0`` (1.0, LibMTL's STCH default; the paper tunes it).
    pref : sequence of float or None
        Preference ``λ`` (K,), positive; ``None`` means all ones.
    ideal : sequence of float or None
        Ideal point ``z*`` (K,); ``None`` means zeros (losses are non-negative).
    """

    name = "stch"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"losses"})

    def __init__(
        self,
        *,
        mu: float = 1.0,
        pref: tuple[float, ...] | None = None,
        ideal: tuple[float, ...] | None = None,
    ) -> None:
        self.mu = check_real(mu, "mu", low=0.0, low_open=True)
        self.pref = _as_vector(pref, "pref", positive=True)
        self.ideal = _as_vector(ideal, "ideal", positive=False)

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        assert ctx.losses is not None
        losses = ctx.losses.detach().to("cpu", torch.float64).numpy()
        pref = np.ones(k) if self.pref is None else np.asarray(self.pref)
        ideal = np.zeros(k) if self.ideal is None else np.asarray(self.ideal)
        for name, vec in (("pref", pref), ("ideal", ideal)):
            if len(vec) != k:
                raise ValueError(f"{name} has {len(vec)} entries but there are {k} tasks")
        logits = pref * (losses - ideal) / self.mu
        e = np.exp(logits - logits.max())
        ref = reference_tensor(ctx)
        return torch.as_tensor(k * pref * e / e.sum(), dtype=ref.dtype, device=ref.device)


def _as_vector(value: tuple[float, ...] | None, name: str, *, positive: bool) -> tuple | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        want = "positive finite" if positive else "finite"
        raise ValueError(f"{name} must be a 1-D sequence of {want} values, got {value}")
    return tuple(float(x) for x in arr)
