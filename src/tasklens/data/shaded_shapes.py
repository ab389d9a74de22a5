"""Shaded shapes: Lambertian renderings with ground-truth normals, albedo and light.

The data set on which CORE-MTL's hard grounding (Wu, Zou, Wu and Wang 2026, "CORE-MTL:
Rethinking Gradient Balancing via Causal Orthogonal Representations", arXiv:2606.02221,
eq. 13-14) is meaningful at CPU scale: every image is *exactly* ``x = A ⊙ S(N, L)`` with the
shading of :mod:`tasklens.nn.grounding`,

    x_c(p) = A_c(p) · (k_a + k_d · max(0, ⟨N(p), ℓ⟩)),   k_a = AMBIENT, k_d = DIFFUSE,

so the geometry (normals) and the photometry (albedo, light) are known per pixel. One
object lies on a flat background, seen orthographically from above (``x`` right, ``y``
up, ``z`` towards the viewer; the background's normal is ``(0, 0, 1)``). Pixels are
sampled at their centres (no anti-aliasing), which keeps the model exact.

Factors (columns of ``factors``, discrete levels):

- ``shape``: 0 ellipsoid (half, semi-axes ``a, a/2``, height ``a/2``), 1 cylinder (lying,
  length ``2a``, radius ``a/2``), 2 pyramid (square base of half-width ``0.75a``, height
  ``0.6a``); geometry;
- ``orientation``: in-plane rotation, ``0, 10, …, 80`` degrees (unique for all three
  shapes, whose symmetries are 180° and 90°); geometry;
- ``scale``: ``a`` as a fraction of the image half-width, ``0.55 … 0.85``; geometry;
- ``object_hue``: 8 hues; the object's albedo is ``0.2 + 0.8 · RGB(hue)``; nuisance;
- ``background``: grey albedo ``0.25, 0.45, 0.65``; nuisance;
- ``light_azimuth`` (8 values, degrees) and ``light_elevation`` (35, 55, 75 degrees):
  ``ℓ = (cos e cos φ, cos e sin φ, sin e)``; nuisance.

Tasks read geometry only: ``shape`` (3 classes), ``orientation`` and ``scale``
(regression, in [0, 1]). A shortcut like Wu et al. 2026's Colored-Cityscapes stress test (App. I)
ties the object hue to the shape: with probability ``shortcut`` the hue is the shape's hue
in the domain's map (source ``SOURCE_HUES``, target ``TARGET_HUES``, a cyclic shift).

Photometric domain shift (``nuisance_levels``): the levels of each nuisance factor (object
hue, background, light azimuth, light elevation) are split by a seeded permutation
(``nuisance_split_seed``) into "in" levels (``ceil(0.6 L)`` of ``L``) and held-out "out"
levels; ``nuisance_levels="in"`` draws every nuisance factor from its in-levels,
``"out"`` from its out-levels, so an "out" set shows albedos and lights never seen in an
"in" training set. The geometry draws do not depend on this option: the same ``seed``
gives the same shapes, orientations and scales with "all", "in" and "out" (paired sets).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._common.validation import check_choice, check_positive_int, check_scalar, check_seed
from . import _render3d as r3
from .factor_grid import FactorGrid
from .taskset import TaskSet

SHAPES: dict[int, str] = {0: "ellipsoid", 1: "cylinder", 2: "pyramid"}
ORIENTATIONS = np.arange(0.0, 81.0, 10.0)
SCALES = np.linspace(0.55, 0.85, 4)
HUES = np.linspace(0.0, 1.0, 8, endpoint=False)
BACKGROUNDS = np.array([0.25, 0.45, 0.65])
AZIMUTHS = np.arange(0.0, 360.0, 45.0)
ELEVATIONS = np.array([35.0, 55.0, 75.0])


def _render_grid(values: np.ndarray) -> np.ndarray:
    return render_shaded_shapes(values).images


#: the factor grid (3 · 9 · 4 · 8 · 3 · 8 · 3 = 62,208 points; last factor fastest);
#: :func:`shaded_shapes` samples each factor's level uniformly (not grid points without
#: replacement)
GRID = FactorGrid(
    ("shape", "orientation", "scale", "object_hue", "background", "light_azimuth",
     "light_elevation"),
    (np.array(sorted(SHAPES), dtype=np.float64), ORIENTATIONS, SCALES, HUES, BACKGROUNDS,
     AZIMUTHS, ELEVATIONS),
    render=_render_grid,
)
GEOMETRY_FACTORS: tuple[str, ...] = GRID.names[:3]
AMBIENT, DIFFUSE = 0.25, 0.75
#: hue level of each shape when the shortcut holds (source / target domain)
SOURCE_HUES = np.array([0, 3, 5])
TARGET_HUES = np.roll(SOURCE_HUES, -1)
DOMAINS = ("source", "target")
NUISANCE_LEVELS = ("all", "in", "out")
#: column of each nuisance factor in ``GRID.names``
NUISANCE_COLUMNS: tuple[int, ...] = (3, 4, 5, 6)
#: share of a nuisance factor's levels that are "in" (rounded up)
IN_SHARE = 0.6


@dataclass(frozen=True)
class ShadedShapesRender:
    """Images and their physical factors (all float32, channels first).

    Attributes
    ----------
    images : (N, 3, S, S) array in [0, 1]
    normals : (N, 3, S, S) array, unit vectors
    albedo : (N, 3, S, S) array in (0, 1]
    light : (N, 5) array: direction ``ℓ`` (3, unit), ambient ``k_a``, diffuse ``k_d``
    mask : (N, S, S) bool array, True on the object
    """

    images: np.ndarray
    normals: np.ndarray
    albedo: np.ndarray
    light: np.ndarray
    mask: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).tolist() for k in
                ("images", "normals", "albedo", "light", "mask")}


def render_shaded_shapes(factor_values: Any, size: int = 32) -> ShadedShapesRender:
    """Render images and ground truth from factor values (columns ``GRID.names``).

    Parameters
    ----------
    factor_values : (N, 7) or (7,) array-like
        Shape code 0..2, orientation in degrees, scale in [0.3, 1], hue in [0, 1],
        background grey in [0, 1], light azimuth in degrees, elevation in (0, 90] degrees
        (values between the levels are allowed, except for the shape).
    size : int
        Image side ``S`` (>= 4).
    """
    z = r3.check_factor_table(factor_values, "factor_values", GRID.names)
    shape = r3.check_column_codes(z[:, 0], "factor_values", "shape", len(SHAPES))
    for j, (lo, hi) in {2: (0.3, 1.0), 3: (0.0, 1.0), 4: (0.0, 1.0), 6: (1.0, 90.0)}.items():
        r3.check_column_range(z[:, j], "factor_values", GRID.names[j], lo, hi)
    size = check_scalar(size, "size", numbers.Integral, low=4)
    normals, mask = _normals(shape, np.deg2rad(z[:, 1]), z[:, 2], size)
    obj = 0.2 + 0.8 * r3.hue_to_rgb(z[:, 3])  # (N, 3)
    albedo = np.where(mask[:, None], obj[:, :, None, None], z[:, 4, None, None, None])
    az, el = np.deg2rad(z[:, 5]), np.deg2rad(z[:, 6])
    direction = np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], 1)
    cos = np.einsum("nchw,nc->nhw", normals, direction)
    images = albedo * (AMBIENT + DIFFUSE * np.maximum(cos, 0.0))[:, None]
    light = np.column_stack([direction, np.full(len(z), AMBIENT), np.full(len(z), DIFFUSE)])
    f32 = np.float32
    return ShadedShapesRender(images.astype(f32), normals.astype(f32),
                              np.broadcast_to(albedo, images.shape).astype(f32),
                              light.astype(f32), mask)


def _normals(shape: np.ndarray, theta: np.ndarray, a: np.ndarray, size: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals (N, 3, S, S) and object mask (N, S, S) of the height fields."""
    c = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    u, v = c[None, None, :], -c[None, :, None]  # x right, y up (row 0 is the top)
    ct, st = np.cos(theta)[:, None, None], np.sin(theta)[:, None, None]
    pu, pv = ct * u + st * v, -st * u + ct * v  # object frame: p = R(-θ) x
    a3 = a[:, None, None]
    # gradient of the height (dz/dpu, dz/dpv) in the object frame, per shape
    gu, gv = np.zeros_like(pu), np.zeros_like(pu)
    mask = np.zeros(pu.shape, dtype=bool)
    b = 0.5 * a3
    # ellipsoid: z = b sqrt(1 - q), q = (pu/a)² + (pv/b)²
    q = (pu / a3) ** 2 + (pv / b) ** 2
    root = np.sqrt(np.maximum(1.0 - q, 1e-4))
    ell = (shape == 0)[:, None, None] & (q < 1.0)
    gu = np.where(ell, -b * pu / a3**2 / root, gu)
    gv = np.where(ell, -b * pv / b**2 / root, gv)
    # cylinder along pu: z = sqrt(b² - pv²)
    cyl = (shape == 1)[:, None, None] & (np.abs(pu) < a3) & (np.abs(pv) < b)
    gv = np.where(cyl, -pv / np.sqrt(np.maximum(b**2 - pv**2, 1e-4 * b**2)), gv)
    # pyramid: z = h (1 - max(|pu|, |pv|) / s)
    s, h = 0.75 * a3, 0.6 * a3
    pyr = (shape == 2)[:, None, None] & (np.maximum(np.abs(pu), np.abs(pv)) < s)
    along_u = np.abs(pu) >= np.abs(pv)
    gu = np.where(pyr & along_u, -h / s * np.sign(pu), gu)
    gv = np.where(pyr & ~along_u, -h / s * np.sign(pv), gv)
    mask = ell | cyl | pyr
    # the normal of z(p) is (-dz/dpu, -dz/dpv, 1); rotate its in-plane part back by R(θ)
    nu, nv = -gu, -gv
    n = np.stack([ct * nu - st * nv, st * nu + ct * nv, np.ones_like(nu)], axis=1)
    return n / np.linalg.norm(n, axis=1, keepdims=True), mask


