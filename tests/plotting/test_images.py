"""Grids of images: tiling greyscale and RGB images, the manifold's ticks, labelled reconstructions."""

import numpy as np
import pytest

from plotting import manifold_figure, reconstructions_figure, tile, value_ticks
from plotting.render import plt

QUANTILE_GRID = np.array([-1.645, -1.24, -0.97, -0.76, -0.59, -0.43, -0.28, -0.14, 0.0, 0.14,
                          0.28, 0.43, 0.59, 0.76, 0.97, 1.24, 1.645])   # uneven, as the prior's


def tick_texts(labels):
    return [label.get_text() for label in labels]


def test_tile_places_row_r_column_c_at_its_block():
    images = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    tiled = tile(images)
    assert tiled.shape == (8, 15)
    for r in range(2):
        for c in range(3):
            assert np.array_equal(tiled[4 * r:4 * r + 4, 5 * c:5 * c + 5], images[r, c])


def test_tile_of_channel_first_images_gives_an_rgb_image_or_a_grey_one():
    rgb = np.arange(2 * 3 * 3 * 4 * 5).reshape(2, 3, 3, 4, 5)   # (R, C, K, H, W)
    tiled = tile(rgb)
    assert tiled.shape == (8, 15, 3)
    for r in range(2):
        for c in range(3):
            for k in range(3):
                assert np.array_equal(tiled[4 * r:4 * r + 4, 5 * c:5 * c + 5, k], rgb[r, c, k])
    grey = rgb[:, :, :1]
    assert np.array_equal(tile(grey), tile(grey[:, :, 0]))


def test_value_ticks_are_few_round_values_placed_between_uneven_cells():
    positions, labels = value_ticks([-1.0, 0.0, 2.0], cell=10)   # centres at 5, 15, 25
    assert labels == ["\N{MINUS SIGN}1", "\N{MINUS SIGN}0.5", "0", "0.5", "1", "1.5", "2"]
    assert positions == pytest.approx([5, 10, 15, 17.5, 20, 22.5, 25])
    positions, labels = value_ticks(QUANTILE_GRID, cell=28)
    minus = "\N{MINUS SIGN}"
    assert labels == [f"{minus}1.5", f"{minus}1", f"{minus}0.5", "0", "0.5", "1", "1.5"]
    assert positions[3] == pytest.approx(8.5 * 28)   # 0 is the ninth cell's centre
    descending, _ = value_ticks(QUANTILE_GRID[::-1], cell=28)   # a y axis, largest on top
    assert descending == pytest.approx(17 * 28 - positions)
    for values in (np.linspace(0, 1000, 40), np.linspace(-0.003, 0.002, 9), [0.5, 0.5]):
        assert 1 <= len(value_ticks(values, cell=1)[1]) <= 7


@pytest.mark.parametrize("channels", [1, 3])
def test_manifold_is_titled_labelled_and_has_few_ticks(channels):
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(20, 20, channels, 32, 24))
    values = np.linspace(-1.645, 1.645, 20)
    figure = manifold_figure(images, values, values[::-1], network="vae", dataset="pets",
                             detail="Decoded from a grid\n(z1, z2; z3 at 0)")
    axes = figure.axes[0]
    assert axes.get_title() == "vae on pets\nDecoded from a grid\n(z1, z2; z3 at 0)"
    assert (axes.get_xlabel(), axes.get_ylabel()) == ("z1", "z2")
    assert 3 <= len(axes.get_xticks()) <= 7 and 3 <= len(axes.get_yticks()) <= 7
    assert tick_texts(axes.get_xticklabels()) == tick_texts(axes.get_yticklabels())   # upward z2
    shown = axes.images[0].get_array()
    assert shown.shape == ((20 * 32, 20 * 24, 3) if channels == 3 else (20 * 32, 20 * 24))
    if channels == 3:
        np.testing.assert_allclose(shown[32:64, 48:72], images[1, 2].transpose(1, 2, 0))
    plt.close(figure)


def test_a_one_row_manifold_has_no_vertical_ticks():
    values = np.linspace(-1.645, 1.645, 20)
    figure = manifold_figure(np.zeros((1, 20, 28, 28)), values, None, network="vae", dataset="MNIST",
                             detail="Decoded")
    assert list(figure.axes[0].get_yticks()) == [] and figure.axes[0].get_xlabel() == "z1"
    plt.close(figure)


def test_reconstructions_name_each_column_by_its_class():
    rng = np.random.default_rng(1)
    originals, decoded = rng.uniform(size=(2, 4, 3, 20, 30))
    names = ["cat", "dog", "parrot", "hamster"]
    figure = reconstructions_figure(originals, decoded, names, network="vae", dataset="pets",
                                    detail="Test images (top) and their reconstructions")
    (axes,) = figure.axes
    assert tick_texts(axes.get_xticklabels()) == names
    assert axes.get_xticks() == pytest.approx([15, 45, 75, 105])   # each column's centre
    assert axes.get_title().splitlines()[0] == "vae on pets"
    shown = axes.images[0].get_array()
    np.testing.assert_allclose(shown[:20, 30:60], originals[1].transpose(1, 2, 0))
    np.testing.assert_allclose(shown[20:, 30:60], decoded[1].transpose(1, 2, 0))
    plt.close(figure)


def test_more_than_ten_reconstructions_come_in_bands_at_one_scale():
    rng = np.random.default_rng(2)
    originals, decoded = rng.uniform(size=(2, 14, 28, 28))
    names = [f"folder name {cls}" for cls in range(14)]
    figure = reconstructions_figure(originals, decoded, names, network="vae", dataset="things",
                                    detail="Test images\n(the first 14 of 30 classes)")
    first, second = figure.axes
    assert tick_texts(first.get_xticklabels()) == names[:10]
    assert tick_texts(second.get_xticklabels()) == names[10:]
    assert first.get_xlim() == second.get_xlim()   # the short band is not stretched
    assert first.get_title().endswith("(the first 14 of 30 classes)")
    renderer = figure.canvas.get_renderer()
    figure.canvas.draw()
    widths = [axes.get_window_extent(renderer).width for axes in (first, second)]
    assert widths[0] == pytest.approx(widths[1])
    plt.close(figure)


def test_image_figures_leave_no_wide_white_bands():
    values = np.linspace(-1.645, 1.645, 20)
    for figure in (manifold_figure(np.zeros((1, 20, 28, 28)), values, None, network="vae",
                                   dataset="MNIST", detail="Decoded"),
                   reconstructions_figure(np.zeros((3, 28, 28)), np.zeros((3, 28, 28)), ["a", "b", "c"],
                                          network="vae", dataset="MNIST", detail="Test images")):
        figure.canvas.draw()
        used = figure.get_tightbbox(figure.canvas.get_renderer())
        assert figure.get_size_inches()[1] - used.height < 0.5   # inches
        plt.close(figure)
