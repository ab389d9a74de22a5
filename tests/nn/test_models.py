"""The MTL architectures: shapes, parameter groups, the encode/decode contract, gates, masks.

References: mathematical properties (softmax rows sum to 1, sigmoid masks in (0, 1), the
chain rule ∂L/∂θ = J_θ(z)ᵀ ∂L/∂z checked against autograd through the whole model), and
hand-counted parameter ownership.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.data import TaskSet
from tasklens.nn import (
    CGC,
    MTAN,
    PLE,
    ConvEncoder,
    DualStreamModel,
    HardParameterSharing,
    LinearEncoder,
    MLPEncoder,
    MMoE,
    MTLModel,
    SmallResNet,
    dual_stream_for,
    hps_for,
    make_heads,
    task_losses,
)

from .conftest import make_taskset

SMALL_HEADS = {"head_hidden": 8, "head_depth": 2}

BUILDERS: dict[str, Callable[[TaskSet, int], MTLModel]] = {
    "hps": lambda ts, s: hps_for(ts, code_dim=8, hidden=(16,), channels=(4, 8), seed=s,
                                 **SMALL_HEADS),
    "mtan": lambda ts, s: MTAN(ts.input_shape, ts, widths=(4, 8), seed=s, **SMALL_HEADS),
    "mmoe": lambda ts, s: MMoE(ts.input_shape, ts, n_experts=3, expert_dim=8,
                               expert_hidden=(16,), channels=(4, 8), seed=s, **SMALL_HEADS),
    "cgc": lambda ts, s: CGC(ts.input_shape, ts, n_shared_experts=2, n_task_experts=1,
                             expert_dim=8, expert_hidden=(16,), channels=(4, 8), seed=s,
                             **SMALL_HEADS),
    "ple": lambda ts, s: PLE(ts.input_shape, ts, n_levels=3, n_shared_experts=2,
                             n_task_experts=1, expert_dim=8, expert_hidden=(16,),
                             channels=(4, 8), seed=s, **SMALL_HEADS),
    "dual": lambda ts, s: dual_stream_for(ts, feature_dim=12, semantic_dim=8, residual_dim=3,
                                          hidden=(16,), channels=(4, 8), seed=s, **SMALL_HEADS),
}
EXPECTED = {"reg": (), "reg2": (2,), "cls": (3,), "bin": (), "multi": (3,)}


@pytest.fixture(params=["flat", "image"])
def taskset(request, flat_taskset: TaskSet, image_taskset: TaskSet) -> TaskSet:
    return flat_taskset if request.param == "flat" else image_taskset


@pytest.fixture(params=list(BUILDERS))
def arch(request) -> str:
    return request.param


def _batch(ts: TaskSet, n: int = 10):
    return next(iter(ts.dataloader(n, shuffle=False)))


def _grads_none(params) -> list[bool]:
    return [p.grad is None for p in params]


def test_output_shapes_every_kind(arch: str, taskset: TaskSet) -> None:
    model = BUILDERS[arch](taskset, 0)
    x, _ = _batch(taskset, 7)
    out = model(x)
    assert list(out) == taskset.task_names == list(model.task_names)
    assert {n: tuple(o.shape) for n, o in out.items()} == {
        n: (7, *s) for n, s in EXPECTED.items()}
    z = model.encode(x)
    if model.shares_representation:
        assert isinstance(z, torch.Tensor) and z.shape == (7, 8)
    else:
        assert isinstance(z, dict) and list(z) == taskset.task_names
    feats = model.task_features(z)
    assert all(f.ndim == 2 and f.shape[0] == 7 for f in feats.values())


def test_parameter_groups_partition_all_parameters(arch: str, taskset: TaskSet) -> None:
    model = BUILDERS[arch](taskset, 0)
    shared = {id(p) for p in model.shared_parameters()}
    per_task = {t: {id(p) for p in model.task_parameters(t)} for t in model.task_names}
    union = set(shared)
    for t, ids in per_task.items():
        assert ids, f"task {t} owns no parameters"
        assert not ids & shared
        for s, other in per_task.items():
            if s != t:
                assert not ids & other
        union |= ids
    assert union == {id(p) for p in model.parameters()}
    assert shared, "there must be shared parameters"
    with pytest.raises(KeyError, match="no task 'nope'"):
        list(model.task_parameters("nope"))


def test_parameter_owners_are_the_expected_modules(flat_taskset: TaskSet) -> None:
    hps = BUILDERS["hps"](flat_taskset, 0)
    assert {id(p) for p in hps.shared_parameters()} == {id(p) for p in hps.encoder.parameters()}
    mmoe = BUILDERS["mmoe"](flat_taskset, 0)
    assert {id(p) for p in mmoe.shared_parameters()} == {
        id(p) for p in mmoe.experts.parameters()}
    assert {id(p) for p in mmoe.task_parameters("cls")} == {
        id(p) for p in [*mmoe.gates["cls"].parameters(), *mmoe.heads["cls"].parameters()]}
    mtan = BUILDERS["mtan"](flat_taskset, 0)
    trunk = [*mtan.trunk_first.parameters(), *mtan.trunk_last.parameters()]
    assert {id(p) for p in mtan.shared_parameters()} == {id(p) for p in trunk}
    ple = BUILDERS["ple"](flat_taskset, 0)
    shared_ple = [p for lv in ple.levels for p in lv.shared_experts.parameters()]
    shared_ple += [p for lv in ple.levels if lv.shared_gate is not None
                   for p in lv.shared_gate.parameters()]
    assert {id(p) for p in ple.shared_parameters()} == {id(p) for p in shared_ple}


def test_head_reads_only_its_features(arch: str, taskset: TaskSet) -> None:
    model = BUILDERS[arch](taskset, 0)
    x, _ = _batch(taskset)
    with torch.no_grad():
        before = model(x)
        for p in model.heads["cls"].parameters():
            p.add_(torch.randn_like(p))
        after = model(x)
    for t in model.task_names:
        if t == "cls":
            assert not torch.allclose(before[t], after[t])
        else:
            assert torch.equal(before[t], after[t])


def test_outputs_depend_on_encoder_part_only_through_z(arch: str, taskset: TaskSet) -> None:
    """decode(z.detach()) gives the same outputs and no gradient outside the heads."""
    model = BUILDERS[arch](taskset, 0)
    x, y = _batch(taskset)
    z = model.encode(x)
    z_det = {t: v.detach() for t, v in z.items()} if isinstance(z, dict) else z.detach()
    out = model.decode(z_det)
    ref = model(x)
    for t in model.task_names:
        torch.testing.assert_close(out[t], ref[t])
    task_losses(taskset, out, y).sum().backward()
    head_ids = {id(p) for p in model.heads.parameters()}
    for p in model.parameters():
        assert (p.grad is not None) == (id(p) in head_ids)


def test_representation_gradient_chain_rule(flat_taskset: TaskSet) -> None:
    """For HPS, J_θ(z)ᵀ ∂L_t/∂z equals autograd's ∂L_t/∂θ on the shared parameters."""
    model = BUILDERS["hps"](flat_taskset, 0).double()
    x, y = _batch(flat_taskset)
    x = x.double()
    shared = list(model.shared_parameters())
    z = model.encode(x)
    for name, task in flat_taskset.tasks.items():
        loss_from_z = task_losses([task], model.decode(z), y)[0]
        g_z = torch.autograd.grad(loss_from_z, z, retain_graph=True)[0]
        via_chain = torch.autograd.grad(z, shared, grad_outputs=g_z, retain_graph=True)
        direct = torch.autograd.grad(task_losses([task], model(x), y)[0], shared)
        for a, b in zip(via_chain, direct):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
        assert any(float(g.abs().sum()) > 0 for g in direct), name


