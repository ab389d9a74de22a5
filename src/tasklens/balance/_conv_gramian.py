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
``g`` such terms (``in = C_in/g·kh·kw``, ``out = C_out/g``). Two exact forms, chosen per
layer by multiply-adds (:func:`conv_gramian_costs`):

- ``"kernel"``: ``δ_k`` at the layer's output from the route's one batched backward, then the
  linear route's ``R × R`` kernel form on the unfolded patches (``R²·in + K·R²·out +
  K²·R·out`` per group). Cheaper only for small maps and batches (late layers, tiny images);
- ``"explicit"``: the layer's weight and bias are themselves inputs of the same batched
  backward, so autograd's own convolution kernels give the K weight gradients (``K·R·in·out``,
  what the Jacobian route pays for this layer), then their Gram matrix (``K²·P_layer``).

For images ``R = N·L`` is large and the explicit form nearly always wins, so the conv layers
cost what they cost on the Jacobian route; what the route saves is the kernel form of the
layers where it is cheaper (the dense layers on top) and the ``K × P`` Jacobian it never
holds. Padding modes other than zeros and the string paddings (``"same"``, ``"valid"``) are
applied to the input before unfolding, as ``nn.Conv2d`` does itself.

**Batch norm** (``BatchNorm1d/2d/3d``, not ``SyncBatchNorm``): ``y = γ_c x̂ + β_c`` per
channel; its affine parameters are asked for directly in the batched backward (``2·C``
numbers per task, nothing to save by a kernel form). The dependence of the batch statistics on
the input is not a parameter gradient: it is inside the ``δ`` of the layers before, which
autograd takes through the whole graph.

Nothing here is from the seed papers; the patch form of a convolution's weight gradient is the
per-example-gradient one (Rochette, Manoel and Tramel 2019, "Efficient per-example gradient
computations in convolutional neural networks", arXiv:1912.06015), summed over the batch.
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
    """What the recorder keeps of one call's input (the detached input: a view, no copy).
    Runs inside a forward hook, so it never raises."""
    return value.detach() if isinstance(value, Tensor) else None


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


def grad_targets(module: nn.Module, output: Tensor, num_tasks: int, strategy: str,
                 weight: bool, bias: bool) -> list[Tensor]:
    """What the route's batched backward differentiates for one recorded call: the output
    (``nn.Linear``; a conv in its kernel form) or the shared parameters themselves (batch
    norm; a conv in its explicit form).

    Parameters
    ----------
    module : nn.Module
    output : tensor
        The call's output, ``(N, C_out, H', W')`` or unbatched ``(C_out, H', W')`` for a conv.
    num_tasks : int
    strategy : {"auto", "kernel", "explicit"}
        ``"auto"``: the form with fewer multiply-adds (:func:`conv_gramian_costs`).
    weight, bias : bool
        Which of the layer's parameters are shared.

    Returns
    -------
    list of tensors
    """
    if isinstance(module, nn.Linear):
        return [output]
    if isinstance(module, nn.Conv2d):
        if strategy == "auto":
            n, (c, ho, wo) = (output.shape[0] if output.dim() == 4 else 1), output.shape[-3:]
            costs = conv_gramian_costs(n, ho * wo, module.in_channels, c,
                                       module.kernel_size, module.groups,  # type: ignore[arg-type]
                                       num_tasks)
            strategy = "kernel" if costs["kernel"] < costs["explicit"] else "explicit"
        if strategy == "kernel" and _plain_conv(module):
            return [output]
    return [p for p, used in ((module.weight, weight), (module.bias, bias)) if used]


def _plain_conv(conv: nn.Conv2d) -> bool:
    """Whether ``conv`` computes ``conv2d(x, weight, bias)`` as ``nn.Conv2d`` does: only then
    does the kernel form hold. A subclass with its own forward (weight standardisation, a
    low-rank update) gets the explicit form, whose parameter gradients are exact whatever
    the forward computes."""
    cls = type(conv)
    return cls.forward is nn.Conv2d.forward and cls._conv_forward is nn.Conv2d._conv_forward


def layer_gramian(module: nn.Module, inputs: Tensor, grads: list[Tensor], *, direct: bool,
                  weight: bool, bias: bool, weight_term: WeightTerm) -> Tensor:
    """One recorded conv / batch-norm call's share of the (K, K) Gramian.

    Parameters
    ----------
    module : nn.Conv2d or batch norm
    inputs : tensor
        The call's input (:func:`record_input`), ``(N, C_in, H, W)`` or ``(C_in, H, W)``.
    grads : list of tensors
        The batched backward's answer for :func:`grad_targets`: ``[δ : (K, *output.shape)]``,
        or the K gradients of each shared parameter (``direct``).
    direct : bool
        Whether ``grads`` are parameter gradients.
    weight, bias : bool
        Which of the layer's parameters are shared (their terms are added).
    weight_term : callable
        The linear route's weight term (see :data:`WeightTerm`).

    Returns
    -------
    (K, K) tensor
        Exactly symmetric; float64 when a factor needed rescaling.
    """
    k = grads[0].shape[0]
    gram = torch.zeros((k, k), dtype=grads[0].dtype, device=grads[0].device)
    if direct:
        for g in grads:
            gram = accumulate(gram, g.reshape(k, -1))
        return gram
    (delta,) = grads
    maps = delta if delta.dim() == 5 else delta.unsqueeze(1)          # (K, N, C_out, H', W')
    if weight:
        gram = add(gram, _conv_kernel_term(module, inputs.to(delta.dtype),  # type: ignore[arg-type]
                                           maps, weight_term))
    if bias:
        gram = accumulate(gram, maps.sum(dim=(1, 3, 4)))              # (K, C_out): ∇_b L_k
    return gram


def _conv_kernel_term(conv: nn.Conv2d, x: Tensor, maps: Tensor,
                      weight_term: WeightTerm) -> Tensor:
    """The weight term of one conv call in the kernel form, summed over the groups; ``x``
    its input, ``maps : (K, N, C_out, H', W')``."""
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
    k, n, cout, ho, wo = maps.shape
    g, length = conv.groups, ho * wo
    rows = patches.reshape(n, g, -1, length).permute(1, 0, 3, 2)    # (g, N, L, in_g)
    cols = maps.reshape(k, n, g, cout // g, length).permute(2, 0, 1, 4, 3)  # (g, K, N, L, o_g)
    gram = torch.zeros((k, k), dtype=maps.dtype, device=maps.device)
    for i in range(g):
        gram = add(gram, weight_term(rows[i].reshape(n * length, -1),
                                     cols[i].reshape(k, n * length, cout // g), "kernel"))
    return gram
