"""Scatter plots of a latent space: one fixed colour per class, class names in the legend.

Colours: up to 10 classes get CLASS_COLOURS (matplotlib's tab10), so that a class keeps its
colour across plots and runs; 11 to 20 classes get those and MORE_CLASS_COLOURS. Past 20
classes no palette keeps every class apart, so the first 20 classes (in class order, the
same in every figure of a run) keep their colours and the others are drawn in light grey,
beneath them; the legend's title says so ("first 20 of 37 classes") and its last entry names
the grey ("the other 17 classes").
"""

import math
import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

# One palette for every figure, so that a class keeps its colour across plots and runs.
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
# The 11th to 20th classes' colours: from matplotlib's qualitative maps, each chosen in turn
# to lie farthest (CIELAB) from those before it, as drawn (half-transparent on white) and
# in the legend (opaque), among colours neither too light to see nor near black.
MORE_CLASS_COLOURS = ["#f0027f", "#8ca252", "#fc8d62", "#1b9e77", "#a6761d",
                      "#393b79", "#80b1d3", "#e6ab02", "#7b4173", "#00441b"]
MAX_SHOWN_CLASSES = len(CLASS_COLOURS) + len(MORE_CLASS_COLOURS)
OTHER_COLOUR = "#c8c8c8"   # classes past MAX_SHOWN_CLASSES: lighter than tab10's grey
LONGEST_NAME = 28          # characters of a class name in a legend; longer ones end in '…'
ROW_JITTER = 0.3  # a 1-D embedding's class rows are 1 apart: each spreads over +-0.3 of its own
# Markers: sized and shaded for MNIST's 10,000 test points (its README figures), smaller past
# 20,000; a figure of fewer points gets larger, more opaque ones (marker_style).
DENSE_POINTS = 10_000
DENSE_MARKER, CROWDED_MARKER, CROWDED_POINTS = 6.0, 4.0, 20_000   # areas in points squared
LARGEST_MARKER = 80.0   # about 9 points across: a dot that a figure of a dozen points shows
DENSE_ALPHA, SPARSE_ALPHA = 0.5, 0.75
LEGEND_MARKER = 24.0    # the legend's marker area at DENSE_MARKER, kept for larger markers


def class_colours(count: int) -> list[str]:
    """The colour of each of `count` classes (see the module's docstring)."""
    palette = CLASS_COLOURS if count <= len(CLASS_COLOURS) else CLASS_COLOURS + MORE_CLASS_COLOURS
    return [palette[cls] if cls < len(palette) else OTHER_COLOUR for cls in range(count)]


def marker_style(count: int) -> tuple[float, float]:
    """(area in points squared, alpha) of the markers of a scatter of `count` points.

    From DENSE_POINTS on they are MNIST's: small and half-transparent, so that a class's
    thousands of points show where they pile up. Fewer points get larger markers, their area
    growing as 1 / sqrt(count) up to LARGEST_MARKER, and more opaque ones, alpha growing with
    log(DENSE_POINTS / count) in eighths (the tints a GIF's palette holds) up to SPARSE_ALPHA
    at 100 points: 9 points drawn as MNIST's 1-2 pixel, pale dots can hardly be seen."""
    if count > CROWDED_POINTS:
        return CROWDED_MARKER, DENSE_ALPHA
    if count >= DENSE_POINTS:
        return DENSE_MARKER, DENSE_ALPHA
    sparseness = DENSE_POINTS / max(count, 1)
    area = min(LARGEST_MARKER, DENSE_MARKER * math.sqrt(sparseness))
    opacity = min(1.0, math.log10(sparseness) / 2)   # 0 at DENSE_POINTS, 1 at 100 points
    alpha = DENSE_ALPHA + round(8 * (SPARSE_ALPHA - DENSE_ALPHA) * opacity) / 8
    return area, alpha


def short_name(name: str, longest: int = LONGEST_NAME) -> str:
    """A class name cut to `longest` characters, its end replaced by '…' when cut."""
    return name if len(name) <= longest else name[:longest - 1] + "…"


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


def axis_labels(dims: int) -> tuple[str, str]:
    """The axis labels of an embedding of `dims` dimensions as to_2d draws it."""
    return {1: ("z1", "class"), 2: ("z1", "z2")}.get(dims, ("PC1", "PC2"))


def axis_limits(point_sets, pad=0.05):
    """Limits ((x0, x1), (y0, y1)) that hold nearly all points of every set (robust to strays)."""
    stacked = np.concatenate(point_sets)
    low, high = np.quantile(stacked, [0.001, 0.999], axis=0)
    span = np.maximum(high - low, 1e-6)
    return tuple((lo - pad * s, hi + pad * s) for lo, hi, s in zip(low, high, span))


def figure_title(network: str, dataset: str, *details: str | None) -> str:
    """A figure's title on short lines: what was trained on what ('siamese-contrastive on
    MNIST'; the network's canonical name, not an alias), then each detail that is not None."""
    return "\n".join([f"{network} on {dataset}"] + [line for line in details if line])


