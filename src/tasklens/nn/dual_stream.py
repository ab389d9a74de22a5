"""The dual-stream encoder of CORE-MTL (001_04ca9f643fb64e21.txt, Section 3), soft grounding.

A backbone ``h = E(x)`` feeds a semantic projector ``z_s = P_s(h)`` and a residual
projector ``z_r = P_r(h)`` (001 Algorithm 1, lines 6-8; Appendix E "Semantic and residual
projectors"). Heads read ``z_s`` only (Section 3.1, ``ŷ_t = f_t(Ẑ_s)``). Three training
terms shape the split (:meth:`DualStreamModel.core_losses`):

- independence ``L_CKA = CKA(Z_s, Z_r)``, linear CKA on the mini-batch (eq. 11);
- reconstruction ``L_rec = ‖x − D(z_s, z_r)‖₁`` with a generic decoder (eq. 15, soft
  grounding; the physics decoder of eq. 13-14 is not implemented);
- counterfactual augmentation: ``x̃ = D(z_s, z_r[π])`` for a random permutation ``π`` of
  the batch, re-encoded, and the task losses of ``f_t([Φ(x̃)]_s)`` (eq. 12; Algorithm 1,
  lines 24-28; Appendix E, "Decoder and counterfactual generator").

The total objective of eq. 16 is :meth:`CoreMTLLosses.total`. The model is an
:class:`MTLModel` whose shared representation is ``z = z_s`` (``shares_representation``).
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._common.validation import check_positive_int, check_scalar, check_seed
from ._utils import Seed, check_input_shape, get_activation, seeded_init, task_mapping
from .base import MTLModel
from .encoders import ConvDecoder, MLPEncoder, encoder_for
from .heads import PAPER_HEAD_DEPTH, PAPER_HEAD_HIDDEN, make_heads
from .losses import task_losses


def linear_cka(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Linear CKA between two batches of features, differentiable (001 eq. 11).

    ``CKA(X, Y) = ‖Yᶜᵀ Xᶜ‖²_F / (‖Xᶜᵀ Xᶜ‖_F ‖Yᶜᵀ Yᶜ‖_F)`` with column-centred ``Xᶜ, Yᶜ``
    (the linear-kernel CKA of Kornblith et al. 2019, in its feature-space form). In
    [0, 1]; 0 when the streams are linearly uncorrelated.

    Parameters
    ----------
    x : (N, p) tensor
    y : (N, q) tensor
        Extra dimensions after the first are flattened (spatial maps).
    eps : float
        Guards the denominator: a constant stream (zero centred norm) gives CKA 0 rather
        than NaN, so the regulariser stays finite when a stream collapses.
    """
    if x.ndim < 2 or y.ndim < 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be (N, ...) batches with the same N, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] < 2:
        raise ValueError("linear CKA needs at least 2 samples in the batch")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.flatten(1).to(dtype), y.flatten(1).to(dtype)
    # CKA is scale-invariant: divide by a detached max first so that no product overflows
    # (features of 1e200 in float64); the gradient is unchanged (degree-0 homogeneity)
    x = x / x.detach().abs().max().clamp_min(torch.finfo(dtype).tiny)
    y = y / y.detach().abs().max().clamp_min(torch.finfo(dtype).tiny)
    xc = x - x.mean(dim=0, keepdim=True)
    yc = y - y.mean(dim=0, keepdim=True)
    num = (yc.T @ xc).pow(2).sum()
    den = torch.linalg.matrix_norm(xc.T @ xc) * torch.linalg.matrix_norm(yc.T @ yc)
    return num / den.clamp_min(eps)


