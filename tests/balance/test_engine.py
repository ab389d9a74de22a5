"""The gradient engine against plain per-task autograd loops."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tasklens import balance
from tasklens.balance.engine import (
    backward,
    parameter_gramian,
    parameter_jacobian,
    representation_jacobian,
)


def _model(seed: int = 0, k: int = 3) -> tuple[nn.Module, nn.ModuleList]:
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 4))
    heads = nn.ModuleList([nn.Linear(4, 1) for _ in range(k)])
    return encoder, heads


def _losses(encoder: nn.Module, heads: nn.ModuleList, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 5, generator=g, dtype=torch.float64)
    y = torch.randn(16, len(heads), generator=g, dtype=torch.float64)
    encoder.double()
    heads.double()
    z = encoder(x)
    losses = torch.stack([((h(z).squeeze(1) - y[:, i]) ** 2).mean() for i, h in enumerate(heads)])
    return losses, z


def _loop_jacobian(losses: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    rows = []
    for k in range(len(losses)):
        grads = torch.autograd.grad(losses[k], params, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for g, p in zip(grads, params)
                ]
            )
        )
    return torch.stack(rows)


@pytest.mark.parametrize("chunk_size", [None, 1, 2])
def test_parameter_jacobian_matches_loop(chunk_size: int | None) -> None:
    encoder, heads = _model()
    losses, z = _losses(encoder, heads)
    params = list(encoder.parameters())
    ref = _loop_jacobian(losses, params)
    torch.testing.assert_close(
        parameter_jacobian(losses, params, z, chunk_size), ref, rtol=1e-6, atol=1e-10
    )
    torch.testing.assert_close(
        parameter_jacobian(losses, params, None, chunk_size), ref, rtol=1e-6, atol=1e-10
    )
    gram = parameter_gramian(losses, params, z)
    torch.testing.assert_close(gram, ref @ ref.T, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize(("params_per_chunk", "max_entries", "passes"),
                         [(None, 2**25, 1), (1, 2**25, 4), (None, 1, 4), (3, 2**25, 2)])
def test_parameter_gramian_chunks_by_a_memory_budget(monkeypatch, params_per_chunk, max_entries,
                                                      passes) -> None:
    """Chunks group parameter tensors under the entry budget (one backward when the model
    fits), and every chunking gives the loop's Gramian."""
    import tasklens.balance._autograd as autograd_helpers

    encoder, heads = _model()
    losses, z = _losses(encoder, heads)
    params = list(encoder.parameters())
    assert len(params) == 4
    ref = _loop_jacobian(losses, params)
    calls = []
    real = autograd_helpers.batched_grad
    monkeypatch.setattr(autograd_helpers, "batched_grad",
                        lambda root, chunk, *a: calls.append(len(chunk)) or real(root, chunk, *a))
    gram = parameter_gramian(losses, params, z, params_per_chunk=params_per_chunk,
                             max_chunk_entries=max_entries)
    assert len(calls) == passes and sum(calls) == len(params)
    torch.testing.assert_close(gram, ref @ ref.T, rtol=1e-6, atol=1e-10)
    with pytest.raises(ValueError, match="params_per_chunk"):
        parameter_gramian(losses, params, z, params_per_chunk=0)


def test_representation_jacobian_matches_loop() -> None:
    encoder, heads = _model()
    losses, z = _losses(encoder, heads)
    ref = torch.stack(
        [torch.autograd.grad(losses[k], z, retain_graph=True)[0].reshape(-1) for k in range(3)]
    )
    torch.testing.assert_close(representation_jacobian(losses, z), ref, rtol=1e-6, atol=1e-12)


def test_representation_level_equals_parameter_level_for_identity_encoder() -> None:
    # z = x @ I with the identity as the only shared parameter: J_param = J_rep (summed over batch
    # rows) ... use a single-sample batch so the two spaces coincide exactly.
    torch.manual_seed(0)
    heads = nn.ModuleList([nn.Linear(4, 1).double() for _ in range(3)])
    shared = nn.Parameter(torch.zeros(4, dtype=torch.float64))
    x = torch.randn(1, 4, dtype=torch.float64)
    z = x + shared  # identity encoder with a bias: ∂z/∂shared = I
    losses = torch.stack([(h(z) ** 2).sum() for h in heads])
    jp = parameter_jacobian(losses, [shared], z)
    jr = representation_jacobian(losses, z)
    torch.testing.assert_close(jp, jr, rtol=1e-12, atol=1e-12)


