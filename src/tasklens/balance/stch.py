"""STCH: smooth Tchebycheff scalarisation of the task losses."""

from __future__ import annotations

import numbers
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from tasklens._common.validation import check_scalar

from ._base import BalanceContext, BalanceMethod, check_positive_losses, check_real

MODES: tuple[str, ...] = ("log", "raw")


class STCH(BalanceMethod):
    """Smooth Tchebycheff scalarisation (Lin et al. 2024, "Smooth Tchebycheff Scalarization for
    Multi-Objective Optimization", ICML, eq. 8 and its multi-task learning experiments; a
    baseline of Wu et al. 2026 (CORE-MTL), Sec. 4.1). Official code: ``Xi-L/STCH``,
    ``STCH_MTL/LibMTL/weighting/STCH.py`` (identical in LibMTL).

    Formula: ``g_μ(f) = μ log Σᵢ exp(λᵢ (fᵢ − zᵢ*) / μ)``, whose gradient weights
    are ``∂g_μ/∂fᵢ = λᵢ softmaxᵢ(λ ⊙ (f − z*) / μ)``. ``μ → 0`` recovers the (non-smooth)
    Tchebycheff max, ``μ → ∞`` the linear scalarisation ``Σ λᵢ fᵢ / K``.

    ``mode="log"`` (default) — the official multi-task procedure, by epoch
    (``BalanceContext.epoch``, 0-based) with ``W = warmup_epochs``:

    - epochs ``< W`` and ``= W``: minimise ``Σᵢ log Lᵢ`` (weights ``1 / Lᵢ``); the losses of
      every step of epoch ``W`` are recorded by :meth:`update`;
    - epochs ``> W``: the nadir ``n`` is the mean of the losses recorded in epoch ``W``, the
      objectives are ``fᵢ = log(Lᵢ / nᵢ)`` with ideal point ``z* = 0``, and the objective is
      ``K g_μ(f)``; its weights on ``Lᵢ`` are ``K λᵢ softmaxᵢ(λ ⊙ f / μ) / Lᵢ``.

    So the warm-up lasts ``W + 1`` epochs, as in the official code. A loop that never sets
    ``epoch`` stays in the warm-up; one that skips epoch ``W`` (no recorded loss) gets an
    error. ``mode="raw"``: eq. 8 on the raw losses, ``fᵢ = Lᵢ`` with ideal ``z*`` (default 0),
    no warm-up, weights ``K λᵢ softmaxᵢ(λ ⊙ (L − z*) / μ)``; ``μ`` was chosen by the paper for
    the log form, so it needs re-tuning to the losses' scale.

    Decision: the official code takes ``log(Lᵢ/nᵢ + 10⁻²⁰)`` and ``log(Lᵢ + 10⁻²⁰)``; we require
    ``Lᵢ > 0`` and drop the 10⁻²⁰ (a relative difference below 10⁻¹⁹ for losses ≥ 10⁻¹).

    Scale: the official objective's — ``Σ log L`` in the warm-up, ``K g_μ`` after, so that
    ``λ = 1`` and ``μ → ∞`` tend to ``Σ log(Lᵢ/nᵢ)``; raw mode is on the sum scale (it tends to
    EW). (The paper's simplex preference ``λ = 1/K`` is the same as ``λ = 1`` with ``μ``
    multiplied by K.)

    Head gradient: ``weighted`` — the gradient of the smooth Tchebycheff scalarisation (Lin et
    al. 2024's code backpropagates it).

    Parameters
    ----------
    mu : float
        Smoothing ``μ > 0`` (1.0, the official ``--STCH_mu`` default).
    warmup_epochs : int
        ``W ≥ 0`` (4, the official ``--STCH_warmup_epoch`` default); log mode only.
    mode : {"log", "raw"}
        The official log-nadir procedure, or eq. 8 on the raw losses.
    pref : sequence of float or None
        Preference ``λ`` (K,), positive; ``None`` means all ones (the official code).
    ideal : sequence of float or None
        Ideal point ``z*`` (K,) of raw mode; ``None`` means zeros (losses are non-negative).
    """

    name = "stch"
    head_gradient: ClassVar[str] = "weighted"
    requires: ClassVar[frozenset[str]] = frozenset({"losses"})
    stateful = True

    def __init__(
        self,
        *,
        mu: float = 1.0,
        warmup_epochs: int = 4,
        mode: str = "log",
        pref: tuple[float, ...] | None = None,
        ideal: tuple[float, ...] | None = None,
    ) -> None:
        self.mu = check_real(mu, "mu", low=0.0, low_open=True)
        self.warmup_epochs = int(
            check_scalar(warmup_epochs, "warmup_epochs", numbers.Integral, low=0))
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.pref = _as_vector(pref, "pref", positive=True)
        self.ideal = _as_vector(ideal, "ideal", positive=False)
        if self.ideal is not None and mode == "log":
            raise ValueError(
                "ideal applies to mode='raw' only; in mode='log' the ideal point is 0 in the "
                "log(L / nadir) space. Drop ideal= or pass mode='raw'"
            )
        self.reset()

    def reset(self) -> None:
        self._loss_sum: Tensor | None = None
        self._loss_count = 0

    def update(self, ctx: BalanceContext) -> None:
        """Record the step's losses while in epoch ``W`` (the nadir epoch) of log mode."""
        if self.mode != "log" or ctx.epoch != self.warmup_epochs or ctx.losses is None:
            return
        losses = ctx.losses.detach().to("cpu", torch.float64)
        if self._loss_sum is None or self._loss_sum.shape != losses.shape:
            self._loss_sum, self._loss_count = torch.zeros_like(losses), 0
        self._loss_sum = self._loss_sum + losses
        self._loss_count += 1

    def nadir(self) -> Tensor | None:
        """The nadir ``n`` (K,) once epoch ``W`` was recorded (float64), else None."""
        if self._loss_sum is None or self._loss_count == 0:
            return None
        return self._loss_sum / self._loss_count

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        assert ctx.losses is not None
        ref = ctx.losses
        losses = ctx.losses.detach().to("cpu", torch.float64)
        pref = torch.ones(k, dtype=torch.float64) if self.pref is None else self._vector(
            self.pref, "pref", k)
        if self.mode == "raw":
            ideal = torch.zeros(k, dtype=torch.float64) if self.ideal is None else self._vector(
                self.ideal, "ideal", k)
            w = k * pref * torch.softmax(pref * (losses - ideal) / self.mu, dim=0)
            return w.to(dtype=ref.dtype, device=ref.device)
        losses = check_positive_losses(losses, self.name)
        if ctx.epoch <= self.warmup_epochs:
            return (1.0 / losses).to(dtype=ref.dtype, device=ref.device)  # ∇ Σ log L
        nadir = self.nadir()
        if nadir is None or len(nadir) != k:
            raise ValueError(
                f"STCH (mode='log') reached epoch {ctx.epoch} without the losses of epoch "
                f"{self.warmup_epochs} (its nadir epoch) recorded; call update(ctx) after every "
                "step with ctx.epoch set (the Trainer and tasklens.balance.backward do), or use "
                "mode='raw'"
            )
        objectives = torch.log(losses / nadir)
        w = k * pref * torch.softmax(pref * objectives / self.mu, dim=0) / losses
        return w.to(dtype=ref.dtype, device=ref.device)

    @staticmethod
    def _vector(values: tuple[float, ...], name: str, k: int) -> Tensor:
        if len(values) != k:
            raise ValueError(f"{name} has {len(values)} entries but there are {k} tasks")
        return torch.tensor(values, dtype=torch.float64)


def _as_vector(value: tuple[float, ...] | None, name: str, *, positive: bool) -> tuple | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        want = "positive finite" if positive else "finite"
        raise ValueError(f"{name} must be a 1-D sequence of {want} values, got {value}")
    return tuple(float(x) for x in arr)
