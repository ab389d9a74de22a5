"""The factory of the representation learners of Maziarka et al. 2022 §4.3 (AE, β-VAE, FactorVAE).

Above both :mod:`tasklens.nn.autoencoders` and :mod:`tasklens.nn.factor_vae` (which builds on
the former), so that neither imports the other back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._common.validation import check_choice, check_positive_int, check_seed
from ._utils import Seed
from .autoencoders import AutoEncoder, BetaVAE, make_encoder_decoder
from .factor_vae import DEFAULT_GAMMA, FactorDiscriminator, FactorVAE

__all__ = ["AUTOENCODER_KINDS", "autoencoder_for"]


#: model kinds of :func:`autoencoder_for` (Maziarka et al. 2022 §4.3: AE, VAE, FactorVAE)
AUTOENCODER_KINDS: tuple[str, ...] = ("ae", "beta_vae", "factor_vae")
_ARCH_HPARAMS = ("channels", "decoder_channels", "hidden", "activation", "reconstruction")
_KIND_HPARAMS: dict[str, tuple[str, ...]] = {
    "ae": (),
    "beta_vae": ("beta",),
    "factor_vae": ("gamma", "discriminator_hidden", "discriminator_layers", "discriminator_lr"),
}


def autoencoder_for(input_shape: Sequence[int], code_dim: int = 10, kind: str = "ae",
                    seed: Seed = 0, **hparams: Any) -> AutoEncoder:
    """Build the AE, β-VAE or FactorVAE of Maziarka et al. 2022 §4.3 for inputs of ``input_shape``.

    Parameters
    ----------
    input_shape : (C, S, S) or (F,)
        E.g. ``TaskSet.input_shape``; images need a square power-of-two side (the
        :class:`~tasklens.nn.ConvDecoder` of Table 2).
    code_dim : int >= 1
        Latent dimension ``d`` (Maziarka et al. 2022 App. C.3 uses 8).
    kind : {"ae", "beta_vae", "factor_vae"}
    seed : int, numpy Generator or None
        Seeds the initialisation of every part.
    **hparams
        Architecture: ``channels`` (conv encoder channels), ``decoder_channels``
        (``log2(S)`` transposed-conv channels; default Table 2), ``hidden`` (MLP widths, flat
        inputs), ``activation`` ("relu" as in Table 2; Maziarka et al. 2022 App. C.3 uses "tanh"),
        ``reconstruction`` ("bernoulli" default, or "gaussian"). ``beta_vae``: ``beta``
        (default 1). ``factor_vae``: ``gamma``, ``discriminator_hidden`` (1000),
        ``discriminator_layers`` (6), ``discriminator_lr`` (1e-4).

    Returns
    -------
    AutoEncoder, BetaVAE or FactorVAE
    """
    check_choice(kind, "kind", AUTOENCODER_KINDS)
    code_dim = check_positive_int(code_dim, "code_dim")
    allowed = _ARCH_HPARAMS + _KIND_HPARAMS[kind]
    unknown = sorted(set(hparams) - set(allowed))
    if unknown:
        others = [k for k, names in _KIND_HPARAMS.items() if set(unknown) & set(names)]
        hint = f" (they apply to kind {others[0]!r})" if others else ""
        raise TypeError(f"unknown hyper-parameter(s) {unknown} for kind {kind!r}{hint}; "
                        f"accepted: {list(allowed)}")
    net_seed, disc_seed = check_seed(seed).spawn(2)
    arch = {k: hparams[k] for k in ("channels", "decoder_channels", "hidden", "activation")
            if k in hparams}
    encoder, decoder = make_encoder_decoder(input_shape, code_dim, kind, seed=net_seed, **arch)
    reconstruction = hparams.get("reconstruction", "bernoulli")
    if kind == "ae":
        return AutoEncoder(encoder, decoder, reconstruction)
    if kind == "beta_vae":
        return BetaVAE(encoder, decoder, hparams.get("beta", 1.0), reconstruction)
    disc = FactorDiscriminator(code_dim, hparams.get("discriminator_hidden", 1000),
                               hparams.get("discriminator_layers", 6), seed=disc_seed)
    return FactorVAE(encoder, decoder, hparams.get("gamma", DEFAULT_GAMMA), disc,
                     reconstruction, discriminator_lr=hparams.get("discriminator_lr", 1e-4))
