"""Heads and task losses.

References: plain-NumPy losses written from their definitions in
tests/reference/nn_losses.py; the head layout of 003 Appendix A, Table 3 transcribed here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from tasklens.data import Task, TaskSet
from tasklens.nn import TaskHead, head_output_shape, make_heads, task_loss, task_losses
from tests.reference import nn_losses as ref


def test_heads_follow_table3_and_task_output_sizes(flat_taskset: TaskSet) -> None:
    heads = make_heads(flat_taskset, in_features=12)
    assert list(heads) == flat_taskset.task_names
    sizes = {"reg": 1, "reg2": 2, "cls": 3, "bin": 1, "multi": 3}
    for name, head in heads.items():
        linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
        # 003 Table 3: Dense 300, Dense 300, Dense 300, Dense (outputs); ReLU but after last
        assert [m.out_features for m in linears] == [300, 300, 300, sizes[name]]
        assert linears[0].in_features == 12
        assert sum(isinstance(m, nn.ReLU) for m in head.modules()) == 3
    z = torch.randn(5, 12)
    shapes = {n: tuple(h(z).shape) for n, h in heads.items()}
    assert shapes == {"reg": (5,), "reg2": (5, 2), "cls": (5, 3), "bin": (5,), "multi": (5, 3)}
    for name, task in flat_taskset.tasks.items():
        assert (5, *head_output_shape(task)) == shapes[name]


def test_head_depth_one_is_linear_and_input_is_checked() -> None:
    head = TaskHead(4, 2, depth=1)
    assert isinstance(head.net[0], nn.Linear) and len(head.net) == 1
    with pytest.raises(ValueError, match=r"features of shape \(N, 4\)"):
        head(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="squeeze"):
        TaskHead(4, 2, squeeze=True)


def test_make_heads_accepts_mappings_and_sequences(flat_taskset: TaskSet) -> None:
    tasks = list(flat_taskset.tasks.values())
    assert list(make_heads(tasks, 3, 8, 2)) == flat_taskset.task_names
    assert list(make_heads(flat_taskset.tasks, 3, 8, 2)) == flat_taskset.task_names
    with pytest.raises(TypeError, match="tasks must be"):
        make_heads(42, 3)
    with pytest.raises(ValueError, match="duplicate task name"):
        make_heads([tasks[0], tasks[0]], 3)


def test_unknown_kind_raises_and_dotted_names_are_accepted(flat_taskset: TaskSet) -> None:
    odd = dataclasses.replace(flat_taskset["reg"], kind="ordinal")
    with pytest.raises(ValueError, match="unknown kind 'ordinal'"):
        make_heads([odd], 3)
    with pytest.raises(ValueError, match="unknown kind 'ordinal'"):
        task_loss(odd, torch.zeros(3), torch.zeros(3))
    dotted = dataclasses.replace(flat_taskset["reg"], name="a.b")
    assert list(make_heads([dotted], 3)) == ["a.b"]  # escaped module key, see test_task_keys


def _task(kind: str, loss: str = "") -> Task:
    # task_loss reads only name, kind and loss
    return Task(name="t", kind=kind, targets=np.zeros(1), loss=loss)


finite = st.floats(-8, 8, allow_nan=False, width=32)


@given(data=st.data(), n=st.integers(1, 12), d=st.integers(1, 4),
       loss=st.sampled_from(["mse", "l1", "huber"]), flat=st.booleans())
@settings(max_examples=40, deadline=None)
def test_regression_losses_match_numpy(data, n: int, d: int, loss: str, flat: bool) -> None:
    shape = (n,) if flat else (n, d)
    o = np.array(data.draw(st.lists(finite, min_size=int(np.prod(shape)),
                                    max_size=int(np.prod(shape))))).reshape(shape)
    y = np.array(data.draw(st.lists(finite, min_size=o.size, max_size=o.size))).reshape(shape)
    got = task_loss(_task("regression", loss), torch.tensor(o, dtype=torch.float64),
                    torch.tensor(y, dtype=torch.float32))
    want = {"mse": ref.mse, "l1": ref.l1, "huber": ref.huber}[loss](o, y)
    assert float(got) == pytest.approx(want, rel=1e-6, abs=1e-6)


@given(data=st.data(), n=st.integers(1, 12), c=st.integers(2, 5))
@settings(max_examples=40, deadline=None)
def test_cross_entropy_matches_numpy(data, n: int, c: int) -> None:
    o = np.array(data.draw(st.lists(finite, min_size=n * c, max_size=n * c))).reshape(n, c)
    y = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    got = task_loss(_task("classification"), torch.tensor(o, dtype=torch.float64),
                    torch.tensor(y))
    assert float(got) == pytest.approx(ref.cross_entropy(o, y), rel=1e-9, abs=1e-9)


@given(data=st.data(), n=st.integers(1, 12), labels=st.integers(1, 4),
       kind=st.sampled_from(["binary", "multilabel"]))
@settings(max_examples=40, deadline=None)
def test_bce_matches_numpy(data, n: int, labels: int, kind: str) -> None:
    shape = (n,) if kind == "binary" else (n, labels)
    size = int(np.prod(shape))
    o = np.array(data.draw(st.lists(st.floats(-30, 30, allow_nan=False), min_size=size,
                                    max_size=size))).reshape(shape)
    y = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=size,
                                    max_size=size))).reshape(shape)
    got = task_loss(_task(kind), torch.tensor(o, dtype=torch.float64),
                    torch.tensor(y, dtype=torch.float32))
    assert float(got) == pytest.approx(ref.bce_with_logits(o, y), rel=1e-9, abs=1e-9)


def test_hand_computed_values() -> None:
    # CE of logits (0, ln 3) with label 1: -log(3/4)
    ce = task_loss(_task("classification"), torch.tensor([[0.0, np.log(3.0)]]),
                   torch.tensor([1]))
    assert float(ce) == pytest.approx(-np.log(0.75), rel=1e-6)
    # BCE at logit 0 is log 2 whatever the label
    bce = task_loss(_task("binary"), torch.zeros(4), torch.tensor([0.0, 1.0, 1.0, 0.0]))
    assert float(bce) == pytest.approx(np.log(2.0), rel=1e-6)
    mse = task_loss(_task("regression"), torch.tensor([1.0, 3.0]), torch.tensor([0.0, 0.0]))
    assert float(mse) == pytest.approx(5.0)


def test_task_losses_vector_in_task_order(flat_taskset: TaskSet) -> None:
    x, y = next(iter(flat_taskset.dataloader(16, shuffle=False)))
    heads = make_heads(flat_taskset, 6, 8, 2, seed=0)
    out = {n: h(x) for n, h in heads.items()}
    losses = task_losses(flat_taskset, out, y)
    assert losses.shape == (5,)
    singles = [task_loss(t, out[n], y[n]).item() for n, t in flat_taskset.tasks.items()]
    np.testing.assert_allclose(losses.detach().numpy(), singles, rtol=1e-6)
    reordered = task_losses([flat_taskset["bin"], flat_taskset["reg"]], out, y)
    np.testing.assert_allclose(reordered.detach().numpy(), [singles[3], singles[0]], rtol=1e-6)
    losses.sum().backward()
    assert all(p.grad is not None for p in heads.parameters())


def test_loss_input_errors(flat_taskset: TaskSet) -> None:
    reg, cls, multi = flat_taskset["reg"], flat_taskset["cls"], flat_taskset["multi"]
    with pytest.raises(ValueError, match="same shape"):
        task_loss(reg, torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(ValueError, match="same number of rows"):
        task_loss(reg, torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"\(N, C\) logits"):
        task_loss(cls, torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="integer class codes"):
        task_loss(cls, torch.zeros(2, 3), torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match=r"\(N, L\) logits"):
        task_loss(multi, torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="does not fit"):
        task_loss(_task("binary", "mse"), torch.zeros(2), torch.zeros(2))
    with pytest.raises(TypeError, match="torch tensors"):
        task_loss(reg, np.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"outputs lacks task\(s\) \['multi'\]"):
        task_losses(flat_taskset, {n: torch.zeros(1) for n in ["reg", "reg2", "cls", "bin"]},
                    {})
