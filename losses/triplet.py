import torch

from .distances import euclidean_distance


def triplet_loss(anchor, positive, negative, margin=1.0, swap=False):
    """Triplet loss of Schroff, Kalenichenko and Philbin (2015), averaged over the batch.

        L = mean( max(0, d(a, p) - d(a, n) + m) )

    d is the plain (not squared) Euclidean distance; p shares the anchor's class, n does
    not; m = `margin`. A triplet stops contributing once its negative is m further from
    the anchor than its positive.

    `swap`: the distance swap of Balntas, Riba, Ponsa and Mikolajczyk (2016): d(a, n) becomes
    min(d(a, n), d(p, n)), so the negative is also pushed away from the positive when it lies
    nearer that. A random triplet whose negative sits beside the positive, not the anchor,
    still teaches something.

    Same definitions as `torch.nn.functional.triplet_margin_loss` with the same `swap` (which
    adds eps=1e-6 inside the norm).
    """
    negative_distance = euclidean_distance(anchor, negative)
    if swap:
        negative_distance = torch.minimum(negative_distance, euclidean_distance(positive, negative))
    return (euclidean_distance(anchor, positive) - negative_distance + margin).clamp_min(0).mean()
