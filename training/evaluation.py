"""Embedding whole splits and scoring the space after each epoch, on the training device."""

import torch

from .metrics import is_collapsed, knn_accuracy, retrieval_scores, silhouette, spread

EMBEDDING_BATCH_SIZE = 512     # images per forward pass (one thread: 512 ran 2x faster than 2048, cache-sized)
KNN_K = 5
SILHOUETTE_SAMPLE = 5000       # test images in the silhouette's fixed, seeded sample
# Test images that query in precision@1 and MAP@R after every epoch but the last, which uses
# all of them. All 10,000 MNIST test images take about 0.6 s on 2 cores in a trained space,
# and more in an early, untrained one, where many queries are ranked in full (metrics.py);
# 1,000 fixed queries take a tenth of that and estimate both within about 0.01 for the curves
# (benchmarks/bench_evaluation.py).
RETRIEVAL_SAMPLE = 1000
METRICS = {"knn_accuracy": "5-NN accuracy", "precision_at_1": "precision@1", "map_at_r": "MAP@R",
           "silhouette": "silhouette"}   # key in metrics.json -> label in stats.png


@torch.inference_mode()
def embed(model: torch.nn.Module, split) -> torch.Tensor:
    """The embeddings of every image of `split`, in eval mode, in batches."""
    model.eval()
    return torch.cat([model.embed(split.inputs(slice(start, start + EMBEDDING_BATCH_SIZE)))  # views, no gather
                      for start in range(0, len(split), EMBEDDING_BATCH_SIZE)])


def fixed_sample(size: int, count: int, seed: int) -> torch.Tensor:
    """`count` of the indices 0..size-1 (all if fewer), drawn with `seed`: the same every epoch."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(size, generator=generator)[:count].sort().values


@torch.inference_mode()
def evaluate(train_embedding: torch.Tensor, train_labels: torch.Tensor, test_embedding: torch.Tensor,
             test_labels: torch.Tensor, silhouette_sample: torch.Tensor,
             retrieval_queries: torch.Tensor | None = None) -> dict:
    """The test-set metrics of METRICS, the test set's spread, and whether it collapsed.

    `silhouette_sample`: the test indices the silhouette is computed on; `retrieval_queries`:
    the test indices that query in precision@1 and MAP@R (None: every test image).
    """
    device = test_embedding.device
    if retrieval_queries is not None:
        retrieval_queries = retrieval_queries.to(device)
    precision_at_1, map_at_r = retrieval_scores(test_embedding, test_labels, retrieval_queries)
    sample = silhouette_sample.to(device)
    return {
        "knn_accuracy": knn_accuracy(train_embedding, train_labels, test_embedding, test_labels, k=KNN_K),
        "precision_at_1": precision_at_1,
        "map_at_r": map_at_r,
        "retrieval_queries": len(test_labels) if retrieval_queries is None else len(retrieval_queries),
        "silhouette": silhouette(test_embedding[sample], test_labels[sample]),
        "test_spread": spread(test_embedding)[0],
        "collapsed": is_collapsed(test_embedding),
    }