def test_gradients_reach_every_parameter(arch: str, taskset: TaskSet) -> None:
    model = BUILDERS[arch](taskset, 0)
    x, y = _batch(taskset, 16)
    if isinstance(model, DualStreamModel):
        # the residual stream and decoder learn from the CORE-MTL terms only
        model.core_losses(x, y, taskset, seed=0).total().backward()
    else:
        task_losses(taskset, model(x), y).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert sum(float(p.grad.abs().sum()) > 0 for p in model.parameters()) >= 0.9 * len(
        list(model.parameters()))


def test_seeded_builders_are_deterministic(arch: str, taskset: TaskSet) -> None:
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a, b, c = (BUILDERS[arch](taskset, s) for s in (3, 3, 4))
    assert torch.equal(torch.get_rng_state(), state)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    x, _ = _batch(taskset)
    oa, ob = a(x), b(x)
    assert all(torch.equal(oa[t], ob[t]) for t in oa)


@pytest.mark.parametrize("arch_name", ["mmoe", "cgc", "ple"])
def test_gates_are_distributions(arch_name: str, image_taskset: TaskSet) -> None:
    model = BUILDERS[arch_name](image_taskset, 0)
    x, _ = _batch(image_taskset)
    levels = model.gate_weights(x)
    levels = [levels] if isinstance(levels, dict) else levels
    n_experts = {"mmoe": 3, "cgc": 3, "ple": 3}[arch_name]
    for j, gates in enumerate(levels):
        expected_keys = set(model.task_names)
        if arch_name == "ple" and j < len(levels) - 1:
            expected_keys.add("__shared__")
        assert set(gates) == expected_keys
        for key, g in gates.items():
            width = 5 * 1 + 2 if key == "__shared__" else n_experts
            assert g.shape == (10, width)
            assert torch.all(g > 0)
            torch.testing.assert_close(g.sum(dim=1), torch.ones(10))