def knn_caption(epoch: int, knn_accuracy: float, k: int = 5) -> str:
    """'epoch 5, test-set 5-NN accuracy 0.987': the caption of both embedding figures and of a
    GIF's epoch frames. The k-NN accuracy classifies the test images by their k nearest
    training images, so it is the test set's, on the training-set figure too."""
    return f"epoch {epoch}, test-set {k}-NN accuracy {knn_accuracy:.3f}"


def latent_space_figure(embedding, labels, class_names: Sequence[str], *, network: str, dataset: str,
                        split: str, caption: str) -> Figure:
    """The scatter of one split's (N, D) `embedding`, coloured by `labels`, with its title
    ('<network> on <dataset>', '<Split> set, <caption>', how it was drawn) and axis labels
    ('z1'/'z2'; 'PC1'/'PC2' when projected; 'z1' against 'class' for one dimension).

    `split` names the split ('training', 'test'); `caption` is what the caller says of the
    epoch, e.g. knn_caption(epoch, accuracy)."""
    embedding = np.asarray(embedding)
    points, projection = to_2d(embedding, labels)
    title = figure_title(network, dataset, f"{split.capitalize()} set, {caption}",
                         f"({projection})" if projection else None)
    return embedding_figure(points, labels, class_names, title, dims=embedding.shape[1])


def embedding_figure(points, labels, class_names: Sequence[str], title: str, limits=None,
                     size: float = 7.0, dims: int | None = None, legend_size: str = "small") -> Figure:
    """A scatter of 2-D `points` (to_2d's) coloured by `labels`; returns the matplotlib figure.

    `dims`, the embedding's own dimensions, labels the axes (axis_labels; None: no labels),
    and for one dimension names each class's row. A title line too wide for the figure is
    wrapped, so that no title is ever cut off."""
    figure, axes = plt.subplots(figsize=(size * 1.25, size))  # the legend takes the extra width
    labels = np.asarray(labels)
    marker_size, alpha = marker_style(len(points))
    colours = class_colours(len(class_names))
    shown = min(len(class_names), MAX_SHOWN_CLASSES)
    for group, chosen in enumerate(_class_groups(labels, len(class_names))):
        other = group == shown
        label = (f"the other {len(class_names) - shown} classes" if other
                 else short_name(class_names[group]))
        axes.scatter(points[chosen, 0], points[chosen, 1], s=marker_size, alpha=alpha, linewidths=0,
                     color=OTHER_COLOUR if other else colours[group], label=label,
                     zorder=1 if other else 2, rasterized=True)
    if limits is not None:
        axes.set_xlim(*limits[0])
        axes.set_ylim(*limits[1])
    if dims is not None:
        axes.set(xlabel=axis_labels(dims)[0], ylabel=axis_labels(dims)[1])
    if dims == 1 and len(class_names) <= MAX_SHOWN_CLASSES:   # each row named by its class
        axes.set_yticks(range(len(class_names)), [short_name(name, 16) for name in class_names],
                        fontsize="small")
    title = axes.set_title(title)
    # Beside the axes, not on them: inside, it hid the points of whichever classes lay in its
    # corner (a third of FashionMNIST's pullovers in one run).
    legend = axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                         markerscale=_legend_scale(marker_size), fontsize=legend_size, frameon=False,
                         title=(f"first {shown} of {len(class_names)} classes"
                                if shown < len(class_names) else None),
                         title_fontproperties={"size": legend_size})
    for handle in legend.legend_handles:
        handle.set_alpha(1.0)
    _fit_title(figure, axes, title)
    return figure


def _legend_scale(marker_size):
    """The legend's markerscale: markers of LEGEND_MARKER points squared at DENSE_MARKER
    (MNIST's figures as they always were: matplotlib scales the area by its square), and never
    smaller than the points themselves when those are larger."""
    if marker_size <= DENSE_MARKER:
        return 12 / marker_size
    return math.sqrt(max(LEGEND_MARKER, marker_size) / marker_size)


def _class_groups(labels, count):
    """The boolean mask of each drawn group of points: one per class up to MAX_SHOWN_CLASSES,
    then one for all other classes (when there are more)."""
    shown = min(count, MAX_SHOWN_CLASSES)
    masks = [labels == cls for cls in range(shown)]
    return masks + ([labels >= shown] if count > shown else [])


def move_points(figure, points, labels, class_count, title):
    """Give a figure made by embedding_figure (with the same labels and `class_count` class
    names) new points and a new title.

    The layout is kept, and redone only when the new title does not fit it: laying a figure out
    takes longer than drawing it, so a GIF's frames are one figure, moved."""
    axes = figure.axes[0]
    labels = np.asarray(labels)
    for collection, chosen in zip(axes.collections, _class_groups(labels, class_count)):
        collection.set_offsets(points[chosen])
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
        title.set_text(wrapped_to_fit(title.get_text(), width, room))
    figure.tight_layout()


def wrapped_to_fit(text: str, width: float, room: float) -> str:
    """`text`, drawn `width` pixels wide, with its lines wrapped at word breaks to fit in about
    `room` pixels (by its characters' mean width: measure again, and wrap again if need be)."""
    lines = text.splitlines()
    columns = max(8, int(max(map(len, lines)) * room / width) - 1)
    return "\n".join(textwrap.fill(line, columns, break_on_hyphens=False) for line in lines)
