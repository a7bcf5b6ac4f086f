"""Exact nearest-neighbour searches in Euclidean space, in torch, in bounded memory.

Every search works through query chunks: a distance matrix is never larger than
chunk_size x (number of references), so 10,000 test queries against 60,000 training
references take 60 MB at a time, not 2.4 GB. Chunks of 256 queries keep the temporaries near
the cache. The metrics (training/metrics.py) and search.py use these; they define nothing
about classes or labels.
"""

import torch

CHUNK_SIZE = 256
EXACT_DIMS = 8   # up to this many dimensions squared_distances sums coordinate by coordinate


def squared_distances(queries, references):
    """(Q, D), (N, D) -> (Q, N) squared Euclidean distances.

    Up to EXACT_DIMS dimensions, coordinate by coordinate, sum of (q_j - r_j)^2: exact to float
    precision. The faster expansion |q|^2 + |r|^2 - 2 q.r cancels badly for points far from
    the origin (on a trained 2-D MNIST space it got 0.5% of the 5-NN sets wrong), so for more
    dimensions float32 points are centred on the references' mean first. Its rounding can
    still order equal distances at random, so the metrics that rule on ties pass float64
    points (for_exact_ties), which need no centring and must not get it: a centre of each
    call's own would put equal distances a rounding apart again.
    """
    if queries.shape[1] <= EXACT_DIMS:
        return summed_squares(queries, references.T.contiguous())   # a strided line is much slower
    if queries.dtype != torch.float64:
        centre = references.mean(dim=0)
        queries, references = queries - centre, references - centre
    return torch.addmm((queries * queries).sum(1, keepdim=True),
                       queries, references.T, alpha=-2).add_((references * references).sum(1)).clamp_min_(0)


def for_exact_ties(points):
    """`points` as the retrieval metrics and the silhouette measure them: in float64 above
    EXACT_DIMS dimensions, where squared_distances expands and float32's rounding decided
    ties (points on a grid ranked otherwise than measured one by one), while float64's is a
    billion times smaller. The k-NN, which does not rule on ties, stays in float32: against
    60,000 references, float64 made it a third slower (ad hoc, at 16 dimensions)."""
    return points.double() if points.shape[1] > EXACT_DIMS else points


def summed_squares(queries, coordinates):
    """sum_j (queries[:, j] - coordinates[j])^2, one coordinate at a time: `coordinates[j]` is
    the j-th coordinate of the references, (N,) or (Q, N), broadcast against the queries."""
    total = None
    for j, coordinate in enumerate(coordinates):
        term = (queries[:, j:j + 1] - coordinate).pow_(2)
        total = term if total is None else total.add_(term)
    return total


def widest_axis_order(points):
    """(axis, order): the coordinate along which `points` spread most, and the indices that sort
    them along it (a cheap spatial order: neighbours along it are often neighbours)."""
    axis = int(points.var(dim=0).argmax())
    return axis, points[:, axis].argsort()


def k_nearest(queries, references, k, window=512, chunk_size=CHUNK_SIZE):
    """Indices (Q, k) of the k nearest references of each query (Euclidean), nearest first.

    Exact, without measuring every query against every reference. The references are sorted
    along their widest coordinate; each query is measured against the `window` references on
    either side of its place in that order. Along that coordinate, the gap to a reference is a
    lower bound of its distance, so when both ends of the window lie farther off than the
    k-th nearest candidate, no reference outside it can be nearer: that query is answered.
    The others (7% of a trained 2-D MNIST space) try again with a window 8 times wider, until
    the window holds every reference. In 2-D this is 1,024 distances a query instead of
    60,000 (512 ran faster than 256 or 1024). Above 8 dimensions, where one coordinate's gap
    bounds a distance too loosely for a window to pay, and where squared_distances turns to
    the matrix product, every query is measured against every reference.
    """
    k = min(k, len(references))
    if queries.shape[1] > EXACT_DIMS or len(references) <= 2 * window:
        return torch.cat([nearest_of_all(chunk, references, k)[1] for chunk in queries.split(chunk_size)])
    axis, order = widest_axis_order(references)
    lines = references[order].T.contiguous()   # (D, N): each coordinate in that order, contiguous
    line = lines[axis]
    # windows[j][i] is lines[j][i:i + 2 window], a view. Copying whole rows of it (index_select)
    # is much faster than gathering each element by an index of its own: with it the k-NN
    # accuracy of MNIST's test set took half the time (benchmarks/results/evaluation-cpu.txt).
    windows = lines.unfold(1, 2 * window, 1)
    found, unanswered = [], []
    for start in range(0, len(queries), chunk_size):
        chunk = queries[start:start + chunk_size]
        place = torch.searchsorted(line, chunk[:, axis].contiguous())
        first = (place - window).clamp(0, len(line) - 2 * window)
        # Exact, as squared_distances is, coordinate by coordinate.
        distances = summed_squares(chunk, (window_j.index_select(0, first) for window_j in windows))
        kth, nearest = distances.topk(k, dim=1, largest=False)
        kth = kth[:, -1]
        below, above = first - 1, first + 2 * window                # the nearest outside the window
        left_clear = (below < 0) | ((chunk[:, axis] - line[below.clamp_min(0)]) ** 2 > kth)
        right_clear = (above >= len(line)) | ((line[above.clamp_max(len(line) - 1)] - chunk[:, axis]) ** 2 > kth)
        found.append(order[first[:, None] + nearest])
        unanswered.append((~(left_clear & right_clear)).nonzero().squeeze(1) + start)
    found, unanswered = torch.cat(found), torch.cat(unanswered)
    if len(unanswered):
        found[unanswered] = k_nearest(queries[unanswered], references, k, 8 * window, chunk_size)
    return found


def nearest_of_all(queries, references, k, block=128):
    """(squared distances, indices), each (Q, k), of the k nearest references of each query,
    nearest first, by measuring every query against every reference.

    Cheaper than a top-k over every reference: the references are cut into blocks, and the k
    nearest references lie in the k blocks with the nearest minima (a block holding one of
    them has a minimum no farther than the k-th nearest distance). The blocks tell most apart
    when the references are in some spatial order.
    """
    distances = squared_distances(queries, references)
    count = distances.shape[1]
    if count <= 8 * block * k:   # (k = 0 included)
        return distances.topk(k, dim=1, largest=False)
    usable = count - count % block
    minima = distances[:, :usable].view(len(queries), -1, block).amin(dim=2)
    nearest_blocks = minima.topk(k, dim=1, largest=False).indices
    columns = (nearest_blocks.unsqueeze(2) * block
               + torch.arange(block, device=queries.device)).flatten(1)
    tail = torch.arange(usable, count, device=queries.device).expand(len(queries), -1)
    columns = torch.cat([columns, tail], dim=1)
    nearest, order = distances.gather(1, columns).topk(k, dim=1, largest=False)
    return nearest, columns.gather(1, order)
