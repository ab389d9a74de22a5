"""The dual-stream encoder of CORE-MTL (Wu et al. 2026, Section 3): streams, CKA, grounding, CFA.

Wu et al. 2026: Wu, Zou, Wu and Wang (2026), "CORE-MTL: Rethinking Gradient Balancing via Causal
Orthogonal Representations", arXiv:2606.02221.

A backbone ``h = E(x)`` feeds a semantic projector ``z_s = P_s(h)`` and a residual
projector ``z_r = P_r(h)`` (Wu et al. 2026 Algorithm 1, lines 6-8; Appendix E "Semantic and residual
projectors"). Heads read ``z_s`` only (Section 3.1, ``ŷ_t = f_t(Ẑ_s)``). Three training
terms shape the split (:meth:`DualStreamModel.core_losses`):

- independence ``L_CKA = CKA(Z_s, Z_r)``, linear CKA on the mini-batch (eq. 11);
- reconstruction ``L_rec = ‖x − D(z_s, z_r)‖₁`` with a generic decoder (eq. 15, soft
  grounding) or the Lambertian physics decoder of :mod:`tasklens.nn.grounding`
  (eq. 13-14, hard grounding);
- counterfactual augmentation: ``x̃ = D(z_s, z_r[π])`` for a random permutation ``π`` of
  the batch, re-encoded, and the task losses of ``f_t([Φ(x̃)]_s)`` (eq. 12; Algorithm 1,
  lines 24-28; Appendix E, "Decoder and counterfactual generator").

The total objective of eq. 16 is :meth:`CoreMTLLosses.total`. The model is an
:class:`MTLModel` whose shared representation is ``z = z_s`` (``shares_representation``).

Checked against Wu et al. 2026 Algorithm 1 (lines 6-8, 24-28) and Section 3.3: one backbone pass
gives both streams (the Trainer's ``encode`` pass is reused by :meth:`auxiliary_losses`);
the whole counterfactual pass — decoding ``x̃`` and re-encoding it through ``E`` and
``P_s`` — runs with BatchNorm layers on their running statistics, which it does not update.
Decision: Algorithm 1 computes ``L_CFA`` only with hard grounding (``L_CFA ← 0`` otherwise,
and Table 7 uses ``λ_CFA = 0`` on CelebA), while Section 3.1 presents CFA for both; here
``λ_CFA`` applies with either decoder and defaults to 1 — set ``lambda_cfa=0`` for the
paper's soft-grounding recipe.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._common.validation import check_choice, check_positive_int, check_scalar, check_seed
from ._utils import Seed, check_input_shape, get_activation, seeded_init, task_mapping
from .base import MTLModel
from .encoders import ConvDecoder, MLPEncoder, encoder_for
from .grounding import LambertianDecoder
from .heads import PAPER_HEAD_DEPTH, PAPER_HEAD_HIDDEN, make_heads
from .losses import task_losses


def linear_cka(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Linear CKA between two batches of features, differentiable (Wu et al. 2026 eq. 11).

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
    """Use running BN statistics (and do not update them) inside the block (Wu et al. 2026 Section
    3.3)."""
    bns = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    modes = [m.training for m in bns]
    for m in bns:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(bns, modes):
            m.train(mode)


#: the loss weights of eq. 16 (attribute ``lambda_<name>``, argument of :func:`dual_stream_for`)
LAMBDA_NAMES: tuple[str, ...] = ("cka", "cfa", "rec")


class UnknownAttributeError(AttributeError, TypeError):
    """Setting an attribute a :class:`DualStreamModel` does not have (a misspelt weight)."""


def _check_lambda(value: Any, name: str) -> float:
    return float(check_scalar(value, f"lambda_{name}", numbers.Real, low=0.0, finite=True))


@dataclass(frozen=True)
class CoreMTLLosses:
    """The loss terms of one CORE-MTL step (Wu et al. 2026 eq. 16).

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
    lambdas : mapping {"cka", "cfa", "rec": float}
        The weights of the model that computed the terms, used by :meth:`total` unless
        overridden.
    """

    task: torch.Tensor
    cka: torch.Tensor
    rec: torch.Tensor
    cfa: torch.Tensor
    lambdas: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType(dict.fromkeys(LAMBDA_NAMES, 1.0)))

    def total(self, weights: torch.Tensor | Sequence[float] | None = None, *,
              lambda_cka: float | None = None, lambda_cfa: float | None = None,
              lambda_rec: float | None = None) -> torch.Tensor:
        """``Σ_t w_t L_t + λ_CKA L_CKA + λ_CFA Σ_t w_t L_CFA,t + λ_rec L_rec`` (Wu et al. 2026 eq.
        16, 12).

        ``weights`` default to ones (the sum of the task losses); each ``λ`` defaults to
        the model's (:attr:`lambdas`).
        """
        given = {"cka": lambda_cka, "cfa": lambda_cfa, "rec": lambda_rec}
        lam = {n: self.lambdas[n] if v is None else _check_lambda(v, n)
               for n, v in given.items()}
        k = self.task.shape[0]
        w = (torch.ones_like(self.task) if weights is None
             else torch.as_tensor(weights, dtype=self.task.dtype, device=self.task.device))
        if w.shape != (k,):
            raise ValueError(f"weights must have shape ({k},), got {tuple(w.shape)}")
        return (w @ self.task + lam["cka"] * self.cka + lam["cfa"] * (w @ self.cfa)
                + lam["rec"] * self.rec)


def _lambda_property(name: str) -> property:
    def get(self: DualStreamModel) -> float:
        return self._lambdas[name]

    def set_(self: DualStreamModel, value: float) -> None:
        self._lambdas[name] = _check_lambda(value, name)

    return property(get, set_, doc=f"``λ_{name.upper()}`` of eq. 16 (validated, >= 0).")


class DualStreamModel(MTLModel):
    """CORE-MTL's dual-stream encoder with task heads on the semantic stream (Wu et al. 2026
    Section 3.1).

    Parameters
    ----------
    backbone : nn.Module
        ``E``: inputs ``(N, ...)`` → features ``(N, D)``; needs ``out_features``.
    heads : nn.ModuleDict
        Heads reading ``(N, semantic_dim)``.
    decoder : nn.Module
        ``D``. A generic decoder maps ``(N, semantic_dim + residual_dim)`` (``[z_s ; z_r]``)
        to the inputs' shape; a decoder with ``takes_streams = True`` (the physics decoder
        :class:`~tasklens.nn.grounding.LambertianDecoder`) is called as ``D(z_s, z_r)``.
    semantic_dim, residual_dim : int
        Sizes of ``z_s`` and ``z_r`` (both >= 1).
    activation : str or None
        Applied after each projector (None: linear projectors, the 1×1 convolutions of
        Wu et al. 2026 Appendix E).
    tasks : TaskSet, mapping or sequence of Task, optional
        Loss kinds, needed by :meth:`auxiliary_losses` (the Trainer's route).
    lambda_cka, lambda_cfa, lambda_rec : float >= 0
        The weights of eq. 16 used by :meth:`auxiliary_losses`; readable and settable as
        attributes (``model.lambda_cka = 10``, validated) and listed in :attr:`lambdas`.

    Notes
    -----
    ``encode`` returns ``z_s``. The residual projector and the decoder are shared
    parameters that act only through the CORE-MTL terms, not through the task outputs.
    After construction, setting an attribute the model does not have (other than a
    module, parameter or tensor) raises :class:`UnknownAttributeError`, so that a misspelt
    weight (``model.lambda_independence = 1``) is not silently ignored.
    """

    shares_representation = True
    lambda_cka = _lambda_property("cka")
    lambda_cfa = _lambda_property("cfa")
    lambda_rec = _lambda_property("rec")

    def __init__(self, backbone: nn.Module, heads: nn.ModuleDict | Mapping[str, nn.Module],
                 decoder: nn.Module, semantic_dim: int, residual_dim: int,
                 activation: str | None = None, *, tasks: Any = None,
                 lambda_cka: float = 1.0, lambda_cfa: float = 1.0,
                 lambda_rec: float = 1.0) -> None:
        super().__init__(heads)
        # the tasks' loss kinds, needed by the counterfactual term in auxiliary_losses
        self.tasks = None if tasks is None else task_mapping(tasks)
        self._lambdas = {n: _check_lambda(v, n) for n, v in
                         zip(LAMBDA_NAMES, (lambda_cka, lambda_cfa, lambda_rec))}
        feat = getattr(backbone, "out_features", None)
        if not isinstance(feat, int):
            raise ValueError("backbone needs an int `out_features` attribute (its feature size)")
        self.semantic_dim = check_positive_int(semantic_dim, "semantic_dim")
        if isinstance(residual_dim, numbers.Integral) and not isinstance(residual_dim, bool) \
                and residual_dim < 1:
            raise ValueError(f"residual_dim must be >= 1, got {residual_dim}: CORE-MTL needs a "
                             "residual stream to hold the nuisances; for a model without one "
                             "use tasklens.nn.hps_for")
        self.residual_dim = check_positive_int(residual_dim, "residual_dim")

        def projector(d: int) -> nn.Module:
            lin = nn.Linear(feat, d)
            return lin if activation is None else nn.Sequential(lin, get_activation(activation))

        self.backbone = backbone
        self.semantic = projector(self.semantic_dim)
        self.residual = projector(self.residual_dim)
        self.decoder = decoder
        self._last_features: tuple[torch.Tensor, torch.Tensor] | None = None
        self._closed = True

    # ------------------------------------------------------------------ attributes
    @property
    def lambdas(self) -> Mapping[str, float]:
        """``{"cka": λ_CKA, "cfa": λ_CFA, "rec": λ_rec}``, read-only (set the attributes)."""
        return MappingProxyType(self._lambdas)

    def set_lambdas(self, **weights: float) -> None:
        """Set several weights of eq. 16 at once: ``set_lambdas(cka=0.1, cfa=0.5)``."""
        unknown = sorted(set(weights) - set(LAMBDA_NAMES))
        if unknown:
            raise ValueError(f"unknown loss weight(s) {unknown}; the weights of eq. 16 are "
                             f"{list(LAMBDA_NAMES)}")
        checked = {n: _check_lambda(v, n) for n, v in weights.items()}
        self._lambdas.update(checked)

    def __setattr__(self, name: str, value: Any) -> None:
        if (self.__dict__.get("_closed", False) and not name.startswith("_")
                and not isinstance(value, (nn.Module, torch.Tensor))
                and not hasattr(self, name)):
            raise UnknownAttributeError(_unknown_attribute_message(name))
        super().__setattr__(name, value)

    # ------------------------------------------------------------------ streams
    def encode_streams(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x → ``(z_s (N, semantic_dim), z_r (N, residual_dim))`` (Wu et al. 2026 Alg. 1, lines
        6-8)."""
        h = self.backbone(x)
        return self.semantic(h), self.residual(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x → ``z_s``, the only input of the heads.

        In training mode the backbone features are kept for :meth:`auxiliary_losses` of
        the same ``x``, so that both streams come from one backbone pass (Algorithm 1,
        lines 6-8: one dropout mask, one BatchNorm update).
        """
        h = self.backbone(x)
        self._last_features = (x, h) if self.training and torch.is_grad_enabled() else None
        return self.semantic(h)

    def _residual_of(self, x: torch.Tensor) -> torch.Tensor:
        cached, self._last_features = self._last_features, None
        h = cached[1] if cached is not None and cached[0] is x else self.backbone(x)
        return self.residual(h)

    def reconstruct(self, z_s: torch.Tensor, z_r: torch.Tensor) -> torch.Tensor:
        """``D(z_s, z_r)``: on ``[z_s ; z_r]`` for a generic decoder, on the two streams
        for a physics decoder (``takes_streams``)."""
        if getattr(self.decoder, "takes_streams", False):
            return self.decoder(z_s, z_r)
        return self.decoder(torch.cat([z_s, z_r], dim=1))

    def counterfactual(self, z_s: torch.Tensor, z_r: torch.Tensor, seed: Seed = None, *,
                       perm: Sequence[int] | torch.Tensor | None = None) -> torch.Tensor:
        """``x̃ = D(z_s, z_r[π])`` (Wu et al. 2026 Alg. 1, lines 24-25).

        ``π`` is ``perm`` when given (a permutation of ``0..N-1``), else a permutation
        drawn from ``seed``. BatchNorm layers of the decoder use their running statistics.
        """
        n = z_r.shape[0]
        if perm is None:
            idx = torch.as_tensor(check_seed(seed).permutation(n), device=z_r.device)
        else:
            idx = torch.as_tensor(perm, dtype=torch.long, device=z_r.device)
            if idx.shape != (n,) or not torch.equal(torch.sort(idx.cpu()).values,
                                                    torch.arange(n)):
                raise ValueError(f"perm must be a permutation of 0..{n - 1}")
        with _frozen_batch_norm(self):
            return self.reconstruct(z_s, z_r[idx])

    def _reconstruction_loss(self, x: torch.Tensor, x_hat: torch.Tensor,
                             per_sample_sum: bool = False) -> torch.Tensor:
        if x_hat.shape != x.shape:
            raise ValueError(f"the decoder returned {tuple(x_hat.shape)} for inputs "
                             f"{tuple(x.shape)}; it must reconstruct the input shape")
        if per_sample_sum:
            return (x - x_hat).abs().flatten(1).sum(dim=1).mean()
        return F.l1_loss(x_hat, x)

    def _counterfactual_losses(self, z_s: torch.Tensor, z_r: torch.Tensor,
                               targets: Mapping[str, torch.Tensor], tasks: Any,
                               seed: Seed, perm: Any) -> torch.Tensor:
        """Per-task ``L_t(f_t(P_s(E(x̃))), y_t)``; the whole pass on frozen BatchNorm."""
        x_cf = self.counterfactual(z_s, z_r, seed, perm=perm)
        with _frozen_batch_norm(self):
            z_cf = self.semantic(self.backbone(x_cf))
        return task_losses(tasks, self.decode(z_cf), targets)

    def core_losses(self, x: torch.Tensor, targets: Mapping[str, torch.Tensor], tasks: Any,
                    *, seed: Seed = None, perm: Sequence[int] | torch.Tensor | None = None,
                    per_sample_sum: bool = False) -> CoreMTLLosses:
        """All CORE-MTL loss terms on a batch (Wu et al. 2026 eq. 11, 12, 15; Algorithm 1).

        Parameters
        ----------
        x : (N, ...) tensor
        targets : mapping {task: target tensor}
        tasks : TaskSet, mapping or sequence of Task
            Loss kinds and task order.
        seed : int, numpy Generator or None
            For the counterfactual permutation.
        perm : (N,) permutation, optional
            The counterfactual permutation itself (overrides ``seed``).
        per_sample_sum : bool
            ``L_rec`` as Algorithm 1, line 18 writes it (per-sample L1 norm, batch mean)
            instead of the default mean absolute error per element. Decision: the default
            is the per-element mean, which keeps ``λ_rec`` independent of the image size.
        """
        z_s, z_r = self.encode_streams(x)
        task = task_losses(tasks, self.decode(z_s), targets)
        rec = self._reconstruction_loss(x, self.reconstruct(z_s, z_r), per_sample_sum)
        cfa = self._counterfactual_losses(z_s, z_r, targets, tasks, seed, perm)
        return CoreMTLLosses(task, linear_cka(z_s, z_r), rec, cfa,
                             MappingProxyType(dict(self._lambdas)))

    def auxiliary_losses(self, x: torch.Tensor, z: torch.Tensor,
                         outputs: Mapping[str, torch.Tensor],
                         targets: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """CORE-MTL's terms for :class:`tasklens.train.Trainer` (Wu et al. 2026 eq. 16 without the
        task losses, which the balancing method weights):
        ``{"cka": λ_CKA L_CKA, "rec": λ_rec L_rec, "cfa": λ_CFA Σ_t L_CFA,t}``.

        ``z`` is ``z_s`` from :meth:`encode`; the residual stream reuses that call's
        backbone features when ``x`` is the same tensor (else it is recomputed).
        Decision: the counterfactual losses enter unweighted (``w_t = 1``); eq. 12 weights
        them by the balancing weights, which the trainer applies only to the task losses.
        The counterfactual permutation uses torch's generator, which the trainer seeds and
        checkpoints (so resume stays exact). A term whose weight is 0 is not computed.
        """
        if self.tasks is None:
            raise ValueError("auxiliary_losses needs the tasks' loss kinds: build the model "
                             "with dual_stream_for(taskset) or pass tasks=")
        z_r = self._residual_of(x)
        lam = self._lambdas
        terms = {"cka": lam["cka"] * linear_cka(z, z_r)}
        if lam["rec"] > 0:
            terms["rec"] = lam["rec"] * self._reconstruction_loss(x, self.reconstruct(z, z_r))
        if lam["cfa"] > 0:
            perm = torch.randperm(z_r.shape[0], device=z_r.device)
            cfa = self._counterfactual_losses(z, z_r, targets, self.tasks, None, perm)
            terms["cfa"] = lam["cfa"] * cfa.sum()
        return terms


def _unknown_attribute_message(name: str) -> str:
    msg = f"DualStreamModel has no attribute {name!r} (setting it would have no effect)"
    if "lambda" in name.lower() or "weight" in name.lower():
        names = ", ".join(f"lambda_{n}" for n in LAMBDA_NAMES)
        msg += (f"; the loss weights of eq. 16 are {names}: pass them to "
                "dual_stream_for(..., lambda_cka=...), set model.lambda_cka = ... or call "
                "model.set_lambdas(cka=...)")
    return msg + ("; to attach your own data, use a name starting with '_' or a "
                  "subclass")


GROUNDINGS: tuple[str, ...] = ("soft", "hard")
#: decoders of soft grounding: ``"auto"`` (an MLP for flat inputs, :class:`ConvDecoder`
#: for images) or ``"mlp"`` (an MLP to the flattened pixels, reshaped to the image)
SOFT_DECODERS: tuple[str, ...] = ("auto", "mlp")


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
    image_encoder: str = "resnet",
    head_hidden: int = PAPER_HEAD_HIDDEN,
    head_depth: int = PAPER_HEAD_DEPTH,
    grounding: str = "soft",
    decoder_channels: Sequence[int] | None = None,
    soft_decoder: str = "auto",
    lambda_cka: float = 1.0,
    lambda_cfa: float = 1.0,
    lambda_rec: float = 1.0,
    seed: Seed = None,
) -> DualStreamModel:
    """A :class:`DualStreamModel` for a task set.

    Backbone: :func:`encoder_for` (``image_encoder`` picks the image encoder, see
    :data:`~tasklens.nn.IMAGE_ENCODERS`). Decoder (``grounding``):

    - ``"soft"`` (eq. 15): an MLP mirroring ``hidden`` for flat inputs, :class:`ConvDecoder`
      (Maziarka et al. 2022 App. A) for square power-of-two images; other image sizes need a
      hand-built model;
    - ``"hard"`` (eq. 13-14): :class:`~tasklens.nn.grounding.LambertianDecoder` — normals
      from ``z_s``, albedo and light from ``z_r``, composed by Lambertian shading; needs
      RGB (or grey) square power-of-two images.

    ``soft_decoder="mlp"`` gives soft grounding on images an MLP decoder (mirroring
    ``hidden``) to the ``C·H·W`` pixels, reshaped to the image: for image sizes
    :class:`ConvDecoder` cannot render (not square, or a side not a power of two).

    ``decoder_channels`` sets the convolutional decoders' channels (``log2(S)`` of them;
    default: Maziarka et al. 2022's Table 2, which is heavy next to a small encoder — see
    ``benchmarks/core_mtl.py``).

    ``lambda_cka``, ``lambda_cfa``, ``lambda_rec`` (>= 0) are the weights of eq. 16 used in
    training (:meth:`DualStreamModel.auxiliary_losses`); Wu et al. 2026 Table 7 uses 1, 1 (NYUv2,
    Cityscapes) and 0.1, 0.5 (GTA5→Cityscapes).
    """
    check_choice(grounding, "grounding", GROUNDINGS)
    check_choice(soft_decoder, "soft_decoder", SOFT_DECODERS)
    if grounding == "hard" and soft_decoder != "auto":
        raise ValueError("soft_decoder applies to grounding='soft'; hard grounding renders "
                         "with the Lambertian decoder")
    lambdas = {n: _check_lambda(v, n) for n, v in
               zip(LAMBDA_NAMES, (lambda_cka, lambda_cfa, lambda_rec))}
    tmap = task_mapping(tasks)
    if input_shape is None:
        input_shape = getattr(tasks, "input_shape", None)
    if input_shape is None:
        raise ValueError("pass input_shape= (or a TaskSet)")
    shape = check_input_shape(input_shape)
    if grounding == "hard" and len(shape) != 3:
        raise ValueError(f"grounding='hard' renders images (C, H, W); the inputs have shape "
                         f"{shape}. Use grounding='soft' for flat inputs")
    if isinstance(residual_dim, numbers.Integral) and not isinstance(residual_dim, bool) \
            and residual_dim < 1:
        raise ValueError(f"residual_dim must be >= 1, got {residual_dim}: CORE-MTL needs a "
                         "residual stream; for a model without one use tasklens.nn.hps_for")
    with seeded_init(seed):
        backbone = encoder_for(shape, feature_dim, hidden=hidden, channels=channels,
                               activation=activation, image_encoder=image_encoder)
        decoder = _make_decoder(shape, grounding, semantic_dim, residual_dim, hidden,
                                decoder_channels, activation, soft_decoder)
        heads = make_heads(tmap, semantic_dim, head_hidden, head_depth, activation)
        return DualStreamModel(backbone, heads, decoder, semantic_dim, residual_dim,
                               tasks=tmap, **{f"lambda_{n}": v for n, v in lambdas.items()})


def _make_decoder(shape: tuple[int, ...], grounding: str, semantic_dim: int,
                  residual_dim: int, hidden: int | Sequence[int],
                  decoder_channels: Sequence[int] | None, activation: str,
                  soft_decoder: str = "auto") -> nn.Module:
    if grounding == "hard":
        return LambertianDecoder(shape, semantic_dim, residual_dim, channels=decoder_channels,
                                 activation=activation)
    if len(shape) == 1 or soft_decoder == "mlp":
        if decoder_channels is not None:
            raise ValueError("decoder_channels applies to image inputs with a convolutional "
                             "decoder; the MLP decoder (flat inputs, soft_decoder='mlp') "
                             "mirrors hidden")
        widths = tuple(reversed(tuple(np.atleast_1d(hidden).tolist())))
        mlp = MLPEncoder(semantic_dim + residual_dim, widths, int(np.prod(shape)), activation)
        return mlp if len(shape) == 1 else nn.Sequential(mlp, nn.Unflatten(1, shape))
    return ConvDecoder(shape, semantic_dim + residual_dim, decoder_channels,
                       activation=activation)
