"""The GIF of a latent space forming: frames rendered in memory on fixed axes."""

import imageio.v3 as iio

from .render import figure_to_rgb
from .scatter import axis_limits, embedding_figure, to_2d


def latent_space_gif(frames, labels, class_names, title, seconds_per_frame=0.5):
    """GIF bytes of `frames`, a list of (caption, (N, D) embedding of the same N samples).

    Every frame shares one set of axes, so that what moves is the space, not the camera.
    """
    projected = [to_2d(points)[0] for _, points in frames]
    limits = axis_limits(projected)
    images = [figure_to_rgb(embedding_figure(points, labels, class_names,
                                             f"{title}\n{caption}", limits=limits, size=6.0))
              for (caption, _), points in zip(frames, projected)]
    return iio.imwrite("<bytes>", images, extension=".gif",
                       duration=int(seconds_per_frame * 1000), loop=0)
