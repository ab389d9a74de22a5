"""What each task head receives from the gradient engine, per registered method, against
independent autograd references: ``∂L_k/∂θ_head_k`` (``head_gradient == "task"``),
``w_k ∂L_k/∂θ_head_k`` (``"weighted"``) or ``c_k ∂L_k/∂θ_head_k`` (``"scaled"``: DB-MTL
``c = 1/L``, IMTL ``c = e^{s}``), while the shared parameters keep the method's update
(``Σ_k w_k ∇L_k`` or its direction)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tasklens import balance
from tasklens.balance.engine import backward, backward_split

K = 3
SOURCES_OF_TASK = {"mgda", "pcgrad", "cagrad", "gradvac", "imtl_g", "aligned_mtl", "fairgrad",
                   "upgrad", "graddrop",
                   # added in this release (docs/balance.md, "Head gradients")
                   "dualproj", "config", "pcd", "cr_mogm", "modo", "sdmgrad", "moco",
                   "krum", "trimmed_mean"}
# "scaled": the head scales c of a fresh method's first step, computed here independently
# (DB-MTL: ∇ log L_k = ∇L_k / L_k; IMTL: e^{s_k} ∇L_k with s = 0 before the first update)
SOURCES_OF_SCALED = {"db_mtl": lambda losses: 1.0 / losses,
                     "imtl": lambda losses: torch.ones_like(losses)}


def _declared(name: str) -> str:
    if name in SOURCES_OF_SCALED:
        return "scaled"
    return "task" if name in SOURCES_OF_TASK else "weighted"


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
    if name in SOURCES_OF_SCALED:
        scales = SOURCES_OF_SCALED[name](losses.detach())
        heads = [scales[k] * heads[k] for k in range(K)]
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
    assert method.head_gradient == _declared(name)
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
    assert balance.HEAD_GRADIENTS == ("weighted", "task", "scaled")
    with pytest.raises(TypeError, match="head_gradient must be one of"):
        type("Bad", (balance.BalanceMethod,), {"name": "bad", "head_gradient": "plain"})
    with pytest.raises(TypeError, match="returns a direction"):
        type("BadDirection", (balance.BalanceMethod,), {"name": "bad2", "output": "direction"})
    with pytest.raises(TypeError, match="does not implement head_scales"):
        type("BadScaled", (balance.BalanceMethod,), {"name": "bad3", "head_gradient": "scaled"})
    with pytest.raises(TypeError, match="does not implement head_scales"):
        type("BadScaledDirection", (balance.BalanceMethod,),
             {"name": "bad4", "head_gradient": "scaled", "output": "direction"})
    # declaring "scaled" with head_scales is accepted, and a subclass inherits head_scales
    ok = type("OkScaled", (balance.BalanceMethod,),
              {"name": "ok", "head_gradient": "scaled",
               "head_scales": lambda self, ctx: torch.ones(ctx.num_tasks)})
    type("OkScaledChild", (ok,), {"name": "ok2"})
    with pytest.raises(TypeError, match="only \"scaled\" methods have head scales"):
        balance.get("mgda").head_scales(balance.BalanceContext(losses=torch.ones(2)))


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


def _twin_class(name: str) -> type:
    """The same method declaring head_gradient = "task": the reference for the shared part."""
    cls = balance.METHODS[name]
    return type(cls.__name__ + "Task", (cls,), {"head_gradient": "task"})


def _twin(name: str) -> balance.BalanceMethod:
    return _twin_class(name)()


def _set_imtl_scales(method: balance.BalanceMethod, s: list[float]) -> None:
    method._ensure(len(s))  # a non-trivial s without training to it
    with torch.no_grad():
        method._scale.copy_(torch.tensor(s, dtype=torch.float64))


def _scaled_step(net: _HPS, method: balance.BalanceMethod, how: str):
    """One engine step by route ``how``; the recorder route on a recorded encoder."""
    from tasklens.balance.kernel_gramian import LinearRecorder

    x, y = _data()
    shared = list(net.encoder.parameters())
    if how == "split":
        z = net.encoder(x)
        leaves = [z.detach().requires_grad_() for _ in range(K)]
        return backward_split(net.losses(leaves, y), z, leaves, method,
                              head_params=net.head_params())
    recorder = LinearRecorder(net.encoder) if how == "kernel_gramian" else None
    with recorder if recorder is not None else _null():
        z = net.encoder(x)
        losses = net.losses(z, y)
    level = "representation" if how == "representation" else "parameter"
    return backward(losses, z, method, shared_params=shared, level=level, recorder=recorder,
                    gramian_only=how == "chunked_gramian",
                    head_params=None if how == "derived" else net.head_params())


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def _plain_head_grads(net: _HPS) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``autograd.grad(L_k, head_k)`` for every k on a fresh forward, and the losses."""
    x, y = _data()
    losses = net.losses(net.encoder(x), y)
    grads = [torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        losses[k], list(h.parameters()), retain_graph=True)]) for k, h in enumerate(net.heads)]
    return grads, losses.detach()


