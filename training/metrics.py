"""How good a latent space is, computed in torch on the training device, in bounded memory."""

import torch


def knn_accuracy(reference, reference_labels, query, query_labels, k=5, chunk_size=1024):
    """Accuracy of a k-nearest-neighbour vote (Euclidean) of `query` against `reference`.

    Each query takes the class most frequent among its k nearest references; a tie goes to
    the class whose members rank nearer. Queries are processed `chunk_size` at a time, so the
    distance matrix never exceeds chunk_size x len(reference).
    """
    k = min(k, len(reference))
    num_classes = int(max(reference_labels.max(), query_labels.max())) + 1
    # Vote weights 1 + (k - rank) / (k (k + 1)): the extra parts sum to less than 1, so they
    # only ever decide between classes with equal counts.
    weights = 1 + (k - torch.arange(k, device=reference.device, dtype=torch.float64)) / (k * (k + 1))
    correct = 0
    for start in range(0, len(query), chunk_size):
        distances = torch.cdist(query[start:start + chunk_size], reference)
        nearest = distances.topk(k, dim=1, largest=False).indices
        votes = torch.zeros(len(nearest), num_classes, device=reference.device, dtype=torch.float64)
        votes.scatter_add_(1, reference_labels[nearest], weights.expand(len(nearest), k))
        correct += (votes.argmax(dim=1) == query_labels[start:start + chunk_size]).sum().item()
    return correct / len(query)
