"""The reverse image search's figure: a query a row, its nearest gallery images beside it in order.

Under each neighbour: its rank, its distance to the query and its class. Where the query and the
neighbour both have a class, a thick frame says whether they match (green, and a tick) or not
(red, and a cross; the mark keeps it readable without colour). Images come channels first,
uint8 (C, H, W), C = 1 or 3.
"""

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from .render import plt
from .scatter import CLASS_COLOURS, short_name, wrapped_to_fit

MATCH, MISMATCH = CLASS_COLOURS[2], CLASS_COLOURS[3]   # tab10's green and red
QUERY = CLASS_COLOURS[7]                             # and its grey, for the query's own frame
CELL_INCHES = 1.25
MAX_ROWS = 50        # queries drawn; the JSON holds every one
MAX_COLUMNS = 20     # neighbours drawn per query; likewise
NAME_LENGTH = 14     # characters of a class name under a thumbnail
TITLE_POINTS = 10
TITLE_LINE_INCHES = 1.2 * TITLE_POINTS / 72   # matplotlib's line spacing
TOP_INCHES, BOTTOM_INCHES = 0.55, 0.4         # above the first row (a title of one line), below the last


def _show(axes, image, frame=None):
    image = np.asarray(image)
    if image.shape[0] == 1:
        axes.imshow(image[0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axes.imshow(image.transpose(1, 2, 0), interpolation="nearest")
    axes.set_xticks([])
    axes.set_yticks([])
    for spine in axes.spines.values():
        spine.set_visible(frame is not None)
        if frame is not None:
            spine.set_edgecolor(frame)
            spine.set_linewidth(4)


def neighbours_figure(queries, neighbours, distances, query_labels: Sequence, neighbour_labels: Sequence,
                      *, title: str, found=None) -> Figure:
    """queries (Q, C, H, W), neighbours (Q, k, C, H, W) uint8; distances (Q, k); labels: a class
    name or None per query, and per query a list of k. `found` (Q, k) bools: False draws
    'not found' over a neighbour whose file could not be read. At most MAX_ROWS rows of
    MAX_COLUMNS neighbours are drawn."""
    count, found_k = len(queries), neighbours.shape[1]
    rows, k = min(count, MAX_ROWS), min(found_k, MAX_COLUMNS)
    shown = title if rows == count else f"{title} (the first {rows} of {count} queries)"
    if k < found_k:
        shown += f"; the nearest {k} of each query's {found_k} drawn"
    width = CELL_INCHES * (k + 1) + 0.3
    figure = plt.figure(figsize=(width, CELL_INCHES * 1.25 * rows + TOP_INCHES + BOTTOM_INCHES))
    # The title is wrapped to the figure's width (a small k makes a narrow figure); each line
    # it gains makes the figure that much taller, above the first row.
    heading = figure.suptitle(shown, fontsize=TITLE_POINTS)
    _wrap_to_width(figure, heading)
    top = TOP_INCHES + heading.get_text().count("\n") * TITLE_LINE_INCHES
    height = CELL_INCHES * 1.25 * rows + top + BOTTOM_INCHES
    figure.set_size_inches(width, height)
    heading.set_y(1 - 0.12 / height)   # as far from the top however many rows there are
    grid = figure.add_gridspec(rows, k + 1, wspace=0.15, hspace=0.6, left=0.02, right=0.98,
                               bottom=BOTTOM_INCHES / height, top=1 - top / height)
    for row in range(rows):
        query_label = query_labels[row]
        axes = figure.add_subplot(grid[row, 0])
        _show(axes, queries[row], frame=QUERY)
        caption = "query" if query_label is None else f"query\n{short_name(query_label, NAME_LENGTH)}"
        axes.set_xlabel(caption, fontsize=8, fontweight="bold")
        for column in range(k):
            label = neighbour_labels[row][column]
            known = query_label is not None and label is not None
            match = known and label == query_label
            axes = figure.add_subplot(grid[row, column + 1])
            _show(axes, neighbours[row, column], frame=(MATCH if match else MISMATCH) if known else None)
            mark = ("\u2713 " if match else "\u2717 ") if known else ""
            text = f"{column + 1}: d = {distances[row][column]:.3g}"
            if label is not None:
                text += f"\n{mark}{short_name(label, NAME_LENGTH)}"
            axes.set_xlabel(text, fontsize=7, color=(MATCH if match else MISMATCH) if known else "black")
            if found is not None and not found[row][column]:
                axes.text(0.5, 0.5, "not found", ha="center", va="center", fontsize=7,
                          transform=axes.transAxes)
    return figure


def _wrap_to_width(figure, title, margin=4):
    """Wrap the figure's title until it fits the figure's width with `margin` pixels to spare on
    either side: a few neighbours make a narrow figure."""
    renderer = figure.canvas.get_renderer()
    for _ in range(6):
        width, room = title.get_window_extent(renderer).width, figure.bbox.width - 2 * margin
        if width <= room:
            return
        title.set_text(wrapped_to_fit(title.get_text(), width, room))