@pytest.mark.parametrize("how", ["head_params", "derived", "representation", "split",
                                 "kernel_gramian", "chunked_gramian"])
def test_imtl_heads_receive_exp_s_of_the_same_step(how: str) -> None:
    """Head k gets e^{s_k} ∇L_k with the s of this step (before update() moves it, as in
    LibMTL's IMTL); the shared parameters get what the "task" declaration gives them."""
    s = [0.4, -0.7, 1.1]
    net, twin_net = _HPS(), _HPS()
    method, twin = balance.get("imtl"), _twin("imtl")
    _set_imtl_scales(method, s)
    _set_imtl_scales(twin, s)
    before = method.loss_scales
    result = _scaled_step(net, method, how)
    _scaled_step(twin_net, twin, how)
    after = method.loss_scales
    assert not torch.allclose(after, before)  # update() ran after the backward
    plain, _ = _plain_head_grads(net)
    for k, h in enumerate(net.heads):
        torch.testing.assert_close(_flat(h.parameters()), torch.exp(before[k]) * plain[k],
                                   rtol=1e-10, atol=1e-12, msg=f"head {k}")
        assert not torch.allclose(_flat(h.parameters()), torch.exp(after[k]) * plain[k],
                                  rtol=1e-6, atol=0)
        # the twin's heads keep ∇L_k: the two declarations differ on the heads only
        torch.testing.assert_close(_flat(twin_net.heads[k].parameters()), plain[k],
                                   rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(_flat(net.encoder.parameters()),
                               _flat(twin_net.encoder.parameters()), rtol=1e-10, atol=1e-12)
    # and independently: the shared gradient is Σ_k w_k ∇L_k with the step's weights
    x, y = _data()
    objective = (result.weights * net.losses(net.encoder(x), y)).sum()
    expected = torch.cat([g.reshape(-1) for g in torch.autograd.grad(
        objective, list(net.encoder.parameters()))])
    torch.testing.assert_close(_flat(net.encoder.parameters()), expected, rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("how", ["head_params", "derived"])
def test_db_mtl_heads_receive_grad_log_loss_over_steps(how: str) -> None:
    """Head k gets ∇ log L_k = ∇L_k / L_k at every step (the EMA state does not enter);
    the shared parameters get exactly the direction of the "task" declaration."""
    net, twin_net = _HPS(), _HPS()
    method = balance.get("db_mtl")
    for _ in range(2):  # two SGD steps fill the EMA; the third step is checked
        net.zero_grad(set_to_none=True)
        _scaled_step(net, method, how)
        with torch.no_grad():
            for param in net.parameters():
                param -= 0.05 * param.grad
    # the twin: the same parameters and EMA state, declaring "task"
    twin_net.load_state_dict(net.state_dict())
    twin = copy.deepcopy(method)
    twin.__class__ = _twin_class("db_mtl")
    for p, q in ((net, method), (twin_net, twin)):
        p.zero_grad(set_to_none=True)
        _scaled_step(p, q, how)
    plain, losses = _plain_head_grads(net)
    for k, h in enumerate(net.heads):
        torch.testing.assert_close(_flat(h.parameters()), plain[k] / losses[k], rtol=1e-10,
                                   atol=1e-12, msg=f"head {k}")
        torch.testing.assert_close(_flat(twin_net.heads[k].parameters()), plain[k],
                                   rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(_flat(net.encoder.parameters()),
                               _flat(twin_net.encoder.parameters()), rtol=1e-10, atol=1e-12)


def test_bad_head_scales_are_refused() -> None:
    class Scaled(balance.BalanceMethod):
        name = "scaled_test"
        head_gradient = "scaled"

        def __init__(self, scales: torch.Tensor) -> None:
            self.scales = scales

        def weights(self, ctx: balance.BalanceContext) -> torch.Tensor:
            return torch.ones(ctx.num_tasks, dtype=torch.float64)

        def head_scales(self, ctx: balance.BalanceContext) -> torch.Tensor:
            return self.scales

    cases = [(torch.tensor([1.0, 0.0, 2.0]), ValueError, "non-positive head scales"),
             (torch.tensor([1.0, float("nan"), 2.0]), ValueError, "non-finite head scales"),
             (torch.ones(2), RuntimeError, "head scales of shape")]
    for scales, error, match in cases:
        net = _HPS()
        x, y = _data()
        z = net.encoder(x)
        with pytest.raises(error, match=match):
            backward(net.losses(z, y), z, Scaled(scales),
                     shared_params=list(net.encoder.parameters()),
                     head_params=net.head_params())
    # valid scales: head k gets c_k ∇L_k, the shared parameters Σ_k ∇L_k
    net = _HPS()
    x, y = _data()
    z = net.encoder(x)
    c = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)
    backward(net.losses(z, y), z, Scaled(c), shared_params=list(net.encoder.parameters()))
    plain, _ = _plain_head_grads(net)
    for k, h in enumerate(net.heads):
        torch.testing.assert_close(_flat(h.parameters()), c[k] * plain[k], rtol=1e-10,
                                   atol=1e-12)
