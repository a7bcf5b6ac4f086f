"""How good a latent space is, computed in torch on the training device, in bounded memory.

The searches behind the metrics are exact (training/neighbours.py). Ties: k-NN votes count
equidistant references in the order the device's top-k returns them. The retrieval metrics
(precision@1, MAP@R) are pessimistic about ties: a reference of another class at the same
distance as one of the query's class ranks before it, so a collapsed space (every point in
one place) scores 0 rather than chance.
"""

import torch

from .neighbours import (CHUNK_SIZE, for_exact_ties, k_nearest, nearest_of_all,
                         squared_distances, widest_axis_order)

INTEGER_OF = {torch.float32: torch.int32, torch.float64: torch.int64}  # same width
INTRUDERS = 32   # nearest items of other classes a retrieval query looks at before ranking all

def knn_accuracy(reference, reference_labels, query, query_labels, k=5, chunk_size=CHUNK_SIZE):
    """Accuracy of a k-nearest-neighbour vote (Euclidean) of `query` against `reference`.

    Each query takes the class most frequent among its k nearest references; a tie goes to
    the class whose members rank nearer (the lower sum of ranks), then to the lower label.
    Queries are processed `chunk_size` at a time.
    """
    k = min(k, len(reference))
    num_classes = int(max(reference_labels.max(), query_labels.max())) + 1
    # Vote weights 1 + (k - rank) / (k (k + 1)): the extra parts sum to less than 1, so they
    # only ever decide between classes with equal counts.
    weights = 1 + (k - torch.arange(k, device=reference.device, dtype=torch.float64)) / (k * (k + 1))
    nearest = k_nearest(query, reference, k, chunk_size=chunk_size)
    votes = torch.zeros(len(nearest), num_classes, device=reference.device, dtype=torch.float64)
    votes.scatter_add_(1, reference_labels[nearest], weights.expand(len(nearest), k))
    return (votes.argmax(dim=1) == query_labels).sum().item() / len(query)


def retrieval_scores(embedding, labels, queries=None, chunk_size=CHUNK_SIZE, intruders=INTRUDERS):
    """Precision@1 and MAP@R of leave-one-out retrieval within one set (Musgrave et al. 2020).

    Each item of `queries` (indices; None: every item) retrieves from all the other items.
    R is the number of other items of its class; AP@R = (1/R) sum_{i=1..R} P(i) rel(i), with
    P(i) the precision among the first i retrieved and rel(i) = 1 when the i-th is of the
    query's class. precision@1 = rel(1). Items alone in their class (R = 0) have nothing to
    retrieve and are left out of both means; with no item left, both are NaN.
    Returns (precision_at_1, map_at_r).

    Queries are taken a class at a time. Ranking every other item (ranked_sums) is the slow
    way: a top-R of 10,000 for each of MNIST's 10,000 test images. In a trained space only a
    few items of other classes ("intruders") rank among a query's first R, a median of 11 on
    MNIST, and AP@R follows from where those few rank (intruder_sums); only a query with more
    than `intruders` of them is ranked in full.
    """
    embedding = for_exact_ties(embedding)
    _, class_of, class_sizes = torch.unique(labels, return_inverse=True, return_counts=True)
    if queries is None:
        queries = torch.arange(len(embedding), device=embedding.device)
    queries = queries[class_sizes[class_of[queries]] > 1]
    if len(queries) == 0:
        return float("nan"), float("nan")
    # harmonic[n] = 1 + 1/2 + ... + 1/n
    harmonic = torch.cat([torch.zeros(1, dtype=torch.float64, device=embedding.device),
                          (1 / torch.arange(1, len(embedding) + 1, dtype=torch.float64,
                                            device=embedding.device)).cumsum(0)])
    hits_at_1 = average_precision = 0.0
    for label in class_of[queries].unique():
        members = (class_of == label).nonzero().squeeze(1)
        own, others = embedding[members], embedding[class_of != label]
        if len(others) > 1:   # in a spatial order, for nearest_of_all's blocks
            others = others[widest_axis_order(others)[1]]
        for chunk in queries[class_of[queries] == label].split(chunk_size):
            rows, place = torch.arange(len(chunk), device=embedding.device), torch.searchsorted(members, chunk)
            member_keys = distance_keys(squared_distances(embedding[chunk], own))
            member_keys[rows, place] = torch.iinfo(member_keys.dtype).max   # a query does not retrieve itself
            hits, precisions, known = intruder_sums(embedding[chunk], member_keys, others, harmonic, intruders)
            more_hits, more_precisions = ranked_sums(embedding[chunk[~known]], member_keys[~known], others)
            hits_at_1 += hits + more_hits
            average_precision += precisions + more_precisions
    return hits_at_1 / len(queries), average_precision / len(queries)


def distance_keys(distances):
    """Integer keys that order as the squared distances do, except that the two floats that
    differ only in their lowest bit (one part in 8 million) count as tied: the bits of a
    non-negative float order as the float does, and the lowest bit is cleared. (So rounding
    can still put two equal distances one key apart, at the odd boundaries; it does not change
    a score measurably.)"""
    return distances.view(INTEGER_OF[distances.dtype]).bitwise_and_(-2)


