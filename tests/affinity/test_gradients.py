"""GS and GT: against explicit per-task / per-pair loops (tests/reference), monitors, errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.affinity.gradients import (
    GradientSimilarityMonitor,
    GradientTransferenceMonitor,
    gradient_similarity,
    gradient_transference,
)
from tasklens.data import TaskSet
from tasklens.nn import HardParameterSharing, MMoE, hps_for
from tests.reference.affinity_reference import gs_per_task, gt_per_pair, plain_losses

KINDS = {"r": "regression", "c": "classification", "b": "binary", "s": "regression"}



def _problem(seed: int = 0, n: int = 24):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)).astype(np.float32)
    targets = {"r": x[:, 0] + 0.5 * x[:, 1], "c": (x[:, 2] > 0).astype(int) + (x[:, 3] > 1),
               "b": (x[:, 3] > 0).astype(float), "s": np.sin(x[:, 4])}
    ts = TaskSet.from_arrays(x, targets, kinds=KINDS)
    model = hps_for(ts, hidden=(7,), code_dim=6, head_hidden=5, head_depth=2, seed=seed).double()
    xb, yb = next(iter(ts.dataloader(n, shuffle=False)))
    yb = {k: v.double() if v.dtype.is_floating_point else v for k, v in yb.items()}
    return ts, model, xb.double(), yb


def _shared_names(model: nn.Module) -> list[str]:
    return [n for n, _ in model.named_parameters() if n.startswith("encoder.")]


def _train_steps(model, ts, x, y, opt, steps: int = 3) -> None:
    losses = plain_losses(KINDS)
    for _ in range(steps):
        opt.zero_grad()
        sum(losses(model(x), y).values()).backward()
        opt.step()


def test_gt_sgd_matches_per_pair_loop() -> None:
    ts, model, x, y = _problem()
    got = gradient_transference(model, ts, (x, y), lr=0.3)
    ref = gt_per_pair(model, plain_losses(KINDS), x, y, ts.task_names, _shared_names(model),
                      lr=0.3)
    np.testing.assert_allclose(got.values, ref, atol=1e-6, rtol=0)
    assert got.task_names == tuple(ts.task_names) and not got.is_symmetric()
    # a small step for a task lowers its own loss
    assert np.all(np.diag(got.values) > 0)


@pytest.mark.parametrize("make_opt", [
    lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9),
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.05),
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.02),
    lambda p: torch.optim.Adam(p, lr=0.01, amsgrad=True),
    lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.1),
])
@pytest.mark.parametrize("warm_steps", [0, 3])
def test_gt_momentum_aware_matches_optimizer_step(make_opt, warm_steps: int) -> None:
    ts, model, x, y = _problem(seed=1)
    opt = make_opt(model.parameters())
    _train_steps(model, ts, x, y, opt, warm_steps)  # builds momentum / Adam moments
    state_before = copy.deepcopy(opt.state_dict())
    params_before = [p.detach().clone() for p in model.parameters()]
    got = gradient_transference(model, ts, (x, y), optimizer=opt, rule="optimizer")
    ref = gt_per_pair(model, plain_losses(KINDS), x, y, ts.task_names, _shared_names(model),
                      optimizer=opt)
    np.testing.assert_allclose(got.values, ref, atol=1e-6, rtol=0)
    # nothing was changed: parameters, optimizer state
    for p, q in zip(model.parameters(), params_before):
        assert torch.equal(p, q)
    after = opt.state_dict()["state"]
    for key, st in state_before["state"].items():
        for name, value in st.items():
            assert torch.equal(torch.as_tensor(after[key][name]), torch.as_tensor(value))


def test_gt_sgd_rule_reads_optimizer_lr_per_group() -> None:
    ts, model, x, y = _problem(seed=2)
    opt = torch.optim.SGD([{"params": model.encoder.parameters(), "lr": 0.25},
                           {"params": model.heads.parameters(), "lr": 1.0}], momentum=0.9)
    got = gradient_transference(model, ts, (x, y), optimizer=opt)
    plain = gradient_transference(model, ts, (x, y), lr=0.25)
    np.testing.assert_allclose(got.values, plain.values, atol=1e-12)


def test_gt_loop_and_vmap_agree_and_subset_of_tasks() -> None:
    ts, model, x, y = _problem(seed=3)
    sub = ts.select(["s", "r", "b"])
    batched = gradient_transference(model, sub, (x, y), lr=0.5, vectorize=True)
    looped = gradient_transference(model, sub, (x, y), lr=0.5, vectorize=False)
    np.testing.assert_allclose(batched.values, looped.values, atol=1e-12)
    full = gradient_transference(model, ts, (x, y), lr=0.5)
    idx = [ts.task_names.index(t) for t in sub.task_names]
    # the lookahead of b changes only θ_s; the score of (a, b) does not depend on other tasks
    np.testing.assert_allclose(batched.values, full.values[np.ix_(idx, idx)], atol=1e-12)


class _BranchyEncoder(nn.Module):
    """Data-dependent control flow: vmap cannot batch it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(5, 6)
        self.out_features = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lin(x)
        if h.sum() > -1e9:
            h = torch.tanh(h)
        return h


def test_gt_falls_back_to_loop_when_vmap_fails() -> None:
    ts, ref_model, x, y = _problem(seed=4)
    torch.manual_seed(0)
    model = HardParameterSharing(_BranchyEncoder(), copy.deepcopy(ref_model.heads)).double()
    with pytest.raises(RuntimeError):
        gradient_transference(model, ts, (x, y), lr=0.2, vectorize=True)
    got = gradient_transference(model, ts, (x, y), lr=0.2)
    ref = gt_per_pair(model, plain_losses(KINDS), x, y, ts.task_names, ["encoder.lin.weight",
                      "encoder.lin.bias"], lr=0.2)
    np.testing.assert_allclose(got.values, ref, atol=1e-6, rtol=0)


