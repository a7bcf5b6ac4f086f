"""plotting/grid.py: search.py's picture of queries and their neighbours."""

import numpy as np

from plotting.grid import MAX_COLUMNS, neighbours_figure


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
