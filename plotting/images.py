"""Grids of images, for generative models: decoded latent points and reconstructions."""

import matplotlib.pyplot as plt
import numpy as np


def tile(images):
    """(R, C, H, W) images -> one (R H, C W) image, rows top to bottom, columns left to right."""
    rows, columns, height, width = images.shape
    return images.transpose(0, 2, 1, 3).reshape(rows * height, columns * width)


def _show(axes, images):
    axes.imshow(tile(np.asarray(images, dtype=np.float64)), cmap="gray", vmin=0.0, vmax=1.0,
                interpolation="nearest")


def manifold_figure(images, horizontal, vertical, title, labels=("z1", "z2")):
    """Images decoded from a grid of latent points, drawn at their coordinates.

    `images` (R, C, H, W) in [0, 1]: row r, column c decoded from the point whose coordinates
    are `horizontal[c]` and `vertical[r]` (rows top to bottom, so give `vertical` descending
    for an upward axis); `vertical` None for a single row that varies one coordinate.
    `labels` name the two varied coordinates.
    """
    rows, columns, height, width = images.shape
    figure, axes = plt.subplots(figsize=(8, 8 * rows / columns + 0.8))
    _show(axes, images)
    axes.set_xticks((np.arange(columns) + 0.5) * width, [f"{v:.2f}" for v in horizontal],
                    rotation=90, fontsize="small")
    if vertical is None:
        axes.set_yticks([])
    else:
        axes.set_yticks((np.arange(rows) + 0.5) * height, [f"{v:.2f}" for v in vertical],
                        fontsize="small")
        axes.set_ylabel(labels[1])
    axes.set(xlabel=labels[0], title=title)
    figure.tight_layout()
    return figure


def reconstructions_figure(originals, reconstructions, title):
    """`originals` (N, H, W) in [0, 1] in the top row, their `reconstructions` below them."""
    figure, axes = plt.subplots(figsize=(1.0 * len(originals) + 0.6, 2.8))
    _show(axes, np.stack([originals, reconstructions]))
    height = originals.shape[1]
    axes.set_yticks([height / 2, 1.5 * height], ["original", "reconstruction"])
    axes.set_xticks([])
    axes.set_title(title)
    figure.tight_layout()
    return figure
