"""Data-parallel balancing: two gloo processes on half batches each must reproduce the
single-process step on the whole batch (the independent reference), for weights and
direction methods, parameter and representation level, stateful methods over two steps.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from torch import nn

from tasklens import balance
from tasklens.balance import GradientReducer, TorchDistributedReducer
from tasklens.balance.engine import backward, backward_split

N, D_IN, K = 16, 6, 3
# (method, how the step is taken); every case runs two SGD steps
CASES = (
    ("mgda", "parameter"), ("upgrad", "parameter"), ("graddrop", "parameter"),
    ("dwa", "parameter"), ("mgda", "representation"), ("imtl_g", "split"),
    ("cagrad", "split"), ("nash_mtl", "split"),
    # head_gradient = "scaled": c_k from the reduced losses / state, the same on every process
    ("db_mtl", "parameter"), ("imtl", "parameter"), ("imtl", "split"),
)


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.encoder = nn.Sequential(nn.Linear(D_IN, 8), nn.Tanh(), nn.Linear(8, 5))
        self.heads = nn.ModuleList(nn.Linear(5, 1) for _ in range(K))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.7)

    def losses(self, zs: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        out = torch.cat([h(z) for h, z in zip(self.heads, zs)], dim=1)
        return ((out - y) ** 2).mean(dim=0)


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(N, D_IN, generator=gen, dtype=torch.float64)
    y = torch.randn(N, K, generator=gen, dtype=torch.float64)
    return x, y


def run_case(name: str, how: str, rank: int, world: int,
             reducer: GradientReducer | None) -> dict[str, torch.Tensor]:
    """Two SGD steps on this process's share of the batch; the parameters after them."""
    net = _Net().double()
    x, y = _data()
    rows = slice(rank * N // world, (rank + 1) * N // world)
    x, y = x[rows], y[rows]
    method = balance.get(name, seed=0) if "seed" in balance.get(name).hparam_names() \
        else balance.get(name)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    shared = list(net.encoder.parameters())
    weights = []
    for step in range(2):
        opt.zero_grad(set_to_none=True)
        z = net.encoder(x)
        if how == "split":
            leaves = [z.detach().requires_grad_() for _ in range(K)]
            result = backward_split(net.losses(leaves, y), z, leaves, method, step=step,
                                    reducer=reducer)
        else:
            result = backward(net.losses([z] * K, y), z, method, shared_params=shared,
                              level=how, step=step, reducer=reducer)
        if reducer is not None:
            reducer.average_gradients(list(net.parameters()))
        opt.step()
        if result.weights is not None:
            weights.append(result.weights)
    out = {n: p.detach().clone() for n, p in net.named_parameters()}
    if weights:
        out["_weights"] = torch.stack(weights)
    return out


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        reducer = TorchDistributedReducer()
        results = {f"{name}/{how}": run_case(name, how, rank, world, reducer)
                   for name, how in CASES}
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_results():
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available():
        pytest.skip("torch.distributed is not available in this torch build")
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(2, str(Path(tmp) / "init"), tmp), nprocs=2, join=True)
        yield [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=True) for r in (0, 1)]


@pytest.mark.parametrize(("name", "how"), CASES)
def test_two_half_batches_reproduce_the_whole_batch_step(two_process_results, name, how):
    expected = run_case(name, how, rank=0, world=1, reducer=None)
    for rank_result in two_process_results:
        got = rank_result[f"{name}/{how}"]
        assert set(got) == set(expected)
        for key, value in expected.items():
            torch.testing.assert_close(got[key], value, rtol=1e-10, atol=1e-12,
                                       msg=f"{name}/{how}: {key} differs")


class _TwoReplicas(GradientReducer):
    """Simulates two processes holding identical data (sum = 2 × local)."""

    @property
    def world_size(self) -> int:
        return 2

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        return 2 * tensor


def test_methods_needing_the_representation_jacobian_are_refused():
    net = _Net().double()
    x, y = _data()
    z = net.encoder(x)
    with pytest.raises(ValueError, match="each process holds only its own samples"):
        backward(net.losses([z] * K, y), z, balance.get("graddrop", seed=0),
                 level="representation", reducer=_TwoReplicas())
    leaves = [z.detach().requires_grad_() for _ in range(K)]
    with pytest.raises(ValueError, match="each process holds only its own samples"):
        backward_split(net.losses(leaves, y), z, leaves, balance.get("excess_mtl"),
                       reducer=_TwoReplicas())


@pytest.mark.parametrize(("name", "how"), [
    ("upgrad", "parameter"), ("mgda", "representation"), ("mgda", "split"),
    ("nash_mtl", "parameter"),
])
def test_identical_replicas_give_the_single_process_step(name, how):
    """A replica set that holds the same batch twice is the same problem as one process
    (heads included: "task" methods give them their plain task gradients on every route)."""
    expected = run_case(name, how, 0, 1, None)
    got = run_case(name, how, 0, 1, _TwoReplicas())
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-12, atol=1e-14)


def test_uninitialised_torch_distributed_is_a_clear_error():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        pytest.skip("a process group is already initialised")
    with pytest.raises(RuntimeError, match="init_process_group"):
        TorchDistributedReducer()
