"""The interface every multi-task model of :mod:`tasklens.nn` follows.

A model splits into an *encoder part* ``encode(x) -> z`` and a *head part*
``decode(z) -> {task: output}``, with ``forward(x) == decode(encode(x))``. The contract,
checked by the tests for every model:

- every parameter outside the heads acts on the outputs only through ``z``: a
  ``decode(z.detach())`` leaves them without gradient;
- head ``t`` reads only ``z`` (or ``z[t]``): changing another head never changes it.

**Representation-level gradients.** When ``shares_representation`` is True (hard
parameter sharing, the dual-stream encoder), ``z`` is one ``(N, d)`` tensor read by every
head, and ``∂L_t/∂z`` for each task is the cheap representation-level task gradient
(one backward through the heads only); by the chain rule the parameter-level gradient of
the shared parameters is ``J_zᵀ ∂L_t/∂z``. When it is False (MTAN, MMoE, CGC/PLE), ``z`` is
a dict of per-task features ``{t: (N, d_t)}``: ``L_t`` depends on ``z[t]`` alone, so the
representation gradients of different tasks live in different spaces and cannot be
compared or aggregated — methods that need a common space must use the parameter-level
gradients of :meth:`MTLModel.shared_parameters` instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
from torch import nn

Representation = torch.Tensor | dict[str, torch.Tensor]


class MTLModel(nn.Module):
    """Base class: a shared encoder part plus a :class:`~torch.nn.ModuleDict` of heads.

    Subclasses implement :meth:`encode` and :meth:`_task_modules`; everything else follows.

    Attributes
    ----------
    heads : nn.ModuleDict
        ``{task name: head}`` in task order.
    shares_representation : bool
        Whether ``encode`` returns one tensor read by every head (see the module docstring).
    """

    shares_representation: bool = True

    def __init__(self, heads: nn.ModuleDict | Mapping[str, nn.Module]) -> None:
        super().__init__()
        if not isinstance(heads, nn.ModuleDict):
            if not isinstance(heads, Mapping) or not heads:
                raise TypeError("heads must be a non-empty nn.ModuleDict or mapping "
                                "{task name: nn.Module}")
            heads = nn.ModuleDict(dict(heads))
        if len(heads) == 0:
            raise ValueError("heads is empty; a multi-task model needs at least one head")
        self.heads = heads

    @property
    def task_names(self) -> tuple[str, ...]:
        """Task names, in head order."""
        return tuple(self.heads.keys())

    # ------------------------------------------------------------------ the split
    def encode(self, x: torch.Tensor) -> Representation:
        """The representation ``z`` that the heads read (see the module docstring)."""
        raise NotImplementedError

    def decode(self, z: Representation) -> dict[str, torch.Tensor]:
        """``{task: head output}`` from ``z`` alone."""
        if isinstance(z, Mapping):
            missing = [t for t in self.heads if t not in z]
            if missing:
                raise ValueError(f"z lacks the features of task(s) {missing}")
            return {t: head(z[t]) for t, head in self.heads.items()}
        return {t: head(z) for t, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x : (N, ...) → ``{task: output}`` (shapes: :func:`tasklens.nn.head_output_shape`)."""
        return self.decode(self.encode(x))

    def task_features(self, z: Representation) -> dict[str, torch.Tensor]:
        """The features each head reads: ``z`` itself for every task, or ``z[t]``."""
        if isinstance(z, Mapping):
            return {t: z[t] for t in self.heads}
        return {t: z for t in self.heads}

    # ------------------------------------------------------------------ parameter groups
    def _task_modules(self, name: str) -> list[nn.Module]:
        """Modules owned by task ``name`` alone (its head included)."""
        return [self.heads[name]]

    def _check_task(self, name: str) -> None:
        if name not in self.heads:
            raise KeyError(f"no task {name!r}; tasks are {list(self.heads)}")

    def task_parameters(self, name: str) -> Iterator[nn.Parameter]:
        """Parameters that only task ``name`` uses (its head, and e.g. its gates)."""
        self._check_task(name)
        seen: set[int] = set()
        for module in self._task_modules(name):
            for p in module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield p

    def shared_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter that is not task-specific (the shared encoder part)."""
        owned = {id(p) for t in self.heads for p in self.task_parameters(t)}
        for p in self.parameters():
            if id(p) not in owned:
                yield p
