"""The step plan: the plan chosen for every method × level × model kind is the documented one
(docs/balance.md, "Step plan"), the one default-level rule, and GradDrop's activations."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from tasklens import balance
from tasklens.balance._plan import gramian_suffices, plan_step
from tasklens.balance.engine import backward, execute, update_after_step
from tasklens.nn import HardParameterSharing, MTLModel, make_heads
from tasklens.train import Trainer
from tests.train._data import tiny_model, tiny_taskset

# Each registered method's declaration profile (docs/balance.md, "Step plan"). Pinned for the
# methods known today, so that a change of their declarations is noticed; a method added
# later gets the profile its declarations give (``_derived_profile``).
PROFILES = {
    "ew": "losses", "rlw": "losses", "uw": "losses", "dwa": "losses", "gls": "losses",
    "famo": "losses", "stch": "losses",
    "mgda": "gramian", "pcgrad": "gramian", "cagrad": "gramian", "gradvac": "gramian",
    "imtl_g": "gramian", "nash_mtl": "gramian", "aligned_mtl": "gramian",
    "fairgrad": "gramian", "upgrad": "gramian", "gradnorm": "gramian",
    "excess_mtl": "jacobian", "db_mtl": "jacobian", "graddrop": "jacobian", "moml": "jacobian",
    "repmtl": "saliency",
}

# What the printed plan says the heads receive (docs/balance.md, "Step plan"), by
# (head_gradient, output); the model gives task_parameters, so weights methods' heads are given
HEADS_LINE = {
    ("weighted", "weights"): "heads: w_k ∇L_k (head_gradient='weighted'",
    ("task", "weights"): "heads: plain task gradient ∇L_k (head_gradient='task'; heads "
                         "head_params)",
    ("scaled", "weights"): "heads: scaled task gradient c_k ∇L_k (head_gradient='scaled': c = "
                           "the method's head_scales of the step; heads head_params)",
    ("task", "direction"): "heads: plain task gradient ∇L_k (the direction's surrogate gives "
                           "it)",
    ("scaled", "direction"): "heads: scaled task gradient c_k ∇L_k (head_gradient='scaled': c = "
                             "the method's head_scales of the step; the direction's surrogate "
                             "gives it)",
}

# The documented table: (profile, model kind, level given) -> (level, route, split), or an
# error. Model kinds: "mlp" (heads read one shared z; encoder of nn.Linear layers only),
# "conv" (one shared z; encoder of Conv2d, BatchNorm2d and nn.Linear layers), "norm" (an
# nn.Linear encoder with a LayerNorm), "aux" (an MLP model with
# auxiliary_losses), "per_task" (per-task features: no shared z). "error" = refused at
# construction; "n/a" = the method does not support that level (refused).
TABLE = {
    ("losses", "mlp", None): ("parameter", "none", False),
    ("losses", "mlp", "representation"): ("representation", "none", True),
    ("losses", "aux", "representation"): ("representation", "none", False),
    ("losses", "per_task", None): ("parameter", "none", False),
    ("losses", "per_task", "representation"): "error",
    ("gramian", "mlp", None): ("parameter", "kernel_gramian", False),
    ("gramian", "conv", None): ("parameter", "kernel_gramian", False),
    ("gramian", "norm", None): ("parameter", "jacobian", False),
    ("gramian", "aux", None): ("parameter", "kernel_gramian", False),
    ("gramian", "per_task", None): ("parameter", "kernel_gramian", False),
    ("gramian", "mlp", "representation"): ("representation", "jacobian", True),
    ("gramian", "aux", "representation"): ("representation", "jacobian", False),
    ("gramian", "per_task", "representation"): "error",
    ("jacobian", "mlp", None): ("parameter", "jacobian", False),
    ("jacobian", "conv", None): ("parameter", "jacobian", False),
    ("jacobian", "norm", None): ("parameter", "jacobian", False),
    ("jacobian", "mlp", "representation"): ("representation", "jacobian", True),
    ("jacobian", "aux", "representation"): ("representation", "jacobian", False),
    ("jacobian", "per_task", "representation"): "error",
    ("saliency", "mlp", None): ("representation", "saliency", True),
    ("saliency", "aux", None): ("representation", "saliency", False),
    ("saliency", "mlp", "parameter"): "error",
    ("saliency", "per_task", None): "error",
}


def _derived_profile(method: balance.BalanceMethod) -> str:
    if method.regularizes_saliency:
        return "saliency"
    if not method.needs_gradients:
        return "losses"
    return "gramian" if gramian_suffices(method) else "jacobian"


class _Aux(HardParameterSharing):
    def auxiliary_losses(self, x, z, outputs):
        return {"l2": 1e-3 * (z**2).mean()}


class _PerTask(MTLModel):
    shares_representation = False

    def __init__(self, ts) -> None:
        super().__init__(make_heads(ts, 4, 4, 1, seed=0))
        self.trunk = nn.Linear(6, 4 * ts.n_tasks)
        self._names = list(ts.task_names)

    def encode(self, x):
        return dict(zip(self._names, self.trunk(x).split(4, dim=1)))


def _model(kind: str, ts):
    if kind == "mlp":
        return tiny_model(ts)
    heads = make_heads(ts, 8, 8, 1, seed=0)
    if kind == "conv":  # the 6 features as a 2×3 image
        return HardParameterSharing(nn.Sequential(
            nn.Unflatten(1, (1, 2, 3)), nn.Conv2d(1, 4, 2, padding=1), nn.BatchNorm2d(4),
            nn.ReLU(), nn.Flatten(), nn.Linear(48, 8)), heads)
    if kind == "norm":
        return HardParameterSharing(nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8)), heads)
    if kind == "aux":
        return _Aux(nn.Sequential(nn.Linear(6, 8), nn.ReLU()), heads)
    return _PerTask(ts)


@pytest.fixture(scope="module")
def ts():
    return tiny_taskset(n=40, same_heads=True)


def _profile(name: str) -> str:
    method = balance.get(name)
    profile = PROFILES.get(name, _derived_profile(method))
    assert profile == _derived_profile(method), f"{name}: declarations no longer fit {profile}"
    return profile


@pytest.mark.parametrize(("profile", "kind", "level"), list(TABLE))
def test_trainer_plan_is_the_documented_one(ts, profile, kind, level):
    # the two-task model: methods that need K >= 3 (Krum, TrimmedMean) share their profile's
    # plan (it is derived from the declarations) and are covered by the parity test
    names = [n for n in balance.available()
             if _profile(n) == profile and balance.get(n).min_tasks <= 2]
    assert names
    for name in names:
        method = balance.get(name)
        expected = TABLE[(profile, kind, level)]
        unsupported = method.needs_gradients and level is not None and \
            level not in method.levels
        val = ts if method.update_batch == "held_out" else None
        if method.min_tasks > len(ts.task_names):  # Krum, TrimmedMean: K >= 3, refused here
            with pytest.raises(ValueError, match=r"tasks|level|representation"):
                Trainer(_model(kind, ts), ts, method, level=level, val=val)
            continue
        if expected == "error" or unsupported:
            with pytest.raises(ValueError, match=r"level|representation"):
                Trainer(_model(kind, ts), ts, method, level=level, val=val)
            continue
        plan = Trainer(_model(kind, ts), ts, method, level=level, val=val).plan
        assert (plan.level, plan.route, plan.split) == expected, name
        assert plan.num_tasks == 2 and plan.post_step == method.update_batch
        assert plan.heads == ("given" if method.head_gradient in ("task", "scaled")
                              and method.output == "weights" else "none")
        assert plan.head_gradient == method.head_gradient
        assert HEADS_LINE[(method.head_gradient, method.output)] in str(plan), name
        assert plan.context_features == ("features" in method.requires
                                         and plan.level == "representation")
        assert repr(name) in str(plan) and f"level: {plan.level}" in str(plan)
        assert plan.to_dict()["route"] == plan.route


@pytest.mark.parametrize(("kind", "route"), [("mlp", "kernel_gramian"), ("conv", "kernel_gramian"),
                                           ("norm", "jacobian")])
def test_monitors_of_a_loss_only_method_take_the_gramian_route(ts, kind, route):
    plan = Trainer(_model(kind, ts), ts, "ew", monitor_every=2).plan
    assert (plan.level, plan.route, plan.monitor) == ("parameter", route, True)
    assert "only on monitoring steps" in str(plan)


@pytest.mark.parametrize(("shared", "features", "name", "level"), [
    (True, True, "mgda", "parameter"),       # both given: parameter level, like the Trainer
    (False, True, "mgda", "representation"),  # features only: MGDA-UB
    (True, False, "mgda", "parameter"),
    (True, True, "repmtl", "representation"),  # supports only the representation level
    (True, True, "db_mtl", "parameter"),
    (False, True, "ew", "representation"),    # loss-only: where monitors would look
    (True, True, "ew", "parameter"),
])
def test_one_default_level_rule_for_backward_and_plans(shared, features, name, level):
    torch.manual_seed(0)
    enc, heads = nn.Linear(3, 4), nn.ModuleList([nn.Linear(4, 1) for _ in range(2)])
    x = torch.randn(8, 3)
    z = enc(x)
    losses = torch.stack([h(z).pow(2).mean() for h in heads])
    method = balance.get(name)
    plan = plan_step(method, shared_params=list(enc.parameters()) if shared else None,
                     features=features, num_tasks=2)
    assert plan.level == level
    result = backward(losses, z if features else None, method,
                      shared_params=list(enc.parameters()) if shared else None,
                      compute_gramian=True)
    assert result.level == level


def test_plan_checks_once_and_execute_checks_the_step() -> None:
    mgda = balance.get("mgda")
    with pytest.raises(ValueError, match="at least 2 tasks"):
        plan_step(mgda, shared_params=[torch.zeros(1, requires_grad=True)], num_tasks=1)
    with pytest.raises(ValueError, match="needs shared_params"):
        plan_step(mgda, level="parameter", features=True)
    with pytest.raises(ValueError, match="representation-level step"):
        plan_step(mgda, level="parameter", split=True)
    with pytest.raises(TypeError, match="BalanceMethod"):
        plan_step("mgda")  # type: ignore[arg-type]
    enc, heads = nn.Linear(3, 4), nn.ModuleList([nn.Linear(4, 1) for _ in range(3)])
    z = enc(torch.randn(5, 3))
    losses = torch.stack([h(z).mean() for h in heads])
    plan = plan_step(mgda, shared_params=list(enc.parameters()), num_tasks=2)
    with pytest.raises(ValueError, match="3 task losses but the plan was made for 2"):
        execute(plan, losses, z)
    with pytest.raises(ValueError, match="monitor=True"):
        execute(plan_step(balance.get("ew")), losses, z, compute_gramian=True)
    with pytest.raises(TypeError, match="StepPlan"):
        execute(object(), losses, z)  # type: ignore[arg-type]


def test_execute_matches_backward_and_the_plan_prints_its_decisions() -> None:
    def run(planned: bool) -> list[torch.Tensor]:
        torch.manual_seed(1)
        enc, heads = nn.Linear(3, 4), nn.ModuleList([nn.Linear(4, 1) for _ in range(2)])
        method = balance.get("upgrad")
        plan = plan_step(method, shared_params=list(enc.parameters()), features=True,
                         num_tasks=2)
        for step in range(2):
            z = enc(torch.randn(6, 3))
            losses = torch.stack([h(z).pow(2).mean() for h in heads])
            if planned:
                execute(plan, losses, z, step=step)
            else:
                backward(losses, z, method, shared_params=list(enc.parameters()), step=step)
        return [p.grad.clone() for p in [*enc.parameters(), *heads.parameters()]]

    for a, b in zip(run(True), run(False)):
        assert torch.equal(a, b)  # the same operations in the same order
    text = str(plan_step(balance.get("upgrad"), shared_params=[torch.zeros(2)],
                         features=True, num_tasks=2))
    for line in ("level: parameter", "gradients:", "backward: weights", "heads: plain"):
        assert line in text


# ----------------------------------------------------------------- GradDrop's activations
def _graddrop_net():
    torch.manual_seed(3)
    enc = nn.Sequential(nn.Linear(4, 5), nn.Tanh()).double()
    heads = nn.ModuleList([nn.Linear(5, 1).double() for _ in range(3)])
    x = torch.randn(7, 4, dtype=torch.float64)
    y = torch.randn(7, 3, dtype=torch.float64)
    return enc, heads, x, y


@pytest.mark.parametrize("split", [False, True])
def test_graddrop_gets_the_activations_at_representation_level(split, caplog) -> None:
    """The engine passes z to GradDrop: the upstream gradient that reaches z is the paper's
    layer Σ_i (ℓ + (1 − ℓ) M_i) ∘ ∇_z L_i with the batch-summed sign(z) purity, computed here
    from a per-task autograd loop."""
    enc, heads, x, y = _graddrop_net()
    z = enc(x)
    losses = torch.stack([((h(z).squeeze(1) - y[:, i]) ** 2).mean()
                          for i, h in enumerate(heads)])
    task_grads = torch.stack([torch.autograd.grad(losses[i], z, retain_graph=True)[0]
                              for i in range(3)])
    expected = balance.get("graddrop", seed=4).layer_gradient(task_grads, z)
    seen: list[torch.Tensor] = []
    z.register_hook(lambda g: seen.append(g.clone()))
    method = balance.get("graddrop", seed=4)
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        if split:
            from tasklens.balance.engine import backward_split

            leaves = [z.detach().requires_grad_() for _ in heads]
            split_losses = torch.stack([((h(zk).squeeze(1) - y[:, i]) ** 2).mean()
                                        for i, (h, zk) in enumerate(zip(heads, leaves))])
            backward_split(split_losses, z, leaves, method)
        else:
            backward(losses, z, method, level="representation")
    assert not any("sign(z)" in r.getMessage() for r in caplog.records)
    torch.testing.assert_close(seen[-1], expected, rtol=1e-12, atol=1e-14)


def test_graddrop_gets_the_activations_in_the_trainer(ts) -> None:
    calls: list[tuple[int, ...]] = []
    method = balance.get("graddrop", seed=0)
    real = method.layer_gradient

    def spy(task_grads, features):
        calls.append(tuple(features.shape))
        return real(task_grads, features)

    method.layer_gradient = spy  # type: ignore[method-assign]
    trainer = Trainer(tiny_model(ts), ts, method, level="representation", batch_size=20)
    assert trainer.plan.context_features and trainer.plan.split
    trainer.fit(1)
    assert calls == [(20, 8), (20, 8)]
    # at parameter level there is no activation: the per-entry form, no features
    calls.clear()
    trainer = Trainer(tiny_model(ts), ts, method, batch_size=20)
    assert not trainer.plan.context_features
    trainer.fit(1)
    assert calls == []


def test_update_after_step_takes_the_held_out_gradients_at_the_plan_level() -> None:
    """MOML's held-out Jacobian comes from the engine: equal to a per-task autograd loop."""
    torch.manual_seed(5)
    enc, heads = nn.Linear(3, 4).double(), nn.ModuleList([nn.Linear(4, 1).double()
                                                          for _ in range(2)])
    shared = list(enc.parameters())
    seen: list[torch.Tensor] = []

    class Spy(type(balance.get("moml"))):  # type: ignore[misc]
        def update(self, ctx):
            seen.append(ctx.jacobian)

    method = Spy()
    for level in ("parameter", "representation"):
        plan = plan_step(method, level=level, shared_params=shared, features=True,
                         num_tasks=2)
        assert plan.post_step == "held_out" and plan.post_step_inputs == ("jacobian",)
        z = enc(torch.randn(6, 3, dtype=torch.float64))
        losses = torch.stack([h(z).pow(2).mean() for h in heads])
        update_after_step(plan, losses, z)
        wrt = shared if level == "parameter" else [z]
        rows = [torch.cat([g.reshape(-1) for g in
                           torch.autograd.grad(losses[k], wrt, retain_graph=True)])
                for k in range(2)]
        torch.testing.assert_close(seen[-1], torch.stack(rows), rtol=1e-12, atol=1e-14)
        if level == "representation":
            with pytest.raises(ValueError, match="held-out forward's z"):
                update_after_step(plan, losses, None)
    with pytest.raises(ValueError, match="nothing to update"):
        update_after_step(plan_step(balance.get("ew")), torch.ones(2))


def test_a_plan_without_its_recorder_says_why() -> None:
    from tasklens.balance.kernel_gramian import LinearRecorder

    enc = nn.Linear(3, 4)
    plan = plan_step(balance.get("mgda"), shared_params=list(enc.parameters()),
                     recorder=LinearRecorder(enc), num_tasks=2)
    assert plan.route == "kernel_gramian" and plan.recorder is not None
    fallback = plan.without_recorder("a LayerNorm")
    assert fallback.route == "jacobian" and fallback.recorder is None
    assert "a LayerNorm" in str(fallback) and fallback != plan
    chunked = plan_step(balance.get("mgda"), shared_params=list(enc.parameters()),
                        recorder=LinearRecorder(enc), num_tasks=2, gramian_only=True)
    assert chunked.without_recorder("x").route == "chunked_gramian"
    # a direction method needs the Jacobian: the recorder is not kept
    assert plan_step(balance.get("graddrop"), shared_params=list(enc.parameters()),
                     recorder=LinearRecorder(enc), num_tasks=2).recorder is None
