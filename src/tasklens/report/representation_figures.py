"""Figures of learned representations: latent traversals and 2-D embeddings of codes.

- :func:`plot_latent_traversals` — the traversal grids of Maziarka et al. 2022 §4.2
  (Figure 7): one latent dimension varied at a time from a base code, the others fixed, each
  row one dimension, each column one value.
- :func:`plot_code_embedding` — codes embedded in 2-D and coloured by a factor, as the UMAP
  figures of Maziarka et al. 2022 App. D.1 (Figure 8). UMAP (``umap-learn``) is imported lazily and
  used
  when installed; PCA (numpy SVD) otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._common.validation import check_array, check_choice, check_positive_int, check_seed
from .figures import _class_text, _pyplot
from .style import display_layout

if TYPE_CHECKING:
    from matplotlib.figure import Figure

EMBEDDING_METHODS: tuple[str, ...] = ("auto", "umap", "pca")
#: integer colour labels with at most this many distinct values get a legend, not a colour bar
_MAX_CATEGORIES = 12


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _is_categorical(values: np.ndarray) -> bool:
    """Strings and booleans; integers (or integer-valued floats, as binary targets stored
    as 0.0 / 1.0) with at most ``_MAX_CATEGORIES`` distinct values; anything with <= 2."""
    if values.dtype.kind in "OUSb":
        return True
    if values.dtype.kind not in "iuf":
        return False
    distinct = np.unique(values[np.isfinite(values)] if values.dtype.kind == "f" else values)
    if len(distinct) <= 2:
        return True
    integral = values.dtype.kind in "iu" or bool(np.all(distinct == np.round(distinct)))
    return integral and len(distinct) <= _MAX_CATEGORIES


def _as_images(decoded: np.ndarray, n: int) -> np.ndarray:
    """Decoder output → ``(n, H, W)`` or ``(n, H, W, 3)`` for imshow."""
    if decoded.shape[0] != n:
        raise ValueError(f"decode_fn returned {decoded.shape[0]} images for {n} codes")
    shown = display_layout(decoded)
    if shown is not None:
        return shown
    if decoded.ndim == 2:
        raise ValueError(f"decode_fn returned flat outputs of length {decoded.shape[1]}, "
                         "which is not a square image; return (M, C, H, W) images")
    raise ValueError(f"decode_fn must return images (M, H, W), (M, 1|3, H, W) or (M, H, W, 3), "
                     f"got shape {decoded.shape}")


def plot_latent_traversals(
    decode_fn: Callable[[np.ndarray], Any],
    base_codes: Any,
    code_dim: int,
    values: Any = None,
    *,
    dims: Sequence[int] | None = None,
    cell_size: float = 0.9,
) -> Figure:
    """A grid of decoded latent traversals: rows = latent dimensions, columns = values.

    Cell ``(i, j)`` shows ``decode_fn(z)`` where ``z`` is the base code with dimension
    ``dims[i]`` set to ``values[j]``. With several base codes the grid holds one block of
    columns per base code, side by side.

    Parameters
    ----------
    decode_fn : callable
        ``(M, code_dim) float32 array → (M, C, H, W)`` images (array or tensor), e.g.
        ``model.decode_array`` of :class:`tasklens.nn.autoencoders.AutoEncoder`. RGB
        outputs are clipped to [0, 1]; grey ones share one colour scale.
    base_codes : (code_dim,) or (B, code_dim) array
        Codes to start from, e.g. the mean code of one input.
    code_dim : int
        Latent dimension ``d``.
    values : (V,) array, optional
        Values given to the traversed dimension; default ``linspace(-2, 2, 8)`` (±2 prior
        standard deviations of a VAE).
    dims : sequence of int, optional
        Dimensions to traverse (rows); default all.
    cell_size : float
        Inches per cell.

    Returns
    -------
    Figure
        ``len(dims)`` rows × ``B·V`` image axes.
    """
    code_dim = check_positive_int(code_dim, "code_dim")
    base = check_array(base_codes, "base_codes", ndim=(1, 2))
    base = base[None] if base.ndim == 1 else base
    if base.shape[1] != code_dim:
        raise ValueError(f"base_codes must have {code_dim} (code_dim) columns, got shape "
                         f"{base.shape}")
    vals = check_array(np.linspace(-2.0, 2.0, 8) if values is None else values, "values",
                       ndim=1)
    rows = list(range(code_dim)) if dims is None else [int(d) for d in dims]
    if not rows or any(not 0 <= d < code_dim for d in rows):
        raise ValueError(f"dims must list latent dimensions in [0, {code_dim}), got {dims!r}")
    if not callable(decode_fn):
        raise TypeError(f"decode_fn must be callable, got {type(decode_fn).__name__}")
    n_base, n_vals = len(base), len(vals)
    # codes[b, r, v] = base[b] with dimension rows[r] set to vals[v]
    codes = np.repeat(base[:, None, None, :], len(rows), axis=1).repeat(n_vals, axis=2)
    for r, d in enumerate(rows):
        codes[:, r, :, d] = vals
    flat = codes.reshape(-1, code_dim).astype(np.float32)
    images = _as_images(_to_numpy(decode_fn(flat)), len(flat))
    images = images.reshape(n_base, len(rows), n_vals, *images.shape[1:])
    if images.shape[-1] == 3 and images.ndim == 6:
        # imshow ignores vmin/vmax for RGB and clips to [0, 1] itself, with one warning per
        # cell; clip once here (decoder outputs are pixel values, slightly out of range)
        images = np.clip(images, 0.0, 1.0)
    lo, hi = float(images.min()), float(images.max())
    plt = _pyplot()
    n_cols = n_base * n_vals
    fig, axes = plt.subplots(len(rows), n_cols, squeeze=False,
                             figsize=(cell_size * n_cols + 0.6, cell_size * len(rows) + 0.4))
    for r, d in enumerate(rows):
        for b in range(n_base):
            for v in range(n_vals):
                ax = axes[r, b * n_vals + v]
                ax.imshow(images[b, r, v], cmap="gray", vmin=lo, vmax=hi)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{vals[v]:+.2g}", fontsize=6)
        axes[r, 0].set_ylabel(f"z{d}", fontsize=7, rotation=0, labelpad=10)
    fig.suptitle("latent traversals (rows: dimension, columns: value)", fontsize=8)
    return fig


def _pca_2d(codes: np.ndarray) -> np.ndarray:
    """Projection on the two leading principal axes (SVD of the centred codes).

    The sign of each axis is fixed (largest-magnitude loading positive) so that the result
    is deterministic.
    """
    centred = codes - codes.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    out = centred @ axes.T
    if out.shape[1] < 2:  # one-dimensional codes: put them on a line
        out = np.column_stack([out, np.zeros(len(out))])
    return out


def embed_codes(codes: Any, method: str = "auto", seed: int | np.random.Generator | None = 0
                ) -> tuple[np.ndarray, str]:
    """Embed codes in 2-D for display.

    Parameters
    ----------
    codes : (N, d) array
    method : {"auto", "umap", "pca"}
        ``auto``: UMAP when ``umap-learn`` is installed, PCA otherwise.
    seed : int, Generator or None
        UMAP's ``random_state`` (PCA is deterministic).

    Returns
    -------
    embedding : (N, 2) array
    method : str
        The method used (``"umap"`` or ``"pca"``).
    """
    z = check_array(codes, "codes", ndim=2)
    check_choice(method, "method", EMBEDDING_METHODS)
    if len(z) < 3:
        raise ValueError(f"codes has {len(z)} rows; a 2-D embedding needs at least 3")
    if method in ("auto", "umap"):
        try:
            import umap  # optional dependency, imported only when asked for
        except ImportError as exc:
            if method == "umap":
                raise ImportError("method='umap' needs the optional package umap-learn: "
                                  "pip install umap-learn (or use method='pca')") from exc
        else:
            state = int(check_seed(seed).integers(0, 2**31 - 1))
            reducer = umap.UMAP(n_components=2, random_state=state,
                                n_neighbors=min(15, len(z) - 1))
            return np.asarray(reducer.fit_transform(z), dtype=np.float64), "umap"
    return _pca_2d(z), "pca"


def plot_code_embedding(
    codes: Any,
    color_by: Any,
    method: str = "auto",
    *,
    seed: int | np.random.Generator | None = 0,
    label: str = "factor",
    ax: Any = None,
) -> Figure:
    """Scatter of the codes embedded in 2-D (:func:`embed_codes`), coloured by ``color_by``.

    Parameters
    ----------
    codes : (N, d) array
    color_by : (N,) array
        A factor or target per sample; strings, booleans, binary values and integer(-valued)
        numbers with at most 12 distinct values are drawn as categories (legend), other
        numbers with a colour bar.
    method : {"auto", "umap", "pca"}
    seed : int, Generator or None
    label : str
        Name of ``color_by`` for the legend or colour bar.
    ax : matplotlib Axes, optional
        Draw into it instead of a new figure.

    Returns
    -------
    Figure
    """
    z = check_array(codes, "codes", ndim=2)
    colors = np.asarray(color_by)
    if colors.ndim != 1 or len(colors) != len(z):
        raise ValueError(f"color_by must have shape ({len(z)},) to match codes, got "
                         f"{colors.shape}")
    emb, used = embed_codes(z, method, seed)
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 3.6))
    else:
        fig = ax.figure
    categorical = _is_categorical(colors)
    if categorical:
        for value in np.unique(colors):
            mask = colors == value
            ax.scatter(emb[mask, 0], emb[mask, 1], s=6, alpha=0.7, label=_class_text(value))
        ax.legend(title=label, fontsize=6, title_fontsize=7, markerscale=2, loc="best")
    else:
        numeric = check_array(colors, "color_by", ndim=1)
        points = ax.scatter(emb[:, 0], emb[:, 1], c=numeric, s=6, alpha=0.8, cmap="viridis")
        fig.colorbar(points, ax=ax, label=label)
    ax.ticklabel_format(style="sci", scilimits=(-3, 3))
    ax.tick_params(labelsize=7)
    ax.set_xlabel(f"{used} 1")
    ax.set_ylabel(f"{used} 2")
    ax.set_title(f"codes ({z.shape[1]}-D) embedded by {used.upper()}", fontsize=9)
    return fig
