"""Scatter plots of a latent space: one fixed colour per class, class names in the legend."""

import textwrap

import matplotlib.pyplot as plt
import numpy as np

# One palette for every figure, so that a class keeps its colour across plots and runs.
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
ROW_JITTER = 0.3  # a 1-D embedding's class rows are 1 apart: each spreads over +-0.3 of its own


def to_2d(points, labels):
    """(N, D) embeddings of items labelled `labels` -> (N, 2) points to draw, and a note on how
    they were obtained.

    Two dimensions are drawn as they are. One is drawn against the class, each class on its own
    row, spread by a small fixed jitter (the same for every call with N points, so that a GIF's
    frames do not flicker): on a single line the classes would hide one another. More are
    projected on their first two principal components (signs fixed so the projection does not
    flip).
    """
    points = np.asarray(points, dtype=np.float64)
    dims = points.shape[1]
    if dims == 2:
        return points, None
    if dims == 1:
        jitter = np.random.default_rng(0).uniform(-ROW_JITTER, ROW_JITTER, len(points))
        rows = np.asarray(labels, dtype=np.float64) + jitter
        return np.column_stack([points[:, 0], rows]), "1-D embedding, a row per class"
    centred = points - points.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    components = components[:2]
    components *= np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])[:, None]
    return centred @ components.T, f"PCA projection of {dims}-D embedding"


def axis_limits(point_sets, pad=0.05):
    """Limits ((x0, x1), (y0, y1)) that hold nearly all points of every set (robust to strays)."""
    stacked = np.concatenate(point_sets)
    low, high = np.quantile(stacked, [0.001, 0.999], axis=0)
    span = np.maximum(high - low, 1e-6)
    return tuple((lo - pad * s, hi + pad * s) for lo, hi, s in zip(low, high, span))


def embedding_title(subject, detail, projection=None):
    """A scatter's title on short lines: what was trained on what ('net on MNIST'); the split,
    epoch and score; how the points were drawn (see to_2d), if not as they are."""
    return "\n".join([subject, detail] + ([f"({projection})"] if projection else []))


def embedding_figure(points, labels, class_names, title, limits=None, size=7.0):
    """A scatter of 2-D `points` coloured by `labels`; returns the matplotlib figure.

    A title line too wide for the figure is wrapped, so that no title is ever cut off."""
    figure, axes = plt.subplots(figsize=(size * 1.25, size))  # the legend takes the extra width
    labels = np.asarray(labels)
    marker_size = 4 if len(points) > 20000 else 6
    for cls, name in enumerate(class_names):
        chosen = labels == cls
        axes.scatter(points[chosen, 0], points[chosen, 1], s=marker_size, alpha=0.5,
                     linewidths=0, color=CLASS_COLOURS[cls % len(CLASS_COLOURS)], label=name,
                     rasterized=True)
    if limits is not None:
        axes.set_xlim(*limits[0])
        axes.set_ylim(*limits[1])
    title = axes.set_title(title)
    # Beside the axes, not on them: inside, it hid the points of whichever classes lay in its
    # corner (a third of FashionMNIST's pullovers in one run).
    legend = axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                         markerscale=12 / marker_size, fontsize="small", frameon=False)
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    _fit_title(figure, axes, title)
    return figure


def move_points(figure, points, labels, title):
    """Give a figure made by embedding_figure (with the same labels) new points and a new title.

    The layout is kept, and redone only when the new title does not fit it: laying a figure out
    takes longer than drawing it, so a GIF's frames are one figure, moved."""
    axes = figure.axes[0]
    labels = np.asarray(labels)
    for cls, collection in enumerate(axes.collections):
        collection.set_offsets(points[labels == cls])
    lines = axes.get_title().count("\n")
    axes.set_title(title)
    width, room = _title_width_and_room(figure, axes, axes.title)
    if title.count("\n") != lines or width > room:
        _fit_title(figure, axes, axes.title)
    return figure


def _title_width_and_room(figure, axes, title, margin=4):
    """The title's width and the most it may have, in pixels: centred on the axes, it must lie
    inside the figure with `margin` pixels to spare on either side."""
    renderer = figure.canvas.get_renderer()
    width = title.get_window_extent(renderer).width
    axes_box = axes.get_window_extent(renderer)
    centre = (axes_box.x0 + axes_box.x1) / 2
    room = 2 * (min(centre - figure.bbox.x0, figure.bbox.x1 - centre) - margin)
    return width, room


def _fit_title(figure, axes, title):
    """Lay the figure out, wrapping the title's lines until it fits (_title_width_and_room)."""
    for _ in range(6):
        figure.tight_layout()
        width, room = _title_width_and_room(figure, axes, title)
        if width <= room:
            return
        lines = title.get_text().splitlines()
        columns = max(8, int(max(map(len, lines)) * room / width) - 1)
        title.set_text("\n".join(textwrap.fill(line, columns, break_on_hyphens=False) for line in lines))
    figure.tight_layout()
