"""The GIF of a latent space forming: frames rendered in memory on fixed axes."""

import imageio.v3 as iio

from .render import figure_to_rgb
from .scatter import axis_limits, embedding_figure, embedding_title, to_2d


def latent_space_figures(frames, labels, class_names, title):
    """One figure per frame of `frames`, a list of (caption, (N, D) embedding of the same N
    samples), all on the same axes, so that what moves is the space, not the camera."""
    projected = [to_2d(points) for _, points in frames]
    limits = axis_limits([points for points, _ in projected])
    for (caption, _), (points, projection) in zip(frames, projected):
        yield embedding_figure(points, labels, class_names, embedding_title(title, caption, projection),
                               limits=limits, size=6.0)


def latent_space_gif(frames, labels, class_names, title, seconds_per_frame=0.5):
    """GIF bytes of `frames` (see latent_space_figures), looping, rendered without frame files."""
    images = [figure_to_rgb(figure) for figure in latent_space_figures(frames, labels, class_names, title)]
    return iio.imwrite("<bytes>", images, extension=".gif",
                       duration=int(seconds_per_frame * 1000), loop=0)
