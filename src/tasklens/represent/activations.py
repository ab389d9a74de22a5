"""Activations of named layers of any torch model, and the layer × layer CKA matrix.

:func:`capture_activations` replaces hand-written forward hooks: it runs a model over a
loader (or an array of inputs) in eval mode without gradients, keeps the outputs of the
named submodules for at most ``max_samples`` samples, and returns one ``(N, D)`` array per
layer. :func:`layer_cka_matrix` compares them pairwise with linear CKA (Kornblith et al.
2019, "Similarity of Neural Network Representations Revisited", ICML), computed from the
``N × N`` Gram matrices so that wide convolutional layers (D in the tens of thousands)
cost ``O(N² D)`` rather than ``O(D²)``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.validation import check_array, check_choice, check_scalar

#: how :func:`capture_activations` turns a ``(N, C, H, W)`` map into rows
SPATIAL_MODES = ("flatten", "mean")


def _batches(data: Any, batch_size: int) -> Iterable[Any]:
    """Input batches from a TaskSet, an array / tensor of inputs, or an iterable of batches
    (``x`` or ``(x, ...)``, as a DataLoader yields)."""
    import torch

    from ..data.taskset import TaskSet

    if isinstance(data, TaskSet):
        data = data.inputs
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))
    if isinstance(data, torch.Tensor):
        return (data[i:i + batch_size] for i in range(0, len(data), batch_size))
    if isinstance(data, Iterable):
        return (b[0] if isinstance(b, (tuple, list)) else b for b in data)
    raise TypeError("data must be a TaskSet, an array or tensor of inputs, or an iterable of "
                    f"batches such as a DataLoader; got {type(data).__name__}")


def _rows(name: str, output: Any, spatial: str) -> Any:
    import torch

    if not isinstance(output, torch.Tensor):
        raise TypeError(f"layer {name!r} returns {type(output).__name__}, not a tensor; "
                        "capture a submodule whose output is one tensor")
    out = output.detach()
    if spatial == "mean" and out.ndim > 2:
        out = out.mean(dim=tuple(range(2, out.ndim)))
    return out.reshape(out.shape[0], -1).float().cpu()


def capture_activations(
    model: Any,
    data: Any,
    layers: Sequence[str],
    *,
    max_samples: int = 2048,
    batch_size: int = 256,
    spatial: str = "flatten",
) -> dict[str, np.ndarray]:
    """Outputs of the named submodules of ``model`` over ``data``, one ``(N, D)`` array each.

    The model runs in eval mode under ``torch.no_grad()`` (its mode is restored after);
    forward hooks are removed even when the forward pass fails. Batches stop once
    ``max_samples`` samples are seen, so memory is ``max_samples · Σ D`` floats.

    Parameters
    ----------
    model : torch.nn.Module
    data : TaskSet, (N, ...) array or tensor, or an iterable of batches (a DataLoader)
        Batches may be ``x`` or ``(x, targets, ...)``; ``x`` is what ``model`` takes.
    layers : sequence of str
        Names from ``model.named_modules()``, e.g. ``"encoder.blocks.0"``.
    max_samples : int
        The first ``max_samples`` samples of ``data`` are kept.
    batch_size : int
        Batch size when ``data`` is an array or a TaskSet.
    spatial : {"flatten", "mean"}
        ``(N, C, H, W)`` outputs become ``(N, C·H·W)`` rows, or ``(N, C)`` by averaging
        over space (less memory, invariant to where a feature fires).

    Returns
    -------
    dict {layer name: (N, D) float32 array}
        In the order of ``layers``; ``N = min(max_samples, len(data))``.
    """
    import torch

    max_samples = check_scalar(max_samples, "max_samples", numbers.Integral, low=1)
    batch_size = check_scalar(batch_size, "batch_size", numbers.Integral, low=1)
    check_choice(spatial, "spatial", SPATIAL_MODES)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
        raise TypeError("layers must be a non-empty sequence of module names, e.g. "
                        "['encoder.blocks.0']")
    modules = dict(model.named_modules())
    unknown = [n for n in layers if n not in modules]
    if unknown:
        known = [n for n in modules if n][:12]
        raise ValueError(f"unknown layer(s) {unknown}; model layers include {known}")
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers lists a name twice: {list(layers)}")
    kept: dict[str, list[Any]] = {n: [] for n in layers}
    taken = 0  # samples of the current batch to keep, read by the hooks

    def hook_for(name: str) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            kept[name].append(_rows(name, output, spatial)[:taken])
        return hook

    handles = [modules[n].register_forward_hook(hook_for(n)) for n in layers]
    was_training = model.training
    seen = 0
    try:
        model.eval()
        with torch.no_grad():
            for x in _batches(data, batch_size):
                if seen >= max_samples:
                    break
                taken = min(len(x), max_samples - seen)
                model(x[:taken])
                seen += taken
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    if seen == 0:
        raise ValueError("data yielded no samples")
    return {n: torch.cat(kept[n]).numpy() for n in layers}


@dataclass(frozen=True)
class LayerCKA:
    """Linear CKA between every pair of layers: a symmetric matrix with ones on the diagonal.

    Attributes
    ----------
    layers : tuple of str
    matrix : (L, L) float array
    n_samples : int
    """

    layers: tuple[str, ...]
    matrix: np.ndarray
    n_samples: int

    def to_dict(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "matrix": self.matrix.tolist(),
                "n_samples": self.n_samples, "measure": "linear CKA (Kornblith et al. 2019)"}


def _centered_gram(x: np.ndarray) -> np.ndarray:
    """``H X Xᵀ H`` of the rows, scaled to unit Frobenius norm."""
    xc = x - x.mean(axis=0)
    gram = xc @ xc.T
    norm = np.linalg.norm(gram)
    if norm == 0.0:
        raise ValueError("a layer is constant over the samples; its CKA is undefined (0/0)")
    return gram / norm


def layer_cka_matrix(activations: Mapping[str, Any]) -> LayerCKA:
    """Linear CKA between the activations of every pair of layers.

    ``CKA(X, Y) = ⟨K_c, L_c⟩_F / (‖K_c‖_F ‖L_c‖_F)`` with centered Gram matrices
    ``K_c = H X Xᵀ H``, ``L_c = H Y Yᵀ H`` — equal to the feature-space form of
    :func:`~tasklens.represent.linear_cka`.

    Parameters
    ----------
    activations : mapping {layer name: (N, D_l) array}
        The same N samples for every layer, e.g. from :func:`capture_activations`.

    Returns
    -------
    LayerCKA
    """
    if not isinstance(activations, Mapping) or not activations:
        raise TypeError("activations must be a non-empty mapping {layer name: (N, D) array}")
    names = tuple(activations)
    arrays = [check_array(activations[n], f"activations[{n!r}]", ndim=2) for n in names]
    n = arrays[0].shape[0]
    for name, a in zip(names, arrays):
        if a.shape[0] != n:
            raise ValueError(f"activations[{name!r}] has {a.shape[0]} rows, the first layer "
                             f"{n}; capture every layer over the same samples")
    if n < 2:
        raise ValueError("CKA needs at least 2 samples")
    grams = np.stack([_centered_gram(a) for a in arrays]).reshape(len(names), -1)
    matrix = np.clip(grams @ grams.T, 0.0, 1.0)
    np.fill_diagonal(matrix, 1.0)
    return LayerCKA(names, matrix, n)
