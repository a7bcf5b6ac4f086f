"""Online mining: the pairs and triplets of a batch chosen from its own embeddings.

A batch of B embeddings with their labels holds B(B-1)/2 pairs and up to B^3 triplets; the
miners below look at the full (B, B) distance matrix at once (no Python loop over anchors)
and return the chosen items as index tensors into the batch. The losses then read the
distances of the chosen items from the same, differentiable matrix.

Conventions: plain Euclidean distances d; a positive of an anchor is another image of its
class (never the anchor itself), a negative an image of another class; an index tensor may
be empty, and a loss over no items is a zero that still has a gradient (never a NaN), so a
batch without a valid pair or triplet (for example one whose classes each hold one image)
trains nothing but breaks nothing.
"""

import torch

from .distances import pairwise_euclidean_distance

TRIPLET_MINING = ("batch-hard", "semi-hard", "all")


def _class_masks(labels):
    """(B, B) boolean masks: `positive[a, p]` for p != a of a's class, `negative[a, n]` for
    n of another class."""
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    positive = same & ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return positive, ~same


@torch.no_grad()
def batch_hard_triplets(distances, labels):
    """Per anchor, its furthest positive and its nearest negative (Hermans et al. 2017).

    Anchors without a positive or without a negative in the batch are left out.
    Returns index tensors (anchor, positive, negative).
    """
    positive, negative = _class_masks(labels)
    hardest_positive = torch.where(positive, distances, -1.0).argmax(dim=1)
    hardest_negative = torch.where(negative, distances, torch.inf).argmin(dim=1)
    anchor = (positive.any(dim=1) & negative.any(dim=1)).nonzero().squeeze(1)
    return anchor, hardest_positive[anchor], hardest_negative[anchor]


@torch.no_grad()
def semi_hard_triplets(distances, labels, margin):
    """Per (anchor, positive) pair, the nearest semi-hard negative (Schroff et al. 2015).

    A negative n is semi-hard for (a, p) when d(a, p) < d(a, n) < d(a, p) + margin: further
    than the positive, so not yet a wrong ranking, but inside the margin, so its loss is
    positive. Of those the nearest is chosen; pairs without one are left out.
    Returns index tensors (anchor, positive, negative).
    """
    positive, negative = _class_masks(labels)
    anchor, positive_index = positive.nonzero().unbind(1)
    to_positive = distances[anchor, positive_index].unsqueeze(1)
    to_all = distances[anchor]                                       # (pairs, B)
    semi_hard = negative[anchor] & (to_all > to_positive) & (to_all < to_positive + margin)
    nearest = torch.where(semi_hard, to_all, torch.inf).argmin(dim=1)
    kept = semi_hard.any(dim=1)
    return anchor[kept], positive_index[kept], nearest[kept]


@torch.no_grad()
def all_positive_triplets(distances, labels, margin):
    """Every triplet (a, p, n) of the batch with a positive loss d(a, p) - d(a, n) + margin > 0
    ("batch all" of Hermans et al. 2017, averaged over the non-zero terms).

    Looks at each (anchor, positive) pair's row of distances, a (pairs, B) mask: for P x K =
    10 x 16 that is 2,400 x 160 booleans, a tenth of the (B, B, B) cube of all triplets, most
    of which have no valid positive.
    Returns index tensors (anchor, positive, negative).
    """
    positive, negative = _class_masks(labels)
    anchor, positive_index = positive.nonzero().unbind(1)
    to_positive = distances[anchor, positive_index].unsqueeze(1)
    violating = negative[anchor] & (to_positive - distances[anchor] + margin > 0)  # (pairs, B)
    pair, negative_index = violating.nonzero().unbind(1)
    return anchor[pair], positive_index[pair], negative_index


