"""A small seeded training loop for the representation learners of :mod:`.autoencoders`.

:func:`fit_autoencoder` trains any model that offers ``make_optimizers(lr)`` and
``training_step(batch, optimizers, generator) -> {term: float}`` — the AE, the β-VAE and
FactorVAE alike; FactorVAE's alternating discriminator step lives in its own
``training_step``, so the loop never looks at which model it trains.

Settings of Maziarka et al. 2022, App. C.3 (the §4.3 experiment): 100 epochs, batch
size 64, Adam with learning rate 1e-4, latent dimension 8.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._common.progress import track
from .._common.validation import check_array, check_positive_int, check_seed, seed_info


@dataclass(frozen=True)
class AutoencoderFit:
    """Per-epoch training curves of :func:`fit_autoencoder`.

    Attributes
    ----------
    losses : dict of str → (epochs,) arrays
        Sample-weighted epoch means of every term the model reports (``"loss"`` is the
        objective; e.g. ``"reconstruction"``, ``"kl"``, ``"tc"``, ``"discriminator"``).
    model : str
        Class name of the trained model.
    epochs, batch_size, n_samples : int
    lr : float
    seed : int or None
    """

    losses: dict[str, np.ndarray]
    model: str
    epochs: int
    batch_size: int
    lr: float
    seed: int | None
    n_samples: int
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, float]:
        """The last epoch's value of every term."""
        return {k: float(v[-1]) for k, v in self.losses.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (curves as lists)."""
        from .. import __version__

        out = dataclasses.asdict(self)
        out["losses"] = {k: v.tolist() for k, v in self.losses.items()}
        out["tasklens_version"] = __version__
        return out


def _inputs_array(inputs: Any) -> np.ndarray:
    from ..data.taskset import TaskSet

    if isinstance(inputs, TaskSet):
        inputs = inputs.inputs
    if isinstance(inputs, torch.Tensor):
        inputs = inputs.detach().cpu().numpy()
    return check_array(inputs, "inputs", dtype=np.float32)


def fit_autoencoder(
    model: nn.Module,
    inputs: Any,
    epochs: int = 100,
    batch_size: int = 64,
    lr: float = 1e-4,
    seed: int | np.random.Generator | None = 0,
    progress: bool | None = None,
) -> AutoencoderFit:
    """Train an auto-encoder-like model on ``inputs``; the model is updated in place.

    Parameters
    ----------
    model : AutoEncoder, BetaVAE, FactorVAE or any module with ``input_shape``,
        ``make_optimizers(lr)`` and ``training_step(batch, optimizers, generator)``
    inputs : ``(N, *model.input_shape)`` array, tensor or TaskSet (its inputs)
    epochs, batch_size : int
        Defaults: Maziarka et al. 2022 App. C.3 (100 epochs of batches of 64). A final batch of a
        single
        sample is skipped (FactorVAE needs two).
    lr : float
        Adam learning rate (Maziarka et al. 2022 App. C.3: 1e-4).
    seed : int, numpy Generator or None
        Drives the shuffling, the reparameterisation noise and FactorVAE's permutations;
        the same seed on the same initial model gives the same losses.
    progress : bool, optional
        Progress bar on/off (default: only on a terminal).

    Returns
    -------
    AutoencoderFit
        Per-epoch mean of every loss term. The model is left in eval mode.

    Raises
    ------
    ValueError
        Bad arguments, inputs of the wrong shape, or a NaN/infinite loss (the message names
        the epoch and the step; lower ``lr`` or check the inputs).
    """
    for attr in ("input_shape", "make_optimizers", "training_step"):
        if not hasattr(model, attr):
            raise TypeError(f"model must provide {attr} (build it with autoencoder_for or "
                            f"AutoEncoder/BetaVAE/FactorVAE), got {type(model).__name__}")
    x = _inputs_array(inputs)
    shape = tuple(model.input_shape)
    if x.shape[1:] != shape:
        raise ValueError(f"inputs must have shape (N, {', '.join(map(str, shape))}) to match "
                         f"the model, got {x.shape}")
    if len(x) < 2:
        raise ValueError(f"inputs has {len(x)} sample(s); pass at least 2")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    rng = check_seed(seed)
    generator = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
    optimizers = model.make_optimizers(lr)
    device = next(model.parameters()).device
    sums: dict[str, list[float]] = {}
    model.train()
    try:
        for epoch in track(range(epochs), f"training {type(model).__name__}", total=epochs,
                           enabled=progress):
            order = rng.permutation(len(x))
            totals: dict[str, float] = {}
            seen = 0
            for step, start in enumerate(range(0, len(x), batch_size)):
                idx = order[start:start + batch_size]
                if len(idx) < 2:
                    continue
                batch = torch.as_tensor(x[idx], device=device)
                terms = model.training_step(batch, optimizers, generator)
                if not math.isfinite(terms["loss"]):
                    raise ValueError(
                        f"the loss became {terms['loss']} at epoch {epoch}, step {step} "
                        f"({type(model).__name__}, lr={lr}); lower lr or check the inputs "
                        "(Bernoulli reconstruction needs values in [0, 1])"
                    )
                for k, v in terms.items():
                    totals[k] = totals.get(k, 0.0) + v * len(idx)
                seen += len(idx)
            for k, v in totals.items():
                sums.setdefault(k, []).append(v / seen)
    finally:
        model.eval()
    return AutoencoderFit(
        losses={k: np.asarray(v, dtype=np.float64) for k, v in sums.items()},
        model=type(model).__name__, epochs=epochs, batch_size=batch_size, lr=float(lr),
        seed=seed_info(seed), n_samples=len(x),
        settings={k: getattr(model, k) for k in ("code_dim", "beta", "gamma", "reconstruction")
                  if hasattr(model, k)},
    )
