"""The exact parameter-level Gramian terms of ``nn.Conv2d`` and batch-norm layers, for the
sample-kernel route of :mod:`tasklens.balance.kernel_gramian`.

**Convolution.** A ``Conv2d`` with weight ``W : (C_out, C_in/g, kh, kw)`` is a linear layer
applied to image patches: with ``U = unfold(x) : (N, C_in·kh·kw, L)`` (the ``L`` output
positions, after the layer's padding, stride and dilation) and ``δ_k : (N, C_out, L)`` task
``k``'s gradient at the layer's output,

    ∇_W L_k = Σ_{n,p} δ_k[n, :, p] ⊗ U[n, :, p],        ∇_b L_k = Σ_{n,p} δ_k[n, :, p],

i.e. exactly the ``nn.Linear`` formula with ``R = N·L`` rows ``h = U`` (rows = (sample,
position) pairs) and ``out = C_out``. With ``g`` groups, output channels of group ``i`` read
input channels of group ``i`` only, so ``W`` is block-diagonal and the Gramian is the sum of
``g`` such terms (``in = C_in/g·kh·kw``, ``out = C_out/g``). Each term is evaluated by the
linear route's weight-term function in the cheaper of its two forms: the per-task weight
gradients by one batched matmul, then their Gram matrix (``"explicit"``, usually cheaper for
images: ``R = N·L`` is large), or the ``R × R`` patch kernel (``"kernel"``, only for tiny
maps and batches); see :func:`conv_gramian_costs`. Padding modes other than zeros and the
string paddings (``"same"``, ``"valid"``) are applied to the input before unfolding, as
``nn.Conv2d`` does itself.

**Batch norm** (``BatchNorm1d/2d/3d`` with affine parameters, not ``SyncBatchNorm``): the
output is ``y = γ_c x̂ + β_c`` per channel, so ``∇_γ L_k = Σ δ_k ⊙ x̂`` and
``∇_β L_k = Σ δ_k`` summed over every axis but the channel axis. ``x̂`` is recomputed in the
forward hook from the layer's input with the statistics the layer used (batch statistics in
training mode, running statistics in eval mode). The batch statistics' own dependence on the
input is not a parameter gradient: it is already inside the ``δ`` of the layers before, which
autograd takes through the whole graph.

Nothing here is from the seed papers; the identity is the per-example-gradient one for
convolutions (Rochette, Manoel and Tramel 2019, "Efficient per-example gradient computations
in convolutional neural networks", arXiv:1912.06015), summed over the batch.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._gramian import accumulate, add

#: ``weight_term(h : (R, in), delta : (K, R, out), strategy) -> (K, K)`` of the linear route.
WeightTerm = Callable[[Tensor, Tensor, str], Tensor]


def recordable(module: nn.Module) -> bool:
    """Whether the kernel route covers ``module``'s parameters besides ``nn.Linear``:
    ``nn.Conv2d`` (any stride, padding, dilation, groups, padding mode) and batch norm
    (``_BatchNorm`` but not ``SyncBatchNorm``, whose statistics span processes)."""
    if isinstance(module, nn.Conv2d):
        return True
    return (isinstance(module, nn.modules.batchnorm._BatchNorm)
            and not isinstance(module, nn.SyncBatchNorm))


def record_input(module: nn.Module, value: Tensor) -> Tensor | None:
    """What the recorder keeps of one call's input: the detached input of a convolution,
    the normalised input ``x̂`` of a batch norm (None when it cannot be formed). Runs inside a
    forward hook, so it never raises."""
    try:
        with torch.no_grad():
            if isinstance(module, nn.Conv2d):
                return value.detach()
            return _normalized(module, value.detach())  # type: ignore[arg-type]
    except Exception:  # reported later as an uncovered layer: never raise in the forward
        return None


def _normalized(bn: nn.modules.batchnorm._BatchNorm, x: Tensor) -> Tensor:
    """``x̂`` exactly as ``bn.forward`` normalised ``x`` (same rule for which statistics)."""
    batch_stats = bn.training or (bn.running_mean is None and bn.running_var is None)
    mean = None if batch_stats else bn.running_mean
    var = None if batch_stats else bn.running_var
    return F.batch_norm(x, mean, var, None, None, batch_stats, 0.0, bn.eps)


def conv_gramian_costs(batch: int, positions: int, in_channels: int, out_channels: int,
                       kernel_size: tuple[int, int], groups: int,
                       num_tasks: int) -> dict[str, int]:
    """Multiply-adds of the two exact forms of one ``Conv2d``'s weight-Gramian term.

    Parameters
    ----------
    batch : int
        ``N``.
    positions : int
        ``L``, output positions per sample (``H_out·W_out``).
    in_channels, out_channels : int
    kernel_size : (kh, kw)
    groups : int
    num_tasks : int
        ``K``.

    Returns
    -------
    dict
        ``{"kernel", "explicit"}``: the linear route's costs with ``R = N·L``,
        ``in = C_in/g·kh·kw``, ``out = C_out/g``, times ``g``.
    """
    r = batch * positions
    i = in_channels // groups * kernel_size[0] * kernel_size[1]
    o = out_channels // groups
    k = num_tasks
    return {"kernel": groups * (r * r * i + k * r * r * o + k * k * r * o),
            "explicit": groups * (k * r * i * o + k * k * i * o)}


def layer_gramian(module: nn.Module, inputs: Tensor, delta: Tensor, *, weight: bool,
                  bias: bool, strategy: str, weight_term: WeightTerm) -> Tensor:
    """One recorded conv / batch-norm call's share of the (K, K) Gramian.

    Parameters
    ----------
    module : nn.Conv2d or batch norm
    inputs : tensor
        What :func:`record_input` kept (the conv input ``(N, C_in, H, W)`` or ``(C_in, H, W)``;
        the batch norm's ``x̂``, the output's shape).
    delta : (K, *output.shape) tensor
        Each task's gradient at the layer's output.
    weight, bias : bool
        Which of the layer's parameters are shared (their terms are added).
    strategy : {"auto", "kernel", "explicit"}
        Passed to ``weight_term`` for each group of a convolution.
    weight_term : callable
        The linear route's weight term (see :data:`WeightTerm`).

    Returns
    -------
    (K, K) tensor
        Exactly symmetric; float64 when a factor needed rescaling.
    """
    k = delta.shape[0]
    gram = torch.zeros((k, k), dtype=delta.dtype, device=delta.device)
    if isinstance(module, nn.Conv2d):
        batched = delta.dim() == 5                    # (K, N, C_out, H, W); else unbatched
        per_position = delta.reshape(k, delta.shape[1] if batched else 1,
                                     module.out_channels, -1)        # (K, N, C_out, L)
        if weight:
            gram = add(gram, _conv_weight_term(module, inputs.to(delta.dtype), per_position,
                                               strategy, weight_term))
        if bias:
            gram = accumulate(gram, per_position.sum(dim=(1, 3)))   # (K, C_out): ∇_b L_k
        return gram
    # batch norm: channel axis 1 of (N, C, *spatial); (N, C) gets a spatial axis of size 1
    per_channel = delta.reshape(k, delta.shape[1], delta.shape[2], -1)  # (K, N, C, S)
    if weight:
        xhat = inputs.to(delta.dtype).reshape(per_channel.shape[1:])    # (N, C, S)
        gram = accumulate(gram, torch.einsum("kncs,ncs->kc", per_channel, xhat))  # ∇_γ L_k
    if bias:
        gram = accumulate(gram, per_channel.sum(dim=(1, 3)))             # ∇_β L_k
    return gram


def _conv_weight_term(conv: nn.Conv2d, x: Tensor, delta: Tensor, strategy: str,
                      weight_term: WeightTerm) -> Tensor:
    """``Σ_groups weight_term(patches of the group, δ of the group)``; ``delta : (K, N, C_out,
    L)``."""
    if x.dim() == 3:                                   # unbatched (C_in, H, W) call
        x = x.unsqueeze(0)
    padding: tuple[int, ...] | int = conv.padding  # type: ignore[assignment]
    if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
        # nn.Conv2d pads these itself before a padding-free convolution: do the same
        mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
        x = F.pad(x, conv._reversed_padding_repeated_twice, mode=mode)
        padding = 0
    patches = F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=padding,
                       stride=conv.stride)             # (N, C_in·kh·kw, L)
    k, n, cout, length = delta.shape
    if patches.shape[0] != n or patches.shape[2] != length:
        raise RuntimeError(f"conv layer patches {tuple(patches.shape)} do not match its output "
                           f"gradient {tuple(delta.shape)}")
    g = conv.groups
    rows = patches.reshape(n, g, -1, length).permute(1, 0, 3, 2)    # (g, N, L, in_g)
    cols = delta.reshape(k, n, g, cout // g, length).permute(2, 0, 1, 4, 3)  # (g, K, N, L, o_g)
    gram = torch.zeros((k, k), dtype=delta.dtype, device=delta.device)
    for i in range(g):
        h = rows[i].reshape(n * length, -1)
        d = cols[i].reshape(k, n * length, cout // g)
        gram = add(gram, weight_term(h, d, strategy))
    return gram
