"""Grids of images, for generative models: decoded latent points and reconstructions.

Images come as torch lays them out, channels first: (..., H, W) greyscale or (..., C, H, W)
with C = 1 (greyscale) or 3 (RGB), floats in [0, 1]."""

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .scatter import figure_title, short_name

MAX_TICKS = 7             # tick labels per axis of the manifold, so that each can be read
COLUMN_INCHES = 0.9       # the width of one reconstruction column
BAND = 10                 # reconstruction columns side by side


def tile(images) -> np.ndarray:
    """(R, C, H, W) greyscale images -> one (R H, C W) image; (R, C, K, H, W) images of K
    channels -> one (R H, C W, K) image ((R H, C W) for K = 1). Rows top to bottom, columns
    left to right."""
    images = np.asarray(images)
    if images.ndim == 4:
        rows, columns, height, width = images.shape
        return images.transpose(0, 2, 1, 3).reshape(rows * height, columns * width)
    rows, columns, channels, height, width = images.shape
    tiled = images.transpose(0, 3, 1, 4, 2).reshape(rows * height, columns * width, channels)
    return tiled[..., 0] if channels == 1 else tiled


def _show(axes, images):
    picture = tile(np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0))
    if picture.ndim == 2:
        axes.imshow(picture, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        axes.imshow(picture, interpolation="nearest")


def value_ticks(values, cell: float, most: int = MAX_TICKS) -> tuple[np.ndarray, list[str]]:
    """Tick positions and labels for an axis of cells `cell` pixels wide whose centres lie at
    `values` (monotonic): the most round values ('-1.5', '0', '1'; steps of 1, 2, 2.5 or 5
    times a power of ten) inside their range that number at most `most`, each placed where it
    falls between the cells' centres (the grid need not be even)."""
    values = np.asarray(values, dtype=np.float64)
    centres = (np.arange(len(values)) + 0.5) * cell
    low, high = values.min(), values.max()
    ticks = np.array([low])
    for step in (base * 10.0 ** power for power in range(-9, 10) for base in (1, 2, 2.5, 5)):
        first, last = np.ceil(low / step - 1e-6), np.floor(high / step + 1e-6)
        if 1 <= last - first + 1 <= most:
            ticks = np.arange(first, last + 1) * step
            break
    ticks = np.round(ticks, 12) + 0.0   # no '-0'
    order = np.argsort(values)
    positions = np.interp(ticks, values[order], centres[order])
    return positions, [f"{tick:g}".replace("-", "\N{MINUS SIGN}") for tick in ticks]


def manifold_figure(images, horizontal, vertical, *, network: str, dataset: str, detail: str,
                    labels: tuple[str, str] = ("z1", "z2")) -> Figure:
    """Images decoded from a grid of latent points, drawn at their coordinates, titled
    '<network> on <dataset>' and `detail` (what was decoded).

    `images` (R, C, H, W) or (R, C, K, H, W) in [0, 1]: row r, column c decoded from the point
    whose coordinates are `horizontal[c]` and `vertical[r]` (rows top to bottom, so give
    `vertical` descending for an upward axis); `vertical` None for a single row that varies one
    coordinate. `labels` name the two varied coordinates. Each axis has at most MAX_TICKS
    round values on it (value_ticks).
    """
    images = np.asarray(images)
    rows, columns = images.shape[:2]
    height, width = images.shape[-2:]
    # Taller than needed, so that the width sets the scale; _fit_height takes the rest away.
    figure, axes = plt.subplots(figsize=(8, 8 * rows * height / (columns * width) + 2))
    _show(axes, images)
    axes.set_xticks(*value_ticks(horizontal, width))
    if vertical is None:
        axes.set_yticks([])
    else:
        axes.set_yticks(*value_ticks(vertical, height))
        axes.set_ylabel(labels[1])
    axes.set(xlabel=labels[0], title=figure_title(network, dataset, *detail.splitlines()))
    _fit_height(figure)
    return figure


def reconstructions_figure(originals, reconstructions, class_names: Sequence[str], *, network: str,
                           dataset: str, detail: str) -> Figure:
    """`originals` (N, H, W) or (N, K, H, W) in [0, 1] in a row, their `reconstructions` in the
    row below, each column named by its class (`class_names`, one per column); titled
    '<network> on <dataset>' and `detail`. More than BAND columns are drawn in bands of BAND,
    one under another, at the same scale."""
    originals, reconstructions = np.asarray(originals), np.asarray(reconstructions)
    count = len(originals)
    height, width = originals.shape[-2:]
    names = [short_name(name, 20) for name in class_names]
    slanted = max(map(len, names), default=0) > 12   # would run into the next column's name
    bands = -(-count // BAND)
    figure_width = max(3.2, COLUMN_INCHES * min(count, BAND) + 1.6)
    figure, grid = plt.subplots(bands, 1, squeeze=False,
                                figsize=(figure_width,
                                         bands * (2 * COLUMN_INCHES * height / width + 2.5) + 1))
    for band, axes in enumerate(grid[:, 0]):
        part = slice(band * BAND, (band + 1) * BAND)
        _show(axes, np.stack([originals[part], reconstructions[part]]))
        if bands > 1:   # a short last band keeps the others' scale, from the left
            axes.set_xlim(-0.5, BAND * width - 0.5)
        axes.set_yticks([height / 2, 1.5 * height], ["original", "reconstruction"])
        axes.set_xticks((np.arange(len(names[part])) + 0.5) * width, names[part], fontsize="small",
                        rotation=40 if slanted else 0, ha="right" if slanted else "center",
                        rotation_mode="anchor")
        axes.tick_params(length=0)
    # A few columns make a narrow figure: its title's lines are wrapped to fit (about nine
    # characters an inch at the title's size).
    lines = [textwrap.fill(line, int(9 * (figure_width - 0.4))) for line in detail.splitlines()]
    grid[0, 0].set_title(figure_title(network, dataset, *lines))
    _fit_height(figure)
    return figure


def _fit_height(figure, pad=0.1, rounds=4):
    """Lay the figure out (tight_layout) and take away the white bands above and below its
    images (drawn at their aspect, they leave the rest of a taller figure empty)."""
    for _ in range(rounds):
        figure.tight_layout()
        used = figure.get_tightbbox(figure.canvas.get_renderer()).height   # inches
        width, height = figure.get_size_inches()
        if height - used <= 2 * pad + 0.05:
            break
        figure.set_size_inches(width, used + 2 * pad)
    figure.tight_layout()
