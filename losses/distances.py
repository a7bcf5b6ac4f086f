"""Euclidean distances that stay differentiable where two embeddings coincide.

The gradient of sqrt(s) at s = 0 is infinite, so a plain `(x - y).norm()` of two identical
embeddings back-propagates NaN. Clamping the squared distance at a tiny floor keeps the value
(distance ~1e-6) and makes the gradient exactly zero there instead.
"""

SQUARED_DISTANCE_FLOOR = 1e-12


def squared_euclidean_distance(x, y):
    """Row-wise ||x_i - y_i||^2 of two (B, D) tensors."""
    return (x - y).pow(2).sum(dim=1)


def euclidean_distance(x, y):
    """Row-wise ||x_i - y_i|| of two (B, D) tensors, finite gradient everywhere."""
    return squared_euclidean_distance(x, y).clamp_min(SQUARED_DISTANCE_FLOOR).sqrt()



def pairwise_squared_euclidean_distance(x):
    """The (B, B) matrix of ||x_i - x_j||^2 over the rows of a (B, D) tensor.

    Computed from the differences rather than from ||x_i||^2 + ||x_j||^2 - 2 x_i.x_j, which
    cancels badly for nearby points and can even come out negative.
    """
    return (x.unsqueeze(1) - x.unsqueeze(0)).pow(2).sum(dim=2)


def pairwise_euclidean_distance(x):
    """The (B, B) matrix of ||x_i - x_j||, finite gradient everywhere (the diagonal included)."""
    return pairwise_squared_euclidean_distance(x).clamp_min(SQUARED_DISTANCE_FLOOR).sqrt()
