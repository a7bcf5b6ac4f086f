"""Figures: numpy arrays in, matplotlib figures or encoded bytes out. No torch, no training.

Every titled figure takes the pieces of its title explicitly: `network` (the canonical name,
never an alias), `dataset` (its display name: 'MNIST', or an image folder's last name), and
what the figure shows."""

from .animation import animation_figures, latent_space_gif
from .images import manifold_figure, reconstructions_figure, tile, value_ticks
from .render import figure_to_png, figure_to_rgb
from .scatter import (CLASS_COLOURS, MAX_SHOWN_CLASSES, MORE_CLASS_COLOURS, OTHER_COLOUR, axis_labels,
                      axis_limits, class_colours, embedding_figure, figure_title, knn_caption,
                      latent_space_figure, to_2d)
from .stats import stats_figure

__all__ = ["CLASS_COLOURS", "MAX_SHOWN_CLASSES", "MORE_CLASS_COLOURS", "OTHER_COLOUR",
           "animation_figures", "axis_labels", "axis_limits", "class_colours", "embedding_figure",
           "figure_title", "figure_to_png", "figure_to_rgb", "knn_caption", "latent_space_figure",
           "latent_space_gif", "manifold_figure", "reconstructions_figure", "stats_figure", "tile",
           "to_2d", "value_ticks"]
