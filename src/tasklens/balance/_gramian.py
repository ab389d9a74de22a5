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
"""

from __future__ import annotations

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


def gramian(jacobian: Tensor, *, dtype: torch.dtype | None = None) -> Tensor:
    """``J Jᵀ``, exactly symmetric, in ``dtype`` (default: the Jacobian's).

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
    """
    dtype = jacobian.dtype if dtype is None else dtype
    if jacobian.dtype == dtype:
        return symmetrize(jacobian @ jacobian.mT)
    k, p = jacobian.shape
    block = max(1, BLOCK_ENTRIES // max(k, 1))
    gram = torch.zeros((k, k), dtype=dtype, device=jacobian.device)
    for start in range(0, p, block):
        part = jacobian[:, start:start + block].to(dtype)
        gram += part @ part.mT
    return symmetrize(gram)


def accumulate(gram: Tensor, jacobian: Tensor) -> Tensor:
    """Add ``J Jᵀ`` of one block of columns to ``gram`` in place (stays exactly symmetric).

    Parameters
    ----------
    gram : (K, K) tensor
        Running, exactly symmetric Gramian; its dtype is the accumulation type.
    jacobian : (K, P_block) tensor

    Returns
    -------
    (K, K) tensor
        ``gram`` itself.
    """
    gram += gramian(jacobian, dtype=gram.dtype)
    return gram
