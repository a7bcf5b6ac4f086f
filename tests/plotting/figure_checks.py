"""Helpers the plotting tests share: where a figure's text lies, and colours as a reader sees them."""

import matplotlib.colors
import numpy as np

from plotting.render import plt
from training import EXPERIMENTS

LONGEST_NETWORK = max(EXPERIMENTS, key=len)
LONGEST_TITLE = f"{LONGEST_NETWORK} on FashionMNIST"


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


def lab(colours):
    """CIELAB (D65) of matplotlib colours, to compare colours as they look."""
    rgb = np.array([matplotlib.colors.to_rgb(colour) for colour in colours])
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                             [0.0193, 0.1192, 0.9505]]).T / np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def closest_pair(colours, alpha=1.0):
    """The smallest CIELAB distance between two of `colours`, each drawn at `alpha` over white."""
    rgb = np.array([matplotlib.colors.to_rgb(colour) for colour in colours])
    seen = lab(alpha * rgb + (1 - alpha))
    distances = np.linalg.norm(seen[:, None] - seen[None], axis=2)
    np.fill_diagonal(distances, np.inf)
    return distances.min()
