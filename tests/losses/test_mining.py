"""The online miners and losses against brute-force loops over every pair and triplet."""

import itertools
import math

import pytest
import torch

from losses import (TRIPLET_MINING, contrastive_loss, online_contrastive_loss, online_triplet_loss,
                    pairwise_euclidean_distance, triplet_loss)
from losses.mining import (all_positive_triplets, batch_hard_triplets, hardest_contrastive_pairs,
                           semi_hard_triplets)

MARGIN = 1.0


def random_batches(count=20, size=12):
    """Small batches with 1 to 5 classes, so that some classes hold a single image."""
    generator = torch.Generator().manual_seed(0)
    for _ in range(count):
        classes = int(torch.randint(1, 6, (1,), generator=generator))
        labels = torch.randint(0, classes, (size,), generator=generator)
        yield torch.randn(size, 3, generator=generator) * 0.7, labels


def brute_force_triplets(distances, labels):
    """Every (a, p, n) with p != a of a's class and n of another class, as a list of tuples."""
    d, y, size = distances.tolist(), labels.tolist(), len(labels)
    return [(a, p, n) for a, p, n in itertools.product(range(size), repeat=3)
            if p != a and y[p] == y[a] and y[n] != y[a]], d


def as_set(*columns):
    return set(zip(*(column.tolist() for column in columns)))


def test_pairwise_distance_matches_cdist_and_has_finite_gradient_on_the_diagonal():
    x = torch.randn(9, 4, requires_grad=True)
    distances = pairwise_euclidean_distance(x)
    off_diagonal = ~torch.eye(9, dtype=torch.bool)
    assert torch.allclose(distances[off_diagonal], torch.cdist(x, x)[off_diagonal], atol=1e-5)
    assert (distances.diagonal() <= 1e-6).all()
    distances.sum().backward()
    assert torch.isfinite(x.grad).all()


def brute_force_batch_hard(d, triplets):
    expected = set()
    for anchor in {a for a, _, _ in triplets}:
        candidates = [(p, n) for a, p, n in triplets if a == anchor]
        hardest_positive = max((p for p, _ in candidates), key=lambda p: d[anchor][p])
        hardest_negative = min((n for _, n in candidates), key=lambda n: d[anchor][n])
        expected.add((anchor, hardest_positive, hardest_negative))
    return expected


def brute_force_semi_hard(d, triplets):
    expected = set()
    for a, p in {(a, p) for a, p, _ in triplets}:
        semi_hard = [n for a2, p2, n in triplets
                     if (a2, p2) == (a, p) and d[a][p] < d[a][n] < d[a][p] + MARGIN]
        if semi_hard:
            expected.add((a, p, min(semi_hard, key=lambda n: d[a][n])))
    return expected


def brute_force_all(d, triplets):
    return {(a, p, n) for a, p, n in triplets if d[a][p] - d[a][n] + MARGIN > 0}


BRUTE_FORCE = {"batch-hard": brute_force_batch_hard, "semi-hard": brute_force_semi_hard,
               "all": brute_force_all}
MINERS = {"batch-hard": lambda d, y: batch_hard_triplets(d, y),
          "semi-hard": lambda d, y: semi_hard_triplets(d, y, MARGIN),
          "all": lambda d, y: all_positive_triplets(d, y, MARGIN)}


@pytest.mark.parametrize("mining", TRIPLET_MINING)
def test_each_triplet_miner_matches_brute_force(mining):
    found = 0
    for embeddings, labels in random_batches():
        distances = pairwise_euclidean_distance(embeddings)
        triplets, d = brute_force_triplets(distances, labels)
        expected = BRUTE_FORCE[mining](d, triplets)
        assert as_set(*MINERS[mining](distances, labels)) == expected
        found += len(expected)
    assert found > 100  # the batches are not all trivial


def test_contrastive_pairs_match_brute_force():
    for embeddings, labels in random_batches():
        distances = pairwise_euclidean_distance(embeddings)
        d, y = distances.tolist(), labels.tolist()
        pairs = list(itertools.combinations(range(len(y)), 2))
        positives = [(i, j, 1.0) for i, j in pairs if y[i] == y[j]]
        negatives = sorted(((i, j, 0.0) for i, j in pairs if y[i] != y[j]), key=lambda t: d[t[0]][t[1]])
        expected = set(positives) | set(negatives[:len(positives)])
        assert as_set(*hardest_contrastive_pairs(distances, labels)) == expected


