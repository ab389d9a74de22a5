"""Representation learners of Maziarka et al. 2022 §3.2.2 / §4.3: auto-encoder and β-VAE.

The paper trains three auto-encoder-based models — a vanilla auto-encoder (AE), a
variational auto-encoder (VAE; Kingma & Welling 2013, with the β weight of Higgins et al.
2017) and FactorVAE (Kim & Mnih 2018, in :mod:`tasklens.nn.factor_vae`) — freezes their
encoders and feeds the codes to multi-task heads. All three share the convolutional encoder
and decoder of Maziarka et al. 2022 Appendix A, Table 2 (:class:`~tasklens.nn.ConvEncoder`,
:class:`~tasklens.nn.ConvDecoder`); the VAE encoder is the same network with ``2·d`` outputs
(mean, then log-variance). :func:`tasklens.nn.autoencoder_for` (in
:mod:`tasklens.nn.autoencoder_factory`) builds any of the three by name.

Every model here offers the same small interface, which the training loop
(:func:`tasklens.nn.unsupervised.fit_autoencoder`) and the disentanglement metrics rely on:

- ``encode(x) -> (N, d)`` — the *mean* code, the representation the metrics read;
- ``decode(z)`` — decoder output (logits for a Bernoulli likelihood, means for Gaussian);
- ``reconstruct(x)`` — the reconstruction in data space, from the mean code;
- ``loss(x) -> {term: scalar tensor}`` with the objective under ``"loss"``;
- ``make_optimizers(lr)`` and ``training_step(batch, optimizers, generator)``, so that a
  model with an extra adversary (FactorVAE) trains through the same loop.

Losses are per-sample sums over pixels and latent dimensions, averaged over the batch — the
negative ELBO of Kingma & Welling (2013), eq. 3, up to the constant of the likelihood.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._common.validation import (
    check_array,
    check_choice,
    check_positive_int,
    check_scalar,
    check_seed,
)
from ._utils import Seed, check_batch, check_input_shape, check_widths
from .encoders import ConvDecoder, ConvEncoder, MLPEncoder

#: likelihoods of ``p(x | z)``: Bernoulli (binary images, BCE on logits) or unit Gaussian (MSE)
RECONSTRUCTIONS: tuple[str, ...] = ("bernoulli", "gaussian")
#: Adam settings of the VAE part in Kim & Mnih (2018), Appendix (also Maziarka et al. 2022 App.
#: C.3: lr 1e-4)
VAE_ADAM_BETAS: tuple[float, float] = (0.9, 0.999)


def check_nonnegative(value: Any, name: str) -> float:
    """A finite float ``>= 0`` (loss weights such as β and γ); NumPy scalars accepted."""
    return check_scalar(value, name, numbers.Real, low=0.0, finite=True)


def reconstruction_loss(output: torch.Tensor, x: torch.Tensor,
                        reconstruction: str = "bernoulli") -> torch.Tensor:
    """Negative log-likelihood ``-log p(x | z)``, summed over pixels, averaged over the batch.

    Parameters
    ----------
    output : (N, ...) tensor
        Decoder output: logits for ``"bernoulli"``, means for ``"gaussian"``.
    x : (N, ...) tensor
        Targets, same shape; in [0, 1] for ``"bernoulli"``.
    reconstruction : {"bernoulli", "gaussian"}
        ``bernoulli``: ``Σ BCE(sigmoid(output), x)`` (computed from logits, stable);
        ``gaussian``: ``Σ (output - x)²`` — the unit-variance Gaussian NLL up to a constant
        and a factor 1/2, the "MSE sum" of the reference implementations.

    Returns
    -------
    scalar tensor
    """
    check_choice(reconstruction, "reconstruction", RECONSTRUCTIONS)
    if output.shape != x.shape:
        raise ValueError(f"output shape {tuple(output.shape)} does not match x {tuple(x.shape)}")
    if reconstruction == "bernoulli":
        per_pixel = F.binary_cross_entropy_with_logits(output, x, reduction="none")
    else:
        per_pixel = (output - x) ** 2
    return per_pixel.flatten(1).sum(dim=1).mean()


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, diag(exp(log_var))) || N(0, I))`` per sample, in closed form.

    ``KL = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1)`` (Kingma & Welling 2013, Appendix B; the KL
    term of the β-VAE objective, Higgins et al. 2017, eq. 4).

    Parameters
    ----------
    mean, log_var : (N, d) tensors

    Returns
    -------
    (N,) tensor
    """
    if mean.shape != log_var.shape:
        raise ValueError(f"mean {tuple(mean.shape)} and log_var {tuple(log_var.shape)} "
                         "must have the same shape")
    return 0.5 * (mean**2 + log_var.exp() - log_var - 1.0).sum(dim=1)