@torch.no_grad()
def hardest_contrastive_pairs(distances, labels):
    """Every positive pair (i < j) of the batch, and as many negative pairs (i < j) as there
    are positive ones, the nearest first (all of them when there are fewer).

    Returns index tensors (first, second, same), `same` 1.0 for a positive pair, 0.0 otherwise.
    """
    positive, negative = _class_masks(labels)
    upper = torch.ones_like(positive).triu(diagonal=1)
    positive_pairs = (positive & upper).nonzero()
    negative_pairs = (negative & upper).nonzero()
    count = min(len(positive_pairs), len(negative_pairs))
    nearest = distances[negative_pairs[:, 0], negative_pairs[:, 1]].topk(count, largest=False).indices
    pairs = torch.cat([positive_pairs, negative_pairs[nearest]])
    same = torch.cat([torch.ones(len(positive_pairs)), torch.zeros(count)]).to(distances)
    return pairs[:, 0], pairs[:, 1], same


def _mean_or_zero(values):
    """The mean of `values`, or a zero with a gradient when there are none (not 0/0 = NaN)."""
    return values.sum() / max(len(values), 1)


def online_triplet_loss(embeddings, labels, margin=1.0, mining="batch-hard"):
    """Triplet loss over the triplets mined inside a batch, averaged over those triplets.

        L = mean over mined (a, p, n) of max(0, d(a, p) - d(a, n) + m)

    `embeddings` (B, D) and `labels` (B,) are the whole batch; `mining` is one of
    TRIPLET_MINING: "batch-hard" (one triplet per anchor, its hardest positive and
    negative), "semi-hard" (one per positive pair, its nearest semi-hard negative) or "all"
    (every triplet with a positive loss). d is the plain Euclidean distance, m = `margin`;
    the same loss as `triplet_loss` on the mined triplets.
    """
    distances = pairwise_euclidean_distance(embeddings)
    if mining == "batch-hard":
        anchor, positive, negative = batch_hard_triplets(distances, labels)
    elif mining == "semi-hard":
        anchor, positive, negative = semi_hard_triplets(distances, labels, margin)
    elif mining == "all":
        anchor, positive, negative = all_positive_triplets(distances, labels, margin)
    else:
        raise ValueError(f"unknown mining '{mining}'; choose one of: {', '.join(TRIPLET_MINING)}")
    if mining == "all":
        return _sum_of_positive_losses(distances, anchor, positive, negative, margin) / max(len(anchor), 1)
    losses = (distances[anchor, positive] - distances[anchor, negative] + margin).clamp_min(0)
    return _mean_or_zero(losses)


def _sum_of_positive_losses(distances, anchor, positive, negative, margin):
    """sum over the triplets of d(a, p) - d(a, n) + m, for triplets whose every loss is positive
    (so the hinge is the identity on them), as sum_ap c_ap d(a, p) - sum_an c_an d(a, n) + T m
    with c the times each pair occurs: the same value and gradient as gathering every
    triplet's distances, but "all" mines some 10^5 triplets a batch and gathering them (and
    scattering their gradients back) cost several times the mining itself.
    """
    size = distances.shape[1]
    counts = (torch.bincount(anchor * size + positive, minlength=distances.numel())
              - torch.bincount(anchor * size + negative, minlength=distances.numel()))
    return (distances.flatten() * counts.to(distances.dtype)).sum() + len(anchor) * margin


def online_contrastive_loss(embeddings, labels, margin=1.0):
    """Contrastive loss over every positive pair of a batch and as many of its hardest
    (nearest) negative pairs, averaged over those pairs.

        L = mean over mined pairs of ( y * d^2 / 2 + (1 - y) * max(0, m - d)^2 / 2 )

    The same loss as `contrastive_loss` on the mined pairs: y = 1 for a pair of one class,
    d the plain Euclidean distance, m = `margin`.
    """
    distances = pairwise_euclidean_distance(embeddings)
    first, second, same = hardest_contrastive_pairs(distances, labels)
    chosen = distances[first, second]
    return _mean_or_zero(same * chosen.pow(2) + (1 - same) * (margin - chosen).clamp_min(0).pow(2)) / 2
