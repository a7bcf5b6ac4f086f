"""The GIF of a latent space forming: frames rendered in memory on fixed axes."""

import imageio.v3 as iio

from .render import figure_to_rgb
from .scatter import axis_limits, embedding_figure, embedding_title, move_points, to_2d

import matplotlib.pyplot as plt  # noqa: E402  (after .render, which chooses the backend)


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
    """GIF bytes of `frames` (see latent_space_figures), looping, rendered without frame files."""
    images, figure = [], None
    for figure in latent_space_figures(frames, labels, class_names, title):
        images.append(figure_to_rgb(figure))
    if figure is not None:
        plt.close(figure)
    return iio.imwrite("<bytes>", images, extension=".gif",
                       duration=int(seconds_per_frame * 1000), loop=0)
