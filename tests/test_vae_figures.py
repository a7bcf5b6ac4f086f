"""The VAE's extra figures: which latent points the manifold decodes, and the image grids."""

import io

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from torch.distributions import Normal

from datasets import Split
from networks import VariationalAutoencoder
from plotting import tile
from training.vae_figures import MANIFOLD_SIDE, manifold, vae_figures


def decoded_points(latent_dims):
    """The latent points the manifold figure decodes, in the order it decodes them."""
    model = VariationalAutoencoder(latent_dims)
    seen = []
    model.decode = lambda latents: seen.append(latents) or torch.zeros(len(latents), 1, 28, 28)
    manifold(model, torch.device("cpu"))
    return torch.cat(seen)


def test_manifold_of_two_latent_dims_is_a_grid_over_the_prior_quantiles():
    points = decoded_points(2).view(MANIFOLD_SIDE, MANIFOLD_SIDE, 2)
    edge = Normal(0.0, 1.0).icdf(torch.tensor(0.95)).item()  # 1.645
    assert points[0, 0].tolist() == pytest.approx([-edge, edge], rel=1e-5)    # top left
    assert points[-1, -1].tolist() == pytest.approx([edge, -edge], rel=1e-5)  # bottom right
    # Each step between neighbours holds the same prior mass: 0.9 / 19.
    mass = Normal(0.0, 1.0).cdf(points[0, :, 0]).diff()
    assert torch.allclose(mass, torch.full_like(mass, 0.9 / 19), atol=1e-5)
    assert (points[:, :, 1].diff(dim=0) < 0).all() and (points[:, :, 0].diff(dim=1) > 0).all()


def test_manifold_of_more_dims_varies_the_first_two_and_holds_the_rest_at_zero():
    points = decoded_points(5)
    assert points.shape == (MANIFOLD_SIDE ** 2, 5)
    assert torch.equal(points[:, 2:], torch.zeros(MANIFOLD_SIDE ** 2, 3))
    assert torch.equal(points[:, :2], decoded_points(2))


@pytest.mark.parametrize("dims,title_ends", [(2, "quantiles"), (3, "(z1, z2; z3 at 0)"),
                                             (16, "(z1, z2; z3 to z16 at 0)")])
def test_manifold_title_says_which_dimensions_are_held_at_zero(dims, title_ends, monkeypatch):
    import training.vae_figures
    titles = []
    monkeypatch.setattr(training.vae_figures, "manifold_figure", lambda *args: titles.append(args[-1]))
    with torch.inference_mode():   # as vae_figures calls it
        manifold(VariationalAutoencoder(dims), torch.device("cpu"))
    assert titles[0].endswith(title_ends)


def test_manifold_of_one_dim_is_a_single_row():
    points = decoded_points(1)
    assert points.shape == (MANIFOLD_SIDE, 1)
    assert torch.equal(points[:, 0], decoded_points(2).view(MANIFOLD_SIDE, MANIFOLD_SIDE, 2)[0, :, 0])


def test_tile_places_row_r_column_c_at_its_block():
    images = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    tiled = tile(images)
    assert tiled.shape == (8, 15)
    for r in range(2):
        for c in range(3):
            assert np.array_equal(tiled[4 * r:4 * r + 4, 5 * c:5 * c + 5], images[r, c])


def test_vae_figures_are_two_readable_pngs():
    torch.manual_seed(0)
    labels = torch.arange(10).repeat(3)
    split = Split(images=torch.randint(0, 256, (30, 28, 28), dtype=torch.uint8), labels=labels,
                  class_names=[str(c) for c in range(10)], mean=0.13, std=0.31)
    figures = vae_figures(VariationalAutoencoder(2), split)
    assert sorted(figures) == ["manifold.png", "reconstructions.png"]
    for png in figures.values():
        image = iio.imread(io.BytesIO(png))
        assert image.ndim == 3 and min(image.shape[:2]) > 200
