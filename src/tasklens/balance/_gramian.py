"""The one place a Gramian ``G = J Jᵀ`` of task gradients is formed.

Every Gramian in :mod:`tasklens.balance` (engine, kernel identity, distributed reduction,
the methods' own ``J Jᵀ``) goes through :func:`gramian` / :func:`accumulate`, so that it is
**exactly symmetric by construction**: ``J Jᵀ`` from a BLAS ``gemm`` is not — the two
triangles are summed in different orders, and which orders depends on the CPU's instruction
set and thread count (differences of ~1e-16 relative). We mirror the upper triangle, which
needs no arithmetic (cannot overflow) and makes ``G[i, j] == G[j, i]`` bit for bit; a sum of
such matrices stays exactly symmetric because IEEE addition is commutative.

``dtype`` lets the caller form the Gramian in a wider type than the Jacobian (the balancing
methods use float64: squares of float32 gradients beyond ~1.8e19 overflow float32, below
~1e-19 they underflow). The widening is done in column blocks so that the extra memory stays
bounded for a (K, P) Jacobian with millions of columns.

**Extreme scales.** Even the Jacobian's own dtype may be too narrow for the *products*: float32
task gradients of size ~1e-25 have squares that underflow to 0 (every Gramian-based method then
returns its zero-gradient fallback, silently), and at ~1e20 they overflow to inf. So
:func:`gramian` first looks at each row's largest magnitude ``m_k``. When every nonzero
``m_k`` lies in the safe range ``[2^-L, 2^L]`` of the product type (``L = ⌊5·log2(max)/16⌋``,
i.e. 40 for float32, 320 for float64), the Gramian is formed exactly as before (bit-identical
results at ordinary scales). Otherwise each row is multiplied by the power of two
``s_k = 2^-e_k``, ``e_k = round(log2 m_k)`` (exact in floating point), the product of the scaled
rows is formed (entries of size ≤ ~P, no under/overflow), and the scales are undone in
**float64**: ``G_ij = 2^(e_i + e_j) · (S J Jᵀ S)_ij``. That Gramian is returned in float64
whatever the requested type, because a float32 cannot hold it (1e-50 is below float32's
smallest subnormal). Consumers must therefore accept a float64 Gramian from a float32
Jacobian: :func:`accumulate` / :func:`add` promote the running sum, the methods read the
Gramian in float64 anyway, and the distributed reducer sums Gramians in float64. The scaling
factors are powers of two and the mirror needs no arithmetic, so the result stays exactly
symmetric.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: Column-block size (entries of the K × block slice) when the Gramian is widened.
BLOCK_ENTRIES = 2**22


def symmetrize(gram: Tensor) -> Tensor:
    """``gram`` with its lower triangle replaced by the mirror of its upper triangle.

    Parameters
    ----------
    gram : (K, K) tensor

    Returns
    -------
    (K, K) tensor
        Exactly symmetric; equal to ``gram`` wherever ``gram`` already was.
    """
    upper = torch.triu(gram)
    return upper + torch.triu(gram, diagonal=1).mT


def safe_exponent(dtype: torch.dtype) -> int:
    """``L`` such that products and sums of K×P entries of magnitude in ``[2^-L, 2^L]`` neither
    overflow nor underflow (to subnormals) in ``dtype``: 40 for float32, 320 for float64."""
    return int(math.log2(torch.finfo(dtype).max)) * 5 // 16


def row_peaks(rows: Tensor) -> Tensor:
    """``max_j |x_ij|`` per row of a 2-D tensor, equal to ``rows.abs().amax(dim=1)`` (NaN and
    inf included) without the ``abs`` copy: for a Jacobian of tens of MB that copy costs more
    than the two reductions (and ``torch.aminmax`` with ``dim`` is slower still on the CPU)."""
    return torch.maximum(rows.amax(dim=1), -rows.amin(dim=1))


def row_exponents(jacobian: Tensor, dtype: torch.dtype, *, limit: int | None = None,
                  force: bool = False) -> Tensor | None:
    """Per-row exponents ``e_k = round(log2 max_j |J_kj|)`` when some nonzero finite row maximum
    lies outside the safe range of ``dtype`` (see the module docstring), else ``None``.

    Parameters
    ----------
    jacobian : (K, P) tensor
    dtype : torch.dtype
        Type in which the products would be formed.
    limit : int, optional
        Safe range ``[2^-limit, 2^limit]`` (default :func:`safe_exponent` of ``dtype``).
    force : bool
        Return the exponents even when every row is in the safe range.

    Returns
    -------
    (K,) float64 tensor or None
        0 for all-zero or non-finite rows (left unscaled: non-finite values must reach the
        caller's finiteness check unchanged).
    """
    if not jacobian.is_floating_point() or jacobian.numel() == 0:
        return torch.zeros(len(jacobian), dtype=torch.float64) if force else None
    peak = row_peaks(jacobian.detach()).to(torch.float64)
    usable = (peak > 0) & torch.isfinite(peak)
    if not bool(usable.any()):
        return torch.zeros_like(peak) if force else None
    bound = float(safe_exponent(dtype) if limit is None else limit)
    logs = torch.where(usable, torch.log2(torch.where(usable, peak, torch.ones_like(peak))),
                       torch.zeros_like(peak))
    if not force and bool(((logs.abs() <= bound) | ~usable).all()):
        return None
    return torch.round(logs)


def scale_rows(jacobian: Tensor, exponents: Tensor) -> Tensor:
    """``2^-e_k J_k`` for each row, in the Jacobian's dtype, exactly (a power-of-two factor);
    applied in two halves so that no factor itself overflows the dtype (e.g. 2^130 in float32)."""
    first = torch.floor(-exponents / 2)
    second = -exponents - first
    two = torch.tensor(2.0, dtype=torch.float64, device=jacobian.device)
    out = jacobian * two.pow(first).to(jacobian.dtype)[:, None]
    return out * two.pow(second).to(jacobian.dtype)[:, None]


def unscale(gram: Tensor, exponents: Tensor) -> Tensor:
    """``2^(e_i + e_j) · gram_ij`` in float64 (exact up to float64 over/underflow)."""
    factors = torch.pow(torch.tensor(2.0, dtype=torch.float64, device=gram.device),
                        exponents.to(gram.device))
    return gram.to(torch.float64) * (factors[:, None] * factors[None, :])


def gramian(jacobian: Tensor, *, dtype: torch.dtype | None = None) -> Tensor:
    """``J Jᵀ``, exactly symmetric, in ``dtype`` (default: the Jacobian's), or in float64 when
    the rows' scales are outside ``dtype``'s safe range (see the module docstring).

    Parameters
    ----------
    jacobian : (K, P) tensor
        One task gradient per row.
    dtype : torch.dtype, optional
        Type in which the products are formed and returned (e.g. ``torch.float64`` for a
        float32 Jacobian).

    Returns
    -------
    (K, K) tensor
        In ``dtype``, or in float64 when rescaling was needed.
    """
    dtype = jacobian.dtype if dtype is None else dtype
    exponents = row_exponents(jacobian, dtype)
    if exponents is not None:
        scaled = scale_rows(jacobian, exponents.to(jacobian.device))
        # the scaled entries are ≤ ~1: the plain product cannot under/overflow; the mirror
        # commutes with the symmetric rescaling, so the result stays exactly symmetric
        return unscale(_plain_gramian(scaled, dtype), exponents)
    return _plain_gramian(jacobian, dtype)


def _plain_gramian(jacobian: Tensor, dtype: torch.dtype) -> Tensor:
    """``J Jᵀ`` formed in ``dtype`` (widened in column blocks), exactly symmetric."""
    if jacobian.dtype == dtype:
        return symmetrize(jacobian @ jacobian.mT)
    k, p = jacobian.shape
    block = max(1, BLOCK_ENTRIES // max(k, 1))
    gram = torch.zeros((k, k), dtype=dtype, device=jacobian.device)
    for start in range(0, p, block):
        part = jacobian[:, start:start + block].to(dtype)
        gram += part @ part.mT
    return symmetrize(gram)


def add(gram: Tensor, part: Tensor) -> Tensor:
    """``gram + part``, in place when ``part``'s dtype is not wider, else a promoted new tensor
    (a float64 ``part`` from a rescaled :func:`gramian` into a float32 running sum).

    Parameters
    ----------
    gram, part : (K, K) tensors, exactly symmetric

    Returns
    -------
    (K, K) tensor
        The sum; use the return value (it may not be ``gram``).
    """
    wide = torch.promote_types(gram.dtype, part.dtype)
    if wide != gram.dtype:
        return gram.to(wide) + part
    gram += part.to(gram.dtype)
    return gram


def accumulate(gram: Tensor, jacobian: Tensor, *, rescale: bool = True) -> Tensor:
    """Add ``J Jᵀ`` of one block of columns to ``gram`` (stays exactly symmetric); in place
    unless the block needed rescaling and comes back in a wider dtype (see :func:`add`).

    Parameters
    ----------
    gram : (K, K) tensor
        Running, exactly symmetric Gramian; its dtype is the accumulation type.
    jacobian : (K, P_block) tensor
    rescale : bool
        ``False`` skips the scan of the rows' magnitudes (the caller has checked that every
        row maximum lies in the safe range, where :func:`gramian` would not rescale either).

    Returns
    -------
    (K, K) tensor
        The sum; use the return value.
    """
    if not rescale:
        return add(gram, _plain_gramian(jacobian, gram.dtype))
    return add(gram, gramian(jacobian, dtype=gram.dtype))
