"""The networks: nn.Modules only. Each has `embed(images)`, the latent space that is plotted."""

from .embedding_net import EmbeddingNet
from .heads import ClassificationNet, KochSiameseNet
from .vae import VariationalAutoencoder

__all__ = ["ClassificationNet", "EmbeddingNet", "KochSiameseNet", "VariationalAutoencoder"]
