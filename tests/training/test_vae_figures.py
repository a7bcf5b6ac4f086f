"""The VAE's extra figures: which latent points the manifold decodes, titles, and the image grids,
for today's (N, 28, 28) MNIST splits and for channel-first (N, C, H, W) images of any size."""

import io
from dataclasses import dataclass

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from torch.distributions import Normal

from datasets import Split
from networks import VariationalAutoencoder
from plotting.render import plt
from training.vae_figures import MANIFOLD_SIDE, manifold, reconstructions, vae_figures

NAMES = {"network": "vae", "dataset": "FashionMNIST"}


def decoded_points(latent_dims):
    """The latent points the manifold figure decodes, in the order it decodes them."""
    model = VariationalAutoencoder(latent_dims)
    seen = []
    model.decode = lambda latents: seen.append(latents) or torch.zeros(len(latents), 1, 28, 28)
    plt.close(manifold(model, torch.device("cpu"), **NAMES))
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


@pytest.mark.parametrize("dims,detail", [
    (2, "Decoded from a grid over the prior's quantiles"),
    (3, "Decoded from a grid over the prior's quantiles (z1, z2; z3 at 0)"),
    (16, "Decoded from a grid over the prior's quantiles (z1, z2; z3 to z16 at 0)")])
def test_manifold_title_names_network_data_set_and_the_dimensions_held_at_zero(dims, detail):
    with torch.inference_mode():   # as vae_figures calls it
        figure = manifold(VariationalAutoencoder(dims), torch.device("cpu"), **NAMES)
    assert figure.axes[0].get_title() == f"vae on FashionMNIST\n{detail}"
    assert len(figure.axes[0].get_xticks()) <= 7 and len(figure.axes[0].get_yticks()) <= 7
    plt.close(figure)


def test_manifold_of_one_dim_is_a_single_row():
    points = decoded_points(1)
    assert points.shape == (MANIFOLD_SIDE, 1)
    assert torch.equal(points[:, 0], decoded_points(2).view(MANIFOLD_SIDE, MANIFOLD_SIDE, 2)[0, :, 0])


def test_vae_figures_are_two_readable_pngs():
    torch.manual_seed(0)
    labels = torch.arange(10).repeat(3)
    split = Split(images=torch.randint(0, 256, (30, 28, 28), dtype=torch.uint8), labels=labels,
                  class_names=[str(c) for c in range(10)], mean=0.13, std=0.31)
    figures = vae_figures(VariationalAutoencoder(2), split, **NAMES)
    assert sorted(figures) == ["manifold.png", "reconstructions.png"]
    for png in figures.values():
        image = iio.imread(io.BytesIO(png))
        assert image.ndim == 3 and min(image.shape[:2]) > 200


def test_reconstructions_of_an_mnist_split_name_their_classes():
    torch.manual_seed(0)
    labels = torch.tensor([3, 1, 3, 0, 1])   # class 2 absent: three columns, in class order
    split = Split(images=torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8), labels=labels,
                  class_names=["zero", "one", "two", "three"], mean=0.13, std=0.31)
    with torch.no_grad():
        figure = reconstructions(VariationalAutoencoder(2).eval(), split, **NAMES)
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["zero", "one", "three"]
    assert axes.get_title().splitlines()[0] == "vae on FashionMNIST"
    second = split.pixels(torch.tensor([1]))[0, 0].numpy()   # class one's first image
    np.testing.assert_allclose(axes.images[0].get_array()[:28, 28:56], second)
    plt.close(figure)


@dataclass
class ChannelFirstSplit:
    """A split as image folders hold them: uint8 images (N, C, H, W), per-channel statistics."""
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list

    def inputs(self, indices):
        return self.pixels(indices) * 2 - 1

    def pixels(self, indices):
        return self.images[indices].float() / 255


class ChannelFirstVAE(torch.nn.Module):
    """Stands in for a VAE whose decoder returns (B, 3, 20, 12) logits: the first latent
    coordinate sets the red channel, the second the green, blue stays dark."""
    latent_dims = 2

    def decode(self, latents):
        logits = torch.full((len(latents), 3, 20, 12), -20.0)
        logits[:, 0] = latents[:, :1, None]
        logits[:, 1] = latents[:, 1:2, None]
        return logits

    def embed(self, images):
        return images.mean(dim=(2, 3))[:, :2]


def test_vae_figures_draw_rgb_images_of_any_size_in_colour():
    torch.manual_seed(0)
    labels = torch.arange(25).repeat(2)   # more classes than the reconstructions show
    split = ChannelFirstSplit(images=torch.randint(0, 256, (50, 3, 20, 12), dtype=torch.uint8),
                              labels=labels, class_names=[f"folder {c}" for c in range(25)])
    model = ChannelFirstVAE()
    with torch.no_grad():
        grid = manifold(model, torch.device("cpu"), network="vae", dataset="pets")
        shown = grid.axes[0].images[0].get_array()
        assert shown.shape == (MANIFOLD_SIDE * 20, MANIFOLD_SIDE * 12, 3)
        # Top left: z1 = -1.645 (little red), z2 = +1.645 (much green); bottom right the reverse.
        np.testing.assert_allclose(shown[0, 0], [0.162, 0.838, 0.0], atol=1e-3)
        np.testing.assert_allclose(shown[-1, -1], [0.838, 0.162, 0.0], atol=1e-3)
        pair = reconstructions(model, split, network="vae", dataset="pets")
    first, second = pair.axes   # 20 columns in two bands
    names = [label.get_text() for axes in (first, second) for label in axes.get_xticklabels()]
    assert names == [f"folder {c}" for c in range(20)]
    assert first.get_title().splitlines() == [
        "vae on pets", "Test images (top) and their reconstructions from the posterior mean",
        "(the first 20 of 25 classes)"]
    originals = first.images[0].get_array()
    assert originals.shape == (2 * 20, 10 * 12, 3)
    second = split.pixels(torch.tensor([1]))[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(originals[:20, 12:24], second)
    for figure in (grid, pair):
        plt.close(figure)
    figures = vae_figures(model, split, network="vae", dataset="pets")
    for png in figures.values():
        assert iio.imread(io.BytesIO(png)).shape[2] in (3, 4)