def test_gt_and_gs_on_mmoe_with_per_task_features() -> None:
    # MMoE: z is a dict of per-task features; the shared parameters are the experts
    ts, _, x, y = _problem(seed=8)
    model = MMoE((5,), ts, n_experts=2, expert_dim=4, expert_hidden=(6,), head_hidden=4,
                 head_depth=2, seed=0).double()
    shared = [n for n, p in model.named_parameters()
              if any(p is q for q in model.shared_parameters())]
    got = gradient_transference(model, ts, (x, y), lr=0.3)
    ref = gt_per_pair(model, plain_losses(KINDS), x, y, ts.task_names, shared, lr=0.3)
    np.testing.assert_allclose(got.values, ref, atol=1e-6, rtol=0)
    gs = gradient_similarity(model, ts, (x, y))
    ref_gs = gs_per_task(model, plain_losses(KINDS), x, y, ts.task_names, shared)
    np.testing.assert_allclose(gs.values, ref_gs, atol=1e-10)


def test_gs_matches_per_task_autograd() -> None:
    ts, model, x, y = _problem(seed=5)
    got = gradient_similarity(model, ts, (x, y))
    ref = gs_per_task(model, plain_losses(KINDS), x, y, ts.task_names, _shared_names(model))
    np.testing.assert_allclose(got.values, ref, atol=1e-10)
    assert got.is_symmetric()
    np.testing.assert_allclose(np.diag(got.values), 1.0)
    assert np.all(np.abs(got.values) <= 1.0)


def test_gs_monitor_averages_due_calls() -> None:
    ts, model, x, y = _problem(seed=6)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = GradientSimilarityMonitor(ts, every=2)
    recorded = []
    for step in range(5):
        out = monitor.update(model, (x, y))
        assert (out is None) == (step % 2 == 1)
        if out is not None:
            recorded.append(gs_per_task(model, plain_losses(KINDS), x, y, ts.task_names,
                                        _shared_names(model)))
        _train_steps(model, ts, x, y, opt, 1)
    assert monitor.count == 3
    np.testing.assert_allclose(monitor.result().values, np.mean(recorded, axis=0), atol=1e-10)


def test_gt_monitor_averages_and_uses_optimizer() -> None:
    ts, model, x, y = _problem(seed=7)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    monitor = GradientTransferenceMonitor(ts, every=3, rule="optimizer")
    recorded = []
    for _ in range(7):
        out = monitor.update(model, (x, y), optimizer=opt)
        if out is not None:
            recorded.append(gt_per_pair(model, plain_losses(KINDS), x, y, ts.task_names,
                                        _shared_names(model), optimizer=opt))
        _train_steps(model, ts, x, y, opt, 1)
    assert monitor.count == 3
    np.testing.assert_allclose(monitor.result().values, np.mean(recorded, axis=0), atol=1e-6)
    monitor.reset()
    with pytest.raises(ValueError, match="recorded no step"):
        monitor.result()


def test_restores_training_mode() -> None:
    ts, model, x, y = _problem()
    model.train()
    gradient_transference(model, ts, (x, y), lr=0.1)
    gradient_similarity(model, ts, (x, y))
    assert all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())


def test_errors() -> None:
    ts, model, x, y = _problem()
    with pytest.raises(ValueError, match="unknown task"):
        other = TaskSet.from_arrays(x.float().numpy(), {"zz": y["r"].numpy()},
                                    kinds={"zz": "regression"})
        gradient_transference(model, [*ts.tasks.values(), other["zz"]], (x, y), lr=0.1)
    with pytest.raises(ValueError, match="at least 2"):
        gradient_similarity(model, ts.select(["r"]), (x, y))
    with pytest.raises(ValueError, match="batch size mismatch"):
        gradient_similarity(model, ts, (x, {**y, "r": y["r"][:-1]}))
    with pytest.raises(ValueError, match="no targets"):
        gradient_similarity(model, ts, (x, {k: v for k, v in y.items() if k != "c"}))
    with pytest.raises(ValueError, match="non-finite loss"):
        bad = y["r"].clone()
        bad[0] = float("nan")
        gradient_transference(model, ts, (x, {**y, "r": bad}), lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        gradient_transference(model, ts, (x, y))
    with pytest.raises(ValueError, match="not both"):
        gradient_transference(model, ts, (x, y), lr=0.1,
                              optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="unknown lookahead rule"):
        gradient_transference(model, ts, (x, y), lr=0.1, rule="adam")
    with pytest.raises(TypeError, match=r"supports torch\.optim\.SGD"):
        gradient_transference(model, ts, (x, y), rule="optimizer",
                              optimizer=torch.optim.RMSprop(model.parameters()))
    with pytest.raises(ValueError, match="> 0"):
        gradient_transference(model, ts, (x, y), lr=-1.0)
    with pytest.raises(TypeError, match="MTLModel"):
        gradient_similarity(nn.Linear(5, 1), ts, (x, y))
    with pytest.raises(ValueError, match="unknown lookahead rule"):
        GradientTransferenceMonitor(ts, rule="momentum")
    with pytest.raises(ValueError, match="every must be"):
        GradientSimilarityMonitor(ts, every=0)