@contextlib.contextmanager
def _frozen_batch_norm(module: nn.Module) -> Iterator[None]:
    """Use running BN statistics (and do not update them) inside the block (001 Section 3.3)."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    modes = [m.training for m in bns]
    for m in bns:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(bns, modes):
            m.train(mode)


@dataclass(frozen=True)
class CoreMTLLosses:
    """The loss terms of one CORE-MTL step (001 eq. 16).

    Attributes
    ----------
    task : (K,) tensor
        Task losses on the semantic stream, in task order.
    cka : scalar tensor
        ``L_CKA`` (eq. 11).
    rec : scalar tensor
        ``L_rec`` (eq. 15).
    cfa : (K,) tensor
        Per-task counterfactual losses ``L_t(f_t([Φ(x̃)]_s), y_t)`` (eq. 12, unweighted).
    """

    task: torch.Tensor
    cka: torch.Tensor
    rec: torch.Tensor
    cfa: torch.Tensor

    def total(self, weights: torch.Tensor | Sequence[float] | None = None, *,
              lambda_cka: float = 1.0, lambda_cfa: float = 1.0, lambda_rec: float = 1.0
              ) -> torch.Tensor:
        """``Σ_t w_t L_t + λ_CKA L_CKA + λ_CFA Σ_t w_t L_CFA,t + λ_rec L_rec`` (001 eq. 16, 12).

        ``weights`` default to ones (the sum of the task losses).
        """
        k = self.task.shape[0]
        w = (torch.ones_like(self.task) if weights is None
             else torch.as_tensor(weights, dtype=self.task.dtype, device=self.task.device))
        if w.shape != (k,):
            raise ValueError(f"weights must have shape ({k},), got {tuple(w.shape)}")
        return (w @ self.task + lambda_cka * self.cka + lambda_cfa * (w @ self.cfa)
                + lambda_rec * self.rec)


class DualStreamModel(MTLModel):
    """CORE-MTL's dual-stream encoder with task heads on the semantic stream (001 Section 3.1).

    Parameters
    ----------
    backbone : nn.Module
        ``E``: inputs ``(N, ...)`` → features ``(N, D)``; needs ``out_features``.
    heads : nn.ModuleDict
        Heads reading ``(N, semantic_dim)``.
    decoder : nn.Module
        ``D``: ``(N, semantic_dim + residual_dim)`` (``[z_s ; z_r]``) → inputs' shape.
    semantic_dim, residual_dim : int
        Sizes of ``z_s`` and ``z_r``.
    activation : str or None
        Applied after each projector (None: linear projectors, the 1×1 convolutions of
        001 Appendix E).

    Notes
    -----
    ``encode`` returns ``z_s``. The residual projector and the decoder are shared
    parameters that act only through the CORE-MTL terms, not through the task outputs.
    """

    shares_representation = True

    def __init__(self, backbone: nn.Module, heads: nn.ModuleDict | Mapping[str, nn.Module],
                 decoder: nn.Module, semantic_dim: int, residual_dim: int,
                 activation: str | None = None, *, tasks: Any = None,
                 lambda_cka: float = 1.0, lambda_cfa: float = 1.0,
                 lambda_rec: float = 1.0) -> None:
        super().__init__(heads)
        # the tasks' loss kinds, needed by the counterfactual term in auxiliary_losses
        self.tasks = None if tasks is None else task_mapping(tasks)
        # finite and >= 0; float() alone would also take the string "1"
        self.lambdas = {k: check_scalar(v, f"lambda_{k}", numbers.Real, low=0.0, finite=True)
                        for k, v in (("cka", lambda_cka), ("cfa", lambda_cfa),
                                     ("rec", lambda_rec))}
        feat = getattr(backbone, "out_features", None)
        if not isinstance(feat, int):
            raise ValueError("backbone needs an int `out_features` attribute (its feature size)")
        self.semantic_dim = check_positive_int(semantic_dim, "semantic_dim")
        self.residual_dim = check_positive_int(residual_dim, "residual_dim")
        def projector(d: int) -> nn.Module:
            lin = nn.Linear(feat, d)
            return lin if activation is None else nn.Sequential(lin, get_activation(activation))

        self.backbone = backbone
        self.semantic = projector(self.semantic_dim)
        self.residual = projector(self.residual_dim)
        self.decoder = decoder

    def encode_streams(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x → ``(z_s (N, semantic_dim), z_r (N, residual_dim))`` (001 Alg. 1, lines 6-8)."""
        h = self.backbone(x)
        return self.semantic(h), self.residual(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x → ``z_s``, the only input of the heads."""
        return self.semantic(self.backbone(x))

    def reconstruct(self, z_s: torch.Tensor, z_r: torch.Tensor) -> torch.Tensor:
        """``D(z_s, z_r)`` on the concatenation ``[z_s ; z_r]``."""
        return self.decoder(torch.cat([z_s, z_r], dim=1))

    def counterfactual(self, z_s: torch.Tensor, z_r: torch.Tensor, seed: Seed = None
                       ) -> torch.Tensor:
        """``x̃ = D(z_s, z_r[π])`` for a seeded random permutation ``π`` (001 Alg. 1, 24-25)."""
        perm = check_seed(seed).permutation(z_r.shape[0])
        return self.reconstruct(z_s, z_r[torch.as_tensor(perm, device=z_r.device)])

    def core_losses(self, x: torch.Tensor, targets: Mapping[str, torch.Tensor], tasks: Any,
                    *, seed: Seed = None, per_sample_sum: bool = False) -> CoreMTLLosses:
        """All CORE-MTL loss terms on a batch (001 eq. 11, 12, 15; Algorithm 1).

        Parameters
        ----------
        x : (N, ...) tensor
        targets : mapping {task: target tensor}
        tasks : TaskSet, mapping or sequence of Task
            Loss kinds and task order.
        seed : int, numpy Generator or None
            For the counterfactual permutation.
        per_sample_sum : bool
            ``L_rec`` as Algorithm 1, line 18 writes it (per-sample L1 norm, batch mean)
            instead of the default mean absolute error per element. Decision: the default
            is the per-element mean, which keeps ``λ_rec`` independent of the image size.
        """
        z_s, z_r = self.encode_streams(x)
        task = task_losses(tasks, self.decode(z_s), targets)
        x_hat = self.reconstruct(z_s, z_r)
        if x_hat.shape != x.shape:
            raise ValueError(f"the decoder returned {tuple(x_hat.shape)} for inputs "
                             f"{tuple(x.shape)}; it must reconstruct the input shape")
        if per_sample_sum:
            rec = (x - x_hat).abs().flatten(1).sum(dim=1).mean()
        else:
            rec = F.l1_loss(x_hat, x)
        x_cf = self.counterfactual(z_s, z_r, seed)
        with _frozen_batch_norm(self):
            z_cf = self.encode(x_cf)
        cfa = task_losses(tasks, self.decode(z_cf), targets)
        return CoreMTLLosses(task, linear_cka(z_s, z_r), rec, cfa)


    def auxiliary_losses(self, x: torch.Tensor, z: torch.Tensor,
                         outputs: Mapping[str, torch.Tensor],
                         targets: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """CORE-MTL's terms for :class:`tasklens.train.Trainer` (001 eq. 16 without the
        task losses, which the balancing method weights):
        ``{"cka": λ_CKA L_CKA, "rec": λ_rec L_rec, "cfa": λ_CFA Σ_t L_CFA,t}``.

        ``z`` is ``z_s`` from :meth:`encode`; the residual stream is recomputed from ``x``.
        Decision: the counterfactual losses enter unweighted (``w_t = 1``); eq. 12 weights
        them by the balancing weights, which the trainer applies only to the task losses.
        The counterfactual permutation uses torch's generator, which the trainer seeds and
        checkpoints (so resume stays exact).
        """
        if self.tasks is None:
            raise ValueError("auxiliary_losses needs the tasks' loss kinds: build the model "
                             "with dual_stream_for(taskset) or pass tasks=")
        z_r = self.residual(self.backbone(x))
        x_hat = self.reconstruct(z, z_r)
        if x_hat.shape != x.shape:
            raise ValueError(f"the decoder returned {tuple(x_hat.shape)} for inputs "
                             f"{tuple(x.shape)}; it must reconstruct the input shape")
        rec = F.l1_loss(x_hat, x)
        perm = torch.randperm(z_r.shape[0], device=z_r.device)
        x_cf = self.reconstruct(z, z_r[perm])
        with _frozen_batch_norm(self):
            z_cf = self.encode(x_cf)
        cfa = task_losses(self.tasks, self.decode(z_cf), targets)
        return {"cka": self.lambdas["cka"] * linear_cka(z, z_r),
                "rec": self.lambdas["rec"] * rec,
                "cfa": self.lambdas["cfa"] * cfa.sum()}


def dual_stream_for(
    tasks: Any,
    *,
    input_shape: Sequence[int] | None = None,
    feature_dim: int = 64,
    semantic_dim: int = 32,
    residual_dim: int = 8,
    hidden: int | Sequence[int] = (256, 256),
    channels: Sequence[int] | None = None,
    activation: str = "relu",
    head_hidden: int = PAPER_HEAD_HIDDEN,
    head_depth: int = PAPER_HEAD_DEPTH,
    seed: Seed = None,
) -> DualStreamModel:
    """A :class:`DualStreamModel` for a task set.

    Backbone: :func:`encoder_for`. Decoder: an MLP mirroring ``hidden`` for flat inputs,
    :class:`ConvDecoder` (003 App. A) for square power-of-two images; other image sizes
    need a hand-built model.
    """
    tmap = task_mapping(tasks)
    if input_shape is None:
        input_shape = getattr(tasks, "input_shape", None)
    if input_shape is None:
        raise ValueError("pass input_shape= (or a TaskSet)")
    shape = check_input_shape(input_shape)
    with seeded_init(seed):
        backbone = encoder_for(shape, feature_dim, hidden=hidden, channels=channels,
                               activation=activation)
        code = semantic_dim + residual_dim
        if len(shape) == 1:
            widths = tuple(reversed(tuple(np.atleast_1d(hidden).tolist())))
            decoder: nn.Module = MLPEncoder(code, widths, shape[0], activation)
        else:
            decoder = ConvDecoder(shape, code, activation=activation)
        heads = make_heads(tmap, semantic_dim, head_hidden, head_depth, activation)
        return DualStreamModel(backbone, heads, decoder, semantic_dim, residual_dim,
                               tasks=tmap)
