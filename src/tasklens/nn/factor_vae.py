"""FactorVAE (Kim & Mnih 2018, "Disentangling by Factorising"), the third model of Maziarka et al.
2022 §4.3.

FactorVAE adds to the VAE objective a penalty on the total correlation of the aggregate
posterior, ``TC(z) = KL(q(z) || q̄(z))`` with ``q̄(z) = Π_j q(z_j)`` (Kim & Mnih 2018, eq. 2):

``L = E_q[−log p(x | z)] + KL(q(z | x) || N(0, I)) + γ · TC(z)``.

The TC is not tractable; a discriminator ``D`` tells samples of ``q(z)`` (label 0) from
samples of ``q̄(z)`` (label 1), the latter obtained by permuting every latent dimension
independently across the batch (Kim & Mnih 2018, Algorithm 1, ``permute_dims``). With
``D(z)`` the probability of label 0, the density-ratio trick gives (Kim & Mnih 2018, §2,
eq. 3)

``TC(z) ≈ E_q(z)[log D(z) − log(1 − D(z))] = E_q(z)[ℓ_0(z) − ℓ_1(z)]``

where ``ℓ_0, ℓ_1`` are the discriminator's two logits (softmax over them gives ``D``).

Published defaults used here (Kim & Mnih 2018, Appendix, Table 2 and the optimisation
paragraph; the same values are the defaults of the reference implementations of Lee
(github.com/1Konny/FactorVAE) and of Abdi et al. 2019, which Maziarka et al. 2022 uses):

- discriminator: 6 fully connected layers — 5 hidden layers of 1000 units with
  LeakyReLU(0.2), then a linear layer to 2 logits (Abdi et al. count the output layer in
  their ``num_layer_disc = 6``, which reproduces "an MLP with 6 layers");
- VAE optimiser: Adam, lr 1e-4, β1 = 0.9, β2 = 0.999;
- discriminator optimiser: Adam, lr 1e-4, β1 = 0.5, β2 = 0.9;
- γ = 6.4 (the dSprites setting of the reference implementation of Lee; Kim & Mnih sweep
  γ ∈ {10, 20, …, 100} on dSprites — pass ``gamma`` to follow them).

Decision (Kim & Mnih's Algorithm 2 draws a second, independent batch for the discriminator):
:meth:`FactorVAE.training_step` updates the VAE on the whole batch, then trains the
discriminator with the first half of the batch's (detached) codes as samples of ``q(z)`` and
the permuted second half as samples of ``q̄(z)`` — two disjoint halves, hence independent, as
in the algorithm, without a second data loader.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .._common.validation import check_positive_int
from ._utils import Seed, check_batch, seeded_init
from .autoencoders import VAE_ADAM_BETAS, BetaVAE, _check_lr, check_nonnegative

#: Adam betas of the discriminator, Kim & Mnih (2018), Appendix
DISCRIMINATOR_ADAM_BETAS: tuple[float, float] = (0.5, 0.9)
#: default TC weight γ (see the module docstring)
DEFAULT_GAMMA = 6.4


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Permute each column of ``z`` independently across the batch (Kim & Mnih, Alg. 1).

    If the rows of ``z`` are samples of ``q(z)``, the rows of the result are (approximately)
    samples of the product of its marginals ``q̄(z) = Π_j q(z_j)``: every column keeps its
    values, the pairing between columns is broken.

    Parameters
    ----------
    z : (N, d) tensor
    generator : torch.Generator, optional
        Source of the permutations.

    Returns
    -------
    (N, d) tensor
    """
    if not isinstance(z, torch.Tensor) or z.ndim != 2:
        raise ValueError(f"z must be a (N, d) tensor, got {getattr(z, 'shape', type(z))}")
    n, d = z.shape
    # argsort of uniform noise = one independent random permutation per column
    keys = torch.rand((n, d), generator=generator, device="cpu").to(z.device)
    index = keys.argsort(dim=0)
    return torch.gather(z, 0, index)


