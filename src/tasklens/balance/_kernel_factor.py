"""The sample-kernel Gramian of ``nn.Linear`` layers in factored form, over chunks of tasks.

For a layer with input ``h : (R, in)`` (plus a column of ones when its bias is counted:
``h̃ = [h, 1]``) and task ``k``'s output gradient ``δ_k : (R, out)``, the layer's share of the
Gramian is ``G_jk = ⟨δ_j, h̃ h̃ᵀ δ_k⟩_F`` (see :mod:`.kernel_gramian`). With any factor
``F : (r, R)`` such that ``Fᵀ F = h̃ h̃ᵀ``,

    G_jk = ⟨F δ_j, F δ_k⟩_F,

so every task leaves one row ``Φ_k = vec(F δ_k)`` of ``r · out`` numbers and the layer's term is
``Φ Φᵀ``, formed by :func:`._gramian.gramian` (exactly symmetric by construction, rescaled
when the products would leave the dtype's range). Two exact factors:

- ``F = h̃ᵀ`` (``r = in'``, the columns of ``h̃``): ``Φ_k = h̃ᵀ δ_k`` is the task's weight (and
  bias) gradient itself (the "explicit" form of :mod:`.kernel_gramian`);
- when ``in' > R`` and it costs less (:func:`factor_pays`, e.g. at K = 40 for the two wide
  layers of the benchmark MLP, not for its last layer at K = 2): ``F = Lᵀ`` from the Cholesky
  factor of the ``R × R`` kernel ``h̃ h̃ᵀ = L Lᵀ`` (or, when the kernel is singular and the
  Cholesky factorisation fails, the triangular factor of a QR decomposition of ``h̃ᵀ``):
  ``r = R``, the cost of the "kernel" form or less (row blocks skip the triangle's zeros),
  with the ``K² · R · out`` contraction done as a Gram matrix.

Why chunks: the δ's of all K tasks at once are the step's largest tensors (K × R × out; 42 MB
for the first layer of the benchmark MLP at K = 40). Such allocations are served by fresh
``mmap`` pages on glibc (above its 32 MiB threshold), which are page-faulted and zeroed every
step, and every elementwise pass over them (the activation's backward, scale checks) goes to
main memory. Taking the δ's for a few tasks at a time (one batched backward per chunk) keeps
every temporary small enough to be reused from the heap and to stay in cache, and only the
``Φ`` rows are kept (benchmarks/RESULTS.md, "Speed (issue 13)": 13.9× instead of 15.9–17.8×
an EW step at K = 40, peak memory 74 instead of 115 MiB).

Scales: when some δ or some ``h`` lies outside half the dtype's safe exponent range (products
of four such factors could overflow or underflow before :func:`._gramian.gramian` can rescale),
:func:`factored_gramian` returns ``None`` and the caller uses the per-layer route of
:mod:`.kernel_gramian`, which rescales the factors first. Within that range the Gram matrices
are formed plainly and the ``K × K`` result is checked instead of every ``Φ`` row (finite, no
nonzero diagonal below ``2^-2L``); a failed check redoes them with row rescaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ._autograd import batched_grad
from ._gramian import accumulate, row_peaks, safe_exponent

#: Largest δ chunk, in entries (all layers' output gradients of the tasks of one chunk).
#: 2^21 float32 entries (8 MiB) keep the chunk in a CPU's last-level cache.
CPU_CHUNK_ENTRIES = 2**21
#: On an accelerator larger batches use it better; the memory bound still applies.
DEVICE_CHUNK_ENTRIES = 2**27


@dataclass(frozen=True)
class FactorLayer:
    """One layer's share: its input, its output (still attached) and which parameters count.

    Attributes
    ----------
    inputs : (R, in) tensor
        The layer's input, detached.
    output : tensor, ``R · out`` entries
        The layer's output, attached to the graph.
    out_features : int
    weight, bias : bool
        Whether the weight / the bias is among the parameters of the Gramian.
    """

    inputs: Tensor
    output: Tensor
    out_features: int
    weight: bool
    bias: bool


def _augmented(layer: FactorLayer, dtype: torch.dtype) -> Tensor:
    """``h̃ : (R, in')``: the input (when the weight counts), then a column of ones (when the
    bias counts)."""
    rows = layer.inputs.shape[0]
    parts = [layer.inputs.to(dtype)] if layer.weight else []
    if layer.bias:
        parts.append(torch.ones((rows, 1), dtype=dtype, device=layer.inputs.device))
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


def factor(h: Tensor) -> Tensor:
    """An upper triangular ``F : (R, R)`` with ``Fᵀ F = h hᵀ`` exactly (up to rounding), for an
    input at least as wide as it is tall.

    Parameters
    ----------
    h : (R, in) tensor

    Returns
    -------
    (R, R) tensor
        The transposed Cholesky factor ``Lᵀ`` of the kernel ``h hᵀ = L Lᵀ``, or, when the
        kernel is singular and the factorisation fails, the triangular factor of a QR
        decomposition of ``hᵀ`` (``hᵀ = Q F`` with orthonormal ``Q``: ``h hᵀ = Fᵀ F`` for any
        rank).
    """
    chol, info = torch.linalg.cholesky_ex(h @ h.T)
    if int(info) == 0:
        # Cholesky is backward stable: L Lᵀ = h hᵀ + E, |E_ij| ≤ c·ε·sqrt(M_ii M_jj)
        return chol.mT
    return torch.linalg.qr(h.T, mode="r").R


#: Multiply-adds charged for a LAPACK call on an ``R × R`` matrix, per ``R³`` (a factorisation
#: runs well below the speed of a matrix product; measured on one CPU thread).
FACTORISATION_COST = 4


def factor_pays(rows: int, cols: int, num_tasks: int, out_features: int,
                max_blocks: int = 4) -> bool:
    """Whether the triangular :func:`factor` (kernel ``R²·in`` + factorisation + blocked
    products ``≈ (b + 1) / (2b) · K·R²·out``) costs fewer multiply-adds than the plain factor
    ``hᵀ`` (``K·in·R·out``), for ``h : (rows, cols)``."""
    r, i, k, o = rows, cols, num_tasks, out_features
    blocked = k * r * r * o * (max_blocks + 1) // (2 * max_blocks)
    return r * r * i + FACTORISATION_COST * r**3 + blocked < k * i * r * o


def factor_blocks(h: Tensor, num_tasks: int, out_features: int, max_blocks: int = 4,
                  min_rows: int = 32) -> list[tuple[int, Tensor]]:
    """Row blocks of a factor ``F`` of ``h hᵀ``: ``hᵀ`` itself, or the triangular
    :func:`factor` cut into blocks that skip its zeros when that pays (:func:`factor_pays`).

    Parameters
    ----------
    h : (R, in) tensor
    num_tasks, out_features : int
        ``K`` and the layer's ``out``, for the cost model.
    max_blocks, min_rows : int
        The triangle is cut into at most ``max_blocks`` row blocks of at least ``min_rows``
        rows.

    Returns
    -------
    list of ``(start, F_i)``
        ``F_i : (r_i, R − start)`` is a row block of ``F`` from column ``start`` on (its
        columns before ``start`` are zero), so ``F δ`` is the concatenation of the
        ``F_i δ[start:]``. With 4 blocks of an ``R × R`` triangle the products cost
        (4 + 3 + 2 + 1) / 16 of the full one.
    """
    rows, cols = h.shape
    if cols <= rows or not factor_pays(rows, cols, num_tasks, out_features, max_blocks):
        return [(0, h.T)]
    full = factor(h)
    size = max(min_rows, -(-rows // max_blocks))
    return [(start, full[start:start + size, start:]) for start in range(0, rows, size)]


def _in_range(peaks: Tensor, limit: int) -> bool:
    """Whether every nonzero finite row maximum lies in ``[2^-limit, 2^limit]`` (where
    :func:`._gramian.row_exponents` asks for no rescaling)."""
    bound = 2.0 ** limit
    usable = (peaks > 0) & torch.isfinite(peaks)
    return bool(((~usable) | ((peaks <= bound) & (peaks >= 1 / bound))).all())


def chunk_tasks(num_tasks: int, entries_per_task: int, device: torch.device,
                max_entries: int | None = None) -> int:
    """Tasks per chunk so that a chunk's δ's hold at most ``max_entries`` entries (default
    :data:`CPU_CHUNK_ENTRIES` on the CPU, :data:`DEVICE_CHUNK_ENTRIES` elsewhere); at least 1."""
    if max_entries is None:
        max_entries = CPU_CHUNK_ENTRIES if device.type == "cpu" else DEVICE_CHUNK_ENTRIES
    return max(1, min(num_tasks, max_entries // max(1, entries_per_task)))


def factored_gramian(root: Tensor, upstream: Tensor, layers: Sequence[FactorLayer],
                     chunk_size: int | None = None,
                     tasks_per_chunk: int | None = None) -> Tensor | None:
    """``Σ_layers Φ Φᵀ`` (the module docstring), or ``None`` when the scales need the
    rescaling route.

    Parameters
    ----------
    root : tensor
        The tensor the upstream gradients belong to (the features ``z`` or the losses).
    upstream : (K, *root.shape) tensor
        Task ``k``'s gradient at ``root``.
    layers : sequence of FactorLayer
    chunk_size : int, optional
        Passed to :func:`._autograd.batched_grad` (sequential rows within a chunk).
    tasks_per_chunk : int, optional
        Tasks per batched backward (default: :func:`chunk_tasks`).

    Returns
    -------
    (K, K) tensor or None
        Exactly symmetric, detached, in ``upstream``'s dtype (float64 when a layer's rows
        needed rescaling, see :mod:`._gramian`).
    """
    k = upstream.shape[0]
    dtype = upstream.dtype
    half = safe_exponent(dtype) // 2
    h_all = [_augmented(layer, dtype) for layer in layers]
    if not _in_range(torch.stack([row_peaks(h.reshape(1, -1))[0] for h in h_all]), half):
        return None
    step = tasks_per_chunk or chunk_tasks(
        k, sum(h.shape[0] * layer.out_features for h, layer in zip(h_all, layers)),
        upstream.device)
    with torch.no_grad():
        # one (start, F_i, Φ_i) per row block of each layer's factor, Φ_i : (K, r_i, out)
        blocks = [[(start, f, upstream.new_empty((k, f.shape[0], layer.out_features)))
                   for start, f in factor_blocks(h, k, layer.out_features)]
                  for h, layer in zip(h_all, layers)]
    outputs = [layer.output for layer in layers]
    delta_peaks: list[Tensor] = []
    for start in range(0, k, step):
        stop = min(k, start + step)
        deltas = batched_grad(root, outputs, upstream[start:stop], chunk_size)
        with torch.no_grad():
            for layer_blocks, delta, layer in zip(blocks, deltas, layers):
                delta = delta.reshape(stop - start, -1, layer.out_features)
                delta_peaks.append(row_peaks(delta.reshape(stop - start, -1)))
                for first, f, phi in layer_blocks:                 # Φ_k = F δ_k, by blocks
                    torch.matmul(f, delta[:, first:], out=phi[start:stop])
    if not _in_range(torch.cat(delta_peaks), half):
        return None   # Φ may have over- or underflowed: the per-layer route rescales first
    phis = [phi.reshape(k, -1) for layer_blocks in blocks for _, _, phi in layer_blocks]
    with torch.no_grad():
        gram = _sum_of_grams(phis, dtype, rescale=False)
        if not _plainly_representable(gram, dtype):
            gram = _sum_of_grams(phis, dtype, rescale=True)
    return gram


def _sum_of_grams(phis: list[Tensor], dtype: torch.dtype, rescale: bool) -> Tensor:
    """``Σ_i Φ_i Φ_iᵀ`` through :func:`._gramian.accumulate` (exactly symmetric)."""
    k = phis[0].shape[0]
    gram = torch.zeros((k, k), dtype=dtype, device=phis[0].device)
    for phi in phis:
        gram = accumulate(gram, phi, rescale=rescale)   # float64 if a block was rescaled
    return gram


def _plainly_representable(gram: Tensor, dtype: torch.dtype) -> bool:
    """Whether the plain products (no row rescaling) can be trusted: every entry finite (no
    partial sum overflowed: each is bounded by ``sqrt(G_jj G_kk)``) and every nonzero diagonal
    entry ``‖g_k‖²`` at least ``2^-2L`` (``L`` = :func:`._gramian.safe_exponent`), so that
    products that underflowed are below rounding relative to it. Scanning the ``K × K``
    result replaces a scan of every ``Φ`` row; the ``Φ`` rows' scale was bounded by the δ and
    input checks before."""
    diag = gram.diagonal()
    tiny = 2.0 ** (-2 * safe_exponent(dtype))
    return bool(torch.isfinite(gram).all()) and bool(((diag == 0) | (diag >= tiny)).all())
