"""GradDrop: keep, per coordinate, only the gradients of one randomly chosen sign."""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from ._base import BalanceContext, SeededMethod, check_real

logger = logging.getLogger("tasklens")


def graddrop_mask(signed: Tensor, uniform: Tensor) -> Tensor:
    """The sign-dropout mask ``M`` (K, ...) of Chen et al. 2020, Algorithm 1.

    Parameters
    ----------
    signed : (K, ...) tensor
        The per-task quantities ``Gᵢ`` whose signs are compared (one value per coordinate).
    uniform : (...) tensor
        ``U ~ U(0, 1)``, one draw per coordinate.

    Returns
    -------
    (K, ...) bool tensor
        ``Mᵢ = I[P > U] I[Gᵢ > 0] + I[P < U] I[Gᵢ < 0]`` with the positive sign purity
        ``P = ½ (1 + Σᵢ Gᵢ / Σᵢ |Gᵢ|)`` (``P = ½`` where every ``Gᵢ`` is zero).
    """
    abs_sum = signed.abs().sum(dim=0)
    safe = torch.where(abs_sum > 0, abs_sum, torch.ones_like(abs_sum))
    purity = 0.5 * (1.0 + signed.sum(dim=0) / safe)
    return ((purity > uniform) & (signed > 0)) | ((purity < uniform) & (signed < 0))


class GradDrop(SeededMethod):
    """Gradient sign dropout (Chen et al. 2020, "Just Pick a Sign: Optimizing Deep Multitask
    Models with Gradient Sign Dropout", NeurIPS, Sec. 3 and Algorithm 1).

    Formula (the paper's layer, at ``level="representation"`` when the context carries the
    activations ``z`` (N, d) as ``ctx.features``): with the task gradients ``∇_z Lᵢ``
    (N, d), ``Gᵢ = Σ_batch sign(z) ∘ ∇_z Lᵢ`` (d,); the positive sign purity
    ``P = ½ (1 + Σᵢ Gᵢ / Σᵢ |Gᵢ|)``; ``U ~ U(0, 1)`` per feature; the mask
    ``Mᵢ = I[P > U] I[Gᵢ > 0] + I[P < U] I[Gᵢ < 0]`` (d,), shared by the batch; the new
    gradient ``Σᵢ (ℓ + (1 − ℓ) Mᵢ) ∘ ∇_z Lᵢ`` (N, d) with leak ``ℓ``.

    On a plain Jacobian (parameter level, or :meth:`aggregate`) there is no activation and no
    batch dimension: ``Gᵢ = Jᵢ`` per coordinate (``sign(z) = 1``, each coordinate its own
    ``U``) — TorchJD's ``GradDrop``. At representation level without ``ctx.features`` the
    method falls back to that per-entry form and logs a warning once: it is not the paper's
    layer (no sign correction, no shared mask across the batch).

    Scale: sum (as published); with leak 1, or when all ``Gᵢ`` agree in sign, it is exactly
    EW.

    Head gradient: ``task`` — a direction method applied to the shared gradients; heads receive
    ``∇L_k`` (as in LibMTL's GradDrop).

    Parameters
    ----------
    leak : float
        Leak ``ℓ`` in [0, 1] shared by all tasks (0 in the paper and LibMTL).
    seed : int, numpy Generator or None
        Randomness of ``U``.
    """

    name = "graddrop"
    head_gradient: ClassVar[str] = "task"
    # "features": at representation level the engine passes the activations z (the layer form)
    requires: ClassVar[frozenset[str]] = frozenset({"jacobian", "features"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    output = "direction"

    def __init__(self, *, leak: float = 0.0, seed: int | np.random.Generator | None = 0) -> None:
        self.leak = check_real(leak, "leak", low=0.0, high=1.0)
        self._set_seed(seed)

    def reset(self) -> None:
        super().reset()
        self._warned = False

    def _uniform(self, shape: tuple[int, ...], like: Tensor) -> Tensor:
        draws = self._rng.random(int(np.prod(shape, dtype=np.int64)))
        return torch.as_tensor(draws, dtype=like.dtype, device=like.device).reshape(shape)

    def layer_gradient(self, task_grads: Tensor, features: Tensor) -> Tensor:
        """The paper's GradDrop layer: the new gradient for the activations ``features``.

        Parameters
        ----------
        task_grads : (K, N, ...) tensor
            ``∇_z Lᵢ`` for every task, batch first.
        features : (N, ...) tensor
            The activations ``z`` the gradients are taken at (only their signs are read).

        Returns
        -------
        (N, ...) tensor
            ``Σᵢ (ℓ + (1 − ℓ) Mᵢ) ∘ ∇_z Lᵢ``; draws one ``U`` per feature (``z.shape[1:]``).
        """
        if task_grads.ndim < 2 or tuple(task_grads.shape[1:]) != tuple(features.shape):
            raise ValueError(
                f"task_grads must have shape (K, *features.shape) = (K, "
                f"{', '.join(map(str, features.shape))}), got {tuple(task_grads.shape)}"
            )
        grads = task_grads.detach()
        signed = (torch.sign(features.detach()).to(grads.dtype) * grads).sum(dim=1)
        mask = graddrop_mask(signed, self._uniform(tuple(signed.shape[1:]), grads))
        keep = self.leak + (1.0 - self.leak) * mask.to(grads.dtype)
        return (keep.unsqueeze(1) * grads).sum(dim=0)

    def direction(self, ctx: BalanceContext) -> Tensor:
        self._check_context(ctx)
        jac = ctx.jacobian
        assert jac is not None  # _check_context guarantees it
        features = ctx.features
        if ctx.level == "representation":
            if features is not None and features.numel() * jac.shape[0] == jac.numel():
                grads = jac.reshape(jac.shape[0], *features.shape)
                return self.layer_gradient(grads, features).reshape(-1)
            if not self._warned:
                logger.warning(
                    "graddrop at level='representation' got no activations in the context "
                    "(ctx.features): using the per-entry sign purity, not the paper's "
                    "batch-summed sign(z)·∂L/∂z")
                self._warned = True
        mask = graddrop_mask(jac, self._uniform((jac.shape[1],), jac))
        keep = self.leak + (1.0 - self.leak) * mask.to(jac.dtype)
        return (keep * jac).sum(dim=0)
