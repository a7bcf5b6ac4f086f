"""The GIF of a latent space forming: frames rendered in memory on fixed axes."""

import io
import itertools

import numpy as np
from matplotlib.colors import to_rgb
from PIL import Image

from .render import figure_to_rgb
from .scatter import CLASS_COLOURS, axis_limits, embedding_figure, embedding_title, move_points, to_2d

import matplotlib.pyplot as plt  # noqa: E402  (after .render, which chooses the backend)

# How strongly a class colour shows over white: half-transparent points (scatter.py) give 0.5
# alone, more where they pile up, less at their antialiased edges.
TINTS = (1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125)


def latent_space_figures(frames, labels, class_names, title):
    """The figure of each frame of `frames`, a list of (caption, (N, D) embedding of the same N
    samples), all on the same axes, so that what moves is the space, not the camera.

    It is one figure, laid out once, whose points and title change from frame to frame
    (scatter.move_points): use each frame before asking for the next, and close the figure
    after the last."""
    projected = [to_2d(points, labels) for _, points in frames]
    limits = axis_limits([points for points, _ in projected])
    figure = None
    for (caption, _), (points, projection) in zip(frames, projected):
        frame_title = embedding_title(title, caption, projection)
        if figure is None:
            figure = embedding_figure(points, labels, class_names, frame_title, limits=limits, size=6.0)
        else:
            move_points(figure, points, labels, frame_title)
        yield figure


def latent_space_gif(frames, labels, class_names, title, seconds_per_frame=0.5):
    """GIF bytes of `frames` (see latent_space_figures), looping, rendered without frame files.

    Every frame is mapped to one fixed palette (gif_palette) that holds each class's colour:
    the adaptive palette a GIF encoder picks for itself left out the colours of classes with
    few pixels, and drew them grey."""
    palette = gif_palette(CLASS_COLOURS)
    images, figure = [], None
    for figure in latent_space_figures(frames, labels, class_names, title):
        images.append(Image.fromarray(figure_to_rgb(figure)).quantize(palette=palette,
                                                                      dither=Image.Dither.NONE))
    if figure is not None:
        plt.close(figure)
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=int(seconds_per_frame * 1000), loop=0)
    return buffer.getvalue()


def gif_palette(colours):
    """A palette image (Pillow, mode "P") of 24 greys (text, axes, background), each of
    `colours` at every strength of TINTS over white, and every two of them where their points
    overlap; 194 entries for 10 colours, within a GIF's 256."""
    white = np.ones(3)
    rgb = [np.array(to_rgb(colour)) for colour in colours]
    entries = [np.full(3, level) for level in np.linspace(0, 1, 24)]
    entries += [tint * colour + (1 - tint) * white for colour in rgb for tint in TINTS]
    entries += [mix for one, other in itertools.combinations(rgb, 2)
                for mix in ((one + other) / 2, 0.375 * (one + other) + 0.25 * white)]
    palette = Image.new("P", (1, 1))
    palette.putpalette(np.round(np.array(entries) * 255).astype(np.uint8).ravel().tolist())
    return palette
