"""The scatter of a latent space: titles, axis labels, class colours and legends."""

import matplotlib.colors
import numpy as np
import pytest

from datasets.mnist import CLASS_NAMES
from figure_checks import (LONGEST_NETWORK, LONGEST_TITLE, assert_inside, closest_pair,
                           title_box_and_figure_box)
from plotting import (CLASS_COLOURS, MORE_CLASS_COLOURS, OTHER_COLOUR, class_colours, embedding_figure,
                      figure_title, knn_caption, latent_space_figure, to_2d)
from plotting.render import plt


def scatter_colours(figure):
    """label -> RGB of each group of points in the scatter."""
    return {collection.get_label(): tuple(collection.get_facecolor()[0][:3])
            for collection in figure.axes[0].collections}


def legend_texts(figure):
    return [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def blobs(count, classes, dims, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, count)
    return rng.normal(size=(classes, dims))[labels] * 4 + rng.normal(size=(count, dims)), labels


def test_every_class_keeps_its_name_and_colour_even_when_absent():
    rng = np.random.default_rng(0)
    names = CLASS_NAMES["FashionMNIST"]
    labels = np.array([9, 3, 3, 0, 9])  # most classes absent: the palette must not shift
    figure = embedding_figure(rng.normal(size=(5, 2)), labels, names, "title")
    assert legend_texts(figure) == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                    "Shirt", "Sneaker", "Bag", "Ankle boot"]
    colours = scatter_colours(figure)
    for cls, name in enumerate(names):
        assert colours[name] == pytest.approx(matplotlib.colors.to_rgb(CLASS_COLOURS[cls]))
    assert len(set(CLASS_COLOURS)) == 10
    assert figure.axes[0].get_legend().get_title().get_text() == ""   # every class shown
    plt.close(figure)


@pytest.mark.parametrize("dims,labels", [(2, ("z1", "z2")), (6, ("PC1", "PC2")), (1, ("z1", "class"))])
def test_axes_say_what_they_show(dims, labels):
    embedding, classes = blobs(300, 10, dims)
    figure = latent_space_figure(embedding, classes, CLASS_NAMES["MNIST"], network="vae",
                                 dataset="MNIST", split="test", caption="epoch 1")
    axes = figure.axes[0]
    assert (axes.get_xlabel(), axes.get_ylabel()) == labels
    if dims == 1:   # each class's row is named
        assert [tick.get_text() for tick in axes.get_yticklabels()] == CLASS_NAMES["MNIST"]
        assert list(axes.get_yticks()) == list(range(10))
    plt.close(figure)


def test_a_split_figure_is_titled_by_its_pieces_with_the_test_set_accuracy():
    embedding, classes = blobs(200, 10, 5)
    caption = knn_caption(12, 0.98749)
    assert caption == "epoch 12, test-set 5-NN accuracy 0.987"
    figure = latent_space_figure(embedding, classes, CLASS_NAMES["MNIST"],
                                 network="siamese-contrastive", dataset="MNIST", split="training",
                                 caption=caption)
    assert figure.axes[0].get_title().splitlines() == [
        "siamese-contrastive on MNIST", "Training set, epoch 12, test-set 5-NN accuracy 0.987",
        "(PCA projection of 5-D embedding)"]
    plt.close(figure)


def test_figure_title_joins_the_pieces_and_skips_missing_details():
    assert figure_title("vae", "pets") == "vae on pets"
    assert figure_title("vae", "pets", "epoch 2", None, "(note)") == "vae on pets\nepoch 2\n(note)"
    assert knn_caption(3, 0.5, k=7) == "epoch 3, test-set 7-NN accuracy 0.500"


def test_up_to_ten_classes_keep_the_ten_colours_exactly():
    for count in (1, 2, 10):
        assert class_colours(count) == CLASS_COLOURS[:count]


def test_eleven_to_twenty_classes_get_distinct_colours_as_apart_as_the_first_ten():
    assert class_colours(20) == CLASS_COLOURS + MORE_CLASS_COLOURS
    assert class_colours(13) == CLASS_COLOURS + MORE_CLASS_COLOURS[:3]
    assert len(set(class_colours(20))) == 20
    # As a reader sees them, opaque in the legend and half-transparent in the scatter, the
    # closest two of the 20 are nearly as far apart as the closest two of the first 10 (tab20,
    # whose pairs share a hue, reaches only 0.6 and 0.69 of it).
    for alpha in (1.0, 0.5):
        assert closest_pair(class_colours(20), alpha) >= 0.85 * closest_pair(CLASS_COLOURS, alpha)
        with_grey = class_colours(20) + [OTHER_COLOUR]
        assert closest_pair(with_grey, alpha) >= 0.85 * closest_pair(CLASS_COLOURS, alpha)
    embedding, labels = blobs(400, 15, 2)
    names = [f"class {cls}" for cls in range(15)]
    figure = embedding_figure(embedding, labels, names, "t")
    colours = scatter_colours(figure)
    assert legend_texts(figure) == names
    assert len(set(colours.values())) == 15
    assert colours["class 12"] == pytest.approx(matplotlib.colors.to_rgb(MORE_CLASS_COLOURS[2]))
    plt.close(figure)


