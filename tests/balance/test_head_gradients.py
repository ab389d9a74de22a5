"""What each task head receives from the gradient engine, per registered method, against
independent autograd references: ``∂L_k/∂θ_head_k`` (``head_gradient == "task"``) or
``w_k ∂L_k/∂θ_head_k`` (``"weighted"``), while the shared parameters keep the method's
update (``Σ_k w_k ∇L_k`` or its direction)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tasklens import balance
from tasklens.balance.engine import backward, backward_split

K = 3
SOURCES_OF_TASK = {"mgda", "pcgrad", "cagrad", "gradvac", "imtl_g", "aligned_mtl", "fairgrad",
                   "upgrad", "graddrop", "db_mtl",
                   # added in this release (docs/balance.md, "Head gradients")
                   "imtl", "dualproj", "config", "pcd", "cr_mogm", "modo", "sdmgrad", "moco",
                   "krum", "trimmed_mean"}


def _method(name: str) -> balance.BalanceMethod:
    cls = balance.METHODS[name]
    return balance.get(name, seed=0) if "seed" in cls.hparam_names() else balance.get(name)


class _HPS(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.encoder = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4))
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))
                                   for _ in range(K))
        self.double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.8)

    def losses(self, z: torch.Tensor | list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        zs = z if isinstance(z, list) else [z] * K
        out = torch.cat([h(zk) for h, zk in zip(self.heads, zs)], dim=1)
        return ((out - y) ** 2).mean(dim=0) + 0.1  # positive (log-based methods)

    def head_params(self) -> list[list[nn.Parameter]]:
        return [list(h.parameters()) for h in self.heads]


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return (torch.randn(12, 5, generator=gen, dtype=torch.float64),
            torch.randn(12, K, generator=gen, dtype=torch.float64) * torch.tensor([1.0, 3.0, 0.3],
                                                                                 dtype=torch.float64))


def _flat(params) -> torch.Tensor:
    return torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).reshape(-1)
                      for p in params])


def _level(method: balance.BalanceMethod) -> str:
    return "parameter" if "parameter" in method.levels or not method.levels else "representation"


def _expected(name: str, net: _HPS, x, y, weights, level: str):
    """Head gradients and shared gradient by plain autograd on a fresh forward."""
    z = net.encoder(x)
    losses = net.losses(z, y)
    shared = list(net.encoder.parameters())
    heads = []
    for k, h in enumerate(net.heads):
        grads = torch.autograd.grad(losses[k], list(h.parameters()), retain_graph=True)
        heads.append(torch.cat([g.reshape(-1) for g in grads]))
    method = _method(name)
    reg = None
    if method.regularizes_saliency:  # RepMTL: R(S) of the saliencies S_k = ∂L_k/∂z
        sal = torch.stack([torch.autograd.grad(losses[k], z, retain_graph=True,
                                               create_graph=True)[0] for k in range(K)])
        reg = method.saliency_regularizer(sal, losses)
    if method.output == "direction":
        jac = torch.stack([torch.cat([g.reshape(-1) for g in torch.autograd.grad(
            losses[k], shared if level == "parameter" else [z], retain_graph=True)])
            for k in range(K)])
        return heads, method.aggregate(jac, losses=losses.detach()), None
    w = weights.to(losses.dtype)
    objective = (w * losses).sum() + (0 if reg is None else reg)
    shared_grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        objective, shared, retain_graph=True)])
    if reg is not None:  # heads: the objective's own gradient
        heads = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(
            objective, list(h.parameters()), retain_graph=True)]) for h in net.heads]
    elif method.head_gradient == "weighted":
        heads = [w[k] * heads[k] for k in range(K)]
    return heads, None, shared_grad


@pytest.mark.parametrize("explicit", [True, False], ids=["head_params", "derived"])
@pytest.mark.parametrize("name", balance.available())
def test_heads_receive_the_declared_gradient(name: str, explicit: bool) -> None:
    method = _method(name)
    assert method.head_gradient == ("task" if name in SOURCES_OF_TASK else "weighted")
    net = _HPS()
    x, y = _data()
    level = _level(method)
    z = net.encoder(x)
    result = backward(net.losses(z, y), z, method, shared_params=list(net.encoder.parameters()),
                      level=level, head_params=net.head_params() if explicit else None)
    got_heads = [_flat(h.parameters()) for h in net.heads]
    got_shared = _flat(net.encoder.parameters())
    heads, direction, shared = _expected(name, net, x, y, result.weights, level)
    for k in range(K):
        torch.testing.assert_close(got_heads[k], heads[k], rtol=1e-10, atol=1e-12,
                                   msg=f"{name}: head {k}")
    if direction is not None and level == "parameter":
        torch.testing.assert_close(got_shared, direction, rtol=1e-10, atol=1e-12)
    if shared is not None:
        torch.testing.assert_close(got_shared, shared, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["mgda", "upgrad", "nash_mtl", "famo", "graddrop"])
def test_split_path_gives_heads_the_same_gradients(name: str) -> None:
    """backward_split (each head reads its own copy of z) matches backward at the
    representation level, heads included."""
    def run(split: bool) -> torch.Tensor:
        net = _HPS()
        x, y = _data()
        z = net.encoder(x)
        if split:
            leaves = [z.detach().requires_grad_() for _ in range(K)]
            backward_split(net.losses(leaves, y), z, leaves, _method(name))
        else:
            backward(net.losses(z, y), z, _method(name), level="representation")
        return _flat(net.parameters())

    torch.testing.assert_close(run(True), run(False), rtol=1e-10, atol=1e-12)


def _stacked_losses(net: _HPS, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.stack([((h(z).squeeze(1) - y[:, k]) ** 2).mean() + 0.1
                        for k, h in enumerate(net.heads)])


def test_heads_without_features_are_the_leaves_only_one_task_reaches() -> None:
    """Parameter level without features: heads = leaves that one task alone reaches; an
    encoder layer left out of a partial shared_params keeps Σ_k w_k ∇L_k as before."""
    net = _HPS()
    x, y = _data()
    last = list(net.encoder[2].parameters())  # the "last shared layer" only
    result = backward(_stacked_losses(net, net.encoder(x), y), None, balance.get("mgda"),
                      shared_params=last, level="parameter")
    heads, _, _ = _expected("mgda", net, x, y, torch.ones(K), "parameter")
    for k, h in enumerate(net.heads):
        torch.testing.assert_close(_flat(h.parameters()), heads[k], rtol=1e-10, atol=1e-12)
    first = list(net.encoder[0].parameters())
    objective = (result.weights * net.losses(net.encoder(x), y)).sum()
    expected_first = torch.cat([g.reshape(-1) for g in torch.autograd.grad(objective, first)])
    torch.testing.assert_close(_flat(first), expected_first, rtol=1e-10, atol=1e-12)


def test_heads_that_cannot_be_told_apart_warn_and_stay_weighted() -> None:
    net = _HPS()
    x, y = _data()
    with pytest.warns(UserWarning, match="head_params="):
        result = backward(net.losses(net.encoder(x), y), None, balance.get("mgda"),
                          shared_params=list(net.encoder.parameters()), level="parameter")
    heads, _, _ = _expected("mgda", net, x, y, torch.ones(K), "parameter")
    for k, h in enumerate(net.heads):
        torch.testing.assert_close(_flat(h.parameters()), result.weights[k] * heads[k],
                                   rtol=1e-10, atol=1e-12)


def test_mgda_trains_the_head_of_a_task_with_zero_weight() -> None:
    """Shared θ ∈ R², z = θ; g_1 = 2(θ₁ a − 1)a e₁-ish small, g_2 large and aligned with it:
    the min-norm point is g_1 alone (α = [1, 0]), yet head 2 must get ∂L_2/∂h_2."""
    theta = nn.Parameter(torch.tensor([1.0, 0.5], dtype=torch.float64))
    h1 = nn.Parameter(torch.tensor(0.5, dtype=torch.float64))
    h2 = nn.Parameter(torch.tensor(2.0, dtype=torch.float64))
    z = theta * 1.0
    losses = torch.stack([(h1 * z[0] - 1.0) ** 2, (h2 * (z[0] + z[1]) - 10.0) ** 2])
    result = backward(losses, z, balance.get("mgda"), shared_params=[theta], level="parameter",
                      head_params=[[h1], [h2]])
    assert float(result.weights[1]) == pytest.approx(0.0, abs=1e-12)
    (g2,) = torch.autograd.grad((h2 * (theta[0] + theta[1]) - 10.0) ** 2, h2)
    assert abs(float(g2)) > 1.0
    torch.testing.assert_close(h2.grad, g2)
    # the shared parameters follow the weights: only task 1 moves them
    (g1,) = torch.autograd.grad(2.0 * (h1 * theta[0] - 1.0) ** 2, theta)
    torch.testing.assert_close(theta.grad, g1)


def test_head_params_that_are_also_shared_are_refused() -> None:
    net = _HPS()
    x, y = _data()
    z = net.encoder(x)
    shared = list(net.encoder.parameters()) + list(net.heads[0].parameters())
    with pytest.raises(ValueError, match="both in shared_params and in head_params"):
        backward(net.losses(z, y), z, balance.get("mgda"), shared_params=shared,
                 level="parameter", head_params=net.head_params())
    z = net.encoder(x)
    with pytest.raises(ValueError, match="used after features"):  # derived heads
        backward(net.losses(z, y), z, balance.get("ew"), shared_params=shared)
    groups = net.head_params()
    groups[1] = groups[1] + groups[0][:1]
    z = net.encoder(x)
    with pytest.raises(ValueError, match="in head_params of tasks 0 and 1"):
        backward(net.losses(z, y), z, balance.get("mgda"),
                 shared_params=list(net.encoder.parameters()), head_params=groups)
    z = net.encoder(x)
    with pytest.raises(ValueError, match="one sequence of parameters per task"):
        backward(net.losses(z, y), z, balance.get("mgda"),
                 shared_params=list(net.encoder.parameters()), head_params=groups[:2])


def test_declaration_is_checked_when_a_method_class_is_defined() -> None:
    assert balance.HEAD_GRADIENTS == ("weighted", "task")
    with pytest.raises(TypeError, match="head_gradient must be one of"):
        type("Bad", (balance.BalanceMethod,), {"name": "bad", "head_gradient": "plain"})
    with pytest.raises(TypeError, match="returns a direction"):
        type("BadDirection", (balance.BalanceMethod,), {"name": "bad2", "output": "direction"})


def test_head_gradients_accumulate_and_are_final_when_accumulation_hooks_run() -> None:
    """Like loss.backward(): a second call adds to .grad; and the task gradient is already
    in place when post-accumulation hooks run (DistributedDataParallel reduces there)."""
    net = _HPS()
    x, y = _data()
    seen: dict[int, torch.Tensor] = {}
    for k, h in enumerate(net.heads):
        h[-1].bias.register_post_accumulate_grad_hook(
            lambda p, k=k: seen.__setitem__(k, p.grad.clone()))
    for _ in range(2):
        z = net.encoder(x)
        backward(net.losses(z, y), z, balance.get("mgda"),
                 shared_params=list(net.encoder.parameters()), level="parameter",
                 head_params=net.head_params())
    heads, _, _ = _expected("mgda", net, x, y, torch.ones(K), "parameter")
    for k, h in enumerate(net.heads):
        torch.testing.assert_close(_flat(h.parameters()), 2 * heads[k], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(seen[k], 2 * heads[k][-1:], rtol=1e-10, atol=1e-12)
