"""How good a latent space is, computed in torch on the training device, in bounded memory.

Every metric works through query chunks: a distance matrix is never larger than
chunk_size x (number of references), so 10,000 test queries against 60,000 training
references take 60 MB at a time, not 2.4 GB. Chunks of 256 queries keep the temporaries
near the cache: they ran 20-30% faster than chunks of 1024 on 2 CPU cores.

Ties: k-NN votes count equidistant references in the order the device's top-k returns them.
The retrieval metrics (precision@1, MAP@R) are pessimistic about ties: a reference of another
class at the same distance as one of the query's class ranks before it, so a collapsed space
(every point in one place) scores 0 rather than chance.
"""

import torch

CHUNK_SIZE = 256
INTEGER_OF = {torch.float32: torch.int32, torch.float64: torch.int64}  # same width


def squared_distances(queries, references):
    """(Q, D), (N, D) -> (Q, N) squared Euclidean distances.

    Up to 8 dimensions, coordinate by coordinate, sum of (q_j - r_j)^2: exact to float
    precision. The faster expansion |q|^2 + |r|^2 - 2 q.r cancels badly for points far from
    the origin (on a trained 2-D MNIST space it got 0.5% of the 5-NN sets wrong), so for more
    dimensions it is used on points centred on the references' mean.
    """
    if queries.shape[1] <= 8:
        return summed_squares(queries, references.T)
    centre = references.mean(dim=0)
    queries, references = queries - centre, references - centre
    return torch.addmm((queries * queries).sum(1, keepdim=True),
                       queries, references.T, alpha=-2).add_((references * references).sum(1)).clamp_min_(0)


def summed_squares(queries, coordinates):
    """sum_j (queries[:, j] - coordinates[j])^2, one coordinate at a time: `coordinates[j]` is
    the j-th coordinate of the references, (N,) or (Q, N), broadcast against the queries."""
    total = None
    for j, coordinate in enumerate(coordinates):
        term = (queries[:, j:j + 1] - coordinate).pow_(2)
        total = term if total is None else total.add_(term)
    return total


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
    if queries.shape[1] > 8 or len(references) <= 2 * window:
        return torch.cat([nearest_of_all(chunk, references, k) for chunk in queries.split(chunk_size)])
    axis = int(references.var(dim=0).argmax())
    order = references[:, axis].argsort()
    lines = references[order].T.contiguous()   # (D, N): each coordinate in that order, contiguous
    line = lines[axis]
    offsets = torch.arange(2 * window, device=references.device)
    found, unanswered = [], []
    for start in range(0, len(queries), chunk_size):
        chunk = queries[start:start + chunk_size]
        place = torch.searchsorted(line, chunk[:, axis].contiguous())
        first = (place - window).clamp(0, len(line) - 2 * window)
        columns = first[:, None] + offsets                          # (chunk, 2 window), sorted order
        # Exact, as squared_distances is, from one contiguous line per coordinate.
        distances = summed_squares(chunk, (line_j[columns] for line_j in lines))
        kth, nearest = distances.topk(k, dim=1, largest=False)
        kth = kth[:, -1]
        below, above = first - 1, first + 2 * window                # the nearest outside the window
        left_clear = (below < 0) | ((chunk[:, axis] - line[below.clamp_min(0)]) ** 2 > kth)
        right_clear = (above >= len(line)) | ((line[above.clamp_max(len(line) - 1)] - chunk[:, axis]) ** 2 > kth)
        found.append(order[columns.gather(1, nearest)])
        unanswered.append((~(left_clear & right_clear)).nonzero().squeeze(1) + start)
    found, unanswered = torch.cat(found), torch.cat(unanswered)
    if len(unanswered):
        found[unanswered] = k_nearest(queries[unanswered], references, k, 8 * window, chunk_size)
    return found


