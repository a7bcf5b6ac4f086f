import math
import random

import numpy as np
import pytest
import torch

from training.metrics import (distance_keys, intruder_sums, is_collapsed, knn_accuracy, ranked_sums,
                              retrieval_scores, silhouette)
from training.neighbours import k_nearest, nearest_of_all, squared_distances


def test_knn_accuracy_on_a_hand_made_case():
    reference = torch.tensor([[0.0], [0.1], [0.2], [10.0], [10.1], [10.2]])
    reference_labels = torch.tensor([0, 0, 0, 1, 1, 1])
    query = torch.tensor([[0.05], [10.05], [4.0]])
    # 4.0 has neighbours 0.2, 0.1, 0.0 (class 0): a k=3 vote says 0, so the label 1 is wrong.
    assert knn_accuracy(reference, reference_labels, query, torch.tensor([0, 1, 1]), k=3) == pytest.approx(2 / 3)


def test_knn_tie_goes_to_the_nearer_class():
    reference = torch.tensor([[1.0], [-1.5], [2.0], [-2.5]])
    labels = torch.tensor([0, 1, 0, 1])
    # k=4: two votes each; class 0 ranks nearer (1.0 is the nearest neighbour of 0.0).
    assert knn_accuracy(reference, labels, torch.tensor([[0.0]]), torch.tensor([0]), k=4) == 1.0
    assert knn_accuracy(-reference, labels, torch.tensor([[0.0]]), torch.tensor([0]), k=4) == 1.0
    assert knn_accuracy(reference * torch.tensor([[-1.0], [-1.0], [-1.0], [-1.0]]), labels,
                        torch.tensor([[0.0]]), torch.tensor([1]), k=4) == 0.0


def test_knn_chunking_does_not_change_the_answer():
    torch.manual_seed(0)
    reference, query = torch.randn(500, 2), torch.randn(300, 2)
    reference_labels, query_labels = torch.randint(0, 4, (500,)), torch.randint(0, 4, (300,))
    whole = knn_accuracy(reference, reference_labels, query, query_labels, k=5, chunk_size=10_000)
    assert knn_accuracy(reference, reference_labels, query, query_labels, k=5, chunk_size=7) == whole


def brute_force_knn_accuracy(reference, reference_labels, query, query_labels, k):
    distances = ((query[:, None, :] - reference[None]) ** 2).sum(2)
    correct = 0
    for row, label in zip(distances, query_labels):
        nearest = np.argsort(row, kind="stable")[:k]
        votes = {}
        for rank, index in enumerate(nearest):  # count; on equal counts, the lower sum of ranks
            count, rank_sum = votes.get(reference_labels[index], (0, 0))
            votes[reference_labels[index]] = (count + 1, rank_sum + rank)
        winner = max(votes, key=lambda cls: (votes[cls][0], -votes[cls][1], -cls))
        correct += winner == label
    return correct / len(query)


@pytest.mark.parametrize("references", [300, 6000, 6100])  # 6000 and 6100 use the block search
def test_knn_matches_a_brute_force_vote(references):
    rng = np.random.default_rng(references)
    reference, query = rng.normal(size=(references, 3)), rng.normal(size=(200, 3))
    reference_labels, query_labels = rng.integers(0, 5, references), rng.integers(0, 5, 200)
    expected = brute_force_knn_accuracy(reference, reference_labels, query, query_labels, k=5)
    as_torch = [torch.from_numpy(a) for a in (reference, reference_labels, query, query_labels)]
    assert knn_accuracy(*as_torch, k=5) == pytest.approx(expected)


def test_k_nearest_finds_the_same_neighbours_as_a_full_sort():
    rng = np.random.default_rng(1)
    reference, query = rng.normal(size=(7777, 2)), rng.normal(size=(50, 2))
    found = k_nearest(torch.from_numpy(query), torch.from_numpy(reference), 5).numpy()
    distances = ((query[:, None, :] - reference[None]) ** 2).sum(2)
    np.testing.assert_array_equal(found, np.argsort(distances, axis=1)[:, :5])


