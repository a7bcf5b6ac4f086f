"""The GIF of a latent space forming: fixed axes, frame timing and size, exact class colours."""

import io

import imageio.v3 as iio
import matplotlib.colors
import numpy as np
from PIL import Image

from datasets.mnist import CLASS_NAMES
from figure_checks import LONGEST_NETWORK, LONGEST_TITLE, assert_inside, title_box_and_figure_box
from plotting import (axis_limits, class_colours, embedding_figure, figure_title, figure_to_rgb,
                      knn_caption, latent_space_gif)
from plotting.animation import FRAME_DPI, animation_figures
from plotting.render import plt

NAMES = {"network": "online-triplet", "dataset": "MNIST"}


def durations(gif):
    """Each frame's duration in milliseconds, as a GIF viewer reads them."""
    image = Image.open(io.BytesIO(gif))
    return [(image.seek(frame), image.info["duration"])[1] for frame in range(image.n_frames)]


def rgb_frames(gif):
    return iio.imread(gif, index=None, extension=".gif")[..., :3].astype(int)


def test_gif_frames_share_fixed_axes_holding_every_frame():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 500)
    # The space grows and drifts from frame to frame; the camera must not follow.
    frames = [(f"epoch {epoch}", rng.normal(size=(500, 2)) * epoch + epoch) for epoch in range(1, 5)]
    limits, titles = set(), []
    for figure in animation_figures(frames, labels, CLASS_NAMES["MNIST"], **NAMES):
        limits.add((figure.axes[0].get_xlim(), figure.axes[0].get_ylim()))
        titles.append(figure.axes[0].get_title())
    assert len(titles) == 4 and len(limits) == 1
    (x0, x1), (y0, y1) = limits.pop()
    everything = np.concatenate([points for _, points in frames])
    inside = ((everything[:, 0] >= x0) & (everything[:, 0] <= x1)
              & (everything[:, 1] >= y0) & (everything[:, 1] <= y1))
    assert inside.mean() > 0.99
    assert titles[2] == "online-triplet on MNIST\nepoch 3"


def test_gif_frames_are_one_figure_moved_and_look_as_figures_of_their_own_would():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 10, 300)
    frames = [(knn_caption(epoch, epoch / 10), rng.normal(size=(300, 2)) * epoch)
              for epoch in range(1, 4)]
    limits = axis_limits([points for _, points in frames])
    seen = set()
    figures = animation_figures(frames, labels, CLASS_NAMES["MNIST"], **NAMES)
    for (caption, points), figure in zip(frames, figures):
        seen.add(id(figure))
        own = embedding_figure(points, labels, CLASS_NAMES["MNIST"],
                               figure_title("online-triplet", "MNIST", caption), limits=limits,
                               size=6.0, dims=2, legend_size="medium")
        assert np.array_equal(figure_to_rgb(figure), figure_to_rgb(own))
        plt.close(own)
    assert len(seen) == 1   # laid out once: building a figure a frame took longer than drawing it


def test_the_frames_of_more_than_twenty_classes_move_every_group_of_points():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 25, 400)
    frames = [("epoch 1", rng.normal(size=(400, 2))), ("epoch 2", rng.normal(size=(400, 2)))]
    figures = animation_figures(frames, labels, [str(c) for c in range(25)], **NAMES)
    for (_, points), figure in zip(frames, figures):
        groups = figure.axes[0].collections
        np.testing.assert_array_equal(groups[3].get_offsets(), points[labels == 3])
        np.testing.assert_array_equal(groups[-1].get_offsets(), points[labels >= 20])


def test_a_gif_frame_whose_title_no_longer_fits_is_laid_out_again():
    rng = np.random.default_rng(8)
    long_caption = "epoch 2, " + "a caption far too long for one line of the frame " * 2
    frames = [("epoch 1", rng.normal(size=(100, 2))), (long_caption, rng.normal(size=(100, 2)))]
    figures = animation_figures(frames, rng.integers(0, 10, 100), CLASS_NAMES["MNIST"], network="t",
                                dataset="d")
    next(figures)
    figure = next(figures)
    assert " ".join(figure.axes[0].get_title().split()) == " ".join(f"t on d {long_caption}".split())
    assert figure.axes[0].get_title().count("\n") > 1   # wrapped
    assert_inside(*title_box_and_figure_box(figure, dpi=FRAME_DPI))


def test_gif_of_higher_dimensions_says_it_is_a_projection_and_labels_its_axes():
    rng = np.random.default_rng(2)
    frames = [("epoch 1", rng.normal(size=(50, 6)))]
    (figure,) = animation_figures(frames, rng.integers(0, 10, 50), CLASS_NAMES["MNIST"], **NAMES)
    assert "(PCA projection of 6-D embedding)" in figure.axes[0].get_title()
    assert (figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()) == ("PC1", "PC2")
    plt.close(figure)


def test_a_1d_gif_shows_every_class_row_however_few_its_points():
    rng = np.random.default_rng(2)
    labels = np.concatenate([np.zeros(5000, dtype=int), [9]])   # class 9: one point of 5001
    frames = [("epoch 1", rng.normal(size=(5001, 1)))]
    (figure,) = animation_figures(frames, labels, CLASS_NAMES["MNIST"], **NAMES)
    low, high = figure.axes[0].get_ylim()
    assert low <= -0.3 and high >= 9.3
    assert figure.axes[0].get_ylabel() == "class"
    plt.close(figure)


