import imageio.v3 as iio
import matplotlib.colors
import numpy as np
import pytest

from datasets.mnist import CLASS_NAMES
from plotting import (CLASS_COLOURS, axis_limits, embedding_figure, embedding_title, figure_to_rgb,
                      latent_space_figures, latent_space_gif, stats_figure, to_2d)
from plotting.render import plt
from training import EXPERIMENTS

LONGEST_TITLE = f"{max(EXPERIMENTS, key=len)} on FashionMNIST"


def scatter_colours(figure):
    """label -> RGBA of each class's points in the scatter."""
    axes = figure.axes[0]
    return {collection.get_label(): tuple(collection.get_facecolor()[0][:3])
            for collection in axes.collections}


def test_every_class_keeps_its_name_and_colour_even_when_absent():
    rng = np.random.default_rng(0)
    names = CLASS_NAMES["FashionMNIST"]
    labels = np.array([9, 3, 3, 0, 9])  # most classes absent: the palette must not shift
    figure = embedding_figure(rng.normal(size=(5, 2)), labels, names, "title")
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"]
    colours = scatter_colours(figure)
    for cls, name in enumerate(names):
        assert colours[name] == pytest.approx(matplotlib.colors.to_rgb(CLASS_COLOURS[cls]))
    assert len(set(CLASS_COLOURS)) == 10


def test_gif_frames_share_fixed_axes_holding_every_frame():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 10, 500)
    # The space grows and drifts from frame to frame; the camera must not follow.
    frames = [(f"epoch {epoch}", rng.normal(size=(500, 2)) * epoch + epoch) for epoch in range(1, 5)]
    limits, titles = set(), []
    for figure in latent_space_figures(frames, labels, CLASS_NAMES["MNIST"], "net on MNIST"):
        limits.add((figure.axes[0].get_xlim(), figure.axes[0].get_ylim()))
        titles.append(figure.axes[0].get_title())
    assert len(titles) == 4 and len(limits) == 1
    (x0, x1), (y0, y1) = limits.pop()
    everything = np.concatenate([points for _, points in frames])
    inside = ((everything[:, 0] >= x0) & (everything[:, 0] <= x1)
              & (everything[:, 1] >= y0) & (everything[:, 1] <= y1))
    assert inside.mean() > 0.99
    assert "epoch 3" in titles[2]


def test_gif_frames_are_one_figure_moved_and_look_as_figures_of_their_own_would():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 10, 300)
    frames = [(f"epoch {epoch}, 5-NN accuracy 0.{epoch}11", rng.normal(size=(300, 2)) * epoch)
              for epoch in range(1, 4)]
    limits = axis_limits([points for _, points in frames])
    seen = set()
    for (caption, points), figure in zip(frames, latent_space_figures(frames, labels, CLASS_NAMES["MNIST"], "t")):
        seen.add(id(figure))
        own = embedding_figure(points, labels, CLASS_NAMES["MNIST"], embedding_title("t", caption),
                               limits=limits, size=6.0)
        assert np.array_equal(figure_to_rgb(figure), figure_to_rgb(own))
        plt.close(own)
    assert len(seen) == 1   # laid out once: building a figure a frame took longer than drawing it


def test_a_gif_frame_whose_title_no_longer_fits_is_laid_out_again():
    rng = np.random.default_rng(8)
    long_caption = "epoch 2, " + "a caption far too long for one line of the frame " * 2
    frames = [("epoch 1", rng.normal(size=(100, 2))), (long_caption, rng.normal(size=(100, 2)))]
    figures = latent_space_figures(frames, rng.integers(0, 10, 100), CLASS_NAMES["MNIST"], "t")
    next(figures)
    figure = next(figures)
    assert " ".join(figure.axes[0].get_title().split()) == " ".join(f"t {long_caption}".split())
    assert figure.axes[0].get_title().count("\n") > 1   # wrapped
    assert_inside(*title_box_and_figure_box(figure, dpi=80))


def test_a_1d_embedding_is_drawn_against_the_class_a_row_each():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 10, 5000)
    values = rng.normal(size=(5000, 1))
    points, note = to_2d(values, labels)
    assert note == "1-D embedding, a row per class"
    np.testing.assert_array_equal(points[:, 0], values[:, 0])
    offsets = points[:, 1] - labels
    assert np.abs(offsets).max() <= 0.3 and offsets.std() > 0.1  # spread within its own row
    # The same jitter for the next frame of the same items: only the x positions move.
    later, _ = to_2d(values * 2, labels)
    np.testing.assert_array_equal(later[:, 1], points[:, 1])


def test_gif_of_higher_dimensions_says_it_is_a_projection():
    rng = np.random.default_rng(2)
    frames = [("epoch 1", rng.normal(size=(50, 6)))]
    (figure,) = latent_space_figures(frames, rng.integers(0, 10, 50), CLASS_NAMES["MNIST"], "t")
    assert "PCA projection of 6-D embedding" in figure.axes[0].get_title()


def title_box_and_figure_box(figure, dpi):
    """The title's drawn extent and the figure's, in pixels at `dpi` (as the files are written)."""
    figure.set_dpi(dpi)
    figure.canvas.draw()
    box = figure.axes[0].title.get_window_extent(figure.canvas.get_renderer())
    plt.close(figure)
    return box, figure.bbox


def assert_inside(box, bounds):
    assert bounds.x0 <= box.x0 and box.x1 <= bounds.x1, (box, bounds)
    assert bounds.y0 <= box.y0 and box.y1 <= bounds.y1, (box, bounds)


