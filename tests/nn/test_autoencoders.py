"""AE, β-VAE and FactorVAE (003 §4.3) and their training loop.

References: the KL of two Gaussians written out per dimension with numpy and a Monte Carlo
estimate of it; the Bernoulli/Gaussian negative log-likelihoods written with numpy; the
log-odds of a two-class softmax computed from probabilities; column multisets and
correlations for ``permute_dims``; Kim & Mnih (2018)'s discriminator and optimiser settings
transcribed by hand; loss decrease and exact reproducibility of short fits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tasklens.data.dsprites import sprites
from tasklens.nn.autoencoder_factory import autoencoder_for
from tasklens.nn.autoencoders import (
    AutoEncoder,
    BetaVAE,
    gaussian_kl,
    reconstruction_loss,
)
from tasklens.nn.factor_vae import (
    FactorDiscriminator,
    FactorVAE,
    permute_dims,
    tc_from_logits,
)
from tasklens.nn.unsupervised import AutoencoderFit, fit_autoencoder

SMALL = {"channels": (4, 8), "decoder_channels": (8, 4, 4)}  # 8×8 images, cheap
SMALL_32 = {"channels": (8, 8, 16, 16, 32), "decoder_channels": (32, 16, 16, 8, 8)}
TINY_DISC = {"discriminator_hidden": 16, "discriminator_layers": 3}


def _binary_images(n: int, side: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, 1, side, side)) < 0.3).astype(np.float32)


@pytest.fixture(scope="module")
def sprites_32() -> np.ndarray:
    x = sprites(256, seed=0).inputs  # (256, 1, 64, 64) in {0, 1}
    return x.reshape(256, 1, 32, 2, 32, 2).mean(axis=(3, 5))  # 2×2 average pooling


# ---------------------------------------------------------------------------- KL term
def _kl_numpy(mean: np.ndarray, log_var: np.ndarray) -> np.ndarray:
    """KL(N(μ, σ²) || N(0, 1)) = log(1/σ) + (σ² + μ²)/2 − 1/2, summed over dimensions."""
    sigma = np.exp(0.5 * log_var)
    return np.sum(np.log(1.0 / sigma) + (sigma**2 + mean**2) / 2.0 - 0.5, axis=1)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6))
def test_kl_matches_closed_form_by_hand(seed: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, 2, size=(5, d))
    log_var = rng.normal(0, 1.5, size=(5, d))
    got = gaussian_kl(torch.tensor(mean), torch.tensor(log_var)).numpy()
    np.testing.assert_allclose(got, _kl_numpy(mean, log_var), rtol=1e-10, atol=1e-12)
    assert np.all(got >= 0)


def test_kl_matches_monte_carlo() -> None:
    rng = np.random.default_rng(1)
    mean = np.array([[0.7, -1.2]])
    log_var = np.array([[np.log(0.25), np.log(2.0)]])
    sigma = np.exp(0.5 * log_var[0])
    z = mean[0] + sigma * rng.standard_normal((400_000, 2))
    log_q = np.sum(-0.5 * ((z - mean[0]) / sigma) ** 2 - np.log(sigma), axis=1)
    log_p = np.sum(-0.5 * z**2, axis=1)  # the 2π constants cancel
    mc = float(np.mean(log_q - log_p))
    got = float(gaussian_kl(torch.tensor(mean), torch.tensor(log_var))[0])
    assert got == pytest.approx(mc, abs=0.01)
    assert float(gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4)).abs().max()) == 0.0


# ---------------------------------------------------------------------------- reconstruction
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_bernoulli_and_gaussian_reconstruction_match_numpy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, size=(4, 1, 5, 5))
    x = (rng.random((4, 1, 5, 5)) < 0.4).astype(np.float64)
    x[0] = rng.random((1, 5, 5))  # soft targets in [0, 1] too
    p = 1.0 / (1.0 + np.exp(-logits))
    ref = -np.sum(x * np.log(p) + (1 - x) * np.log1p(-p), axis=(1, 2, 3)).mean()
    got = float(reconstruction_loss(torch.tensor(logits), torch.tensor(x), "bernoulli"))
    assert got == pytest.approx(ref, rel=1e-9)
    ref_g = np.sum((logits - x) ** 2, axis=(1, 2, 3)).mean()
    got_g = float(reconstruction_loss(torch.tensor(logits), torch.tensor(x), "gaussian"))
    assert got_g == pytest.approx(ref_g, rel=1e-12)


# ---------------------------------------------------------------------------- β-VAE vs AE
class _MeanPart(nn.Module):
    """The first ``d`` outputs of a VAE encoder: an AE encoder giving the posterior mean."""

    def __init__(self, vae_encoder: nn.Module, d: int) -> None:
        super().__init__()
        self.inner, self.d = vae_encoder, d
        self.in_shape, self.out_features = vae_encoder.in_shape, d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)[:, :self.d]


def test_beta_zero_vae_equals_autoencoder_on_means() -> None:
    vae = autoencoder_for((1, 8, 8), 3, "beta_vae", seed=0, beta=0.0, **SMALL).eval()
    ae = AutoEncoder(_MeanPart(vae.encoder, 3), vae.decoder).eval()
    x = torch.tensor(_binary_images(6))
    with torch.no_grad():
        terms = vae.loss(x)  # eval mode: the mean code is decoded
        ae_loss = float(ae.loss(x)["loss"])
    assert float(terms["loss"]) == pytest.approx(ae_loss, rel=1e-6)
    assert float(terms["kl"]) > 0  # the KL is there, only weighted by β = 0
    torch.testing.assert_close(vae.encode(x), ae.encode(x))
    torch.testing.assert_close(vae.reconstruct(x), ae.reconstruct(x))
    # a sampled objective differs from the deterministic one
    with torch.no_grad():
        sampled = vae.loss(x, sample=True, generator=torch.Generator().manual_seed(0))
    assert float(sampled["reconstruction"]) != pytest.approx(float(terms["reconstruction"]))


def test_vae_terms_match_posterior_and_beta() -> None:
    vae = autoencoder_for((1, 8, 8), 3, "beta_vae", seed=1, beta=4.0, **SMALL).eval()
    x = torch.tensor(_binary_images(5, seed=2))
    with torch.no_grad():
        mean, log_var = vae.posterior(x)
        terms = vae.loss(x)
    kl_ref = _kl_numpy(mean.detach().double().numpy(), log_var.detach().double().numpy()).mean()
    assert float(terms["kl"]) == pytest.approx(kl_ref, rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(
        float(terms["reconstruction"]) + 4.0 * kl_ref, rel=1e-5)
    torch.testing.assert_close(vae.encode(x), vae.encoder(x)[:, :3])
    assert vae.encode_array(x.numpy()).shape == (5, 3)
    decoded = vae.decode_array(np.zeros((2, 3)))
    assert decoded.shape == (2, 1, 8, 8)
    assert decoded.min() >= 0.0 and decoded.max() <= 1.0  # Bernoulli means


# ---------------------------------------------------------------------------- FactorVAE parts
def test_permute_dims_keeps_columns_and_breaks_rows() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=400)
    z = torch.tensor(np.column_stack([base, base, -base, rng.normal(size=400)]))
    out = permute_dims(z, torch.Generator().manual_seed(3))
    for j in range(z.shape[1]):  # each column keeps its multiset
        np.testing.assert_array_equal(np.sort(out[:, j].numpy()), np.sort(z[:, j].numpy()))
    corr = np.corrcoef(out.numpy().T)
    assert abs(corr[0, 1]) < 0.2 and abs(corr[0, 2]) < 0.2  # the pairing (corr ±1) is gone
    rows = {tuple(r) for r in z.numpy().round(12)}
    kept = sum(tuple(r) in rows for r in out.numpy().round(12))
    assert kept < 5
    again = permute_dims(z, torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, again)


def test_tc_log_odds_on_fixed_logits() -> None:
    logits = np.array([[2.0, -1.0], [0.3, 0.3], [-4.0, 1.5], [10.0, 9.0]])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    ref = np.mean(np.log(p[:, 0] / (1 - p[:, 0])))  # E[log D/(1 − D)], Kim & Mnih eq. 3
    assert float(tc_from_logits(torch.tensor(logits))) == pytest.approx(ref, rel=1e-10)
    # the discriminator loss: ½[CE(joint, 0) + CE(permuted, 1)]
    disc = FactorDiscriminator(2, hidden=8, n_layers=2, seed=0)
    zj, zp = torch.randn(6, 2, dtype=torch.float32), torch.randn(5, 2, dtype=torch.float32)
    lj, lp = disc(zj).detach().double().numpy(), disc(zp).detach().double().numpy()
    sj = np.exp(lj) / np.exp(lj).sum(1, keepdims=True)
    sp = np.exp(lp) / np.exp(lp).sum(1, keepdims=True)
    ref_loss = 0.5 * (-np.log(sj[:, 0]).mean() - np.log(sp[:, 1]).mean())
    assert float(disc.loss(zj, zp).detach()) == pytest.approx(ref_loss, rel=1e-5)


def test_discriminator_and_optimizers_follow_kim_mnih() -> None:
    disc = FactorDiscriminator(10, seed=0)
    linears = [m for m in disc.net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == (
        [(10, 1000)] + [(1000, 1000)] * 4 + [(1000, 2)])
    slopes = {m.negative_slope for m in disc.net if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}
    model = autoencoder_for((1, 8, 8), 2, "factor_vae", seed=0, **SMALL, **TINY_DISC)
    opts = model.make_optimizers(1e-4)
    vae_group, disc_group = opts["vae"].param_groups[0], opts["discriminator"].param_groups[0]
    assert (vae_group["lr"], vae_group["betas"]) == (1e-4, (0.9, 0.999))
    assert (disc_group["lr"], disc_group["betas"]) == (1e-4, (0.5, 0.9))
    vae_ids = {id(p) for p in vae_group["params"]}
    disc_ids = {id(p) for p in disc_group["params"]}
    assert not vae_ids & disc_ids
    assert vae_ids | disc_ids == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("frozen", ["vae", "discriminator"])
def test_factor_vae_step_moves_only_each_optimizers_part(frozen: str) -> None:
    model = autoencoder_for((1, 8, 8), 2, "factor_vae", seed=0, **SMALL, **TINY_DISC).train()
    opts = model.make_optimizers(1e-2)
    for group in opts[frozen].param_groups:
        group["lr"] = 0.0
    vae_before = [p.detach().clone() for p in model.vae_parameters()]
    disc_before = [p.detach().clone() for p in model.discriminator.parameters()]
    terms = model.training_step(torch.tensor(_binary_images(8)), opts,
                                torch.Generator().manual_seed(0))
    assert set(terms) == {"reconstruction", "kl", "tc", "loss", "discriminator"}
    vae_same = all(torch.equal(a, b) for a, b in zip(vae_before, model.vae_parameters()))
    disc_same = all(torch.equal(a, b)
                    for a, b in zip(disc_before, model.discriminator.parameters()))
    assert (vae_same, disc_same) == ((True, False) if frozen == "vae" else (False, True))


# ---------------------------------------------------------------------------- training
def test_tiny_autoencoder_fit_on_sprites_reduces_reconstruction(sprites_32) -> None:
    model = autoencoder_for((1, 32, 32), 4, "ae", seed=0, **SMALL_32)
    fit = fit_autoencoder(model, sprites_32, epochs=6, batch_size=32, lr=3e-3, seed=0)
    rec = fit.losses["reconstruction"]
    assert isinstance(fit, AutoencoderFit) and rec.shape == (6,)
    assert rec[-1] < rec[0] / 2.5  # measured: 660 → 171 (factor 3.9)
    assert not model.training
    assert fit.to_dict()["losses"]["loss"] == pytest.approx(list(fit.losses["loss"]))


@pytest.mark.parametrize("kind", ["beta_vae", "factor_vae"])
def test_same_seed_same_losses(kind: str) -> None:
    x = _binary_images(40, seed=3)
    extra = TINY_DISC if kind == "factor_vae" else {}

    def run(seed: int) -> dict[str, np.ndarray]:
        model = autoencoder_for((1, 8, 8), 2, kind, seed=0, **SMALL, **extra)
        return fit_autoencoder(model, x, epochs=2, batch_size=16, lr=1e-3, seed=seed).losses

    a, b, c = run(5), run(5), run(6)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["loss"], c["loss"])
    if kind == "factor_vae":
        assert {"tc", "discriminator"} <= a.keys()


def test_flat_inputs_with_gaussian_reconstruction() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    model = autoencoder_for((6,), 2, "beta_vae", seed=0, hidden=(16,),
                            reconstruction="gaussian")
    fit = fit_autoencoder(model, x, epochs=3, batch_size=16, lr=1e-2, seed=0)
    assert fit.losses["loss"][-1] < fit.losses["loss"][0]
    assert model.encode_array(x).shape == (64, 2)


def test_nan_loss_names_epoch_and_step() -> None:
    model = autoencoder_for((6,), 2, "ae", seed=0, hidden=(4,), reconstruction="gaussian")
    x = np.full((8, 6), 1e30, dtype=np.float32)  # (1e30)² overflows float32
    with pytest.raises(ValueError, match=r"epoch 0, step 0"):
        fit_autoencoder(model, x, epochs=1, batch_size=4, lr=1e-3, seed=0)


# ---------------------------------------------------------------------------- errors
def test_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="kind"):
        autoencoder_for((1, 8, 8), 2, "vae_gan")
    with pytest.raises(ValueError, match="code_dim"):
        autoencoder_for((1, 8, 8), 0, "ae")
    with pytest.raises(ValueError, match="beta"):
        autoencoder_for((1, 8, 8), 2, "beta_vae", beta=-1.0, **SMALL)
    with pytest.raises(ValueError, match="gamma"):
        autoencoder_for((1, 8, 8), 2, "factor_vae", gamma=float("nan"), **SMALL)
    with pytest.raises(TypeError, match=r"gamma.*factor_vae"):
        autoencoder_for((1, 8, 8), 2, "ae", gamma=10.0)
    with pytest.raises(ValueError, match="input_shape"):
        autoencoder_for((8, 8), 2, "ae")
    with pytest.raises(ValueError, match="reconstruction"):
        autoencoder_for((1, 8, 8), 2, "ae", reconstruction="laplace", **SMALL)


def test_wrong_inputs_raise_clear_errors() -> None:
    model = autoencoder_for((1, 8, 8), 2, "beta_vae", seed=0, **SMALL)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 1, 8, 8\)"):
        model.loss(torch.zeros(3, 1, 16, 16))
    with pytest.raises(ValueError, match="inputs must have shape"):
        fit_autoencoder(model, np.zeros((4, 1, 16, 16), np.float32), epochs=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.loss(torch.full((2, 1, 8, 8), 2.0))
    with pytest.raises(ValueError, match="NaN"):
        fit_autoencoder(model, np.full((4, 1, 8, 8), np.nan, np.float32), epochs=1)
    with pytest.raises(ValueError, match="lr"):
        fit_autoencoder(model, _binary_images(4), epochs=1, lr=0.0)
    enc = autoencoder_for((1, 8, 8), 2, "ae", seed=0, **SMALL).encoder  # 2 outputs, not 4
    with pytest.raises(ValueError, match="4 outputs"):
        BetaVAE(enc, model.decoder)
    with pytest.raises(ValueError, match="code_dim"):
        FactorVAE(model.encoder, model.decoder, discriminator=FactorDiscriminator(3, 8, 2))
