"""Data and models of the disentanglement study (Maziarka et al. 2022, §3-4).

The orchestration lives in :mod:`tasklens.studies.disentanglement`; this module holds the pieces it
trains and reads:

- :func:`study_data` — the task set (random-MLP tasks of the factors, Maziarka et al. 2022 §3.1)
and a
  ground-truth source that renders any factor combination (for the FactorVAE and BetaVAE
  scores), at 64×64 or 2×2-average-pooled to 32×32;
- :func:`train_encoder` — random, single-task, multi-task multi-head and one-head models
  (Maziarka et al. 2022 §4.1) and the AE / β-VAE / FactorVAE of §4.3;
- :func:`encode_inputs` — the code ``encode(x)`` (for HPS the shared representation z);
- :func:`fit_frozen_decoder` — a :class:`~tasklens.nn.ConvDecoder` trained on frozen codes
  (Maziarka et al. 2022 §4.2, App. C.2);
- :func:`fit_heads_on_codes` — a multi-task network (one Maziarka et al. 2022 Table 3 head per
task) trained
  on frozen codes, scored by test RMSE (Maziarka et al. 2022 §4.3, Table 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._common.validation import check_choice, check_seed
from ..data import TaskSet
from ..represent.sources import GridDataSource

#: data sets the study knows how to build and render
STUDY_DATASETS: tuple[str, ...] = ("sprites", "shapes3d", "mpi3d")
#: models whose code is read from a conv encoder trained (or not) on the tasks (Maziarka et al.
#: 2022 §4.1)
SUPERVISED_KINDS: tuple[str, ...] = ("random", "single_task", "multi_head", "one_head")
#: representation learners of Maziarka et al. 2022 §4.3 (names of
#: :func:`tasklens.nn.autoencoder_for`)
AUTOENCODER_KINDS: tuple[str, ...] = ("ae", "beta_vae", "factor_vae")


def pool_images(images: np.ndarray, image_size: int) -> np.ndarray:
    """Average-pool ``(N, C, S, S)`` images to ``(N, C, image_size, image_size)``.

    ``S`` must be a multiple of ``image_size``; pooling keeps values in [0, 1], so the
    Bernoulli reconstruction loss still applies.
    """
    n, c, s, _ = images.shape
    if s == image_size:
        return images.astype(np.float32, copy=False)
    if s % image_size:
        raise ValueError(f"cannot pool {s}×{s} images to {image_size}×{image_size}")
    k = s // image_size
    return images.reshape(n, c, image_size, k, image_size, k).mean(axis=(3, 5)).astype(np.float32)


def _renderer(data: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[..., TaskSet]]:
    """(factor codes → (n, C, 64, 64) images, task-set builder) for a data set."""
    if data == "sprites":
        from ..data import sprites
        from ..data.dsprites import GRID as SPRITES_GRID
        from ..data.dsprites import render_sprites

        def render(codes: np.ndarray) -> np.ndarray:
            values = SPRITES_GRID.codes_to_values(codes)
            return render_sprites(*values.T)[:, None].astype(np.float32)

        return render, sprites
    if data == "shapes3d":
        from ..data import shapes3d
        from ..data.shapes3d_procedural import GRID as SHAPES3D_GRID
        from ..data.shapes3d_procedural import render_shapes3d

        def render(codes: np.ndarray) -> np.ndarray:
            values = SHAPES3D_GRID.codes_to_values(codes)
            return render_shapes3d(values).transpose(0, 3, 1, 2)

        return render, shapes3d
    from ..data import mpi3d
    from ..data.mpi3d_procedural import GRID as MPI3D_GRID
    from ..data.mpi3d_procedural import render_mpi3d

    def render(codes: np.ndarray) -> np.ndarray:
        return render_mpi3d(MPI3D_GRID.codes_to_values(codes)).transpose(0, 3, 1, 2)

    return render, mpi3d


@dataclass(frozen=True)
class StudyData:
    """Train/test task sets of one study and the source the intervention metrics draw from.

    Attributes
    ----------
    train, test : TaskSet
        Images ``(N, C, S, S)`` in [0, 1], ``n_tasks`` regression tasks ``mlp_i``, factors.
    source : GridDataSource
        Renders observations (pooled like the task sets) of any factor codes.
    factor_source : GridDataSource
        Observations are the standardized factor values themselves: with the identity map it
        scores the ground-truth factors as a "code".
    """

    train: TaskSet
    test: TaskSet
    source: GridDataSource
    factor_source: GridDataSource

    @property
    def factor_names(self) -> tuple[str, ...]:
        assert self.train.factors is not None
        return self.train.factors.names


def standardized_factors(codes: np.ndarray, levels: tuple[int, ...]) -> np.ndarray:
    """Factor codes ``(n, F)`` scaled to zero mean, unit variance over the uniform grid."""
    lv = np.asarray(levels, dtype=np.float64)
    mean, std = (lv - 1) / 2, np.sqrt(np.maximum(lv**2 - 1, 1e-12) / 12)
    return (np.asarray(codes, dtype=np.float64) - mean) / std


def study_data(data: str, n_train: int, n_test: int, n_tasks: int, image_size: int,
               seed: int = 0) -> StudyData:
    """Build the study's task sets: random-MLP tasks of the factors (Maziarka et al. 2022 §3.1).

    ``n_train + n_test`` distinct images are drawn from the full factor grid with ``seed``
    and split at random; the task networks depend on ``seed`` too (one task family per
    study, shared by every model seed, as in the paper's three runs on one data set).

    Parameters
    ----------
    data : {"sprites", "shapes3d", "mpi3d"}
    n_train, n_test : int
    n_tasks : int
    image_size : {32, 64}
        32 average-pools the 64×64 renderings 2×2 (a CPU-scale deviation from Maziarka et al. 2022).
    seed : int
    """
    check_choice(data, "data", STUDY_DATASETS)
    check_choice(image_size, "image_size", (32, 64))
    render, build = _renderer(data)
    ts = build(n_train + n_test, seed=seed, tasks="random_mlp", n_tasks=n_tasks)
    ts = TaskSet(pool_images(ts.inputs, image_size), ts.tasks, ts.factors, ts.groups, ts.name,
                 {**ts.info, "image_size": image_size})
    order = check_seed(seed).permutation(len(ts))
    train, test = ts.subset(np.sort(order[:n_train])), ts.subset(np.sort(order[n_train:]))
    assert ts.factors is not None
    levels = tuple(len(lv) for lv in ts.factors.levels)
    source = GridDataSource(lambda codes: pool_images(render(codes), image_size), levels)
    factor_source = GridDataSource(lambda codes: standardized_factors(codes, levels), levels)
    return StudyData(train, test, source, factor_source)


# ---------------------------------------------------------------------------- models
class _CodeInput(nn.Module):
    """Identity encoder over precomputed codes (``out_features`` tells heads their width)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.out_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _targets_matrix(ts: TaskSet) -> np.ndarray:
    """(N, K) float32 stacked regression targets, task order."""
    return np.stack([np.asarray(ts.tasks[t].targets, dtype=np.float32).reshape(len(ts))
                     for t in ts.task_names], axis=1)


def one_head_taskset(ts: TaskSet) -> TaskSet:
    """All tasks as one ``(N, K)`` multivariate regression target named ``all_tasks``."""
    return TaskSet.from_arrays(
        ts.inputs, {"all_tasks": _targets_matrix(ts)}, {"all_tasks": "regression"},
        factors=None if ts.factors is None else ts.factors.values,
        factor_names=None if ts.factors is None else ts.factors.names,
        factor_levels=None if ts.factors is None else ts.factors.levels,
        name=f"{ts.name}_one_head", info=dict(ts.info))


@dataclass(frozen=True)
class TrainedEncoder:
    """A trained (or untrained) model and how to read its code.

    Attributes
    ----------
    model : nn.Module
        ``model.encode(x)`` gives the code.
    kind : str
    train_loss : float
        Final training loss (NaN for the random encoder).
    test_task_mse : float
        Mean test MSE over the tasks the model was trained on (NaN when it has no heads).
    decoder : nn.Module or None
        The auto-encoders' own decoder (logits out).
    """

    model: nn.Module
    kind: str
    train_loss: float
    test_task_mse: float
    decoder: nn.Module | None = None


def train_encoder(kind: str, data: StudyData, *, code_dim: int, epochs: int, lr: float,
                  batch_size: int, seed: int, task: str | None = None,
                  n_tasks: int | None = None, ae_lr: float = 1e-3) -> TrainedEncoder:
    """Build and train one model of the study.

    Parameters
    ----------
    kind : {"random", "single_task", "multi_head", "one_head", "ae", "beta_vae",
        "factor_vae"}
        ``multi_head``: HPS, one Maziarka et al. 2022 Table 3 head per task, sum of task MSEs
        (Maziarka et al. 2022 §3.2.1,
        App. C.1). ``one_head``: the same encoder and one head with ``K`` outputs
        (multivariate regression, Maziarka et al. 2022 §4.1, Fig. 4). ``single_task``: one head on
        ``task``.
        ``random``: untrained (PyTorch default initialisation, Maziarka et al. 2022 App. C.2).
    data : StudyData
    code_dim, epochs, lr, batch_size, seed
        Adam, as in Maziarka et al. 2022 App. C.1 (the paper: 200 epochs, lr 1e-3, batch 256).
    task : str, optional
        The task of a single-task model.
    n_tasks : int, optional
        Train ``multi_head`` on the first ``n_tasks`` tasks only (App. G sweep).
    ae_lr : float
        Adam learning rate of the auto-encoders (Maziarka et al. 2022 App. C.3 uses 1e-4 for 100
        epochs).
    """
    from ..nn import autoencoder_for, fit_autoencoder, hps_for
    from ..train import Trainer
    from ..train.evaluation import evaluate

    ts = data.train
    shape = ts.input_shape
    if kind in AUTOENCODER_KINDS:
        ae = autoencoder_for(shape, code_dim, kind, seed=seed)
        fit = fit_autoencoder(ae, ts.inputs, epochs=epochs, batch_size=batch_size, lr=ae_lr,
                              seed=seed, progress=False)
        return TrainedEncoder(ae, kind, fit.final["loss"], float("nan"), ae.decoder)
    if kind == "single_task":
        if task is None:
            raise ValueError("kind='single_task' needs task=")
        train, test = ts.select([task]), data.test.select([task])
    elif kind == "one_head":
        train, test = one_head_taskset(ts), one_head_taskset(data.test)
    elif kind in ("multi_head", "random"):
        names = ts.task_names if n_tasks is None else ts.task_names[:n_tasks]
        train, test = ts.select(names), data.test.select(names)
    else:
        check_choice(kind, "kind", SUPERVISED_KINDS + AUTOENCODER_KINDS)
        raise AssertionError  # unreachable: check_choice raised
    # the 003 encoder (App. A, Table 2) by name: the study compares its representations
    model = hps_for(train, code_dim=code_dim, image_encoder="beta_vae", seed=seed)
    if kind == "random":
        return TrainedEncoder(model, kind, float("nan"), _mean_loss(evaluate(model, test)))
    result = Trainer(model, train, "ew", lr=lr, batch_size=batch_size, seed=seed,
                     progress=False).fit(epochs)
    last = result.history[-1]
    return TrainedEncoder(model, kind, float(last.get("train/loss", float("nan"))),
                          _mean_loss(evaluate(model, test)))


def _mean_loss(metrics: dict[str, dict[str, float]]) -> float:
    """Mean test MSE per task; the one-head model's loss is already a mean over its K outputs."""
    return float(np.mean([m["loss"] for m in metrics.values()]))


@torch.no_grad()
def encode_inputs(model: nn.Module, inputs: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Codes ``model.encode(x)`` of ``inputs`` in eval mode: ``(N, d)`` float64."""
    was_training = model.training
    model.eval()
    try:
        out = [model.encode(torch.as_tensor(np.asarray(inputs[i:i + batch_size],
                                                       dtype=np.float32))).numpy()
               for i in range(0, len(inputs), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(out).astype(np.float64)


@dataclass(frozen=True)
class FrozenDecoderFit:
    """A decoder trained on frozen codes (Maziarka et al. 2022 §4.2) and its test reconstruction
    errors.

    Attributes
    ----------
    decoder : nn.Module
        Codes → logits.
    mse, bce : float
        Per-pixel test mean squared error of ``sigmoid(logits)`` and binary cross-entropy.
    """

    decoder: nn.Module
    mse: float
    bce: float


def fit_frozen_decoder(codes_train: np.ndarray, images_train: np.ndarray,
                       codes_test: np.ndarray, images_test: np.ndarray, *, epochs: int,
                       lr: float = 2e-4, batch_size: int = 64, seed: int = 0
                       ) -> FrozenDecoderFit:
    """Train a :class:`~tasklens.nn.ConvDecoder` from frozen codes to images (Maziarka et al. 2022
    §4.2).

    The encoder is never touched: its codes are computed once, so this is exactly "the
    parameters of the corresponding encoders were kept fixed". Maziarka et al. 2022 App. C.2
    minimizes the
    MSE with Adam, lr 2e-4 halved every 100 of 500 epochs, batches of 64; we minimize the
    Bernoulli loss of :func:`~tasklens.nn.reconstruction_loss` (binary sprites; it trains
    faster than MSE in few epochs) at a constant ``lr`` and report both errors per pixel.
    """
    from ..nn import ConvDecoder, reconstruction_loss

    rng = check_seed(seed)
    decoder = ConvDecoder(images_train.shape[1:], codes_train.shape[1], seed=rng.spawn(1)[0])
    opt = torch.optim.Adam(decoder.parameters(), lr=lr)
    z = torch.as_tensor(codes_train, dtype=torch.float32)
    x = torch.as_tensor(images_train, dtype=torch.float32)
    decoder.train()
    for _ in range(epochs):
        order = rng.permutation(len(z))
        for start in range(0, len(z), batch_size):
            idx = torch.as_tensor(order[start:start + batch_size])
            loss = reconstruction_loss(decoder(z[idx]), x[idx], "bernoulli")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    decoder.eval()
    mse, bce = reconstruction_errors(decoder, codes_test, images_test)
    return FrozenDecoderFit(decoder, mse, bce)


@torch.no_grad()
def reconstruction_errors(decoder: nn.Module, codes: np.ndarray, images: np.ndarray,
                          batch_size: int = 256) -> tuple[float, float]:
    """Per-pixel (MSE of ``sigmoid(logits)``, BCE) of a logits decoder on ``(codes, images)``."""
    mse_sum = bce_sum = 0.0
    for i in range(0, len(codes), batch_size):
        logits = decoder(torch.as_tensor(codes[i:i + batch_size], dtype=torch.float32))
        x = torch.as_tensor(images[i:i + batch_size], dtype=torch.float32)
        mse_sum += float(((torch.sigmoid(logits) - x) ** 2).sum())
        bce_sum += float(nn.functional.binary_cross_entropy_with_logits(
            logits, x, reduction="sum"))
    n = images.size
    return mse_sum / n, bce_sum / n


def decode_images(decoder: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    """``codes → sigmoid(decoder(codes))`` as a numpy function (for traversal figures)."""
    @torch.no_grad()
    def fn(codes: np.ndarray) -> np.ndarray:
        decoder.eval()
        return torch.sigmoid(decoder(torch.as_tensor(codes, dtype=torch.float32))).numpy()
    return fn


def fit_heads_on_codes(codes_train: np.ndarray, train: TaskSet, codes_test: np.ndarray,
                       test: TaskSet, *, epochs: int, lr: float = 1e-4, batch_size: int = 64,
                       seed: int = 0) -> dict[str, Any]:
    """Train Maziarka et al. 2022 Table 3 heads on frozen codes; test RMSE per task (Maziarka et
    al. 2022 §4.3, Table 1).

    Maziarka et al. 2022 App. C.3: 30 epochs, batch 64, Adam lr 1e-4. The heads read the codes
    directly
    (an identity "encoder"), one head per task, sum of task MSEs.

    Returns
    -------
    dict with ``rmse`` (mean over tasks of the test RMSE, on the standardized targets) and
    ``rmse_per_task``.
    """
    from ..nn import hps_for
    from ..train import Trainer
    from ..train.evaluation import evaluate

    def on_codes(codes: np.ndarray, ts: TaskSet) -> TaskSet:
        return TaskSet.from_arrays(codes.astype(np.float32),
                                   {t: ts.tasks[t].targets for t in ts.task_names},
                                   dict.fromkeys(ts.task_names, "regression"))

    tr, te = on_codes(codes_train, train), on_codes(codes_test, test)
    model = hps_for(tr, encoder=_CodeInput(codes_train.shape[1]), seed=seed)
    Trainer(model, tr, "ew", lr=lr, batch_size=batch_size, seed=seed, progress=False).fit(epochs)
    per_task = {t: float(np.sqrt(m["loss"])) for t, m in evaluate(model, te).items()}
    return {"rmse": float(np.mean(list(per_task.values()))), "rmse_per_task": per_task}
