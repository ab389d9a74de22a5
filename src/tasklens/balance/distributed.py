"""Data-parallel balancing: reduce the step's task losses and gradients across processes.

With data parallelism each of ``W`` processes holds a local batch of the same size ``n`` and
computes local task losses ``L_k^p`` (means over its batch). The balancing method must see
the *global* quantities, identical on every process, so that every process derives the same
weights or direction:

- losses: ``L_k = (1/W) Σ_p L_k^p``;
- parameter level: ``J = (1/W) Σ_p J^p`` (the gradient of a mean is the mean of the local
  gradients), then ``G = J Jᵀ``. The Gramian itself cannot be reduced (``G ≠ Σ_p G^p``),
  so a Gramian-only request falls back to reducing the Jacobian;
- representation level: the global Jacobian concatenates the processes' sample blocks,
  ``J = [J^1, …, J^W] / W`` (``∂L_k/∂z_p = (1/W) ∂L_k^p/∂z_p``), so
  ``G = (1/W²) Σ_p J^p J^pᵀ`` — an all-reduce of K × K numbers, whatever the batch size.
  Methods that need the representation Jacobian itself (a direction over every sample's
  ``z``) are refused: each process only holds its own rows.

After the engine's single backward, every process holds the gradient of its local
surrogate; averaging those (:meth:`GradientReducer.average_gradients`, or
``DistributedDataParallel``'s own averaging) gives the global update: for weights,
``Σ_k w_k ∇L_k``; for a direction ``d`` at parameter level the surrogate's correction
``d − Σ_k J_k`` is the same on every process, so the average is exactly ``d``.

Heads of methods with ``head_gradient = "task"`` receive their local plain task gradient
``∇L_k^p`` (set by a hook during the backward, before accumulation, so that
``DistributedDataParallel``'s averaging sees it too); the average over processes is the global
``∇L_k``, the same as on one process. Those with ``head_gradient = "scaled"`` (DB-MTL, IMTL)
receive ``c_k ∇L_k^p`` with head scales computed from the reduced context (global losses,
method state updated from it), hence the same ``c`` on every process: the average is the
global ``c_k ∇L_k``.

Equal local batch sizes are assumed (as ``DistributedDataParallel``'s averaging does).
A saliency regulariser (RepMTL) is computed on each process's local batch, like a
per-device batch statistic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ._base import BalanceMethod
from ._gramian import gramian as task_gramian
from ._gramian import symmetrize
from ._plan import needs_jacobian


class GradientReducer:
    """Single-process reducer (``world_size = 1``): every reduction is the identity.

    Subclasses implement :meth:`all_reduce_sum`; the engine calls :meth:`reduce_step`.
    """

    @property
    def world_size(self) -> int:
        return 1

    def all_reduce_sum(self, tensor: Tensor) -> Tensor:
        """``Σ_p tensor^p`` over the processes (a new tensor; the input is not modified)."""
        return tensor

    def check_method(self, method: BalanceMethod, level: str | None) -> None:
        """Raise before a step if ``method`` cannot be reduced at ``level``."""
        if self.world_size == 1 or level != "representation" or not method.needs_gradients:
            return
        if needs_jacobian(method):
            raise ValueError(
                f"method {method.name!r} needs the representation-level Jacobian itself, but "
                "with data parallelism each process holds only its own samples' rows; use "
                "level='parameter' or a method that reads only the Gramian and the losses "
                "(e.g. mgda, upgrad, cagrad, nash_mtl, imtl_g)"
            )

    def reduce_step(
        self, level: str | None, losses: Tensor, jacobian: Tensor | None,
        gramian: Tensor | None,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Global ``(losses, jacobian, gramian)`` from the local ones (see module docstring).

        Parameters
        ----------
        level : {"parameter", "representation"} or None
        losses : (K,) tensor
            Local task losses (detached).
        jacobian : (K, P) or (K, n·d) tensor or None
        gramian : (K, K) tensor or None

        Returns
        -------
        losses, jacobian, gramian
            ``jacobian`` is None at representation level (it is not gathered).
        """
        world = self.world_size
        if world == 1:
            return losses, jacobian, gramian
        losses = self.all_reduce_sum(losses) / world
        if level == "parameter":
            if jacobian is None:
                raise ValueError("data-parallel reduction at parameter level needs the local "
                                 "Jacobian (the Gramian does not reduce); do not combine "
                                 "gramian_only with a reducer")
            jacobian = self.all_reduce_sum(jacobian) / world
            return losses, jacobian, task_gramian(jacobian)
        if level == "representation":
            local = gramian if gramian is not None else (
                None if jacobian is None else task_gramian(jacobian))
            # summed in float64: a rank whose Gramian was rescaled returns it in float64 (see
            # _gramian), and all ranks must reduce the same dtype; a ring all-reduce may sum
            # (i, j) and (j, i) in different orders: re-mirror
            reduced = None if local is None else symmetrize(
                self.all_reduce_sum(local.to(torch.float64)) / world**2)
            return losses, None, reduced
        return losses, jacobian, gramian

    def average_gradients(self, params: Sequence[Tensor]) -> None:
        """Replace each ``p.grad`` by its mean over the processes (one flat all-reduce)."""
        params = [p for p in params if p.grad is not None]
        if self.world_size == 1 or not params:
            return
        flat = torch.cat([p.grad.reshape(-1) for p in params])  # type: ignore[union-attr]
        flat = self.all_reduce_sum(flat) / self.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p))  # type: ignore[union-attr]
            offset += n


class TorchDistributedReducer(GradientReducer):
    """:class:`GradientReducer` over ``torch.distributed`` (any backend: gloo, nccl).

    Parameters
    ----------
    group : ProcessGroup, optional
        The process group (default: the world). ``torch.distributed`` must be initialised.
    """

    def __init__(self, group: object | None = None) -> None:
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("torch.distributed is not initialised; call "
                               "torch.distributed.init_process_group(...) in every process "
                               "before building a TorchDistributedReducer")
        self._dist = dist
        self.group = group

    @property
    def world_size(self) -> int:
        return int(self._dist.get_world_size(self.group))

    def all_reduce_sum(self, tensor: Tensor) -> Tensor:
        out = tensor.detach().clone().contiguous()
        self._dist.all_reduce(out, op=self._dist.ReduceOp.SUM, group=self.group)
        return out