def test_squared_distances_match_cdist():
    torch.manual_seed(2)
    a, b = torch.randn(40, 5, dtype=torch.float64), torch.randn(70, 5, dtype=torch.float64)
    torch.testing.assert_close(squared_distances(a, b), torch.cdist(a, b) ** 2)


# Retrieval within one set. Points on a line, classes A=0 and B=1:
#   x:      0  1  2  3
#   class:  A  B  A  A
# 0 (R=2): ranks 1 (B), 2 (A), 3 (A): rel 0 1 -> AP = (0 + 1/2) / 2 = 1/4, precision@1 0
# 1: alone in its class (R=0): left out of both means
# 2 (R=2): 1 (B) and 3 (A) tie at distance 1, the other class first: rel 0 1 -> AP 1/4, P@1 0
# 3 (R=2): 2 (A), then 1 (B): rel 1 0 -> AP = 1/2, P@1 1
def test_precision_at_1_and_map_at_r_on_a_hand_made_case_with_a_tie_and_a_class_of_one():
    points, labels = torch.tensor([[0.0], [1.0], [2.0], [3.0]]), torch.tensor([0, 1, 0, 0])
    precision_at_1, map_at_r = retrieval_scores(points, labels)
    assert precision_at_1 == pytest.approx(1 / 3)
    assert map_at_r == pytest.approx((1 / 4 + 1 / 4 + 1 / 2) / 3)


def test_a_perfect_space_scores_one_and_a_collapsed_space_zero():
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    separated = labels.double()[:, None] * 10 + torch.arange(9.0)[:, None] * 0.01
    assert retrieval_scores(separated, labels) == (1.0, 1.0)
    assert retrieval_scores(torch.zeros(9, 2) + 3.0, labels) == (0.0, 0.0)


def test_retrieval_with_only_classes_of_one_is_nan():
    precision_at_1, map_at_r = retrieval_scores(torch.randn(3, 2), torch.tensor([0, 1, 2]))
    assert math.isnan(precision_at_1) and math.isnan(map_at_r)


def brute_force_retrieval(points, labels, only=None):
    """Sort the others by (distance, same class) in plain Python: ties put other classes first."""
    hits, average_precisions = [], []
    for query in range(len(points)) if only is None else only:
        r = sum(1 for j in range(len(points)) if j != query and labels[j] == labels[query])
        if r == 0:
            continue
        ranked = sorted((sum((a - b) ** 2 for a, b in zip(points[query], points[j])),
                         labels[j] == labels[query]) for j in range(len(points)) if j != query)
        relevant = [same for _, same in ranked[:r]]
        hits.append(relevant[0])
        found, total = 0, 0.0
        for position, is_relevant in enumerate(relevant, start=1):
            found += is_relevant
            total += found / position if is_relevant else 0.0
        average_precisions.append(total / r)
    return sum(hits) / len(hits), sum(average_precisions) / len(average_precisions)


# intruders=1: nearly every query is ranked in full; 10,000: every query is answered from its
# intruders alone.
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("intruders", [1, 4, 10_000])
def test_retrieval_matches_brute_force_on_a_grid_full_of_ties(seed, intruders):
    rng = random.Random(seed)
    points = [[rng.randrange(4), rng.randrange(4)] for _ in range(150)]
    labels = [rng.randrange(4) for _ in range(149)] + [9]  # a class of one, too
    expected = brute_force_retrieval(points, labels)
    for chunk_size in (7, 1000):
        found = retrieval_scores(torch.tensor(points, dtype=torch.float32), torch.tensor(labels),
                                 chunk_size=chunk_size, intruders=intruders)
        assert found == pytest.approx(expected)


@pytest.mark.parametrize("intruders", [1, 10_000])
def test_retrieval_matches_brute_force_on_a_grid_full_of_ties_in_12_dimensions_far_from_the_origin(intruders):
    # Above 8 dimensions the distances come from the expansion |q|^2 + |r|^2 - 2 q.r: its
    # rounding must not break the ties that the pessimistic rule decides.
    rng = random.Random(5)
    labels = [rng.randrange(5) for _ in range(200)]
    points = [[37 + 0.5 * (rng.randrange(3) + (j < 3) * label) for j in range(12)] for label in labels]
    expected = brute_force_retrieval(points, labels)
    found = retrieval_scores(torch.tensor(points, dtype=torch.float32), torch.tensor(labels),
                             chunk_size=64, intruders=intruders)
    assert found == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("intruders", [1, 8, 10_000])
