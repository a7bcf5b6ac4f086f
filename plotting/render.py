"""Matplotlib figures to encoded bytes, off-screen (Agg), so that nothing needs a display."""

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402


def figure_to_png(figure, dpi=100):
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def figure_to_rgb(figure, dpi=80):
    """The figure as an (H, W, 3) uint8 array; the figure stays open (a GIF draws its frames
    on one figure, plotting/animation.py)."""
    figure.set_dpi(dpi)
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
