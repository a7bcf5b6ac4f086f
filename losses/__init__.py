"""Loss functions: pure functions of tensors, each formula and convention in its docstring.

Conventions held by every loss here: distances are plain Euclidean unless a name says
`squared`; a pair label of 1 means "same class"; every loss is a mean over the batch.
"""

from .binary_cross_entropy import binary_cross_entropy_with_logits
from .contrastive import contrastive_loss
from .cross_entropy import cross_entropy_loss
from .distances import euclidean_distance, squared_euclidean_distance
from .triplet import triplet_loss

__all__ = ["binary_cross_entropy_with_logits", "contrastive_loss", "cross_entropy_loss",
           "euclidean_distance", "squared_euclidean_distance",
           "triplet_loss"]
