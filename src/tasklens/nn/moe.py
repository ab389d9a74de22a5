"""Mixture-of-experts MTL models: MMoE (Ma et al. 2018) and CGC / PLE (Tang et al. 2020).

Experts at the input level are built by :func:`encoder_for` (an MLP for ``(F,)`` inputs,
the conv encoder of Maziarka et al. 2022 App. A for images); gates are linear maps of the flattened
branch input followed by a softmax over experts. ``encode`` returns per-task features
``{t: (N, expert_dim)}`` (``shares_representation = False``, see :mod:`tasklens.nn.base`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._common.validation import check_positive_int
from ._taskdict import TaskModuleDict
from ._utils import Seed, check_batch, check_input_shape, check_widths, seeded_init, task_mapping
from .base import MTLModel
from .encoders import MLPEncoder, encoder_for
from .heads import PAPER_HEAD_DEPTH, PAPER_HEAD_HIDDEN, make_heads


def _mix(gate_logits: torch.Tensor, experts: list[torch.Tensor]) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
    """Softmax gate weights ``(N, E)`` and the mixture ``Σ_e g_e · f_e`` ``(N, d)``."""
    g = torch.softmax(gate_logits, dim=-1)
    return g, torch.einsum("ne,ned->nd", g, torch.stack(experts, dim=1))


class MMoE(MTLModel):
    """Multi-gate Mixture-of-Experts (Ma et al., KDD 2018, Section 4.2).

    ``E`` shared experts ``f_e`` and one gate per task; task ``t`` reads
    ``z_t = Σ_e g_t(x)_e f_e(x)`` with ``g_t(x) = softmax(W_t x + b_t)`` and ``ŷ_t =
    head_t(z_t)``. Experts are shared parameters; task ``t`` owns its gate and head.

    Parameters
    ----------
    input_shape : (F,) or (C, H, W)
    tasks : TaskSet, mapping {name: Task} or sequence of Task
    n_experts : int
    expert_dim : int
        Output size of each expert (= size of ``z_t``).
    expert_hidden : int or sequence of int
        Hidden widths of MLP experts (flat inputs).
    channels : sequence of int, optional
        Conv channels of image experts (default: Maziarka et al. 2022 Table 2, truncated for small
        images).
    activation : str
    head_hidden, head_depth : int
    heads : nn.ModuleDict, optional
        Custom heads reading ``(N, expert_dim)``.
    seed : int, numpy Generator or None
    """

    shares_representation = False

    def __init__(
        self,
        input_shape: Sequence[int],
        tasks: Any,
        n_experts: int = 4,
        expert_dim: int = 64,
        expert_hidden: int | Sequence[int] = (128,),
        *,
        channels: Sequence[int] | None = None,
        activation: str = "relu",
        head_hidden: int = PAPER_HEAD_HIDDEN,
        head_depth: int = PAPER_HEAD_DEPTH,
        heads: nn.ModuleDict | Mapping[str, nn.Module] | None = None,
        seed: Seed = None,
    ) -> None:
        shape = check_input_shape(input_shape)
        tmap = task_mapping(tasks)
        n_experts = check_positive_int(n_experts, "n_experts")
        expert_dim = check_positive_int(expert_dim, "expert_dim")
        with seeded_init(seed):
            super().__init__(heads if heads is not None
                             else make_heads(tmap, expert_dim, head_hidden, head_depth,
                                             activation))
            if set(self.heads) != set(tmap):
                raise ValueError(f"heads are for {list(self.heads)} but tasks are {list(tmap)}")
            self.input_shape = shape
            self.experts = nn.ModuleList(
                encoder_for(shape, expert_dim, hidden=expert_hidden, channels=channels,
                            activation=activation)
                for _ in range(n_experts)
            )
            self.gates = TaskModuleDict({t: nn.Linear(math.prod(shape), n_experts)
                                        for t in self.heads})

    def _task_modules(self, name: str) -> list[nn.Module]:
        return [self.gates[name], self.heads[name]]

    def _run(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        check_batch(x, self.input_shape)
        outs = [e(x) for e in self.experts]
        flat = x.flatten(1)
        z, g = {}, {}
        for t, gate in self.gates.items():
            g[t], z[t] = _mix(gate(flat), outs)
        return z, g

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x : ``(N, *input_shape)`` → ``{task: (N, expert_dim)}``."""
        return self._run(x)[0]

    def gate_weights(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{task: (N, n_experts)}`` softmax gate weights (rows sum to 1)."""
        return self._run(x)[1]


class _ExtractionLevel(nn.Module):
    """One CGC level: shared experts, per-task experts, per-task gates (+ a shared gate)."""

    def __init__(self, tasks: Sequence[str], make_expert: Any, gate_in: int, n_shared: int,
                 n_task: int, with_shared_gate: bool) -> None:
        super().__init__()
        self.shared_experts = nn.ModuleList(make_expert() for _ in range(n_shared))
        self.task_experts = TaskModuleDict({
            t: nn.ModuleList(make_expert() for _ in range(n_task)) for t in tasks
        })
        self.task_gates = TaskModuleDict({t: nn.Linear(gate_in, n_task + n_shared)
                                         for t in tasks})
        self.shared_gate = (nn.Linear(gate_in, len(tasks) * n_task + n_shared)
                            if with_shared_gate else None)

    def forward(self, task_inputs: dict[str, torch.Tensor], shared_input: torch.Tensor
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None,
                           dict[str, torch.Tensor]]:
        shared_out = [e(shared_input) for e in self.shared_experts]
        task_out = {t: [e(task_inputs[t]) for e in experts]
                    for t, experts in self.task_experts.items()}
        feats, weights = {}, {}
        for t, gate in self.task_gates.items():
            weights[t], feats[t] = _mix(gate(task_inputs[t].flatten(1)),
                                        task_out[t] + shared_out)
        shared_feat = None
        if self.shared_gate is not None:
            everything = [o for t in self.task_experts for o in task_out[t]] + shared_out
            weights["__shared__"], shared_feat = _mix(
                self.shared_gate(shared_input.flatten(1)), everything)
        return feats, shared_feat, weights


class PLE(MTLModel):
    """Progressive Layered Extraction (Tang et al., RecSys 2020, Section 4.3).

    ``n_levels`` stacked Customized Gate Control (CGC) levels. At level ``j`` task ``k``
    has ``n_task_experts`` own experts and a gate mixing its own and the
    ``n_shared_experts`` shared experts: ``g^{k,j} = w^{k,j}(g^{k,j-1}) S^{k,j}(g^{k,j-1})``
    with ``w = softmax(W x)`` (Tang et al. 2020, Section 4.2-4.3); below the top level a
    shared gate mixes *all* experts of the level and feeds the next level's shared experts.
    Level 1 reads the input ``x`` in every branch. The top-level task features
    ``z_t = g^{t, n_levels}`` feed the heads.

    Task ``t`` owns its experts and gates at every level and its head; shared experts and
    shared gates are shared parameters. Because the shared gates mix task-owned experts,
    shared parameters of level ``j > 1`` read task-owned outputs: the shared / task split of
    PLE is not a clean "encoder then heads" cut (it is for ``n_levels = 1``, see :class:`CGC`).

    Parameters
    ----------
    input_shape : (F,) or (C, H, W)
    tasks : TaskSet, mapping {name: Task} or sequence of Task
    n_levels : int
    n_shared_experts, n_task_experts : int
    expert_dim : int
    expert_hidden : int or sequence of int
        Hidden widths of MLP experts (level 1 for flat inputs, and every level above 1).
    channels : sequence of int, optional
        Conv channels of level-1 experts for images.
    activation : str
    head_hidden, head_depth : int
    heads : nn.ModuleDict, optional
    seed : int, numpy Generator or None
    """

    shares_representation = False

    def __init__(
        self,
        input_shape: Sequence[int],
        tasks: Any,
        n_levels: int = 2,
        n_shared_experts: int = 2,
        n_task_experts: int = 1,
        expert_dim: int = 64,
        expert_hidden: int | Sequence[int] = (128,),
        *,
        channels: Sequence[int] | None = None,
        activation: str = "relu",
        head_hidden: int = PAPER_HEAD_HIDDEN,
        head_depth: int = PAPER_HEAD_DEPTH,
        heads: nn.ModuleDict | Mapping[str, nn.Module] | None = None,
        seed: Seed = None,
    ) -> None:
        shape = check_input_shape(input_shape)
        tmap = task_mapping(tasks)
        n_levels = check_positive_int(n_levels, "n_levels")
        n_shared = check_positive_int(n_shared_experts, "n_shared_experts", minimum=0)
        n_task = check_positive_int(n_task_experts, "n_task_experts", minimum=0)
        if n_shared + n_task == 0:
            raise ValueError("n_shared_experts + n_task_experts must be at least 1")
        if n_levels > 1 and n_shared == 0:
            raise ValueError("stacked levels need n_shared_experts >= 1 (the shared branch "
                             "feeds the next level)")
        expert_dim = check_positive_int(expert_dim, "expert_dim")
        hidden = check_widths(expert_hidden, "expert_hidden")
        with seeded_init(seed):
            super().__init__(heads if heads is not None
                             else make_heads(tmap, expert_dim, head_hidden, head_depth,
                                             activation))
            if set(self.heads) != set(tmap):
                raise ValueError(f"heads are for {list(self.heads)} but tasks are {list(tmap)}")
            self.input_shape = shape
            names = list(self.heads)
            levels = []
            for j in range(n_levels):
                if j == 0:
                    def make_expert() -> nn.Module:
                        return encoder_for(shape, expert_dim, hidden=hidden, channels=channels,
                                           activation=activation)
                    gate_in = math.prod(shape)
                else:
                    def make_expert() -> nn.Module:
                        return MLPEncoder(expert_dim, hidden, expert_dim, activation)
                    gate_in = expert_dim
                levels.append(_ExtractionLevel(names, make_expert, gate_in, n_shared, n_task,
                                               with_shared_gate=j < n_levels - 1))
            self.levels = nn.ModuleList(levels)

    def _task_modules(self, name: str) -> list[nn.Module]:
        mods: list[nn.Module] = []
        for level in self.levels:
            mods += [level.task_experts[name], level.task_gates[name]]
        return [*mods, self.heads[name]]

    def _run(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor],
                                             list[dict[str, torch.Tensor]]]:
        check_batch(x, self.input_shape)
        task_in = {t: x for t in self.heads}
        shared_in: torch.Tensor | None = x
        all_weights = []
        for level in self.levels:
            assert shared_in is not None  # only the top level has no shared gate
            task_in, shared_in, weights = level(task_in, shared_in)
            all_weights.append(weights)
        return task_in, all_weights

    def encode(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x : ``(N, *input_shape)`` → ``{task: (N, expert_dim)}`` (top-level task features)."""
        return self._run(x)[0]

    def gate_weights(self, x: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        """Per level, ``{task: (N, n_task + n_shared)}`` softmax weights, plus key
        ``"__shared__"`` ``(N, K·n_task + n_shared)`` below the top level."""
        return self._run(x)[1]


class CGC(PLE):
    """Customized Gate Control (Tang et al., RecSys 2020, Section 4.2): PLE with one level.

    Shared experts plus ``n_task_experts`` experts per task; task ``t``'s gate mixes its
    own and the shared experts. Task ``t`` owns its experts, gate and head. Parameters as
    :class:`PLE` without ``n_levels``.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        tasks: Any,
        n_shared_experts: int = 2,
        n_task_experts: int = 1,
        expert_dim: int = 64,
        expert_hidden: int | Sequence[int] = (128,),
        **kwargs: Any,
    ) -> None:
        super().__init__(input_shape, tasks, 1, n_shared_experts, n_task_experts, expert_dim,
                         expert_hidden, **kwargs)