def test_past_twenty_classes_the_legend_says_which_it_shows_and_the_rest_are_grey():
    embedding, labels = blobs(3000, 37, 2)
    names = [f"breed {cls:02d}" for cls in range(37)]
    figure = embedding_figure(embedding, labels, names, "t")
    legend = figure.axes[0].get_legend()
    assert legend.get_title().get_text() == "first 20 of 37 classes"
    assert legend_texts(figure) == names[:20] + ["the other 17 classes"]
    groups = figure.axes[0].collections
    assert [len(group.get_offsets()) for group in groups] == (
        [int((labels == cls).sum()) for cls in range(20)] + [int((labels >= 20).sum())])
    grey = matplotlib.colors.to_rgb(OTHER_COLOUR)
    assert scatter_colours(figure)["the other 17 classes"] == pytest.approx(grey)
    assert groups[-1].get_zorder() < min(group.get_zorder() for group in groups[:-1])   # beneath
    assert len(set(scatter_colours(figure).values())) == 21
    plt.close(figure)


def test_a_long_class_name_is_cut_in_the_legend():
    names = ["n02085620-Chihuahua-with-a-very-long-folder-name", "cat"]
    figure = embedding_figure(np.zeros((2, 2)), np.array([0, 1]), names, "t")
    assert legend_texts(figure) == ["n02085620-Chihuahua-with-a-…", "cat"]
    assert len(legend_texts(figure)[0]) == 28
    plt.close(figure)


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


def test_the_longest_scatter_title_fits_unwrapped_inside_the_figure():
    embedding, labels = blobs(200, 10, 128, seed=4)
    figure = latent_space_figure(embedding, labels, CLASS_NAMES["FashionMNIST"],
                                 network=LONGEST_NETWORK, dataset="FashionMNIST", split="test",
                                 caption=knn_caption(100, 0.883))
    assert figure.axes[0].get_title().splitlines() == [
        LONGEST_TITLE, "Test set, epoch 100, test-set 5-NN accuracy 0.883",
        "(PCA projection of 128-D embedding)"]   # short lines: nothing needed wrapping
    assert_inside(*title_box_and_figure_box(figure, dpi=100))


def test_a_title_line_too_wide_for_the_figure_is_wrapped_not_cut_off():
    rng = np.random.default_rng(6)
    title = (f"Testing set: {LONGEST_TITLE}, epoch 10, 5-NN accuracy 0.883, and a tail of words "
             f"long enough to need three lines\n(PCA projection of 128-D embedding)")
    for size, dpi in ((7.0, 100), (6.0, 80), (3.0, 100)):
        figure = embedding_figure(rng.normal(size=(50, 2)), rng.integers(0, 10, 50),
                                  CLASS_NAMES["FashionMNIST"], title, size=size)
        assert " ".join(figure.axes[0].get_title().split()) == " ".join(title.split())
        assert_inside(*title_box_and_figure_box(figure, dpi))


def test_the_legend_lies_beside_the_points_not_on_them():
    for count in (10, 37):   # also with a legend title and 21 entries
        embedding, labels = blobs(500, count, 2, seed=5)
        names = [f"class number {cls}" for cls in range(count)]
        figure = embedding_figure(embedding, labels, names, "t")
        renderer = figure.canvas.get_renderer()
        legend = figure.axes[0].get_legend().get_window_extent(renderer)
        axes = figure.axes[0].get_window_extent(renderer)
        assert legend.x0 > axes.x1                        # right of the axes, not over them
        assert legend.x1 <= figure.bbox.x1                # and inside the figure
        assert legend.y0 >= figure.bbox.y0 and legend.y1 <= figure.bbox.y1
        plt.close(figure)


def drawn_style(figure):
    """{(area, alpha)} of every group of points in a scatter, and the legend's marker areas."""
    axes = figure.axes[0]
    styles = {(float(collection.get_sizes()[0]), collection.get_alpha()) for collection in axes.collections}
    legend = {float(handle.get_sizes()[0]) for handle in axes.get_legend().legend_handles}
    return styles, legend


@pytest.mark.parametrize("dims", [2, 1])
def test_markers_grow_and_darken_for_few_points_and_stay_mnists_for_many(dims):
    names = [str(digit) for digit in range(10)]
    sizes = {}
    for count in (9, 33, 1000, 10_000, 60_000):
        points, labels = blobs(count, 10, dims)
        figure = latent_space_figure(points, labels, names, network="n", dataset="d", split="test",
                                     caption="c")
        (style,), legend = drawn_style(figure)   # one size and alpha for every class
        sizes[count] = style, legend
        plt.close(figure)
    # MNIST's test set (10,000 points) and training set (60,000) keep the markers they were drawn with.
    assert sizes[10_000] == ((6.0, 0.5), {24.0})
    assert sizes[60_000] == ((4.0, 0.5), {36.0})
    # 1,000 points: 6 sqrt(10) points squared, alpha 0.5 + 0.25 * log10(10) / 2 to the nearest eighth.
    assert sizes[1000][0] == (pytest.approx(6 * 10 ** 0.5), 0.625)
    # A small folder's splits: large, nearly opaque dots, the legend's markers as large.
    assert sizes[9] == sizes[33] == ((80.0, 0.75), {80.0})
