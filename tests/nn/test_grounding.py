"""Hard grounding (001 eq. 13-14): the Lambertian decoder against closed forms and the
shaded-shapes renderer (a second, numpy implementation of the same shading)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tasklens.data import shaded_shapes
from tasklens.data.shaded_shapes import render_shaded_shapes
from tasklens.nn import LambertianDecoder, dual_stream_for, lambertian_render, lambertian_shading


def _sphere(size: int, radius: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit normals of a sphere of ``radius`` centred in the image (x right, y up), the
    background facing the viewer; also the pixel coordinates."""
    c = (torch.arange(size, dtype=torch.float64) + 0.5) / size * 2 - 1
    x, y = c[None, :].expand(size, size), -c[:, None].expand(size, size)
    rho2 = (x**2 + y**2) / radius**2
    inside = rho2 < 1
    nz = torch.sqrt((1 - rho2).clamp_min(0))
    n = torch.where(inside, torch.stack([x / radius, y / radius, nz]),
                    torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)[:, None, None])
    return n[None], x, y


@pytest.mark.parametrize("light", [(0.0, 0.0, 1.0), (1.0, 0.0, 0.0), (0.0, -0.6, 0.8)])
def test_lambertian_shading_of_a_sphere_matches_the_closed_form(light) -> None:
    normals, x, y = _sphere(32, 0.8)
    direction = torch.tensor([light], dtype=torch.float64)
    shade = lambertian_shading(normals, direction, torch.tensor([0.2], dtype=torch.float64),
                               torch.tensor([0.7], dtype=torch.float64))[0, 0]
    r2 = (x**2 + y**2) / 0.64
    lx, ly, lz = light
    # on the sphere N·ℓ = (lx x + ly y)/r + lz sqrt(1 - ρ²); off it, N = (0, 0, 1)
    cos = torch.where(r2 < 1, (lx * x + ly * y) / 0.8 + lz * torch.sqrt((1 - r2).clamp_min(0)),
                      torch.full_like(x, lz))
    torch.testing.assert_close(shade, 0.2 + 0.7 * cos.clamp_min(0))
    if light == (1.0, 0.0, 0.0):  # the terminator: the left half of the sphere is unlit
        assert bool((shade[(r2 < 1) & (x < 0)] == 0.2).all())


def test_decoder_renders_a_known_sphere() -> None:
    """LambertianDecoder with its networks replaced by a known scene renders it."""
    normals, x, y = _sphere(16, 0.7)
    dec = LambertianDecoder((3, 16, 16), semantic_dim=2, residual_dim=2).double()

    class Const(nn.Module):
        def __init__(self, value: torch.Tensor) -> None:
            super().__init__()
            self.value = value

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.value.expand(len(z), *self.value.shape[1:])

    dec.normal_net = Const(3.0 * normals)  # unnormalised: the decoder normalises
    albedo = torch.tensor([0.9, 0.5, 0.1], dtype=torch.float64)
    dec.albedo_net = Const(torch.logit(albedo)[None, :, None, None].expand(1, 3, 16, 16))
    with torch.no_grad():
        dec.light_net.weight.zero_()
        # direction (0.6, 0, 0.8) ·2, ambient softplus⁻¹(0.1), diffuse softplus⁻¹(0.8)
        inv = lambda v: float(np.log(np.expm1(v)))  # noqa: E731
        dec.light_net.bias.copy_(torch.tensor([1.2, 0.0, 1.6, inv(0.1), inv(0.8)]))
    out = dec(torch.zeros(2, 2, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64))
    r2 = (x**2 + y**2) / 0.49
    cos = torch.where(r2 < 1, 0.6 * x / 0.7 + 0.8 * torch.sqrt((1 - r2).clamp_min(0)),
                      torch.full_like(x, 0.8))
    expected = albedo[:, None, None] * (0.1 + 0.8 * cos.clamp_min(0))
    torch.testing.assert_close(out, expected.expand(2, 3, 16, 16))


def test_renderer_and_decoder_shading_agree_on_shaded_shapes() -> None:
    ts = shaded_shapes(12, size=16, ground_truth=True, seed=3)
    info = ts.info
    light = torch.as_tensor(info["light"])
    images = lambertian_render(torch.as_tensor(info["albedo"]), torch.as_tensor(info["normals"]),
                               light[:, :3], light[:, 3], light[:, 4])
    torch.testing.assert_close(images, torch.as_tensor(ts.inputs), rtol=1e-5, atol=1e-6)
    again = render_shaded_shapes(ts.factors.values, size=16)
    np.testing.assert_array_equal(again.images, ts.inputs)


def test_hard_grounding_model_trains_and_keeps_roles_apart() -> None:
    ts = shaded_shapes(16, size=8, seed=0)
    model = dual_stream_for(ts, grounding="hard", feature_dim=12, semantic_dim=6,
                            residual_dim=4, channels=(4, 4, 4), head_hidden=8, head_depth=2,
                            seed=0)
    assert isinstance(model.decoder, LambertianDecoder)
    x, y = next(iter(ts.dataloader(16, shuffle=False)))
    z_s, z_r = model.encode_streams(x)
    parts = model.decoder.components(z_s, z_r)
    torch.testing.assert_close(parts["normals"].norm(dim=1), torch.ones(16, 8, 8))
    # geometry from z_s only, photometry from z_r only
    z_s2 = z_s + 1.0
    other = model.decoder.components(z_s2, z_r)
    assert torch.equal(other["albedo"], parts["albedo"])
    assert torch.equal(other["direction"], parts["direction"])
    assert not torch.allclose(other["normals"], parts["normals"])
    other = model.decoder.components(z_s, z_r + 1.0)
    assert torch.equal(other["normals"], parts["normals"])
    terms = model.core_losses(x, y, ts, seed=0)
    terms.total().backward()
    assert all(p.grad is not None for p in model.decoder.parameters())


def test_bad_decoder_shapes_raise() -> None:
    with pytest.raises(ValueError, match="renders images"):
        LambertianDecoder((12,), 2, 2)
    with pytest.raises(ValueError, match="1 \\(grey\\) or 3 \\(RGB\\)"):
        LambertianDecoder((2, 8, 8), 2, 2)
    with pytest.raises(ValueError, match="power of two"):
        LambertianDecoder((3, 6, 6), 2, 2)
    with pytest.raises(ValueError, match="normals must be"):
        lambertian_shading(torch.zeros(1, 2, 4, 4), torch.zeros(1, 3), torch.zeros(1),
                           torch.zeros(1))
