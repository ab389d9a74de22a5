"""The gradient engine in a user's own loop: misuse that used to pass silently is an error
or a warning naming the fix."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from tasklens import balance
from tasklens.balance import BalanceContext, NonFiniteGradientError
from tasklens.balance.engine import backward, backward_split


def _net() -> tuple[nn.Module, nn.ModuleList, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    encoder = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    heads = nn.ModuleList(nn.Linear(3, 1) for _ in range(2)).double()
    x = torch.randn(10, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(10, 2, generator=gen, dtype=torch.float64)
    return encoder, heads, x, y


def _losses(heads: nn.ModuleList, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.stack([((h(z).squeeze(1) - y[:, k]) ** 2).mean() for k, h in enumerate(heads)])


@pytest.mark.parametrize("level", ["parameter", "representation"])
def test_features_outside_the_losses_graph_are_an_error(level: str) -> None:
    encoder, heads, x, y = _net()
    z = encoder(x)
    other = encoder(x)  # a second forward: same values, another graph
    with pytest.raises(ValueError, match="features is not in the graph of the losses"):
        backward(_losses(heads, z, y), other, balance.get("mgda"),
                 shared_params=list(encoder.parameters()), level=level)
    with pytest.raises(ValueError, match="features is not in the graph of the losses"):
        backward(_losses(heads, z, y), z.detach(), balance.get("ew"), compute_gramian=True,
                 level="representation")


def test_famo_without_update_warns_once_and_not_when_updated() -> None:
    encoder, heads, x, y = _net()
    method = balance.get("famo")
    with pytest.warns(UserWarning, match=r"call method.update\(") as record:
        for _ in range(3):
            backward(_losses(heads, encoder(x), y), None, method)
    assert sum("update() was not called" in str(w.message) for w in record) == 1
    fresh = balance.get("famo")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            losses = _losses(heads, encoder(x), y)
            backward(losses, None, fresh)
            fresh.update(BalanceContext(losses=losses.detach() * 0.9))
        # reset() starts a new run: the first step after it does not warn either
        backward(_losses(heads, encoder(x), y), None, fresh)
        fresh.reset()
        backward(_losses(heads, encoder(x), y), None, fresh)


def test_backward_split_also_warns_for_a_post_step_method() -> None:
    encoder, heads, x, y = _net()
    method = balance.get("famo")
    with pytest.warns(UserWarning, match="update"):
        for _ in range(2):
            z = encoder(x)
            leaves = [z.detach().requires_grad_() for _ in heads]
            losses = torch.stack([((h(zk).squeeze(1) - y[:, k]) ** 2).mean()
                                  for k, (h, zk) in enumerate(zip(heads, leaves))])
            backward_split(losses, z, leaves, method)


def test_non_finite_task_gradient_is_named_not_a_bare_gramian_error() -> None:
    encoder, heads, x, y = _net()
    z = encoder(x)
    # finite loss, infinite derivative: sqrt at 0 in task 1's branch
    losses = torch.stack([((heads[0](z).squeeze(1) - y[:, 0]) ** 2).mean(),
                          ((heads[1](z).squeeze(1) - y[:, 1]) ** 2).mean()
                          + torch.sqrt((z - z.detach()).pow(2).sum())])
    assert bool(torch.isfinite(losses).all())
    with pytest.raises(NonFiniteGradientError, match=r"gradient of task index\(es\)") as err:
        backward(losses, z, balance.get("mgda"), shared_params=list(encoder.parameters()),
                 level="parameter")
    assert 1 in err.value.tasks


class _BrokenWeights(balance.BalanceMethod):
    name = "broken"
    requires = frozenset({"losses"})
    head_gradient = "weighted"

    def weights(self, ctx: BalanceContext) -> torch.Tensor:
        return torch.full((ctx.num_tasks,), float("nan"), dtype=torch.float64)


def test_non_finite_weights_are_an_error_before_any_gradient_is_written() -> None:
    encoder, heads, x, y = _net()
    with pytest.raises(NonFiniteGradientError, match="non-finite weights"):
        backward(_losses(heads, encoder(x), y), None, _BrokenWeights())
    assert all(p.grad is None for p in encoder.parameters())