def test_retrieval_matches_brute_force_on_overlapping_clusters(intruders):
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (400,), generator=generator)
    points = torch.randn(400, 2, generator=generator) + 2 * torch.stack([labels.cos(), labels.sin()], 1)
    expected = brute_force_retrieval(points.double().tolist(), labels.tolist())
    assert retrieval_scores(points.double(), labels, intruders=intruders) == pytest.approx(expected, rel=1e-12)


def test_intruder_sums_agree_with_a_full_ranking_for_the_queries_they_answer():
    generator = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 3, (600,), generator=generator)
    points = torch.randn(600, 2, generator=generator) + 5 * torch.stack([labels.cos(), labels.sin()], 1)
    harmonic = torch.cat([torch.zeros(1, dtype=torch.float64), (1 / torch.arange(1.0, 601).double()).cumsum(0)])
    members = (labels == 0).nonzero().squeeze(1)
    own, others = points[members], points[labels != 0]
    member_keys = distance_keys(squared_distances(own, own))
    member_keys.fill_diagonal_(torch.iinfo(member_keys.dtype).max)     # a query does not retrieve itself
    hits, precisions, known = intruder_sums(own, member_keys, others, harmonic, intruders=6)
    assert 0 < known.sum() < len(known)     # some queries have more intruders among their first R
    assert (hits, precisions) == pytest.approx(ranked_sums(own[known], member_keys[known], others), rel=1e-12)


def test_retrieval_is_the_same_whichever_way_the_intruders_are_found():
    # 3,000 points: with 4 intruders a query's nearest are found through blocks of the sorted
    # others; with 100,000, by a top-k over all of them; with 1, most queries are ranked in full.
    generator = torch.Generator().manual_seed(2)
    labels = torch.randint(0, 3, (3000,), generator=generator)
    points = torch.randn(3000, 2, generator=generator) + 4 * torch.stack([labels.cos(), labels.sin()], 1)
    expected = retrieval_scores(points, labels, intruders=100_000)
    for intruders in (1, 4):
        assert retrieval_scores(points, labels, intruders=intruders) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("block", [8, 128])   # 8: through the blocks' minima; 128: a top-k of all
def test_nearest_of_all_matches_a_full_sort(block):
    generator = torch.Generator().manual_seed(4)
    queries, references = torch.randn(50, 2, generator=generator), torch.randn(2000, 2, generator=generator)
    references[::7] = references[3]           # ties, too
    distances, indices = nearest_of_all(queries, references, 5, block=block)
    full = squared_distances(queries, references)
    assert torch.equal(distances, full.sort(dim=1).values[:, :5])
    assert torch.equal(full.gather(1, indices), distances)


def test_retrieval_within_a_single_class_is_perfect():
    assert retrieval_scores(torch.randn(5, 2), torch.zeros(5, dtype=torch.long)) == (1.0, 1.0)


def test_retrieval_from_some_queries_is_the_mean_over_those_queries_alone():
    rng = random.Random(5)
    points = [[rng.randrange(5), rng.randrange(5)] for _ in range(120)]
    labels = [rng.randrange(3) for _ in range(119)] + [7]   # the last one is alone in its class
    queries = [3, 10, 11, 50, 119]
    expected = [brute_force_retrieval(points, labels, only=[q]) for q in queries[:-1]]
    found = retrieval_scores(torch.tensor(points, dtype=torch.float32), torch.tensor(labels),
                             queries=torch.tensor(queries), chunk_size=2)
    assert found == pytest.approx((np.mean([p for p, _ in expected]), np.mean([m for _, m in expected])))
    assert all(math.isnan(score) for score in retrieval_scores(
        torch.tensor(points, dtype=torch.float32), torch.tensor(labels), queries=torch.tensor([119])))


