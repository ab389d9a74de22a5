"""Latent traversal grids and code embeddings.

References: the traversal codes rebuilt by a loop over (dimension, value); PCA from
scikit-learn (an independent implementation) for the fallback embedding; the PNG file
signature and IHDR header from the PNG specification.
"""

from __future__ import annotations

import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from sklearn.decomposition import PCA

from tasklens.report.figures import save_figure
from tasklens.report.representation_figures import (
    embed_codes,
    plot_code_embedding,
    plot_latent_traversals,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _code_images(z: np.ndarray) -> np.ndarray:
    """(M, d) codes → (M, 1, 6, 6) images whose first row holds the code."""
    out = np.zeros((len(z), 1, 6, 6), dtype=np.float32)
    out[:, 0, 0, :z.shape[1]] = z
    return out


def test_traversal_grid_cells_and_png(tmp_path: Path) -> None:
    d, values = 4, np.linspace(-2, 2, 8)
    base = np.array([0.5, -0.25, 1.0, 0.0])
    fig = plot_latent_traversals(_code_images, base, d, values)
    axes = np.array(fig.axes).reshape(d, len(values))
    for r in range(d):
        for v, value in enumerate(values):
            want = base.copy()
            want[r] = value  # reference: one dimension changed at a time
            shown = np.asarray(axes[r, v].images[0].get_array())
            np.testing.assert_allclose(shown[0, :d], want, rtol=1e-6)
    width, height = _png_size(save_figure(fig, tmp_path / "traversal.png"))
    assert width > 1.5 * height  # 4 rows × 8 columns of square cells


def test_traversal_with_several_bases_and_dims() -> None:
    base = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    fig = plot_latent_traversals(_code_images, base, 3, [-1.0, 1.0], dims=[2])
    assert len(fig.axes) == 1 * 2 * 2  # rows = dims, columns = bases × values
    last = np.asarray(fig.axes[3].images[0].get_array())
    np.testing.assert_allclose(last[0, :3], [1.0, 1.0, 1.0])  # base 1, z2 = +1
    first = np.asarray(fig.axes[0].images[0].get_array())
    np.testing.assert_allclose(first[0, :3], [0.0, 0.0, -1.0])


def test_traversal_of_a_real_decoder(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tasklens.nn.autoencoder_factory import autoencoder_for

    model = autoencoder_for((1, 8, 8), 2, "beta_vae", seed=0, channels=(4,),
                            decoder_channels=(4, 4, 4))
    fig = plot_latent_traversals(model.decode_array, np.zeros(2), 2)
    assert len(fig.axes) == 2 * 8
    _png_size(save_figure(fig, tmp_path / "decoded.png"))


def test_rgb_traversal_renders_without_clipping_warnings(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """An RGB decoder whose outputs leave [0, 1]: matplotlib logged "Clipping input data to
    the valid range for imshow" once per cell (56 here) before the outputs were clipped."""
    import logging
    import warnings

    def decode(z: np.ndarray) -> np.ndarray:
        out = np.zeros((len(z), 3, 4, 4), dtype=np.float32)
        out[:, 0] = z[:, :1, None]  # red channel = z0 in [-2, 2]
        out[:, 1] = 0.5
        return out

    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        fig = plot_latent_traversals(decode, np.zeros(7), 7)
        assert len(fig.axes) == 56
        red = [float(np.asarray(ax.images[0].get_array())[0, 0, 0]) for ax in fig.axes[:8]]
        save_figure(fig, tmp_path / "rgb.png")
    assert not [r for r in caplog.records if "Clipping" in r.getMessage()]
    # clipped to [0, 1], monotone in the traversed value as before
    np.testing.assert_allclose(red, np.clip(np.linspace(-2, 2, 8), 0, 1), atol=1e-6)


def test_traversal_bad_inputs() -> None:
    with pytest.raises(ValueError, match="code_dim"):
        plot_latent_traversals(_code_images, np.zeros(3), 4)
    with pytest.raises(ValueError, match="dims"):
        plot_latent_traversals(_code_images, np.zeros(3), 3, dims=[3])
    with pytest.raises(ValueError, match="decode_fn"):
        plot_latent_traversals(lambda z: np.zeros((len(z), 5)), np.zeros(3), 3)


def test_pca_embedding_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    emb, used = embed_codes(codes, "pca")
    ref = PCA(n_components=2).fit_transform(codes)
    assert used == "pca"
    for j in range(2):  # principal axes are defined up to sign
        sign = np.sign(emb[:, j] @ ref[:, j])
        np.testing.assert_allclose(emb[:, j], sign * ref[:, j], atol=1e-8)


def test_umap_is_lazy_and_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = np.random.default_rng(0).normal(size=(30, 3))
    if "umap" not in sys.modules:
        try:
            import umap  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match="umap-learn"):
                embed_codes(codes, "umap")
            assert embed_codes(codes, "auto")[1] == "pca"
    calls = {}

    class FakeUMAP:
        def __init__(self, n_components: int, random_state: int, n_neighbors: int) -> None:
            calls.update(n_components=n_components, random_state=random_state)

        def fit_transform(self, z: np.ndarray) -> np.ndarray:
            return z[:, :2] * 2.0

    monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
    emb, used = embed_codes(codes, "auto", seed=3)
    assert used == "umap" and calls["n_components"] == 2
    np.testing.assert_allclose(emb, codes[:, :2] * 2.0)
    assert calls["random_state"] == np.random.default_rng(3).integers(0, 2**31 - 1)


@pytest.mark.parametrize("categorical", [True, False])
def test_code_embedding_figure(tmp_path: Path, categorical: bool) -> None:
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(60, 4))
    color = rng.integers(0, 3, size=60) if categorical else rng.random(60)
    fig = plot_code_embedding(codes, color, method="pca", label="shape")
    n_axes = len(fig.axes)
    ax = fig.axes[0]
    if categorical:
        assert n_axes == 1 and ax.get_legend() is not None
        assert len(ax.collections) == 3
    else:
        assert n_axes == 2  # scatter + colour bar
    assert "pca" in ax.get_xlabel()
    _png_size(save_figure(fig, tmp_path / "embedding.png"))


def test_code_embedding_bad_inputs() -> None:
    codes = np.zeros((10, 3))
    with pytest.raises(ValueError, match="color_by"):
        plot_code_embedding(codes, np.zeros(9), method="pca")
    with pytest.raises(ValueError, match="method"):
        plot_code_embedding(codes, np.zeros(10), method="tsne")
    with pytest.raises(ValueError, match="NaN"):
        plot_code_embedding(np.full((10, 3), np.nan), np.zeros(10), method="pca")
