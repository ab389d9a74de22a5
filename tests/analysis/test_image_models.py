"""``tasklens analyze`` trains conv models on image data (``image_model="conv"``, default),
the MLP on flattened pixels under ``image_model="mlp"``, and tabular data as before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.analysis import AnalysisSettings, load_data
from tasklens.analysis.settings import image_model_for, model_description
from tasklens.analysis.training import build_model, builder
from tasklens.data.taskset import TaskSet


def _settings(**kw) -> AnalysisSettings:
    return AnalysisSettings.for_budget("fast", **{"epochs": 2, "n_seeds": 1,
                                                  "methods": ("ew",), **kw})


@pytest.fixture(scope="module")
def digits():
    return load_data("colored_digits", max_rows=200, seed=0)  # (3, 8, 8), flattened


def _types(model: nn.Module) -> set[type]:
    return {type(m) for m in model.modules()}


def test_image_data_get_conv_models(digits) -> None:
    from tasklens.nn import (
        ConvDecoder,
        DualStreamModel,
        FlatImageEncoder,
        LeNetEncoder,
        SmallResNet,
    )

    ts, st = digits.taskset, _settings()
    assert ts.input_shape == (192,) and ts.info["image_shape"] == (3, 8, 8)
    assert image_model_for(st, ts.input_shape, ts.info) == "conv"
    assert model_description(st, ts.input_shape, ts.info) == "conv (LeNet) on 3×8×8 images"
    hps = build_model(ts, st, seed=0)
    assert isinstance(hps.encoder, FlatImageEncoder)
    assert isinstance(hps.encoder.encoder, LeNetEncoder) and nn.Conv2d in _types(hps)
    x = torch.from_numpy(np.ascontiguousarray(ts.inputs[:5]))
    assert hps.encode(x).shape == (5, st.code_dim)  # reads the loader's flat rows
    core = build_model(ts, st, seed=0, method="core_mtl")
    assert isinstance(core, DualStreamModel) and isinstance(core.backbone, FlatImageEncoder)
    assert isinstance(core.decoder[0], ConvDecoder) and isinstance(core.decoder[1], nn.Flatten)
    z_s, z_r = core.encode_streams(x)
    # the decoder renders (3, 8, 8) images, flattened to the rows' shape
    assert core.decoder[0](torch.cat([z_s, z_r], 1)).shape == (5, 3, 8, 8)
    assert core.reconstruct(z_s, z_r).shape == x.shape
    # the standard budget uses the library's default image encoder
    std = AnalysisSettings.for_budget("standard", epochs=1)
    assert isinstance(build_model(ts, std, seed=0).encoder.encoder, SmallResNet)


def test_mlp_option_reproduces_the_mlp_models(digits) -> None:
    from tasklens.nn import MLPEncoder

    ts, st = digits.taskset, _settings(image_model="mlp")
    name, kwargs = builder(st, "ew", ts.input_shape, ts.info)
    # exactly the keywords of the analysis before image models (no input_shape, no encoder)
    assert (name, kwargs) == ("hps_for", {"hidden": [64], "head_hidden": 32, "head_depth": 1,
                                          "code_dim": 32})
    assert isinstance(build_model(ts, st, seed=0).encoder, MLPEncoder)
    assert nn.Conv2d not in _types(build_model(ts, st, seed=0, method="core_mtl"))
    assert image_model_for(st, ts.input_shape, ts.info) == "mlp"
    with pytest.raises(ValueError, match="--image-model"):
        _settings(image_model="cnn")
    with pytest.raises(ValueError, match="image_encoder"):
        _settings(image_encoder="vgg")


def test_tabular_data_ignore_the_image_model() -> None:
    from tasklens.nn import MLPEncoder

    ts = load_data(None, max_rows=60, seed=0).taskset  # multi_digits_mixed: flat vectors
    for choice in ("conv", "mlp"):
        st = _settings(image_model=choice)
        assert image_model_for(st, ts.input_shape, ts.info) == "mlp"
        assert builder(st, "ew", ts.input_shape, ts.info) == builder(
            _settings(image_model="mlp"), "ew", ts.input_shape, ts.info)
        assert isinstance(build_model(ts, st, seed=0).encoder, MLPEncoder)
    assert model_description(_settings(), ts.input_shape, ts.info).startswith("mlp (64 hidden)")


def _as_images(ts: TaskSet, shape: tuple[int, ...]) -> TaskSet:
    return TaskSet(np.asarray(ts.inputs).reshape(len(ts), *shape), ts.tasks, ts.factors,
                   ts.groups, ts.name, dict(ts.info))


def test_analysis_trains_what_a_direct_conv_training_gives(digits, tmp_path: Path) -> None:
    """The single-task baseline and the CORE-MTL row of the analysis equal the documented
    models built on the *images* (no flat front) and trained with the Trainer directly."""
    from tasklens.nn import dual_stream_for, hps_for
    from tasklens.report.html import run_and_report
    from tasklens.train import Trainer, evaluate

    st = _settings()
    results = run_and_report(digits, st, tmp_path, stages=["balancing"])
    assert results["settings"]["image_model"] == "conv"
    assert results["data"]["image_model"] == "conv"
    assert results["data"]["models"] == "conv (LeNet) on 3×8×8 images"
    assert "models: conv (LeNet) on 3×8×8 images" in (tmp_path / "report.html").read_text(
        encoding="utf-8")
    base = results["stages"]["baselines"]["result"]
    bal = results["stages"]["balancing"]["result"]
    split = digits.split(st.test_size, st.seed)
    shape = (3, 8, 8)
    train, test = _as_images(split.train, shape), _as_images(split.test, shape)

    def direct(model, tasks):
        Trainer(model, train.select(tasks), "ew", lr=st.lr, batch_size=st.batch_size, seed=0,
                progress=False).fit(st.epochs, max_steps=st.max_steps)
        return evaluate(model, test.select(tasks))

    model = hps_for(train.select(["ink"]), input_shape=shape, image_encoder="lenet",
                    hidden=[64], code_dim=st.code_dim, head_hidden=st.head_hidden,
                    head_depth=st.head_depth, seed=0)
    assert base["stl_metrics"]["0"]["ink"]["loss"] == pytest.approx(
        direct(model, ["ink"])["ink"]["loss"], rel=1e-9, abs=1e-12)
    names = split.train.task_names
    core = dual_stream_for(train, input_shape=shape, image_encoder="lenet", hidden=[64],
                           feature_dim=32, semantic_dim=32, residual_dim=8,
                           head_hidden=32, head_depth=1, grounding="soft",
                           decoder_channels=[32, 16, 8], seed=0)
    got = direct(core, names)
    for t in names:
        assert bal["table"]["core_mtl"]["metrics"]["0"][t]["loss"] == pytest.approx(
            got[t]["loss"], rel=1e-9, abs=1e-12)
    # model.pt holds the image model's weights: it loads strictly into the builder's model
    meta = json.loads((tmp_path / "model.json").read_text())
    assert tuple(meta["builder_kwargs"]["input_shape"]) == shape
    import tasklens.nn as tnn

    rebuilt = getattr(tnn, meta["builder"].rsplit(".", 1)[1])(train, **meta["builder_kwargs"])
    rebuilt.load_state_dict(torch.load(tmp_path / "model.pt", weights_only=True))


def test_npz_images_of_any_size_get_conv_models(tmp_path: Path) -> None:
    """(N, 1, 6, 6) images: LeNet reads them; CORE-MTL's decoder is the MLP reshaped to the
    image (ConvDecoder renders square power-of-two sides only), and it trains."""
    from tasklens.analysis.training import fit
    from tasklens.nn import FlatImageEncoder, LeNetEncoder, MLPEncoder

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 1, 6, 6))
    path = tmp_path / "imgs.npz"
    np.savez(path, inputs=x, a=x[:, 0, :3].sum(axis=(1, 2)), b=(x[:, 0, 3:].sum(axis=(1, 2))
                                                               > 0).astype(int))
    data = load_data(str(path), ["a:regression", "b:binary"])
    assert data.taskset.info["image_shape"] == (1, 6, 6)
    st = _settings(epochs=1)
    split = data.split(st.test_size, st.seed)
    name, kwargs = builder(st, "core_mtl", split.train.input_shape, split.train.info)
    assert name == "dual_stream_for" and kwargs["soft_decoder"] == "mlp"
    assert "decoder_channels" not in kwargs
    model, metrics, _ = fit(split, ["a", "b"], 0, st, method="core_mtl")
    assert isinstance(model.backbone, FlatImageEncoder)
    assert isinstance(model.backbone.encoder, LeNetEncoder)
    assert isinstance(model.decoder[0][0], MLPEncoder)
    assert all(np.isfinite(m["loss"]) for m in metrics.values())
