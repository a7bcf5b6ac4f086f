from .distances import euclidean_distance


def triplet_loss(anchor, positive, negative, margin=1.0):
    """Triplet loss of Schroff, Kalenichenko and Philbin (2015), averaged over the batch.

        L = mean( max(0, d(a, p) - d(a, n) + m) )

    d is the plain (not squared) Euclidean distance; p shares the anchor's class, n does
    not; m = `margin`. A triplet stops contributing once its negative is m further from
    the anchor than its positive. Same definition as `torch.nn.functional.triplet_margin_loss`
    (which adds eps=1e-6 inside the norm).
    """
    return (euclidean_distance(anchor, positive) - euclidean_distance(anchor, negative)
            + margin).clamp_min(0).mean()
