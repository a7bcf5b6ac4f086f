"""Figures: numpy arrays in, matplotlib figures or encoded bytes out. No torch, no training."""

from .animation import latent_space_figures, latent_space_gif
from .images import manifold_figure, reconstructions_figure, tile
from .render import figure_to_png, figure_to_rgb
from .scatter import CLASS_COLOURS, axis_limits, embedding_figure, embedding_title, to_2d
from .stats import stats_figure

__all__ = ["CLASS_COLOURS", "axis_limits", "embedding_figure", "embedding_title", "figure_to_png",
           "figure_to_rgb", "latent_space_figures", "latent_space_gif", "manifold_figure",
           "reconstructions_figure", "stats_figure", "tile", "to_2d"]