def _grads(modules: list[nn.Module]) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for m in modules for p in m.parameters()])


def test_weighted_backward_equals_weighted_sum_backward() -> None:
    """A method with head_gradient "weighted" (Nash-MTL): every parameter receives the
    gradient of Σ w_k L_k."""
    encoder, heads = _model()
    losses, z = _losses(encoder, heads)
    method = balance.get("nash_mtl")
    assert method.head_gradient == "weighted"
    result = backward(losses, z, method, shared_params=list(encoder.parameters()),
                      level="parameter")
    got = _grads([encoder, heads])
    encoder.zero_grad()
    heads.zero_grad()
    losses2, _ = _losses(encoder, heads)
    (result.weights * losses2).sum().backward()
    torch.testing.assert_close(got, _grads([encoder, heads]), rtol=1e-6, atol=1e-10)
    assert result.gramian.shape == (3, 3)


def test_direction_backward_puts_the_direction_on_shared_and_plain_grads_on_heads() -> None:
    encoder, heads = _model()
    losses, z = _losses(encoder, heads)
    params = list(encoder.parameters())
    jac = _loop_jacobian(losses, params)
    method = balance.get("graddrop", seed=0)
    assert method.output == "direction"
    expected_shared = balance.get("graddrop", seed=0).aggregate(jac)
    backward(losses, z, method, shared_params=params, level="parameter")
    shared = torch.cat([p.grad.reshape(-1) for p in params])
    torch.testing.assert_close(shared, expected_shared, rtol=1e-6, atol=1e-10)
    head_grads = _grads([heads])
    heads.zero_grad()
    losses2, _ = _losses(encoder, heads)
    losses2.sum().backward()
    torch.testing.assert_close(head_grads, _grads([heads]), rtol=1e-6, atol=1e-10)


def test_loss_only_method_needs_no_features_and_errors_are_clear() -> None:
    encoder, heads = _model()
    losses, _ = _losses(encoder, heads)
    res = backward(losses, None, balance.get("ew"))
    assert res.gramian is None and torch.equal(res.weights, torch.ones(3, dtype=torch.float64))
    losses, z = _losses(encoder, heads)
    with pytest.raises(ValueError, match="needs shared_params"):
        backward(losses, None, balance.get("mgda"), level="parameter")
    with pytest.raises(ValueError, match="needs features"):
        backward(losses, None, balance.get("mgda"), level="representation")
    with pytest.raises(ValueError, match="do not require grad"):
        backward(losses.detach(), z, balance.get("ew"))
    with pytest.raises(FloatingPointError, match=r"task index\(es\) \[1\]"):
        backward(
            losses * torch.tensor([1.0, float("nan"), 1.0], dtype=torch.float64),
            z,
            balance.get("ew"),
        )


@pytest.mark.parametrize("name", ["ew", "mgda", "upgrad", "graddrop", "famo"])
def test_split_graph_path_equals_representation_level(name: str) -> None:
    from tasklens.balance.engine import backward_split

    def run(split: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        encoder, heads = _model(seed=3)
        encoder.double()
        heads.double()
        g = torch.Generator().manual_seed(5)
        x = torch.randn(16, 5, generator=g, dtype=torch.float64)
        y = torch.randn(16, 3, generator=g, dtype=torch.float64)
        z = encoder(x)
        method = balance.get(name, seed=0) if name == "graddrop" else balance.get(name)
        if split:
            leaves = [z.detach().requires_grad_() for _ in heads]
            losses = torch.stack([((h(zk).squeeze(1) - y[:, i]) ** 2).mean()
                                  for i, (h, zk) in enumerate(zip(heads, leaves))])
            res = backward_split(losses, z, leaves, method, compute_gramian=True)
        else:
            losses = torch.stack([((h(z).squeeze(1) - y[:, i]) ** 2).mean()
                                  for i, h in enumerate(heads)])
            res = backward(losses, z, method, level="representation", compute_gramian=True)
        return _grads([encoder, heads]), res.gramian

    plain, gram_plain = run(False)
    split, gram_split = run(True)
    torch.testing.assert_close(split, plain, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gram_split, gram_plain, rtol=1e-10, atol=1e-12)
