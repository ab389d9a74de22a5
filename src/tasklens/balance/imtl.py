"""IMTL: learned loss scales (IMTL-L) combined with impartial gradient weights (IMTL-G)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real, gramian_numpy, reference_tensor
from .imtl_g import IMTLG


class IMTL(BalanceMethod):
    """Impartial multi-task learning, hybrid (Liu et al. 2021, "Towards Impartial Multi-task
    Learning", ICLR, Sec. 3.1–3.3 and Algorithm 1).

    Formula: IMTL-L scales every raw loss as ``L̃ᵢ = e^{sᵢ} Lᵢ − sᵢ`` with learnable ``s``
    (initially 0); minimising ``L̃ᵢ`` over ``sᵢ`` drives ``e^{sᵢ} Lᵢ → 1`` (scaled losses equal).
    The scaled-loss gradients ``e^{sᵢ} gᵢ`` then go to IMTL-G (:class:`IMTLG`): weights ``α``
    with ``Σ αᵢ = 1`` and equal projections onto every unit scaled gradient, computed from the
    scaled Gramian ``D G D`` (``D = diag(e^{s})``). The shared direction is
    ``Σᵢ αᵢ e^{sᵢ} gᵢ``: task weights ``wᵢ = αᵢ e^{sᵢ}``. :meth:`update` takes one Adam step on
    ``s`` with ``∂L̃ᵢ/∂sᵢ = e^{sᵢ} Lᵢ − 1`` (the paper trains ``s`` with the network's
    optimiser, by gradient descent on ``L̃``).

    IMTL-G is invariant to a per-task rescaling of the gradients up to a global factor, so on
    the shared parameters the loss scales change only the step length; in the paper their role
    is to scale the task-specific (head) gradients ``e^{sᵢ} ∇Lᵢ``.

    Head gradient: ``scaled`` with ``c_k = e^{s_k}`` (:meth:`head_scales`): head ``k``
    receives ``e^{s_k} ∇L_k``, the gradient of the scaled loss ``L̃_k``, as in the paper and
    LibMTL's ``IMTL`` (which backpropagates ``e^{s} L − s``). The ``s`` is that of the same
    step, before :meth:`update` moves it — in LibMTL too the backward uses the current
    ``loss_scale`` and the optimiser updates it afterwards.

    Scale: sum convention — weights ``K αᵢ e^{sᵢ}`` (``s = 0``: exactly ``imtl_g``).

    Parameters
    ----------
    lr : float
        Adam learning rate for ``s`` (1e-3).
    """

    name = "imtl"
    requires: ClassVar[frozenset[str]] = frozenset({"losses", "gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True
    update_requires: ClassVar[frozenset[str]] = frozenset({"losses"})
    head_gradient: ClassVar[str] = "scaled"

    def __init__(self, *, lr: float = 1e-3) -> None:
        self.lr = check_real(lr, "lr", low=0.0, low_open=True)
        self.reset()

    def reset(self) -> None:
        self._scale: torch.Tensor | None = None
        self._optim: torch.optim.Optimizer | None = None

    @property
    def loss_scales(self) -> Tensor | None:
        """Current ``s`` (K,), or None before the first call."""
        return None if self._scale is None else self._scale.detach().clone()

    def _ensure(self, k: int) -> torch.Tensor:
        if self._scale is None or len(self._scale) != k:
            self._scale = torch.zeros(k, dtype=torch.float64, requires_grad=True)
            self._optim = torch.optim.Adam([self._scale], lr=self.lr)
        return self._scale

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        factor = torch.exp(self._ensure(k).detach())
        gram = torch.as_tensor(gramian_numpy(ctx))  # float64: no overflow of float32 squares
        scaled = BalanceContext(gramian=factor[:, None] * gram * factor[None, :])
        w = IMTLG().weights(scaled) * factor
        ref = reference_tensor(ctx)
        return w.to(dtype=ref.dtype, device=ref.device)

    def head_scales(self, ctx: BalanceContext) -> Tensor:
        """``c_k = e^{s_k}`` (K,) with the current ``s`` (that of this step's weights)."""
        k = self._check_context(ctx)
        ref = reference_tensor(ctx)
        return torch.exp(self._ensure(k).detach()).to(dtype=ref.dtype, device=ref.device)

    def update(self, ctx: BalanceContext) -> None:
        """One Adam step on ``s`` with the step's (detached, raw) losses."""
        if not isinstance(ctx, BalanceContext) or ctx.losses is None:
            raise ValueError("IMTL.update() needs a BalanceContext with the step's losses")
        k = len(ctx.losses)
        self.check_num_tasks(k)
        scale = self._ensure(k)
        assert self._optim is not None
        losses = ctx.losses.detach().to("cpu", torch.float64)
        self._optim.zero_grad()
        (torch.exp(scale) * losses - scale).sum().backward()
        self._optim.step()