def nearest_of_all(queries, references, k, block=128):
    """k_nearest by measuring every query against every reference.

    Cheaper than a top-k over every reference: the references are cut into blocks, and the k
    nearest references lie in the k blocks with the nearest minima (a block holding one of
    them has a minimum no farther than the k-th nearest distance).
    """
    distances = squared_distances(queries, references)
    count = distances.shape[1]
    if count < 8 * block * k:
        return distances.topk(k, dim=1, largest=False).indices
    usable = count - count % block
    minima = distances[:, :usable].view(len(queries), -1, block).amin(dim=2)
    nearest_blocks = minima.topk(k, dim=1, largest=False).indices
    columns = (nearest_blocks.unsqueeze(2) * block
               + torch.arange(block, device=queries.device)).flatten(1)
    tail = torch.arange(usable, count, device=queries.device).expand(len(queries), -1)
    columns = torch.cat([columns, tail], dim=1)
    order = distances.gather(1, columns).topk(k, dim=1, largest=False).indices
    return columns.gather(1, order)


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


def retrieval_scores(embedding, labels, queries=None, chunk_size=CHUNK_SIZE):
    """Precision@1 and MAP@R of leave-one-out retrieval within one set (Musgrave et al. 2020).

    Each item of `queries` (indices; None: every item) retrieves from all the other items.
    R is the number of other items of its class; AP@R = (1/R) sum_{i=1..R} P(i) rel(i), with
    P(i) the precision among the first i retrieved and rel(i) = 1 when the i-th is of the
    query's class. precision@1 = rel(1). Items alone in their class (R = 0) have nothing to
    retrieve and are left out of both means; with no item left, both are NaN.
    Returns (precision_at_1, map_at_r).
    """
    _, class_of, class_sizes = torch.unique(labels, return_inverse=True, return_counts=True)
    relevant_count = class_sizes[class_of] - 1           # R of every item
    if queries is None:
        queries = torch.arange(len(embedding), device=embedding.device)
    r_of_queries = relevant_count[queries]
    queries_counted = int((r_of_queries > 0).sum())
    if queries_counted == 0:
        return float("nan"), float("nan")
    max_r = int(r_of_queries.max())
    positions = torch.arange(1, max_r + 1, device=embedding.device, dtype=torch.float64)
    hits_at_1 = average_precision = 0.0
    for chunk in queries.split(chunk_size):
        rows = torch.arange(len(chunk), device=embedding.device)
        same = class_of[chunk, None] == class_of[None, :]
        # Integer keys that order by distance and, at equal distances, put other classes
        # first: the bits of a non-negative float order as the float does, and the lowest
        # bit is replaced by "same class" (so distances one step of the float apart count as
        # tied, a difference of one part in 8 million). The key's lowest bit then says
        # whether a retrieved item is relevant.
        keys = squared_distances(embedding[chunk], embedding).view(INTEGER_OF[embedding.dtype])
        keys.bitwise_and_(-2).bitwise_or_(same)
        keys[rows, chunk] = torch.iinfo(keys.dtype).max   # a query does not retrieve itself
        relevant = keys.topk(max_r, dim=1, largest=False).values.bitwise_and_(1).double()
        r = relevant_count[chunk]
        relevant *= positions <= r[:, None]               # only the first R positions count
        precision = relevant.cumsum(1) / positions
        counted = r > 0
        hits_at_1 += relevant[counted, 0].sum().item()
        average_precision += ((precision * relevant).sum(1)[counted] / r[counted]).sum().item()
    return hits_at_1 / queries_counted, average_precision / queries_counted


def silhouette(embedding, labels, chunk_size=CHUNK_SIZE):
    """Mean silhouette coefficient (Rousseeuw 1987), Euclidean.

    s(i) = (b - a) / max(a, b), a = mean distance from i to the other members of its class,
    b = the smallest mean distance from i to the members of another class. An item alone in
    its class scores 0 (as in scikit-learn), and so does an item with a = b = 0. NaN with
    fewer than two classes.
    """
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
