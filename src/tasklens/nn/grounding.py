"""Hard grounding of CORE-MTL: a physics decoder with Lambertian shading (Wu et al. 2026 eq. 13-14).

Wu, Zou, Wu and Wang (2026), "CORE-MTL: Rethinking Gradient Balancing via Causal
Orthogonal Representations", arXiv:2606.02221, Section 3.2.1: the semantic stream
predicts geometry (surface normals), the residual stream photometry (albedo and light),
and a fixed shading model composes them, ``x̂ = A(ẑ_r) ⊙ S(N(ẑ_s), L(ẑ_r))`` (eq. 13).

The shading model here (the paper names Lambertian shading but not its exact form) is

    S(N, L)(p) = k_a + k_d · max(0, ⟨N(p), ℓ⟩),      x̂_c(p) = A_c(p) · S(N, L)(p),

with ``N(p)`` a unit normal per pixel, ``ℓ`` a unit light direction, ``k_a >= 0`` an
ambient and ``k_d >= 0`` a diffuse intensity (one light per image), ``A_c(p) ∈ (0, 1)``
the albedo of channel ``c``. Coordinates: ``x`` to the right, ``y`` up, ``z`` towards
the viewer (see :mod:`tasklens.data.shaded_shapes`, which renders with the same model).

Reconstruction loss (eq. 14): ``‖x − x̂‖₁`` (mean absolute error). The perceptual term
``λ_lpips · LPIPS`` is **not** implemented: LPIPS needs an ImageNet-pretrained backbone
(AlexNet/VGG) that the ``lpips`` package downloads through torchvision on first use; no
package ships weights usable offline here, so the loss falls back to L1 alone
(``λ_lpips = 0``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._common.validation import check_positive_int
from ._utils import Seed, check_input_shape, seeded_init
from .encoders import ConvDecoder

#: light parameters predicted from ``z_r``: direction (3, normalised), ambient, diffuse
LIGHT_PARAMS = 5


def lambertian_shading(normals: torch.Tensor, direction: torch.Tensor,
                       ambient: torch.Tensor, diffuse: torch.Tensor) -> torch.Tensor:
    """``S = k_a + k_d · max(0, ⟨N, ℓ⟩)`` per pixel (the shading of eq. 13).

    Parameters
    ----------
    normals : (N, 3, H, W) tensor
        Unit normals (not re-normalised here).
    direction : (N, 3) tensor
        Unit light directions.
    ambient, diffuse : (N,) tensors
        ``k_a`` and ``k_d``.

    Returns
    -------
    shading : (N, 1, H, W) tensor
    """
    if normals.ndim != 4 or normals.shape[1] != 3:
        raise ValueError(f"normals must be (N, 3, H, W), got {tuple(normals.shape)}")
    if direction.shape != (normals.shape[0], 3):
        raise ValueError(f"direction must be ({normals.shape[0]}, 3), got "
                         f"{tuple(direction.shape)}")
    cos = torch.einsum("nchw,nc->nhw", normals, direction).clamp_min(0.0)
    shade = ambient[:, None, None] + diffuse[:, None, None] * cos
    return shade[:, None]


def lambertian_render(albedo: torch.Tensor, normals: torch.Tensor, direction: torch.Tensor,
                      ambient: torch.Tensor, diffuse: torch.Tensor) -> torch.Tensor:
    """``x̂ = A ⊙ S(N, L)`` (eq. 13); ``albedo`` is (N, C, H, W), the rest as
    :func:`lambertian_shading`. Returns (N, C, H, W)."""
    return albedo * lambertian_shading(normals, direction, ambient, diffuse)


class LambertianDecoder(nn.Module):
    """``D_phy(z_s, z_r) = A(z_r) ⊙ S(N(z_s), L(z_r))`` (Wu et al. 2026 eq. 13, Section 3.2.1).

    - ``N``: a :class:`ConvDecoder` from ``z_s`` to 3 maps, L2-normalised per pixel;
    - ``A``: a :class:`ConvDecoder` from ``z_r`` to ``C`` maps, then a sigmoid;
    - ``L``: a linear map from ``z_r`` to a direction (normalised) and, through softplus,
      ``k_a`` and ``k_d``.

    The role assignment is architectural: geometry can reach the image only through
    ``N(z_s)``, photometry only through ``A(z_r)`` and ``L(z_r)``.

    Parameters
    ----------
    out_shape : (C, S, S)
        Images with ``C`` channels (1 or 3) and a power-of-two side ``S >= 4``.
    semantic_dim, residual_dim : int
    channels : sequence of int, optional
        Channel counts of both convolutional decoders (``log2(S)`` of them).
    activation : str
    seed : int, numpy Generator or None
    """

    #: :class:`~tasklens.nn.DualStreamModel` calls ``decoder(z_s, z_r)``
    takes_streams = True

    def __init__(self, out_shape: Sequence[int], semantic_dim: int, residual_dim: int, *,
                 channels: Sequence[int] | None = None, activation: str = "relu",
                 seed: Seed = None) -> None:
        super().__init__()
        shape = check_input_shape(out_shape, "out_shape")
        if len(shape) != 3:
            raise ValueError(f"LambertianDecoder renders images (C, S, S); got out_shape "
                             f"{shape}. Flat inputs need a generic decoder (soft grounding)")
        if shape[0] not in (1, 3):
            raise ValueError(f"LambertianDecoder needs 1 (grey) or 3 (RGB) channels, got "
                             f"{shape[0]}")
        self.out_shape = shape
        self.semantic_dim = check_positive_int(semantic_dim, "semantic_dim")
        self.residual_dim = check_positive_int(residual_dim, "residual_dim")
        _, s, _ = shape
        with seeded_init(seed):
            self.normal_net = ConvDecoder((3, s, s), self.semantic_dim, channels, activation)
            self.albedo_net = ConvDecoder(shape, self.residual_dim, channels, activation)
            self.light_net = nn.Linear(self.residual_dim, LIGHT_PARAMS)

    def components(self, z_s: torch.Tensor, z_r: torch.Tensor) -> dict[str, torch.Tensor]:
        """The physical factors: ``normals`` (N, 3, S, S) unit, ``albedo`` (N, C, S, S) in
        (0, 1), ``direction`` (N, 3) unit, ``ambient`` and ``diffuse`` (N,) >= 0."""
        normals = F.normalize(self.normal_net(z_s), dim=1, eps=1e-6)
        albedo = torch.sigmoid(self.albedo_net(z_r))
        light = self.light_net(z_r)
        return {"normals": normals, "albedo": albedo,
                "direction": F.normalize(light[:, :3], dim=1, eps=1e-6),
                "ambient": F.softplus(light[:, 3]), "diffuse": F.softplus(light[:, 4])}

    def forward(self, z_s: torch.Tensor, z_r: torch.Tensor) -> torch.Tensor:
        """(N, semantic_dim), (N, residual_dim) → the rendered images (N, C, S, S)."""
        c = self.components(z_s, z_r)
        return lambertian_render(c["albedo"], c["normals"], c["direction"], c["ambient"],
                                 c["diffuse"])