def test_the_longest_gif_frame_title_fits_inside_the_frame():
    rng = np.random.default_rng(5)
    frames = [("epoch 100, batch 1200", rng.normal(size=(200, 64)))]
    (figure,) = animation_figures(frames, rng.integers(0, 10, 200), CLASS_NAMES["FashionMNIST"],
                                  network=LONGEST_NETWORK, dataset="FashionMNIST")
    assert figure.axes[0].get_title().splitlines() == [
        LONGEST_TITLE, "epoch 100, batch 1200", "(PCA projection of 64-D embedding)"]
    assert_inside(*title_box_and_figure_box(figure, dpi=FRAME_DPI))


def test_the_last_frame_holds_before_the_gif_loops():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 10, 100)
    frames = [(f"epoch {epoch}", rng.normal(size=(100, 2)) * epoch) for epoch in range(1, 5)]
    gif = latent_space_gif(frames, labels, CLASS_NAMES["MNIST"], **NAMES)
    assert durations(gif) == [500, 500, 500, 3000]
    assert Image.open(io.BytesIO(gif)).info["loop"] == 0   # forever
    gif = latent_space_gif(frames[:2], labels, CLASS_NAMES["MNIST"], **NAMES, seconds_per_frame=0.2,
                           last_frame_seconds=1.5)
    assert durations(gif) == [200, 1500]


def test_a_gif_of_one_frame_holds_exactly_that_frame():
    # One epoch with a frame per epoch: the caller, which knows len(frames) == 1, says so.
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 10, 100)
    frames = [("epoch 1", rng.normal(size=(100, 2)))]
    gif = latent_space_gif(frames, labels, CLASS_NAMES["MNIST"], **NAMES)
    assert len(rgb_frames(gif)) == 1
    assert durations(gif) == [3000]


def test_a_gif_frame_is_large_enough_to_read_its_legend():
    rng = np.random.default_rng(6)
    names = [f"class {cls}" for cls in range(20)]
    labels = rng.integers(0, 20, 200)
    frames = [("epoch 1", rng.normal(size=(200, 2)))]
    (frame,) = rgb_frames(latent_space_gif(frames, labels, names, **NAMES))
    assert frame.shape[:2] == (600, 750)
    (figure,) = animation_figures(frames, labels, names, **NAMES)
    assert figure_to_rgb(figure, dpi=FRAME_DPI).shape == frame.shape   # the frame is this figure
    renderer = figure.canvas.get_renderer()
    legend = figure.axes[0].get_legend()
    heights = [text.get_window_extent(renderer).height for text in legend.get_texts()]
    assert len(heights) == 20 and min(heights) >= 12   # pixels: a 10-point font at 100 dpi
    box = legend.get_window_extent(renderer)
    assert box.y0 >= 0 and box.y1 <= figure.bbox.y1    # all 20 names inside the frame
    plt.close(figure)


def test_ten_frames_of_a_full_test_set_make_a_small_gif():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, 10_000)
    centres = rng.normal(size=(10, 2)) * 5
    frames = [(f"epoch {epoch}", centres[labels] * epoch / 10 + rng.normal(size=(10_000, 2)))
              for epoch in range(1, 11)]
    gif = latent_space_gif(frames, labels, CLASS_NAMES["MNIST"], **NAMES)
    assert len(gif) < 5 * 1024 * 1024
    assert rgb_frames(gif).shape[0] == 10


def assert_every_frame_keeps_every_class_colour(labels, class_names, frames):
    gif = latent_space_gif(frames, labels, class_names, **NAMES)
    drawn = rgb_frames(gif)
    rendered = np.stack([figure_to_rgb(figure, dpi=FRAME_DPI) for figure in
                         animation_figures(frames, labels, class_names, **NAMES)]).astype(int)
    # The legend's markers are opaque, so each class's exact colour is in every frame.
    colours = np.round(np.array([matplotlib.colors.to_rgb(colour)
                                 for colour in set(class_colours(len(class_names)))]) * 255).astype(int)
    for frame in drawn:
        for colour in colours:
            assert (frame == colour).all(axis=2).any(), colour
    assert np.abs(drawn - rendered).mean() < 2


def test_every_gif_frame_keeps_every_class_colour():
    # A small class among crowded, overlapping ones (as FashionMNIST's pullovers among coats
    # and shirts): an encoder's own adaptive palette drew its colour grey.
    rng = np.random.default_rng(4)
    labels = np.concatenate([np.repeat([0, 1, 3, 4, 5, 6, 7, 8, 9], 1000), np.full(40, 2)])
    frames = [(f"epoch {epoch}", rng.normal(size=(len(labels), 2)) + labels[:, None] * 0.05 * epoch)
              for epoch in (1, 2)]
    assert_every_frame_keeps_every_class_colour(labels, CLASS_NAMES["FashionMNIST"], frames)


def test_past_ten_classes_every_gif_frame_still_keeps_every_class_colour():
    rng = np.random.default_rng(5)
    for count in (15, 26):   # distinct colours; then the first 20 and grey
        labels = np.concatenate([rng.integers(0, count - 1, 4000), np.full(30, count - 1)])
        frames = [(f"epoch {epoch}", rng.normal(size=(len(labels), 2)) + labels[:, None] * 0.03 * epoch)
                  for epoch in (1, 2)]
        names = [f"class {c}" for c in range(count)]
        assert_every_frame_keeps_every_class_colour(labels, names, frames)