@pytest.mark.parametrize("mining", TRIPLET_MINING)
def test_online_triplet_loss_is_the_mean_over_the_brute_force_triplets(mining):
    for embeddings, labels in random_batches():
        distances = pairwise_euclidean_distance(embeddings)
        triplets, d = brute_force_triplets(distances, labels)
        terms = [max(0.0, d[a][p] - d[a][n] + MARGIN) for a, p, n in BRUTE_FORCE[mining](d, triplets)]
        expected = sum(terms) / len(terms) if terms else 0.0
        ours = online_triplet_loss(embeddings, labels, MARGIN, mining)
        assert ours.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
        if terms:  # and the existing triplet loss on the mined triplets
            a, p, n = MINERS[mining](distances, labels)
            theirs = triplet_loss(embeddings[a], embeddings[p], embeddings[n], MARGIN)
            assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)


def test_online_contrastive_loss_matches_brute_force_and_the_contrastive_loss():
    margin = 2.0
    for embeddings, labels in random_batches():
        d, y = pairwise_euclidean_distance(embeddings).tolist(), labels.tolist()
        pairs = list(itertools.combinations(range(len(y)), 2))
        positives = [d[i][j] ** 2 / 2 for i, j in pairs if y[i] == y[j]]
        negatives = sorted(d[i][j] for i, j in pairs if y[i] != y[j])[:len(positives)]
        terms = positives + [max(0.0, margin - dist) ** 2 / 2 for dist in negatives]
        expected = sum(terms) / len(terms) if terms else 0.0
        ours = online_contrastive_loss(embeddings, labels, margin)
        assert ours.item() == pytest.approx(expected, rel=1e-5, abs=1e-6)
        if terms:
            first, second, same = hardest_contrastive_pairs(pairwise_euclidean_distance(embeddings), labels)
            theirs = contrastive_loss(embeddings[first], embeddings[second], same, margin)
            assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)


NO_POSITIVE, NO_NEGATIVE = torch.arange(6), torch.zeros(6, dtype=torch.long)


@pytest.mark.parametrize("loss,labels", [
    *[(lambda z, y, mining=mining: online_triplet_loss(z, y, MARGIN, mining), labels)
      for mining in TRIPLET_MINING for labels in (NO_POSITIVE, NO_NEGATIVE)],
    (lambda z, y: online_contrastive_loss(z, y, MARGIN), NO_POSITIVE),
])
def test_a_batch_without_valid_items_gives_a_zero_loss_with_a_gradient(loss, labels):
    z = torch.randn(6, 2, requires_grad=True)
    value = loss(z, labels)
    assert value.item() == 0 and value.grad_fn is not None
    value.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_online_contrastive_with_a_single_class_only_pulls_together():
    z = torch.tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    value = online_contrastive_loss(z, NO_NEGATIVE[:2], MARGIN)
    assert value.item() == pytest.approx(25 / 2)  # the one positive pair, d^2 / 2


@pytest.mark.parametrize("mining", TRIPLET_MINING)
def test_identical_embeddings_give_finite_gradients(mining):
    z = torch.zeros(8, 2, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    value = online_triplet_loss(z, labels, MARGIN, mining)
    (value + online_contrastive_loss(z, labels, MARGIN)).backward()
    assert math.isfinite(value.item()) and torch.isfinite(z.grad).all()


def test_batch_hard_gradient_separates_the_hardest_pair():
    # Anchor 0 at the origin; its positive 1 far away, its negative 2 close: the step must
    # pull 1 towards 0 and push 2 away.
    z = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 0.5], [5.0, 5.0]], requires_grad=True)
    online_triplet_loss(z, torch.tensor([0, 0, 1, 1]), MARGIN, "batch-hard").backward()
    assert z.grad[1, 0] > 0 and z.grad[2, 1] < 0


def test_unknown_mining_is_refused():
    with pytest.raises(ValueError, match="batch-hard"):
        online_triplet_loss(torch.randn(4, 2), torch.tensor([0, 0, 1, 1]), MARGIN, "hardest")