def test_the_longest_scatter_title_fits_unwrapped_inside_the_figure():
    rng = np.random.default_rng(4)
    title = embedding_title(LONGEST_TITLE, "Testing set, epoch 100, 5-NN accuracy 0.883",
                            "PCA projection of 128-D embedding")
    figure = embedding_figure(rng.normal(size=(200, 2)), rng.integers(0, 10, 200),
                              CLASS_NAMES["FashionMNIST"], title)
    assert figure.axes[0].get_title() == title  # short lines: nothing needed wrapping
    assert_inside(*title_box_and_figure_box(figure, dpi=100))


def test_the_longest_gif_frame_title_fits_inside_the_frame():
    rng = np.random.default_rng(5)
    frames = [("epoch 100, batch 1200", rng.normal(size=(200, 64)))]
    (figure,) = latent_space_figures(frames, rng.integers(0, 10, 200), CLASS_NAMES["FashionMNIST"],
                                     LONGEST_TITLE)
    assert figure.axes[0].get_title().splitlines() == [
        LONGEST_TITLE, "epoch 100, batch 1200", "(PCA projection of 64-D embedding)"]
    assert_inside(*title_box_and_figure_box(figure, dpi=80))


def test_a_title_line_too_wide_for_the_figure_is_wrapped_not_cut_off():
    rng = np.random.default_rng(6)
    title = (f"Testing set: {LONGEST_TITLE}, epoch 10, 5-NN accuracy 0.883, and a tail of words "
             f"long enough to need three lines\n(PCA projection of 128-D embedding)")
    for size, dpi in ((7.0, 100), (6.0, 80), (3.0, 100)):
        figure = embedding_figure(rng.normal(size=(50, 2)), rng.integers(0, 10, 50),
                                  CLASS_NAMES["FashionMNIST"], title, size=size)
        assert " ".join(figure.axes[0].get_title().split()) == " ".join(title.split())
        assert_inside(*title_box_and_figure_box(figure, dpi))


def test_ten_frames_of_a_full_test_set_make_a_small_gif():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 10, 10_000)
    centres = rng.normal(size=(10, 2)) * 5
    frames = [(f"epoch {epoch}", centres[labels] * epoch / 10 + rng.normal(size=(10_000, 2)))
              for epoch in range(1, 11)]
    gif = latent_space_gif(frames, labels, CLASS_NAMES["MNIST"], "net on MNIST")
    assert len(gif) < 5 * 1024 * 1024
    assert iio.imread(gif, index=None, extension=".gif").shape[0] == 10


def test_the_legend_lies_beside_the_points_not_on_them():
    rng = np.random.default_rng(5)
    figure = embedding_figure(rng.normal(size=(500, 2)), rng.integers(0, 10, 500),
                              CLASS_NAMES["FashionMNIST"], "net on FashionMNIST")
    renderer = figure.canvas.get_renderer()
    legend = figure.axes[0].get_legend().get_window_extent(renderer)
    axes = figure.axes[0].get_window_extent(renderer)
    assert legend.x0 > axes.x1                        # right of the axes, not over them
    assert legend.x1 <= figure.bbox.x1                # and inside the figure
    plt.close(figure)


def test_every_gif_frame_keeps_every_class_colour():
    # A small class among crowded, overlapping ones (as FashionMNIST's pullovers among coats
    # and shirts): an encoder's own adaptive palette drew its colour grey. The legend's markers
    # are opaque, so each class's exact colour is in every frame; the rest stays close.
    rng = np.random.default_rng(4)
    labels = np.concatenate([np.repeat([0, 1, 3, 4, 5, 6, 7, 8, 9], 1000), np.full(40, 2)])
    frames = [(f"epoch {epoch}", rng.normal(size=(len(labels), 2)) + labels[:, None] * 0.05 * epoch)
              for epoch in (1, 2)]
    gif = latent_space_gif(frames, labels, CLASS_NAMES["FashionMNIST"], "net on FashionMNIST")
    drawn = iio.imread(gif, index=None, extension=".gif")[..., :3].astype(int)
    rendered = np.stack([figure_to_rgb(figure) for figure in
                         latent_space_figures(frames, labels, CLASS_NAMES["FashionMNIST"],
                                              "net on FashionMNIST")]).astype(int)
    colours = np.round(np.array([matplotlib.colors.to_rgb(colour) for colour in CLASS_COLOURS]) * 255).astype(int)
    for frame in drawn:
        for colour in colours:
            assert (frame == colour).all(axis=2).any(), colour
    assert np.abs(drawn - rendered).mean() < 2


def test_stats_figure_has_loss_and_metric_panels_over_epochs():
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "knn_accuracy": 0.5 + e / 10,
                "silhouette": -0.2 + e / 10} for e in (1, 2, 3)]
    figure = stats_figure(history, "net on MNIST", {"knn_accuracy": "5-NN accuracy", "silhouette": "silhouette"})
    loss_axes, metric_axes = figure.axes
    assert [line.get_label() for line in loss_axes.get_lines()] == ["training", "validation"]
    assert [line.get_label() for line in metric_axes.get_lines()][:2] == ["5-NN accuracy", "silhouette"]
    assert list(metric_axes.get_lines()[1].get_xdata()) == [1, 2, 3]
    assert metric_axes.get_ylim()[0] < -0.1  # room for a negative silhouette