def test_mmoe_features_are_gate_weighted_expert_sums(flat_taskset: TaskSet) -> None:
    model = BUILDERS["mmoe"](flat_taskset, 0)
    x, _ = _batch(flat_taskset)
    experts = [e(x).detach().numpy() for e in model.experts]
    gates = model.gate_weights(x)
    z = model.encode(x)
    for t in model.task_names:
        g = gates[t].detach().numpy()
        loop = sum(g[:, [e]] * experts[e] for e in range(len(experts)))
        np.testing.assert_allclose(z[t].detach().numpy(), loop, rtol=1e-5, atol=1e-6)


def test_mtan_masks_in_open_unit_interval(taskset: TaskSet) -> None:
    model = BUILDERS["mtan"](taskset, 0)
    x, _ = _batch(taskset)
    masks = model.attention_masks(x)
    assert list(masks) == taskset.task_names
    for per_block in masks.values():
        assert len(per_block) == 2
        for m, width in zip(per_block, (4, 8)):
            assert m.shape[:2] == (10, width)
            assert torch.all(m > 0) and torch.all(m < 1)
    if len(taskset.input_shape) == 3:
        assert masks["reg"][0].shape[2:] == (8, 8) and masks["reg"][1].shape[2:] == (4, 4)


def test_mtan_with_masks_of_one_is_the_trunk(flat_taskset: TaskSet) -> None:
    """Saturating every mask to 1 must give the trunk's last features (â = a ⊙ p = p)."""
    model = BUILDERS["mtan"](flat_taskset, 0)
    with torch.no_grad():
        for blocks in model.attention.values():
            for block in blocks:
                last = block.mask[-2]
                last.weight.zero_()
                last.bias.fill_(50.0)
    x, _ = _batch(flat_taskset)
    _, lasts = model._trunk(x)
    z = model.encode(x)
    for t in model.task_names:
        torch.testing.assert_close(z[t], lasts[-1])