def tc_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Total-correlation estimate ``mean(ℓ_0 − ℓ_1)`` from discriminator logits.

    ``ℓ_0 − ℓ_1 = log D / (1 − D)`` with ``D = softmax(ℓ)_0`` the probability that a code
    comes from ``q(z)`` rather than from the product of marginals (Kim & Mnih 2018, eq. 3).

    Parameters
    ----------
    logits : (N, 2) tensor

    Returns
    -------
    scalar tensor
    """
    if logits.ndim != 2 or logits.shape[1] != 2:
        raise ValueError(f"logits must have shape (N, 2), got {tuple(logits.shape)}")
    return (logits[:, 0] - logits[:, 1]).mean()


class FactorDiscriminator(nn.Module):
    """The FactorVAE discriminator: an MLP ``(N, d) → (N, 2)`` logits.

    Label 0: a code drawn from ``q(z)``; label 1: a code from the product of marginals.

    Parameters
    ----------
    code_dim : int
    hidden : int
        Width of the hidden layers (1000 in Kim & Mnih 2018).
    n_layers : int >= 2
        Number of linear layers, the output layer included (6 in Kim & Mnih 2018).
    negative_slope : float
        LeakyReLU slope (0.2 in the reference implementations).
    seed : int, numpy Generator or None
    """

    def __init__(self, code_dim: int, hidden: int = 1000, n_layers: int = 6,
                 negative_slope: float = 0.2, *, seed: Seed = None) -> None:
        super().__init__()
        self.code_dim = check_positive_int(code_dim, "code_dim")
        self.hidden = check_positive_int(hidden, "hidden")
        self.n_layers = check_positive_int(n_layers, "n_layers", minimum=2)
        slope = check_nonnegative(negative_slope, "negative_slope")
        layers: list[nn.Module] = []
        prev = self.code_dim
        with seeded_init(seed):
            for _ in range(self.n_layers - 1):
                layers += [nn.Linear(prev, self.hidden), nn.LeakyReLU(slope)]
                prev = self.hidden
            layers.append(nn.Linear(prev, 2))
            self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z : (N, code_dim) → logits (N, 2)."""
        check_batch(z, (self.code_dim,), "z")
        return self.net(z)

    def tc_estimate(self, z: torch.Tensor) -> torch.Tensor:
        """The density-ratio estimate of ``TC(z)`` on codes ``z ~ q(z)`` (scalar)."""
        return tc_from_logits(self(z))

    def loss(self, z_joint: torch.Tensor, z_permuted: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of telling ``q(z)`` (label 0) from ``q̄(z)`` (label 1).

        ``½ [CE(D(z_joint), 0) + CE(D(z_permuted), 1)]`` (Kim & Mnih 2018, Algorithm 2).
        """
        logits_j, logits_p = self(z_joint), self(z_permuted)
        zeros = torch.zeros(len(logits_j), dtype=torch.long, device=logits_j.device)
        ones = torch.ones(len(logits_p), dtype=torch.long, device=logits_p.device)
        return 0.5 * (F.cross_entropy(logits_j, zeros) + F.cross_entropy(logits_p, ones))


class FactorVAE(BetaVAE):
    """FactorVAE: a VAE plus γ times the discriminator's total-correlation estimate.

    ``L = E_q[−log p(x|z)] + KL(q(z|x) || N(0, I)) + γ · TC(z)`` (Kim & Mnih 2018, eq. 2,
    negated); TC from :func:`tc_from_logits` on the codes ``z`` drawn for the
    reconstruction. Two optimisers (see the module docstring): the VAE step does not move
    the discriminator, the discriminator step does not move the VAE.

    Parameters
    ----------
    encoder, decoder : nn.Module
        As for :class:`~tasklens.nn.autoencoders.BetaVAE` (encoder with ``2·d`` outputs).
    gamma : float >= 0
        TC weight γ (default :data:`DEFAULT_GAMMA`).
    discriminator : FactorDiscriminator, optional
        Default: ``FactorDiscriminator(d)`` (Kim & Mnih's 6 × 1000), seeded by ``seed``.
    reconstruction : {"bernoulli", "gaussian"}
    discriminator_lr : float
        Adam learning rate of the discriminator (1e-4, Kim & Mnih 2018).
    seed : int, numpy Generator or None
        Initialisation of the default discriminator.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, gamma: float = DEFAULT_GAMMA,
                 discriminator: FactorDiscriminator | None = None,
                 reconstruction: str = "bernoulli", *, discriminator_lr: float = 1e-4,
                 seed: Seed = None) -> None:
        super().__init__(encoder, decoder, beta=1.0, reconstruction=reconstruction)
        self.gamma = check_nonnegative(gamma, "gamma")
        if discriminator is None:
            discriminator = FactorDiscriminator(self.code_dim, seed=seed)
        if not isinstance(discriminator, nn.Module):
            raise TypeError("discriminator must be a FactorDiscriminator (an nn.Module "
                            f"mapping (N, d) codes to (N, 2) logits), got "
                            f"{type(discriminator).__name__}")
        disc_dim = getattr(discriminator, "code_dim", self.code_dim)
        if disc_dim != self.code_dim:
            raise ValueError(f"discriminator.code_dim={disc_dim} differs from the code "
                             f"dimension {self.code_dim}")
        self.discriminator = discriminator
        self.discriminator_lr = _check_lr(discriminator_lr)

    def vae_parameters(self) -> list[nn.Parameter]:
        """Encoder and decoder parameters (the discriminator's excluded)."""
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def loss(self, x: torch.Tensor, *, sample: bool | None = None,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Terms ``{"reconstruction", "kl", "tc", "loss", "discriminator"}`` on a batch.

        ``loss`` is the VAE objective (``reconstruction + kl + γ·tc``); ``discriminator`` is
        the discriminator's loss on the first half of the (detached) codes against the
        permuted second half (NaN for a batch of one).
        """
        terms, z = self._vae_terms(x, sample, generator)
        tc = self.discriminator.tc_estimate(z)
        terms["tc"] = tc
        terms["loss"] = terms["loss"] + self.gamma * tc
        terms["discriminator"] = self._discriminator_loss(z.detach(), generator)
        return terms

    def _discriminator_loss(self, z: torch.Tensor,
                            generator: torch.Generator | None) -> torch.Tensor:
        half = len(z) // 2
        if half == 0:
            return torch.tensor(float("nan"), device=z.device)
        return self.discriminator.loss(z[:half], permute_dims(z[half:2 * half], generator))

    def make_optimizers(self, lr: float = 1e-4) -> dict[str, torch.optim.Optimizer]:
        """``{"vae": Adam(lr, 0.9, 0.999), "discriminator": Adam(discriminator_lr, 0.5, 0.9)}``
        (Kim & Mnih 2018, Appendix)."""
        lr = _check_lr(lr)
        return {
            "vae": torch.optim.Adam(self.vae_parameters(), lr=lr, betas=VAE_ADAM_BETAS),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(),
                                              lr=self.discriminator_lr,
                                              betas=DISCRIMINATOR_ADAM_BETAS),
        }

    def training_step(self, batch: torch.Tensor, optimizers: Mapping[str, torch.optim.Optimizer],
                      generator: torch.Generator | None = None) -> dict[str, float]:
        """A VAE step on the whole batch, then a discriminator step (Kim & Mnih, Alg. 2)."""
        if len(batch) < 2:
            raise ValueError("FactorVAE needs batches of at least 2 samples (one half for "
                             "q(z), one permuted half for the product of marginals)")
        vae_opt, disc_opt = optimizers["vae"], optimizers["discriminator"]
        terms, z = self._vae_terms(batch, True, generator)
        tc = self.discriminator.tc_estimate(z)
        vae_loss = terms["loss"] + self.gamma * tc
        vae_opt.zero_grad(set_to_none=True)
        vae_loss.backward()
        vae_opt.step()
        # The VAE backward also reached the discriminator's weights; only its own loss may
        # move them, hence the zero_grad before its backward.
        disc_loss = self._discriminator_loss(z.detach(), generator)
        disc_opt.zero_grad(set_to_none=True)
        disc_loss.backward()
        disc_opt.step()
        out = {k: float(v.detach()) for k, v in terms.items()}
        out.update(tc=float(tc.detach()), loss=float(vae_loss.detach()),
                   discriminator=float(disc_loss.detach()))
        return out