def intruder_sums(queries, member_keys, others, harmonic, intruders):
    """Sums of rel(1) and AP@R over the `queries`, all of one class, from their nearest intruders.

    `member_keys`: distance_keys to every member of the class, a query's own set to the
    largest key (so R = member_keys.shape[1] - 1); `others`: the items of every other class.
    Let x_1 <= x_2 <= ... be a query's distances to the intruders, and a_i the number of
    members nearer than x_i (at equal distances the intruder ranks first). The
    i-th intruder is retrieved at rank a_i + i, among the first R when a_i + i <= R. With I
    intruders among the first R, the members retrieved after the i-th intruder are the s-th
    for s = a_i + 1, ..., a_{i+1} (a_0 = 0, a_{I+1} cut to R - I), at precision s / (s + i)
    each, so that
        R AP@R = sum_{i=0..I} sum_s s / (s + i) = sum_{i=0..I} n_i - i (H(a_{i+1} + i) - H(a_i + i)),
    n_i the number of those s and H(n) = 1 + 1/2 + ... + 1/n. Only the `intruders` nearest
    are found, so this is known for a query with fewer of them among its first R (or with no
    others at all). Returns both sums over the queries it is known for, and which those are.
    """
    r = member_keys.shape[1] - 1
    k = min(intruders, len(others))
    nearest = distance_keys(nearest_of_all(queries, others, k, block=32)[0])
    # and, after the k nearest, an intruder at "infinity", behind every member: a_{k+1} = R
    nearest = torch.cat([nearest, torch.full_like(nearest[:, :1], torch.iinfo(nearest.dtype).max)], dim=1)
    # Count the members with m of those intruders at or before them, m = 0..k+1: a[:, i-1] = a_i.
    before = torch.searchsorted(nearest, member_keys, right=True)
    counts = torch.zeros(len(queries), k + 2, dtype=torch.int64, device=queries.device)
    a = counts.scatter_add_(1, before, torch.ones_like(before)).cumsum(1)[:, :k + 1]
    i = torch.arange(k + 1, device=queries.device)
    retrieved = (a + i + 1 <= r).sum(1, keepdim=True)               # I
    low = torch.cat([torch.zeros_like(a[:, :1]), a[:, :k]], dim=1)  # a_i, i = 0..k
    high = torch.where(i < retrieved, a, torch.where(i == retrieved, r - retrieved, low))
    precisions = ((high - low) - i * (harmonic[high + i] - harmonic[low + i])).sum(1) / r
    known = (retrieved.squeeze(1) < k) | (k == len(others))
    return (a[known, 0] > 0).sum().item(), precisions[known].sum().item(), known


def ranked_sums(queries, member_keys, others):
    """Sums of rel(1) and AP@R over the `queries`, all of one class, by ranking every other item
    (arguments as for intruder_sums)."""
    if len(queries) == 0:
        return 0, 0.0
    r = member_keys.shape[1] - 1
    # The key's lowest bit, cleared by distance_keys, says "same class": at equal distances other
    # classes rank first, and it tells whether a retrieved item is relevant. (A query's own key,
    # the largest, has it set already and ranks last.)
    keys = torch.cat([member_keys | 1, distance_keys(squared_distances(queries, others))], dim=1)
    relevant = keys.topk(r, dim=1, largest=False).values.bitwise_and_(1).double()
    precision = relevant.cumsum(1) / torch.arange(1, r + 1, device=queries.device, dtype=torch.float64)
    return relevant[:, 0].sum().item(), ((precision * relevant).sum(1) / r).sum().item()


def silhouette(embedding, labels, chunk_size=CHUNK_SIZE):
    """Mean silhouette coefficient (Rousseeuw 1987), Euclidean.

    s(i) = (b - a) / max(a, b), a = mean distance from i to the other members of its class,
    b = the smallest mean distance from i to the members of another class. An item alone in
    its class scores 0 (as in scikit-learn), and so does an item with a = b = 0. NaN with
    fewer than two classes.
    """
    embedding = for_exact_ties(embedding)
    _, class_of, class_sizes = torch.unique(labels, return_inverse=True, return_counts=True)
    if len(class_sizes) < 2:
        return float("nan")
    one_hot = torch.nn.functional.one_hot(class_of).to(embedding.dtype)
    total = 0.0
    for start in range(0, len(embedding), chunk_size):
        own = class_of[start:start + chunk_size]
        distances = squared_distances(embedding[start:start + chunk_size], embedding).sqrt_()
        sums = (distances @ one_hot).double()                 # (chunk, classes); float32 sums: 1e-6 relative
        rows = torch.arange(len(own), device=embedding.device)
        others = (class_sizes[own] - 1).clamp_min(1)
        a = sums[rows, own] / others
        means = sums / class_sizes
        means[rows, own] = float("inf")
        b = means.amin(dim=1)
        score = (b - a) / torch.maximum(a, b)
        score = torch.where((class_sizes[own] > 1) & (torch.maximum(a, b) > 0), score, 0.0)
        total += score.sum().item()
    return total / len(embedding)


def spread(embedding):
    """Root-mean-square distance of the points from their centre, and the centre's norm."""
    centre = embedding.double().mean(dim=0)
    return ((embedding.double() - centre).pow(2).sum(1).mean().sqrt().item(),
            centre.norm().item())


def is_collapsed(embedding, relative=1e-4, absolute=1e-6):
    """Whether the points have (nearly) no spread: all in one place, wherever that is."""
    rms, centre_norm = spread(embedding)
    return rms <= absolute + relative * centre_norm
