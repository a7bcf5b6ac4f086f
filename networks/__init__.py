"""The networks: nn.Modules only. Each has `forward`, what a loss calls, and `embed(images)`,
the latent space that is plotted; each is built on a backbone of networks/backbones.py.

Every network keeps its construction arguments in `hyperparameters`, so that
`build(type(model).__name__, **model.hyperparameters)` makes the same network again (with
fresh weights, for a state_dict to be loaded into).
"""

from torch import nn

from .backbones import BACKBONES, DECODERS
from .embedding_net import EmbeddingNet
from .heads import ClassificationNet, KochSiameseNet
from .vae import VariationalAutoencoder

NETWORKS = {network.__name__: network
            for network in (EmbeddingNet, ClassificationNet, KochSiameseNet, VariationalAutoencoder)}

# Hyperparameters a network gained after checkpoints were first written, with the value the
# networks in those checkpoints had: such a checkpoint lacks the key, and is rebuilt as it was.
EARLIER_HYPERPARAMETERS = {"KochSiameseNet": {"distance": "l1"}}


def as_written(kind: str, hyperparameters: dict) -> dict:
    """The hyperparameters of a checkpoint's network of class `kind`: its own, and for any in
    EARLIER_HYPERPARAMETERS that it lacks, the value networks had before they gained it."""
    return {**EARLIER_HYPERPARAMETERS.get(kind, {}), **hyperparameters}


def build(kind: str, **hyperparameters) -> nn.Module:
    """The network class called `kind` (a key of NETWORKS) built from `hyperparameters`."""
    if kind not in NETWORKS:
        raise ValueError(f"unknown network {kind!r}; choose from {', '.join(NETWORKS)}")
    return NETWORKS[kind](**hyperparameters)


__all__ = ["BACKBONES", "DECODERS", "EARLIER_HYPERPARAMETERS", "NETWORKS", "ClassificationNet", "EmbeddingNet",
           "KochSiameseNet", "VariationalAutoencoder", "as_written", "build"]