def test_hps_builder_picks_encoder_and_accepts_custom_parts(
        flat_taskset: TaskSet, image_taskset: TaskSet) -> None:
    assert isinstance(hps_for(flat_taskset).encoder, MLPEncoder)
    conv = hps_for(image_taskset).encoder
    assert isinstance(conv, SmallResNet) and conv.channels == (32, 64)
    vae = hps_for(image_taskset, image_encoder="beta_vae").encoder
    assert isinstance(vae, ConvEncoder) and vae.channels == (32, 32, 64)
    # an arbitrary encoder without out_features: the size is probed
    enc = nn.Sequential(nn.Flatten(), nn.Linear(128, 5), nn.BatchNorm1d(5))
    model = hps_for(image_taskset, encoder=enc, head_depth=1)
    assert model.heads["cls"].in_features == 5
    assert enc[2].num_batches_tracked.item() == 0  # the probe left batch-norm alone
    custom = HardParameterSharing(MLPEncoder(6, (), 4), make_heads(flat_taskset, 4, 8, 1))
    x, _ = _batch(flat_taskset)
    assert custom(x)["reg2"].shape == (10, 2)


def test_builders_reject_bad_inputs(flat_taskset: TaskSet) -> None:
    bad = TaskSet.from_arrays(np.random.default_rng(0).normal(size=(20, 3, 4)),
                              {"t": np.arange(20.0)}, {"t": "regression"})
    with pytest.raises(ValueError, match=r"input_shape \(3, 4\) is not supported"):
        hps_for(bad)
    with pytest.raises(ValueError, match="input_shape"):
        MTAN((3, 4), flat_taskset)
    with pytest.raises(ValueError, match="pass input_shape"):
        hps_for(list(flat_taskset.tasks.values()))
    with pytest.raises(ValueError, match="unknown activation"):
        MMoE((6,), flat_taskset, activation="swish2")
    with pytest.raises(ValueError, match="below one pixel"):
        MTAN((1, 4, 4), flat_taskset, widths=(2, 2, 2, 2))
    with pytest.raises(ValueError, match="n_experts"):
        MMoE((6,), flat_taskset, n_experts=0)
    with pytest.raises(ValueError, match="n_shared_experts >= 1"):
        PLE((6,), flat_taskset, n_levels=2, n_shared_experts=0)
    with pytest.raises(ValueError, match="heads are for"):
        MMoE((6,), flat_taskset, heads=make_heads([flat_taskset["reg"]], 64))
    model = BUILDERS["mmoe"](flat_taskset, 0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 6\)"):
        model(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="lacks the features"):
        model.decode({"reg": torch.zeros(2, 8)})


def test_single_task_and_other_sizes() -> None:
    ts = make_taskset((3, 16, 16), n=12, seed=1).select(["cls"])
    for build in BUILDERS.values():
        model = build(ts, 0)
        x, _ = _batch(ts, 4)
        assert model(x)["cls"].shape == (4, 3)


def test_deep_linear_multitask_network(flat_taskset: TaskSet) -> None:
    """LinearEncoder + bias-free linear heads: ŷ_t = W_t W_S x (the network of 000)."""
    model = hps_for(flat_taskset, encoder=LinearEncoder(6, 4, depth=2, seed=0), head_depth=1,
                    head_bias=False, seed=0)
    assert all(p.ndim == 2 for p in model.parameters())  # weights only, no biases
    x, _ = _batch(flat_taskset)
    w_shared = (model.encoder.net[1].weight @ model.encoder.net[0].weight).detach().numpy()
    out = model(x)
    for t in ("reg2", "cls", "multi"):
        w_t = model.heads[t].net[0].weight.detach().numpy()
        np.testing.assert_allclose(out[t].detach().numpy(), x.numpy() @ (w_t @ w_shared).T,
                                   rtol=1e-4, atol=1e-5)
