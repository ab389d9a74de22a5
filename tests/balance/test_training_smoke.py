"""Every method drives a tiny two-task least-squares problem downhill through the protocol.

Reference: the problem's own losses (both tasks share an exact solution, so any sensible
descent direction lowers them); the loop follows the declarations only — it never looks at a
method's name — which is what the trainer will do.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasklens import balance


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.standard_normal((64, 4)))
    true_w = torch.as_tensor(rng.standard_normal(4))
    targets = [x @ true_w, 2.0 * (x @ true_w)]  # two scaled copies: a shared exact solution
    return x, targets


def _losses(theta: torch.Tensor, x: torch.Tensor, targets) -> torch.Tensor:
    pred = x @ theta[:4]
    return torch.stack([((pred - targets[0]) ** 2).mean(), ((2 * pred - targets[1]) ** 2).mean()])


def _jacobian(theta: torch.Tensor, x: torch.Tensor, targets) -> tuple[torch.Tensor, torch.Tensor]:
    theta = theta.detach().requires_grad_()
    losses = _losses(theta, x, targets)
    rows = [torch.autograd.grad(loss, theta, retain_graph=True)[0] for loss in losses]
    return losses.detach(), torch.stack(rows)


@pytest.mark.parametrize("name", balance.available())
def test_method_lowers_both_losses(name):
    x, targets = _problem()
    train, held_out = (x[:48], [t[:48] for t in targets]), (x[48:], [t[48:] for t in targets])
    theta = torch.zeros(4, dtype=torch.float64)
    method = balance.get(name)
    if method.min_tasks > 2:  # Byzantine-robust aggregators: test_new_methods.py (3 tasks)
        pytest.skip(f"{name} needs at least {method.min_tasks} tasks")
    # saliency regularisers (RepMTL) exist only at representation level; here (no z) their
    # weights alone are exercised
    level = "representation" if method.regularizes_saliency else "parameter"
    method.prepare(level=level, num_tasks=2)
    start = _losses(theta, *train)
    lr = 0.02
    for step in range(60):
        losses, jac = _jacobian(theta, *train)
        fields = {"losses": losses, "jacobian": jac, "gramian": jac @ jac.T}
        ctx = balance.BalanceContext(
            **{f: fields[f] for f in (method.requires | {"losses"}) & fields.keys()},
            step=step, epoch=step // 10,
            level=level if method.needs_gradients else None,
        )  # fmt: skip
        if method.output == "weights":
            direction = method.weights(ctx) @ jac
        else:
            ctx = balance.BalanceContext(losses=losses, jacobian=jac, step=step)
            direction = method.direction(ctx)
        theta = theta - lr * direction
        if method.update_batch is None:
            method.update(ctx)
        else:
            batch = train if method.update_batch == "same" else held_out
            after, after_jac = _jacobian(theta, *batch)
            fields = {"losses": after, "jacobian": after_jac, "gramian": after_jac @ after_jac.T}
            method.update(balance.BalanceContext(**{f: fields[f] for f in method.update_requires}))
    end = _losses(theta, *train)
    assert bool((end < 0.5 * start).all()), (start, end)