def _output_shape(decoder: nn.Module) -> tuple[int, ...] | None:
    shape = getattr(decoder, "out_shape", None)
    if shape is not None:
        return tuple(int(s) for s in shape)
    features = getattr(decoder, "out_features", None)
    return None if features is None else (int(features),)


class AutoEncoder(nn.Module):
    """A deterministic auto-encoder ``x → z = E(x) → D(z)`` (Maziarka et al. 2022 §3.2.2, "AE").

    Objective: the reconstruction loss alone (:func:`reconstruction_loss`).

    Parameters
    ----------
    encoder : nn.Module
        ``(N, *in_shape) → (N, d)``; must expose ``in_shape`` and ``out_features`` (as
        :class:`~tasklens.nn.ConvEncoder` and :class:`~tasklens.nn.MLPEncoder` do).
    decoder : nn.Module
        ``(N, d) → (N, *in_shape)``; must expose ``in_features`` (the code dimension ``d``)
        and, for a shape check, ``out_shape`` or ``out_features``.
    reconstruction : {"bernoulli", "gaussian"}
        Bernoulli for binary images such as dSprites (decoder outputs are logits), Gaussian
        (squared error) for others.
    """

    #: encoder outputs per code dimension (2 for the VAEs: mean and log-variance)
    _encoder_outputs_per_dim = 1

    def __init__(self, encoder: nn.Module, decoder: nn.Module,
                 reconstruction: str = "bernoulli") -> None:
        super().__init__()
        for module, name in ((encoder, "encoder"), (decoder, "decoder")):
            if not isinstance(module, nn.Module):
                raise TypeError(f"{name} must be a torch nn.Module, got {type(module).__name__}")
        if not hasattr(encoder, "in_shape") or not hasattr(encoder, "out_features"):
            raise TypeError("encoder must expose in_shape and out_features (e.g. ConvEncoder, "
                            "MLPEncoder)")
        if not hasattr(decoder, "in_features"):
            raise TypeError("decoder must expose in_features, the code dimension (e.g. "
                            "ConvDecoder, or MLPEncoder(d, ..., F) for flat inputs)")
        self.code_dim = check_positive_int(decoder.in_features, "decoder.in_features")
        self.input_shape = tuple(int(s) for s in encoder.in_shape)
        want = self._encoder_outputs_per_dim * self.code_dim
        if int(encoder.out_features) != want:
            raise ValueError(
                f"{type(self).__name__} with code dimension {self.code_dim} needs an encoder "
                f"with {want} outputs, got encoder.out_features={encoder.out_features}"
            )
        out_shape = _output_shape(decoder)
        if out_shape is not None and out_shape != self.input_shape:
            raise ValueError(f"decoder output shape {out_shape} differs from the encoder input "
                             f"shape {self.input_shape}")
        self.reconstruction = check_choice(reconstruction, "reconstruction", RECONSTRUCTIONS)
        self.encoder = encoder
        self.decoder = decoder

    # ------------------------------------------------------------------ representation
    def _check_input(self, x: torch.Tensor) -> None:
        check_batch(x, self.input_shape)
        if self.reconstruction == "bernoulli" and x.numel() and (
                float(x.min()) < 0.0 or float(x.max()) > 1.0):
            raise ValueError("reconstruction='bernoulli' needs inputs in [0, 1]; rescale x or "
                             "use reconstruction='gaussian'")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x : ``(N, *input_shape)`` → the mean code ``(N, d)`` (the representation)."""
        check_batch(x, self.input_shape)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z : (N, d) → decoder output ``(N, *input_shape)`` (logits if Bernoulli)."""
        return self.decoder(z)

    def output_to_data(self, output: torch.Tensor) -> torch.Tensor:
        """Decoder output → data space: ``sigmoid`` of the logits, or the Gaussian mean."""
        return torch.sigmoid(output) if self.reconstruction == "bernoulli" else output

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x : ``(N, *input_shape)`` → reconstruction in data space, from the mean code."""
        return self.output_to_data(self.decode(self.encode(x)))

    # ------------------------------------------------------------------ numpy helpers
    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def encode_array(self, inputs: Any, batch_size: int = 256) -> np.ndarray:
        """Mean codes of a whole array, in eval mode.

        Parameters
        ----------
        inputs : ``(N, *input_shape)`` array-like
        batch_size : int

        Returns
        -------
        (N, d) float32 array
        """
        x = check_array(inputs, "inputs", dtype=np.float32)
        batch_size = check_positive_int(batch_size, "batch_size")
        was_training = self.training
        self.eval()
        try:
            out = [self.encode(torch.as_tensor(x[i:i + batch_size], device=self._device()))
                   .cpu().numpy() for i in range(0, len(x), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(out).astype(np.float32)

    @torch.no_grad()
    def decode_array(self, codes: Any, batch_size: int = 256) -> np.ndarray:
        """Decode codes to data space (probabilities or means), in eval mode.

        Parameters
        ----------
        codes : (M, d) array-like

        Returns
        -------
        ``(M, *input_shape)`` float32 array — e.g. the ``decode_fn`` of
        :func:`tasklens.report.representation_figures.plot_latent_traversals`.
        """
        z = check_array(codes, "codes", ndim=2, dtype=np.float32)
        if z.shape[1] != self.code_dim:
            raise ValueError(f"codes must have {self.code_dim} columns, got shape {z.shape}")
        batch_size = check_positive_int(batch_size, "batch_size")
        was_training = self.training
        self.eval()
        try:
            out = [self.output_to_data(self.decode(
                torch.as_tensor(z[i:i + batch_size], device=self._device()))).cpu().numpy()
                for i in range(0, len(z), batch_size)]
        finally:
            self.train(was_training)
        return np.concatenate(out).astype(np.float32)

    # ------------------------------------------------------------------ objective
    def loss(self, x: torch.Tensor, *, sample: bool | None = None,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms on a batch: ``{"reconstruction", "loss"}``.

        ``sample`` and ``generator`` are accepted for a common signature (a deterministic
        auto-encoder has nothing to sample).
        """
        self._check_input(x)
        rec = reconstruction_loss(self.decode(self.encoder(x)), x, self.reconstruction)
        return {"reconstruction": rec, "loss": rec}

    # ------------------------------------------------------------------ training
    def make_optimizers(self, lr: float = 1e-4) -> dict[str, torch.optim.Optimizer]:
        """One Adam optimizer over every parameter (β1 = 0.9, β2 = 0.999).

        lr 1e-4 is Maziarka et al. 2022, App. C.3; the betas are Adam's defaults, used
        for the VAE by Kim & Mnih (2018), Appendix.
        """
        lr = _check_lr(lr)
        return {"model": torch.optim.Adam(self.parameters(), lr=lr, betas=VAE_ADAM_BETAS)}

    def training_step(self, batch: torch.Tensor, optimizers: Mapping[str, torch.optim.Optimizer],
                      generator: torch.Generator | None = None) -> dict[str, float]:
        """One gradient step on ``batch``; returns the loss terms as floats."""
        opt = optimizers["model"]
        terms = self.loss(batch, sample=True, generator=generator)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        return {k: float(v.detach()) for k, v in terms.items()}


