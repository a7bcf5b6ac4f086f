"""plotting/grid.py: search.py's picture of queries and their neighbours."""

import numpy as np
import pytest
from figure_checks import assert_inside

from plotting.grid import MAX_COLUMNS, neighbours_figure
from plotting.render import plt


def test_many_neighbours_are_drawn_up_to_a_readable_width_and_the_title_says_so():
    queries = np.zeros((2, 1, 8, 8), dtype=np.uint8)
    k = MAX_COLUMNS + 10
    neighbours = np.zeros((2, k, 1, 8, 8), dtype=np.uint8)
    distances = np.tile(np.arange(k, dtype=float), (2, 1))
    figure = neighbours_figure(queries, neighbours, distances, ["a", None], [["a"] * k, ["b"] * k], title="t")
    assert len(figure.axes) == 2 * (1 + MAX_COLUMNS)
    assert f"the nearest {MAX_COLUMNS} of each query's {k} drawn" in figure._suptitle.get_text()
    labels = [axes.get_xlabel() for axes in figure.axes]
    assert labels[1].startswith("1: d = 0") and "\u2713 a" in labels[1]      # a match, framed as one
    assert labels[MAX_COLUMNS + 2].startswith("1: d = 0") and "\u2713" not in labels[MAX_COLUMNS + 2]


@pytest.mark.parametrize("k, rows", [(1, 1), (3, 2), (3, 20)])
def test_the_whole_title_shows_above_the_first_row_at_any_size(k, rows):
    """A narrow figure (a small -k) wraps its title onto lines that fit; a tall one (many
    queries) keeps it above the first row of images."""
    title = "online-triplet (digits): the 1 nearest of 90 gallery images, precision@1 1.000"
    figure = neighbours_figure(np.zeros((rows, 1, 8, 8), dtype=np.uint8),
                               np.zeros((rows, k, 1, 8, 8), dtype=np.uint8), np.ones((rows, k)),
                               [None] * rows, [[None] * k] * rows, title=title)
    figure.set_dpi(100)   # as search.py writes it
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    box = figure._suptitle.get_window_extent(renderer)
    assert_inside(box, figure.bbox)
    assert box.y0 > max(axes.get_window_extent(renderer).y1 for axes in figure.axes)
    assert " ".join(figure._suptitle.get_text().split()) == title   # wrapped, not cut
    plt.close(figure)
