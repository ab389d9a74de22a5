"""Autograd building blocks shared by the engine, the kernel Gramian and the Trainer.

The lowest layer of :mod:`tasklens.balance`'s gradient machinery (it imports only
:mod:`._gramian`): stacking the task losses, batched vector-Jacobian products, the per-task
head pass ``∂L_k/∂z``, and the Jacobian and Gramian builders. :mod:`.engine`,
:mod:`.kernel_gramian` and :mod:`tasklens.train` import from here, never from each other's
private helpers, so there is no import circle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ._gramian import accumulate

logger = logging.getLogger("tasklens")


def stack_losses(losses: Tensor | Mapping[str, Tensor] | Sequence[Tensor]) -> Tensor:
    """The (K,) task losses as one tensor, checked: attached to the graph and finite.

    Parameters
    ----------
    losses : (K,) tensor, or mapping / sequence of K scalar tensors

    Returns
    -------
    (K,) tensor
    """
    if isinstance(losses, Tensor):
        if losses.ndim != 1:
            raise ValueError(f"losses must be a (K,) tensor, got shape {tuple(losses.shape)}")
        stacked = losses
    else:
        values = list(losses.values()) if isinstance(losses, Mapping) else list(losses)
        if not values:
            raise ValueError("losses is empty; pass one scalar loss per task")
        bad = [i for i, v in enumerate(values) if not isinstance(v, Tensor) or v.ndim != 0]
        if bad:
            raise ValueError(f"losses must be scalar tensors; entries {bad} are not")
        stacked = torch.stack(values)
    if not stacked.requires_grad:
        raise ValueError("losses do not require grad; compute them from the model's output "
                         "inside the step (not under torch.no_grad)")
    if not bool(torch.isfinite(stacked).all()):
        bad_idx = torch.nonzero(~torch.isfinite(stacked)).flatten().tolist()
        raise FloatingPointError(f"non-finite loss for task index(es) {bad_idx}: "
                                 f"{stacked.detach().tolist()}")
    return stacked


def batched_grad(outputs: Tensor, inputs: Sequence[Tensor], grad_outputs: Tensor,
                  chunk_size: int | None) -> list[Tensor]:
    """``[∂⟨outputs, grad_outputs[k]⟩/∂input for k]`` stacked on dim 0, for each input.

    Uses vmap (``is_grads_batched``); falls back to a loop over chunks of the K rows when
    an operator has no batching rule.
    """
    k = grad_outputs.shape[0]
    if chunk_size is None:
        try:
            grads = torch.autograd.grad(outputs, inputs, grad_outputs=grad_outputs,
                                        retain_graph=True, is_grads_batched=True,
                                        allow_unused=True)
            return [torch.zeros((k, *x.shape), dtype=x.dtype, device=x.device) if g is None
                    else g for g, x in zip(grads, inputs)]
        except RuntimeError:
            chunk_size = 1  # an operator without a batching rule: go sequential
    parts: list[list[Tensor]] = [[] for _ in inputs]
    for start in range(0, k, chunk_size):
        block = grad_outputs[start:start + chunk_size]
        for row in block:
            grads = torch.autograd.grad(outputs, inputs, grad_outputs=row, retain_graph=True,
                                        allow_unused=True)
            for i, (g, x) in enumerate(zip(grads, inputs)):
                parts[i].append(torch.zeros_like(x) if g is None else g)
    return [torch.stack(p) for p in parts]


NOT_IN_GRAPH = ("features is not in the graph of the losses (no loss depends on it, so every "
                 "task gradient would be zero): pass the very tensor the heads read, "
                 "z = encoder(x) with the losses computed from heads(z) — not a copy, a "
                 "detached tensor or another forward's output")


def head_grads(losses: Tensor, features: Tensor, create_graph: bool = False) -> tuple[Tensor]:
    """``(K, *z.shape)`` gradients ``∂L_k/∂z``, one autograd call per task.

    With ``create_graph`` the result stays attached (for saliency regularisers).

    Each call reaches only the part of the graph between ``z`` and ``L_k`` (its own head in
    an HPS model). Batching the K unit vectors with vmap instead pushes every one of them
    through every head — K² head work: at K = 40 (linear heads, batch 256, d = 128) the
    vmap pass took 124 ms against 52 ms for this loop and 15 ms for a whole EW step.
    """
    if not features.requires_grad:
        raise ValueError(NOT_IN_GRAPH)
    grads = []
    unused = []
    for k in range(len(losses)):
        (g,) = torch.autograd.grad(losses[k], features, retain_graph=True, allow_unused=True,
                                   create_graph=create_graph)
        if g is None:
            unused.append(k)
        grads.append(torch.zeros_like(features) if g is None else g)
    if unused and len(unused) == len(losses):
        # every task gradient would be zero: an all-zero Gramian, equal weights, no error
        raise ValueError(NOT_IN_GRAPH)
    if unused:
        logger.warning("the losses of task index(es) %s do not depend on features; their "
                       "task gradients are zero", unused)
    return (torch.stack(grads),)


def leaf_grads(losses: Tensor, leaves: Sequence[Tensor], create_graph: bool = False) -> Tensor:
    """``(K, *z.shape)`` gradients ``∂L_k/∂z_k`` when head ``k`` read its own leaf ``z_k``.

    The tasks' graphs are disjoint, so **one** backward of ``Σ_k L_k`` through the heads
    gives every task's gradient on its own leaf (with ``create_graph`` it stays attached, for
    saliency regularisers).
    """
    grads = torch.autograd.grad(losses.sum(), list(leaves), retain_graph=True,
                                allow_unused=True, create_graph=create_graph)
    return torch.stack([torch.zeros_like(z) if g is None else g
                        for g, z in zip(grads, leaves)])


def representation_jacobian(losses: Tensor, features: Tensor,
                            chunk_size: int | None = None) -> Tensor:
    """(K, N·d) task gradients with respect to the shared features ``z``.

    ``chunk_size`` is accepted for symmetry with :func:`parameter_jacobian`; the head pass
    is always one call per task.
    """
    (grads,) = head_grads(losses, features)
    return grads.reshape(len(losses), -1)


def parameter_jacobian(losses: Tensor, params: Sequence[Tensor], features: Tensor | None = None,
                       chunk_size: int | None = None) -> Tensor:
    """(K, P) task gradients with respect to ``params`` (flattened and concatenated).

    With ``features``, each head is traversed once (one call per task) and the encoder by
    one batched vector-Jacobian product over the K head gradients (vmap; ``chunk_size``
    switches to a sequential loop); without, one batched backward from the losses.
    """
    k = len(losses)
    if features is not None:
        (gz,) = head_grads(losses, features)
        grads = batched_grad(features, list(params), gz, chunk_size)
    else:
        eye = torch.eye(k, dtype=losses.dtype, device=losses.device)
        grads = batched_grad(losses, list(params), eye, chunk_size)
    return torch.cat([g.reshape(k, -1) for g in grads], dim=1)


def parameter_gramian(losses: Tensor, params: Sequence[Tensor], features: Tensor | None = None,
                      chunk_size: int | None = None, params_per_chunk: int | None = None,
                      max_chunk_entries: int = 2**25) -> Tensor:
    """(K, K) Gramian of parameter-level task gradients, accumulated over parameter chunks.

    Each chunk costs one batched backward from ``features`` (or the losses) and holds
    ``K × (parameters in the chunk)`` gradient entries. By default parameters are grouped
    greedily, in order, so that a chunk holds at most ``max_chunk_entries`` entries (a single
    tensor larger than that forms its own chunk): a model that fits the budget costs one
    backward, and the memory stays bounded for the ones that do not. ``params_per_chunk``
    instead fixes the number of parameter tensors per chunk. The result is in the losses'
    dtype, or in float64 when a chunk's gradients lie outside that dtype's safe range (see
    :mod:`._gramian`).
    """
    k = len(losses)
    eye = torch.eye(k, dtype=losses.dtype, device=losses.device)
    if features is not None:
        (upstream,) = head_grads(losses, features)
        root = features
    else:
        upstream, root = eye, losses
    gram = torch.zeros((k, k), dtype=losses.dtype, device=losses.device)
    for chunk in parameter_chunks(list(params), k, params_per_chunk, max_chunk_entries):
        grads = batched_grad(root, chunk, upstream, chunk_size)
        flat = torch.cat([g.reshape(k, -1) for g in grads], dim=1)
        gram = accumulate(gram, flat)  # may come back in float64 (see _gramian)
    return gram


def parameter_chunks(params: list[Tensor], k: int, params_per_chunk: int | None,
                      max_chunk_entries: int) -> list[list[Tensor]]:
    if params_per_chunk is not None:
        if params_per_chunk < 1:
            raise ValueError(f"params_per_chunk must be >= 1, got {params_per_chunk}")
        return [params[i:i + params_per_chunk] for i in range(0, len(params), params_per_chunk)]
    if max_chunk_entries < 1:
        raise ValueError(f"max_chunk_entries must be >= 1, got {max_chunk_entries}")
    chunks: list[list[Tensor]] = []
    entries = 0
    for p in params:
        size = k * p.numel()
        if chunks and entries + size <= max_chunk_entries:
            chunks[-1].append(p)
            entries += size
        else:
            chunks.append([p])
            entries = size
    return chunks


def flat_dot(params: Sequence[Tensor], flat: Tensor) -> Tensor:
    """⟨concat(params), flat⟩ with ``flat`` split to the parameters' shapes."""
    total = flat.new_zeros(())
    offset = 0
    for p in params:
        n = p.numel()
        total = total + (p.reshape(-1) * flat[offset:offset + n]).sum()
        offset += n
    if offset != flat.numel():
        raise RuntimeError(f"direction has {flat.numel()} entries, shared parameters {offset}")
    return total