def _check_lr(lr: Any) -> float:
    return check_scalar(lr, "lr", numbers.Real, low=0.0, include_low=False, finite=True)


class BetaVAE(AutoEncoder):
    """β-VAE (Higgins et al. 2017; β = 1 is the VAE of Kingma & Welling 2013).

    The encoder outputs ``2·d`` numbers per input: the mean ``μ`` (first ``d``) and the
    log-variance ``log σ²`` (last ``d``) of ``q(z | x) = N(μ, diag σ²)``. Training samples
    ``z = μ + σ ε`` (reparameterisation trick, Kingma & Welling 2013, eq. 10) and minimises

    ``L = E_q[−log p(x | z)] + β · KL(q(z | x) || N(0, I))``

    (Higgins et al. 2017, eq. 4, negated), both terms summed per sample and averaged over
    the batch. ``encode`` returns ``μ``, the representation Maziarka et al. 2022 §4.3 reads.

    Parameters
    ----------
    encoder : nn.Module
        With ``out_features = 2·d``.
    decoder : nn.Module
        With ``in_features = d``.
    beta : float >= 0
        Weight of the KL term. Default 1 (the "VAE" of Maziarka et al. 2022 Table 1).
    reconstruction : {"bernoulli", "gaussian"}
    """

    _encoder_outputs_per_dim = 2

    def __init__(self, encoder: nn.Module, decoder: nn.Module, beta: float = 1.0,
                 reconstruction: str = "bernoulli") -> None:
        super().__init__(encoder, decoder, reconstruction)
        self.beta = check_nonnegative(beta, "beta")

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x → ``(μ, log σ²)``, each ``(N, d)``."""
        check_batch(x, self.input_shape)
        out = self.encoder(x)
        return out[:, :self.code_dim], out[:, self.code_dim:]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x : ``(N, *input_shape)`` → the posterior mean ``μ`` ``(N, d)``."""
        return self.posterior(x)[0]

    def sample_codes(self, mean: torch.Tensor, log_var: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """``z = μ + exp(½ log σ²) ε``, ``ε ~ N(0, I)`` drawn from ``generator``."""
        # drawn on the CPU so that one CPU generator seeds runs on any device
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        return mean + torch.exp(0.5 * log_var) * eps

    def _vae_terms(self, x: torch.Tensor, sample: bool | None,
                   generator: torch.Generator | None) -> tuple[dict[str, torch.Tensor],
                                                               torch.Tensor]:
        self._check_input(x)
        mean, log_var = self.posterior(x)
        draw = self.training if sample is None else bool(sample)
        z = self.sample_codes(mean, log_var, generator) if draw else mean
        rec = reconstruction_loss(self.decode(z), x, self.reconstruction)
        kl = gaussian_kl(mean, log_var).mean()
        return {"reconstruction": rec, "kl": kl, "loss": rec + self.beta * kl}, z

    def loss(self, x: torch.Tensor, *, sample: bool | None = None,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Loss terms ``{"reconstruction", "kl", "loss"}`` on a batch.

        Parameters
        ----------
        x : ``(N, *input_shape)`` tensor
        sample : bool, optional
            Decode a reparameterised sample (True) or the mean code (False). Default: sample
            in training mode, mean in eval mode (a deterministic evaluation).
        generator : torch.Generator, optional
            Source of the noise ``ε`` (seeded training).
        """
        return self._vae_terms(x, sample, generator)[0]


def encoder_outputs(kind: str, code_dim: int) -> int:
    """Encoder output size for a model kind: ``d`` for the AE, ``2·d`` for the VAEs."""
    return code_dim if kind == "ae" else 2 * code_dim


def make_encoder_decoder(input_shape: Sequence[int], code_dim: int, kind: str, *,
                         channels: Sequence[int] | None = None,
                         decoder_channels: Sequence[int] | None = None,
                         hidden: int | Sequence[int] = (256, 256),
                         activation: str = "relu",
                         seed: Seed = None) -> tuple[nn.Module, nn.Module]:
    """The encoder/decoder pair of Maziarka et al. 2022 App. A, Table 2 (images) or an MLP pair
    (vectors).

    Images ``(C, S, S)`` get :class:`~tasklens.nn.ConvEncoder` (with ``encoder_outputs``
    outputs; ``channels`` as there) and the mirrored :class:`~tasklens.nn.ConvDecoder`
    (``decoder_channels`` as there); vectors ``(F,)`` get an
    :class:`~tasklens.nn.MLPEncoder` and its mirror ``MLPEncoder(d, reversed(hidden), F)``.
    """
    shape = check_input_shape(input_shape)
    enc_rng, dec_rng = check_seed(seed).spawn(2)
    n_out = encoder_outputs(kind, code_dim)
    if len(shape) == 1:
        widths = check_widths(hidden, "hidden")
        encoder = MLPEncoder(shape[0], widths, n_out, activation, seed=enc_rng)
        decoder = MLPEncoder(code_dim, tuple(reversed(widths)), shape[0], activation,
                             seed=dec_rng)
        return encoder, decoder
    encoder = ConvEncoder(shape, n_out, channels, activation, seed=enc_rng)
    decoder = ConvDecoder(shape, code_dim, decoder_channels, activation, seed=dec_rng)
    return encoder, decoder

