"""CR-MOGM: smooth the weights of a Gramian-based method by an exponential moving average."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, BalanceMethod, check_real, reference_tensor


class CRMOGM(BalanceMethod):
    """Correlation-reduced multi-objective gradient manipulation (Zhou et al. 2022, "On the
    Convergence of Stochastic Multi-Objective Gradient Manipulation and Beyond", NeurIPS).

    Formula: with ``λ̂ₖ`` the weights of a base method (MGDA by default) at step ``k``, the
    weights used are ``λₖ = α λₖ₋₁ + (1 − α) λ̂ₖ`` with ``λ₀ = λ̂₁`` (so the first step uses the
    base weights). Smoothing decorrelates the weights from the step's stochastic gradients,
    which is what makes the paper's convergence proof go through; their Corollary 1 lets ``α``
    grow towards 1 as the learning rate decays — assign :attr:`alpha` between steps for that.

    Scale: that of the base method (sum convention for every registered one).

    Parameters
    ----------
    base : str
        Registered name of a method that returns weights from the Gramian alone (e.g.
        ``"mgda"``, ``"upgrad"``, ``"cagrad"``, ``"pcgrad"``, ``"imtl_g"``).
    alpha : float
        EMA coefficient ``α ∈ [0, 1]`` on the previous weights (0.9, TorchJD's default).
    base_hparams : dict or None
        Hyper-parameters of the base method.
    """

    name = "cr_mogm"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    stateful = True
    head_gradient: ClassVar[str] = "task"

    def __init__(
        self, *, base: str = "mgda", alpha: float = 0.9, base_hparams: dict[str, Any] | None = None
    ) -> None:
        from ._registry import get  # the registry imports this module: import at call time

        if base_hparams is not None and not isinstance(base_hparams, dict):
            raise TypeError(f"base_hparams must be a dict or None, got {type(base_hparams)}")
        method = get(base, **(base_hparams or {}))
        if (
            method.output != "weights"
            or not method.requires <= {"gramian"}
            or method.post_step_update
            or not method.needs_gradients
        ):
            raise ValueError(
                f"base={base!r} must be a method that returns weights from the Gramian alone "
                "(requires ⊆ {'gramian'}, no post-step update), e.g. 'mgda', 'upgrad', 'cagrad'"
            )
        self.base = base
        self.base_hparams = None if base_hparams is None else dict(base_hparams)
        self.alpha = check_real(alpha, "alpha", low=0.0, high=1.0)
        self.base_method = method
        self.reset()

    # The base's private state (e.g. PCGrad's generator) is mirrored into attributes
    # ``_base_<name>`` of this object, so that a checkpoint of this method's private
    # attributes holds it and a restored value reaches the base before its next call.
    def _pull_base_state(self) -> None:
        for key, value in vars(self.base_method).items():
            if key.startswith("_"):
                setattr(self, "_base" + key, value)

    def _push_base_state(self) -> None:
        for key in [k for k in vars(self.base_method) if k.startswith("_")]:
            setattr(self.base_method, key, getattr(self, "_base" + key))

    def reset(self) -> None:
        self.base_method.reset()
        self._pull_base_state()
        self._lambda: np.ndarray | None = None

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        self._push_base_state()
        current = self.base_method.weights(ctx).detach().to("cpu", torch.float64).numpy()
        self._pull_base_state()
        if self._lambda is None or len(self._lambda) != k:
            self._lambda = current
        else:
            self._lambda = self.alpha * self._lambda + (1.0 - self.alpha) * current
        ref = reference_tensor(ctx)
        return torch.as_tensor(self._lambda, dtype=ref.dtype, device=ref.device)
