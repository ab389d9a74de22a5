"""Training faults and damaged checkpoints (issue 14): each test provokes one fault and checks
that the trainer either refuses with a named error or keeps a checkpoint that resumes."""

from __future__ import annotations

import logging
import math
import pickle

import numpy as np
import pytest
import torch

from tasklens import balance
from tasklens.data import TaskSet
from tasklens.nn import hps_for
from tasklens.train import (
    Callback,
    CheckpointError,
    NonFiniteLossError,
    Trainer,
    load_checkpoint,
    load_method_state,
)
from tasklens.train.checkpoint import save_checkpoint
from tasklens.train.trainer_state import data_fingerprint

from ._data import dropout_model, tiny_model, tiny_taskset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ts():
    return tiny_taskset(n=128, seed=3)  # batch 32 -> 4 steps per epoch


def _trainer(ts, *, model=None, **kw):
    kw.setdefault("lr", 5e-3)
    return Trainer(model if model is not None else tiny_model(ts), ts, kw.pop("method", "ew"),
                   batch_size=32, seed=1, **kw)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_unchanged(model, before):
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} was changed by a refused load"


def _all_finite(state):
    return all(bool(torch.isfinite(v).all()) for v in state["model"].values()
               if v.is_floating_point())


class _Diverge(Callback):
    """Makes the first encoder weight infinite after step ``at`` (a diverged update)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_step_end(self, trainer, row):
        if row["step"] == self.at:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(math.inf)


# ------------------------------------------------------------------ 8. divergence
def test_a_diverged_state_never_replaces_a_finite_checkpoint(ts, tmp_path):
    # checkpoint after step 3 (step counter 4); parameters become inf during step 4; the
    # loss of step 5 is NaN. The handler must not save the diverged state over last.pt.
    trainer = _trainer(ts, checkpoint_dir=tmp_path, checkpoint_every=2, callbacks=[_Diverge(4)])
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit(3)
    message = str(info.value)
    assert info.value.step == 5
    assert str(tmp_path / "last.pt") in message and "step 4" in message
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["step"] == 4 and _all_finite(state)
    # the checkpoint named in the message resumes and trains on with finite losses
    resumed = _trainer(ts, checkpoint_dir=tmp_path).fit(3, resume=True)
    assert resumed.steps == 12
    assert all(math.isfinite(v) for v in resumed.metric_curve("train/loss"))


def test_a_periodic_save_refuses_a_diverged_state(ts, tmp_path):
    # the inf appears during step 3; the save after it (step counter 4) must not happen
    trainer = _trainer(ts, checkpoint_dir=tmp_path, checkpoint_every=2, callbacks=[_Diverge(3)])
    with pytest.raises(NonFiniteLossError, match=r"non-finite after 4 steps.*last\.pt was kept.*"
                                                 r"step 2"):
        trainer.fit(3)
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["step"] == 2 and _all_finite(state)
    # an explicit request may still write it elsewhere, for inspection
    trainer.save_checkpoint(tmp_path / "diverged.pt", allow_non_finite=True)
    assert not _all_finite(load_checkpoint(tmp_path / "diverged.pt"))


def test_divergence_without_a_checkpoint_says_so(ts, tmp_path):
    trainer = _trainer(ts, checkpoint_dir=tmp_path, callbacks=[_Diverge(1)])
    with pytest.raises(NonFiniteLossError, match="nothing was written"):
        trainer.fit(2)
    assert not (tmp_path / "last.pt").exists()


# ------------------------------------------------------------------ 10. resume settings
def test_an_explicit_lr_at_resume_is_used_and_reported(ts, tmp_path, caplog):
    _trainer(ts, checkpoint_dir=tmp_path, lr=5e-3).fit(1)
    second = _trainer(ts, checkpoint_dir=tmp_path, lr=2e-2)
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        result = second.fit(2, resume=True)
    assert second.optimizer.param_groups[0]["lr"] == 2e-2 == result.settings["lr"]
    assert "lr 0.005 -> 0.02" in caplog.text
    # the moments still come from the checkpoint: Adam's step count continues at 4 + 4
    assert all(int(s["step"]) == 8 for s in second.optimizer.state.values())


def test_resume_with_the_same_settings_does_not_warn(ts, tmp_path, caplog):
    _trainer(ts, checkpoint_dir=tmp_path).fit(1)
    with caplog.at_level(logging.WARNING, logger="tasklens"):
        _trainer(ts, checkpoint_dir=tmp_path).fit(2, resume=True)
    assert "resuming" not in caplog.text


def test_resume_refuses_another_optimizer_class(ts, tmp_path):
    _trainer(ts, checkpoint_dir=tmp_path, optimizer="adam").fit(1)
    sgd = _trainer(ts, checkpoint_dir=tmp_path, optimizer="sgd")
    before = _snapshot(sgd.model)
    with pytest.raises(CheckpointError, match=r"optimizer_class='Adam'.*'SGD'"):
        sgd.fit(2, resume=True)
    _assert_unchanged(sgd.model, before)


def test_resume_refuses_other_training_data_with_the_same_tasks(ts, tmp_path):
    _trainer(ts, checkpoint_dir=tmp_path).fit(1)
    other = tiny_taskset(n=128, seed=4)
    assert other.task_names == ts.task_names
    with pytest.raises(CheckpointError, match="other data"):
        _trainer(other, checkpoint_dir=tmp_path).fit(2, resume=True)
    # an equal copy (other objects, same values) is the same data
    copy = TaskSet.from_arrays(ts.inputs.copy(), {t: ts[t].targets.copy()
                                                  for t in ts.task_names},
                               kinds={t: ts[t].kind for t in ts.task_names}, name="copy")
    assert _trainer(copy, checkpoint_dir=tmp_path).fit(2, resume=True).epochs_run == 2


def test_data_fingerprint_sees_every_input_and_target():
    base = tiny_taskset(n=64, seed=0)
    kinds = {t: base[t].kind for t in base.task_names}

    def variant(x=None, targets=None):
        return TaskSet.from_arrays(base.inputs.copy() if x is None else x,
                                   targets or {t: base[t].targets.copy()
                                               for t in base.task_names}, kinds=kinds)

    ref = data_fingerprint(base)
    assert data_fingerprint(variant()) == ref
    x = base.inputs.copy()
    x[17, 3] = np.nextafter(x[17, 3], np.float32(np.inf))  # one ulp
    assert data_fingerprint(variant(x=x)) != ref
    a = base["a"].targets.copy()
    a[-1] += 1
    assert data_fingerprint(variant(targets={"a": a, "b": base["b"].targets.copy()})) != ref
    b = base["b"].targets.copy()
    b[0] = (b[0] + 1) % 3
    assert data_fingerprint(variant(targets={"a": base["a"].targets.copy(), "b": b})) != ref


# ------------------------------------------------------------------ 11. all or nothing
def test_a_checkpoint_of_another_architecture_changes_nothing(ts, tmp_path):
    _trainer(ts, checkpoint_dir=tmp_path).fit(1)
    wider = hps_for(ts, seed=0, hidden=(20,), code_dim=8, head_hidden=8, head_depth=1)
    trainer = _trainer(ts, model=wider, checkpoint_dir=tmp_path)
    before = _snapshot(wider)
    with pytest.raises(CheckpointError, match=r"another architecture.*mismatched.*\(16, 6\)"):
        trainer.fit(2, resume=True)
    _assert_unchanged(wider, before)
    assert trainer.step == 0 and trainer.history == []
    with pytest.raises(CheckpointError, match="missing"):  # other parameter names
        _trainer(ts, model=dropout_model(ts), checkpoint_dir=tmp_path).fit(2, resume=True)


def _rewrite(path, edit):
    state = load_checkpoint(path)
    state.pop("checksums")
    edit(state)
    save_checkpoint(path, state)  # with fresh checksums: the content is wrong, not damaged


def test_an_optimizer_state_that_does_not_fit_changes_nothing(ts, tmp_path):
    _trainer(ts, checkpoint_dir=tmp_path).fit(1)

    def shrink(state):
        entry = state["optimizer"]["state"][0]
        entry["exp_avg"] = entry["exp_avg"][:-1]

    _rewrite(tmp_path / "last.pt", shrink)
    trainer = _trainer(ts, checkpoint_dir=tmp_path)
    before = _snapshot(trainer.model)
    with pytest.raises(CheckpointError, match=r"optimiser state does not fit.*exp_avg"):
        trainer.fit(2, resume=True)
    _assert_unchanged(trainer.model, before)
    assert trainer.optimizer.state_dict()["state"] == {}


# ------------------------------------------------------------------ 12. corruption
def test_flipped_bytes_inside_a_weight_are_detected(ts, tmp_path):
    trainer = _trainer(ts, checkpoint_dir=tmp_path)
    trainer.fit(1)
    path = tmp_path / "last.pt"
    weight = trainer.model.state_dict()["encoder.net.0.weight"]  # (16, 6) float32: 384 bytes
    raw = bytearray(path.read_bytes())
    at = raw.find(weight.numpy().tobytes())
    assert at > 0 and raw.count(weight.numpy().tobytes()) == 1
    for i in range(at + 100, at + 164):  # 64 bytes in the middle of the tensor
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))
    # torch itself reads the damaged file without complaint ...
    assert not torch.equal(torch.load(path, weights_only=True)["model"]["encoder.net.0.weight"],
                           weight)
    # ... the checksum does not
    with pytest.raises(CheckpointError, match=r"last\.pt is corrupted: tensor "
                                              r"model/encoder\.net\.0\.weight"):
        load_checkpoint(path)
    fresh = _trainer(ts, checkpoint_dir=tmp_path)
    before = _snapshot(fresh.model)
    with pytest.raises(CheckpointError, match="corrupted"):
        fresh.fit(2, resume=True)
    _assert_unchanged(fresh.model, before)


# ------------------------------------------------------------------ 13. unreadable files
class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "text", "pickled",
                                  "not_a_checkpoint"])
def test_unreadable_files_raise_checkpoint_error_naming_the_file(ts, tmp_path, kind):
    good = tmp_path / "good.pt"
    _trainer(ts).save_checkpoint(good)
    data = good.read_bytes()
    bad = tmp_path / f"{kind}.pt"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "garbage":
        bad.write_bytes(np.random.default_rng(0).bytes(2000))
    elif kind == "text":
        bad.write_text("hello, world\n")
    elif kind == "pickled":
        torch.save({"format": 2, "x": _Evil()}, bad, pickle_module=pickle)
    else:
        torch.save({"weights": torch.ones(3)}, bad)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(bad)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(bad) in message
    assert "weights_only=False" not in message and "weights_only` set to `False" not in message
    with pytest.raises(CheckpointError, match=kind):
        _trainer(ts).fit(1, resume=bad)


# ------------------------------------------------------------------ 14. allowlists
def _rng_state(bit_generator):
    state = np.random.default_rng(0).bit_generator.state
    return {"kind": "attributes", "names": ["_rng"],
            "values": [{"__tasklens_type__": "np_generator",
                        "state": {**state, "bit_generator": bit_generator}}]}


def test_checkpoint_data_cannot_choose_arbitrary_numpy_callables():
    method = balance.get("rlw")
    before = np.random.get_state()[1].copy()  # noqa: NPY002 - the global state is the point
    with pytest.raises(CheckpointError, match=r"bit generator 'seed'.*PCG64"):
        load_method_state(method, _rng_state("seed"))  # np.random.seed would reseed globally
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    # the allowlisted generators still round-trip
    load_method_state(method, _rng_state("PCG64"))
    assert isinstance(method._rng, np.random.Generator)


def test_checkpoint_data_cannot_choose_arbitrary_torch_callables():
    logits = torch.zeros(2, requires_grad=True)
    encoded = {"kind": "attributes", "names": ["_w", "_optim"], "values": [
        {"__tasklens_type__": "tensor", "data": logits, "requires_grad": True},
        {"__tasklens_type__": "optimizer", "class": "swa_utils", "params": ["_w"],
         "defaults": {}, "state": {}}]}
    method = balance.get("famo")
    with pytest.raises(CheckpointError, match=r"optimiser 'swa_utils'.*Adam"):
        load_method_state(method, encoded)
    assert not hasattr(method, "_w")  # nothing was set


# ------------------------------------------------------------------ 17/18. construction
def test_checkpoint_and_log_dirs_are_checked_at_construction(ts, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for arg in ("checkpoint_dir", "log_dir"):
        with pytest.raises(ValueError, match=f"{arg}=.*afile.*not a directory"):
            _trainer(ts, **{arg: afile})
        with pytest.raises(ValueError, match=f"{arg}=.*ancestor"):
            _trainer(ts, **{arg: afile / "runs"})
    assert _trainer(ts, checkpoint_dir=tmp_path / "new").checkpoint_dir == tmp_path / "new"


@pytest.mark.parametrize(("kw", "error", "pattern"), [
    ({"lr": "fast"}, TypeError, "lr must be a real number"),
    ({"lr": 0.0}, ValueError, "lr must be > 0"),
    ({"lr": -1e-3}, ValueError, "lr must be > 0"),
    ({"lr": math.inf}, ValueError, "lr must be < inf"),
    ({"lr": math.nan}, ValueError, "lr must be a number"),
    ({"lr": True}, TypeError, "lr must be"),
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
    ({"eval_batch_size": "all"}, TypeError, "eval_batch_size must be an integer"),
    ({"seed": -1}, ValueError, "seed must be >= 0"),
    ({"seed": 1.0}, TypeError, "seed must be an integer"),
    ({"monitor_every": -2}, ValueError, "monitor_every must be >= 0"),
    ({"average_last_k": 0}, ValueError, "average_last_k must be >= 1"),
    ({"checkpoint_every": 0, "checkpoint_dir": "."}, ValueError, "checkpoint_every must be"),
])
def test_trainer_scalars_are_checked_by_name(ts, kw, error, pattern):
    kw = {"batch_size": 32, "seed": 1, **kw}
    with pytest.raises(error, match=pattern):
        Trainer(tiny_model(ts), ts, "ew", **kw)


def test_numpy_scalars_are_accepted(ts):
    trainer = Trainer(tiny_model(ts), ts, "ew", lr=np.float32(0.01), batch_size=np.int64(32),
                      seed=np.int32(2), monitor_every=np.int16(0))
    assert (trainer.lr, trainer.batch_size, trainer.seed) == (pytest.approx(0.01), 32, 2)
    assert type(trainer.batch_size) is int and type(trainer.lr) is float
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        trainer.fit(0)


def test_malformed_bookkeeping_is_refused_before_the_model_changes(ts, tmp_path):
    _trainer(ts, checkpoint_dir=tmp_path).fit(1)

    def damage(state):
        state["history"] = "[{'epoch': 0"  # not JSON
        state["accumulators"].pop("aux")

    _rewrite(tmp_path / "last.pt", damage)
    trainer = _trainer(ts, checkpoint_dir=tmp_path)
    before = _snapshot(trainer.model)
    with pytest.raises(CheckpointError, match="accumulators are incomplete; history is not"):
        trainer.fit(2, resume=True)
    _assert_unchanged(trainer.model, before)


def test_an_unreadable_file_names_the_os_cause(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    path.write_bytes(b"x")
    real_open = open

    def deny(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*last\.pt: Permission"):
        load_checkpoint(path)


def test_resume_refuses_a_switched_structural_optimizer_option(ts, tmp_path):
    _trainer(ts, checkpoint_dir=tmp_path).fit(1)
    amsgrad = _trainer(ts, checkpoint_dir=tmp_path,
                       optimizer=lambda params: torch.optim.Adam(params, lr=5e-3, amsgrad=True))
    with pytest.raises(CheckpointError, match=r"amsgrad=False in the checkpoint, True here"):
        amsgrad.fit(2, resume=True)  # would be a KeyError in Adam's first step
    # an implementation flag may change
    foreach = _trainer(ts, checkpoint_dir=tmp_path,
                       optimizer=lambda params: torch.optim.Adam(params, lr=5e-3, foreach=False))
    assert foreach.fit(2, resume=True).epochs_run == 2


def test_a_failing_save_does_not_hide_the_loss_error(ts, tmp_path, monkeypatch):
    from .test_trainer import _poisoned_model

    def disk_full(path, payload):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tasklens.train.trainer.save_checkpoint", disk_full)
    trainer = _trainer(ts, model=_poisoned_model(ts, 2, "a"), checkpoint_dir=tmp_path)
    with pytest.raises(NonFiniteLossError, match=r"step 2 .*saving the state before this step "
                                                 r"failed .*No space left.*nothing was written"):
        trainer.fit(1)