# Points 0, 2 (class 0), 10, 12 (class 1), 100 (class 2, alone):
#   s(0) = (11 - 2) / 11, s(2) = (9 - 2) / 9, s(10) = (9 - 2) / 9, s(12) = (11 - 2) / 11, s(100) = 0
def test_silhouette_on_a_hand_made_case_with_a_class_of_one():
    points, labels = torch.tensor([[0.0], [2.0], [10.0], [12.0], [100.0]]), torch.tensor([0, 0, 1, 1, 2])
    assert silhouette(points, labels) == pytest.approx((2 * 9 / 11 + 2 * 7 / 9) / 5)
    assert silhouette(points[:4], labels[:4]) == pytest.approx((9 / 11 + 7 / 9) / 2)


def brute_force_silhouette(points, labels):
    scores = []
    for i, label in enumerate(labels):
        distance = np.sqrt(((points - points[i]) ** 2).sum(1))
        own = (labels == label) & (np.arange(len(labels)) != i)
        if not own.any():
            scores.append(0.0)
            continue
        a = distance[own].mean()
        b = min(distance[labels == other].mean() for other in set(labels) if other != label)
        scores.append((b - a) / max(a, b))
    return float(np.mean(scores))


def test_silhouette_matches_brute_force_and_chunking_does_not_matter():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 300)
    points = rng.normal(size=(300, 3)) + labels[:, None]
    expected = brute_force_silhouette(points, labels)
    for chunk_size in (11, 1000):
        assert silhouette(torch.from_numpy(points), torch.from_numpy(labels),
                          chunk_size=chunk_size) == pytest.approx(expected)


def test_silhouette_of_one_class_is_nan():
    assert math.isnan(silhouette(torch.randn(5, 2), torch.zeros(5, dtype=torch.long)))


def test_collapse_is_no_spread_wherever_the_points_are():
    torch.manual_seed(4)
    assert is_collapsed(torch.zeros(100, 2))
    assert is_collapsed(torch.full((100, 2), 50.0) + 1e-7 * torch.randn(100, 2))
    assert not is_collapsed(torch.randn(100, 2) * 0.01)
    assert not is_collapsed(torch.full((100, 2), 50.0) + 0.1 * torch.randn(100, 2))


@pytest.mark.parametrize("dims, window", [(2, 4), (2, 64), (3, 16), (12, 8)])
def test_k_nearest_window_search_is_exact_whether_or_not_it_falls_back(dims, window):
    # Clustered points far from the origin, as a trained space is: small windows make many
    # queries fall back to the full search, larger ones answer most from the window.
    rng = np.random.default_rng(dims + window)
    centres = rng.normal(size=(6, dims)) * 30 + 100
    reference = centres[rng.integers(0, 6, 3000)] + rng.normal(size=(3000, dims))
    query = centres[rng.integers(0, 6, 400)] + rng.normal(size=(400, dims))
    found = k_nearest(torch.from_numpy(query).float(), torch.from_numpy(reference).float(), 5,
                      window=window, chunk_size=97)
    distances = ((query[:, None, :] - reference[None]) ** 2).sum(2)  # float64
    exact = np.sort(distances, axis=1)[:, :5]
    # Above 8 dimensions the full search uses the matrix-product expansion: close, not exact.
    np.testing.assert_allclose(np.take_along_axis(distances, found.numpy(), axis=1), exact,
                               rtol=1e-6 if dims <= 8 else 1e-3)


def test_squared_distances_stay_exact_far_from_the_origin():
    # |q|^2 + |r|^2 - 2 q.r in float32 loses distances of 1e-3 between points near (300, 300).
    queries = torch.tensor([[300.0, 300.0]])
    references = torch.tensor([[300.001, 300.0], [300.0, 300.002], [299.9, 300.0]])
    expected = ((queries.double() - references.double()) ** 2).sum(1)
    torch.testing.assert_close(squared_distances(queries, references)[0].double(), expected, rtol=1e-3, atol=0)
