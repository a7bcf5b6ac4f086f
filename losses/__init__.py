"""Loss functions: pure functions of tensors, each formula and convention in its docstring.

Conventions held by every loss here: distances are plain Euclidean unless a name says
`squared`; a pair label of 1 means "same class"; every loss is a mean over the batch (for
the online losses: over the pairs or triplets mined from the batch).
"""

from .binary_cross_entropy import binary_cross_entropy_with_logits
from .contrastive import contrastive_loss
from .cross_entropy import cross_entropy_loss
from .distances import (euclidean_distance, pairwise_euclidean_distance,
                        pairwise_squared_euclidean_distance, squared_euclidean_distance)
from .elbo import gaussian_kl_divergence, negative_elbo
from .mining import TRIPLET_MINING, online_contrastive_loss, online_triplet_loss
from .triplet import triplet_loss

__all__ = ["TRIPLET_MINING", "binary_cross_entropy_with_logits", "contrastive_loss",
           "cross_entropy_loss", "euclidean_distance", "gaussian_kl_divergence", "negative_elbo",
           "online_contrastive_loss", "online_triplet_loss", "pairwise_euclidean_distance",
           "pairwise_squared_euclidean_distance", "squared_euclidean_distance", "triplet_loss"]