def nuisance_level_split(split_seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Level codes of each nuisance factor split into "in" and held-out "out" parts.

    A seeded permutation of the ``L`` levels of each nuisance factor; its first
    ``ceil(IN_SHARE · L)`` are "in" (5 of 8 hues / azimuths, 2 of 3 backgrounds /
    elevations), the rest "out". Codes are sorted within each part.

    Returns
    -------
    dict {factor name: {"in": codes, "out": codes}}
    """
    rng = check_seed(split_seed, "nuisance_split_seed")
    out: dict[str, dict[str, np.ndarray]] = {}
    for col in NUISANCE_COLUMNS:
        levels = len(GRID.levels[col])
        perm = rng.permutation(levels)
        k = int(np.ceil(IN_SHARE * levels))
        out[GRID.names[col]] = {"in": np.sort(perm[:k]), "out": np.sort(perm[k:])}
    return out


def shaded_shapes(
    n: int = 2000,
    *,
    size: int = 32,
    domain: str = "source",
    shortcut: float = 0.0,
    ground_truth: bool = False,
    seed: int | np.random.Generator = 0,
    nuisance_levels: str = "all",
    nuisance_split_seed: int = 0,
) -> TaskSet:
    """Shaded shapes with geometry tasks and photometric nuisances (see the module doc).

    Parameters
    ----------
    n : int
        Number of images; factors are drawn uniformly from their levels.
    size : int
        Image side (a power of two suits the convolutional models).
    domain : {"source", "target"}
        Which shape → hue map the shortcut follows.
    shortcut : float in [0, 1]
        Probability that the object hue is its shape's hue in the domain's map (0: hue
        independent of the shape).
    ground_truth : bool
        Also put ``normals``, ``albedo`` (N, 3, S, S), ``light`` (N, 5) and ``mask`` in
        ``info`` (in sample order; subsets and splits do not carry them — re-render from
        ``factors`` with :func:`render_shaded_shapes` instead).
    seed : int or numpy Generator
    nuisance_levels : {"all", "in", "out"}
        Draw the nuisance factors from all their levels, or only from the "in" or the
        held-out "out" levels of :func:`nuisance_level_split` (a photometric domain shift;
        needs ``shortcut=0``).
    nuisance_split_seed : int
        Seed of that split (keep it equal between training and shifted sets).

    Returns
    -------
    TaskSet
        ``inputs`` (n, 3, size, size) float32 in [0, 1]; tasks ``shape`` (classification),
        ``orientation`` and ``scale`` (regression in [0, 1]); factors ``GRID.names``.
    """
    n = check_positive_int(n, "n")
    size = check_scalar(size, "size", numbers.Integral, low=4)
    check_choice(domain, "domain", DOMAINS)
    shortcut = float(check_scalar(shortcut, "shortcut", numbers.Real, low=0.0, high=1.0))
    check_choice(nuisance_levels, "nuisance_levels", NUISANCE_LEVELS)
    if nuisance_levels != "all" and shortcut > 0:
        raise ValueError("nuisance_levels='in'/'out' needs shortcut=0 (a shortcut hue could "
                         "be a held-out level); pass shortcut=0.0")
    split = nuisance_level_split(nuisance_split_seed)
    rng = check_seed(seed)
    codes = np.stack([rng.integers(0, len(lv), size=n) for lv in GRID.levels], axis=1)
    hue_map = SOURCE_HUES if domain == "source" else TARGET_HUES
    follows = rng.random(n) < shortcut
    codes[:, 3] = np.where(follows, hue_map[codes[:, 0]], codes[:, 3])
    if nuisance_levels != "all":
        # drawn after everything else, so "all" keeps its images and the geometry is shared
        u = rng.random((n, len(NUISANCE_COLUMNS)))
        for j, col in enumerate(NUISANCE_COLUMNS):
            allowed = split[GRID.names[col]][nuisance_levels]
            codes[:, col] = allowed[(u[:, j] * len(allowed)).astype(np.int64)]
    values = GRID.codes_to_values(codes)
    render = render_shaded_shapes(values, size)
    info: dict[str, Any] = {
        "generator": "tasklens.data.shaded_shapes", "domain": domain, "shortcut": shortcut,
        "size": size, "seed": seed if isinstance(seed, (int, np.integer)) else "generator",
        "hue_map": hue_map, "ambient": AMBIENT, "diffuse": DIFFUSE,
        "geometry_factors": GEOMETRY_FACTORS, "nuisance_levels": nuisance_levels,
        "nuisance_split_seed": nuisance_split_seed,
        "nuisance_level_codes": {k: v[nuisance_levels].tolist() for k, v in split.items()}
        if nuisance_levels != "all" else None,
    }
    if ground_truth:
        info.update(normals=render.normals, albedo=render.albedo, light=render.light,
                    mask=render.mask)
    return TaskSet.from_arrays(
        render.images,
        {"shape": codes[:, 0], "orientation": values[:, 1] / ORIENTATIONS[-1],
         "scale": (values[:, 2] - SCALES[0]) / (SCALES[-1] - SCALES[0])},
        {"shape": "classification", "orientation": "regression", "scale": "regression"},
        factors=values, factor_names=list(GRID.names), factor_levels=list(GRID.levels),
        name=f"shaded_shapes_{domain}", classes={"shape": np.arange(len(SHAPES))},
        info=info,
    )
