"""Running sums of one epoch's training losses, method weights and auxiliary terms.

Kept in float64 on the model's device so that the epoch means do not depend on the batch
order's rounding, and saved in checkpoints so that a mid-epoch resume reports the same
epoch means as an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor


class EpochAccumulator:
    """Sums of per-step task losses ``(K,)``, method weights ``(K,)`` and auxiliary terms."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Start a new epoch."""
        self.count = 0
        self.loss: Tensor | None = None
        self.weights: Tensor | None = None
        self.weight_count = 0
        self.aux: dict[str, Tensor] = {}

    def add(self, losses: Tensor, weights: Tensor | None, aux: dict[str, Tensor]) -> None:
        """Add one step: its task losses, the method's weights (if any), its auxiliary terms."""
        loss64 = losses.detach().to(torch.float64)
        self.loss = loss64 if self.loss is None else self.loss + loss64
        self.count += 1
        if weights is not None:
            w64 = weights.detach().to(torch.float64)
            self.weights = w64 if self.weights is None else self.weights + w64
            self.weight_count += 1
        for name, value in aux.items():
            v = value.detach().to(torch.float64)
            self.aux[name] = v if name not in self.aux else self.aux[name] + v

    def row(self, task_names: Sequence[str]) -> dict[str, float]:
        """Epoch means as log columns: ``train/loss/<task>``, ``train/loss``,
        ``train/aux/<name>`` and ``weight/<task>`` (only the columns with data)."""
        row: dict[str, float] = {}
        if self.count and self.loss is not None:
            means = (self.loss / self.count).tolist()
            for t, v in zip(task_names, means):
                row[f"train/loss/{t}"] = v
            row["train/loss"] = float(sum(means))
            for name, total in self.aux.items():
                row[f"train/aux/{name}"] = float(total) / self.count
        if self.weight_count and self.weights is not None:
            for t, v in zip(task_names, (self.weights / self.weight_count).tolist()):
                row[f"weight/{t}"] = v
        return row

    def state_dict(self) -> dict[str, Any]:
        """Tensors and counts, for a checkpoint."""
        return {"count": self.count, "loss": self.loss, "weights": self.weights,
                "weight_count": self.weight_count, "aux": dict(self.aux)}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        """Restore :meth:`state_dict` output onto ``device``."""
        self.count = int(state["count"])
        self.weight_count = int(state["weight_count"])
        self.loss = None if state["loss"] is None else state["loss"].to(device)
        self.weights = None if state["weights"] is None else state["weights"].to(device)
        self.aux = {k: v.to(device) for k, v in state["aux"].items()}
