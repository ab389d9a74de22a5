"""Representation similarity between single-task backbones: RSA (Azorin et al. 2023,
Table 7 eq. 2; revisited from Dwivedi and Roig 2019) or linear CKA.

The pairwise measures are those of :mod:`tasklens.represent.similarity` (one implementation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._common.validation import check_choice
from ..data.matrix import TaskMatrix
from ..nn.base import MTLModel
from ..represent.similarity import linear_cka, rsa
from ._models import check_models, eval_mode

REPRESENTATION_METHODS: tuple[str, ...] = ("rsa", "cka")


def backbone_features(backbones: Mapping[str, nn.Module], x: Tensor) -> dict[str, np.ndarray]:
    """The backbone output of each single-task model on ``x``, flattened to ``(N, D)``.

    An :class:`~tasklens.nn.MTLModel` contributes ``encode(x)`` (``z[task]`` when its
    representation is per task); any other module its ``forward(x)``. Run in eval mode,
    without gradients.

    Parameters
    ----------
    backbones : mapping {task: nn.Module}
    x : (N, ...) tensor

    Returns
    -------
    dict {task: (N, D_task) float64 array}
    """
    mods = check_models(backbones, list(backbones), "backbones")
    if not isinstance(x, Tensor) or x.ndim < 2:
        raise TypeError("x must be a torch.Tensor of shape (N, ...)")
    out: dict[str, np.ndarray] = {}
    with torch.no_grad(), eval_mode(*mods.values()):
        for task, module in mods.items():
            z: Any = module.encode(x) if isinstance(module, MTLModel) else module(x)
            if isinstance(z, Mapping):
                if task not in z:
                    raise ValueError(f"the backbone of task {task!r} returns features for "
                                     f"{list(z)}, not {task!r}")
                z = z[task]
            if not isinstance(z, Tensor) or z.shape[0] != x.shape[0]:
                raise ValueError(f"the backbone of task {task!r} must return (N, ...) "
                                 f"features for N = {x.shape[0]} inputs")
            out[task] = z.reshape(z.shape[0], -1).to(torch.float64).cpu().numpy()
    return out


def representation_similarity_from_features(features: Mapping[str, Any], *,
                                            method: str = "rsa") -> TaskMatrix:
    """RSA or linear-CKA affinity from precomputed representations of the same samples.

    Parameters
    ----------
    features : mapping {task: (N, D_task) array-like}
        K >= 2 tasks, the same N samples in the same order.
    method : {"rsa", "cka"}
        ``"rsa"``: Spearman correlation of the representational dissimilarity matrices
        (:func:`tasklens.represent.rsa`; in [−1, 1]); ``"cka"``: linear CKA
        (:func:`tasklens.represent.linear_cka`; in [0, 1]).

    Returns
    -------
    TaskMatrix, (K, K), symmetric with unit diagonal
    """
    check_choice(method, "method", REPRESENTATION_METHODS)
    if not isinstance(features, Mapping) or len(features) < 2:
        raise ValueError("features must be a mapping {task: (N, D) array} with at least 2 "
                         "tasks")
    names = list(features)
    rows = {t: np.shape(features[t])[0] if np.ndim(features[t]) else 0 for t in names}
    if len(set(rows.values())) != 1:
        raise ValueError(f"batch size mismatch: the representations have rows {rows}; they "
                         "must describe the same samples")
    measure = rsa if method == "rsa" else linear_cka
    k = len(names)
    values = np.eye(k)
    for i in range(k):
        for j in range(i + 1, k):
            values[i, j] = values[j, i] = measure(features[names[i]], features[names[j]])
    label = ("representation similarity analysis (RSA)" if method == "rsa"
             else "linear CKA")
    return TaskMatrix(values, tuple(names), label)


def representation_similarity(backbones: Mapping[str, nn.Module], x: Tensor, *,
                              method: str = "rsa") -> TaskMatrix:
    """Representation similarity of the single-task backbones on a batch.

    ``RSA[a, b] = RSA(θ_Ba, θ_Bb, X)`` (Azorin et al. 2023, Table 7 eq. 2): the
    Spearman correlation between the representational dissimilarity matrices
    (``1 − Pearson`` between samples) of the two backbones' outputs on the batch ``X``;
    symmetric, unit diagonal. ``method="cka"`` uses linear CKA instead.

    Parameters
    ----------
    backbones : mapping {task: nn.Module}
        The single-task model (or its backbone) of each task; see :func:`backbone_features`.
    x : (N, ...) tensor
        N >= 3 samples (Azorin et al. 2023 uses 2,048 test images).
    method : {"rsa", "cka"}

    Returns
    -------
    TaskMatrix, (K, K)
    """
    check_choice(method, "method", REPRESENTATION_METHODS)
    if not isinstance(backbones, Mapping) or len(backbones) < 2:
        raise ValueError("backbones must be a mapping {task: nn.Module} with at least 2 tasks")
    return representation_similarity_from_features(backbone_features(backbones, x),
                                                   method=method)
