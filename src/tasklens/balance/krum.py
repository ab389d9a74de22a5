"""Krum / Multi-Krum: keep the task gradients closest to their neighbours (Byzantine-robust)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from tasklens._common.validation import check_positive_int

from ._base import BalanceContext, BalanceMethod, gramian_numpy, reference_tensor


class Krum(BalanceMethod):
    """Krum and Multi-Krum (Blanchard et al. 2017, "Machine Learning with Adversaries:
    Byzantine Tolerant Gradient Descent", NeurIPS; Krum and its Multi-Krum variant).

    Formula: with ``f`` Byzantine rows among ``K`` (``K ≥ f + 3``), the score of row ``i`` is
    ``s(i) = Σ_{i→j} ‖gᵢ − gⱼ‖²`` over its ``K − f − 2`` nearest other rows; Multi-Krum averages
    the ``m`` rows with the lowest scores (``m = 1``: Krum). Distances come from the Gramian,
    ``‖gᵢ − gⱼ‖² = Gᵢᵢ + Gⱼⱼ − 2Gᵢⱼ``. Ties go to the lower task index.

    The paper scores with *squared* distances, which we follow; TorchJD 0.18 sums the plain
    distances, so the two can select different rows when scores are close.

    Scale: sum convention — weights ``K/m`` on the selected rows (``K`` identical gradients
    aggregate to ``K g``); TorchJD returns ``1/m``.

    Parameters
    ----------
    n_byzantine : int
        ``f ≥ 0``, the number of rows that may be adversarial (0).
    n_selected : int
        ``m ≥ 1`` rows averaged by Multi-Krum (1: Krum).
    """

    name = "krum"
    requires: ClassVar[frozenset[str]] = frozenset({"gramian"})
    levels: ClassVar[frozenset[str]] = frozenset({"parameter", "representation"})
    min_tasks = 3
    head_gradient: ClassVar[str] = "task"

    def __init__(self, *, n_byzantine: int = 0, n_selected: int = 1) -> None:
        self.n_byzantine = check_positive_int(n_byzantine, "n_byzantine", minimum=0)
        self.n_selected = check_positive_int(n_selected, "n_selected")

    def check_num_tasks(self, num_tasks: int) -> None:
        needed = max(self.n_byzantine + 3, self.n_selected)
        if num_tasks < needed:
            raise ValueError(
                f"method 'krum' with n_byzantine={self.n_byzantine} and n_selected="
                f"{self.n_selected} needs at least {needed} tasks (n_byzantine + 3 and "
                f">= n_selected), got {num_tasks}; lower n_byzantine / n_selected"
            )

    def weights(self, ctx: BalanceContext) -> Tensor:
        k = self._check_context(ctx)
        gram = gramian_numpy(ctx)
        sq = np.diag(gram)
        dist2 = np.clip(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0, None)
        np.fill_diagonal(dist2, np.inf)  # a row is not its own neighbour
        closest = np.sort(dist2, axis=1)[:, : k - self.n_byzantine - 2]
        scores = closest.sum(axis=1)
        chosen = np.argsort(scores, kind="stable")[: self.n_selected]
        w = np.zeros(k)
        w[chosen] = k / self.n_selected
        ref = reference_tensor(ctx)
        return torch.as_tensor(w, dtype=ref.dtype, device=ref.device)
