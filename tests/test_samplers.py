import torch

from datasets import ClassTable, IndexSampler, PairSampler, TripletSampler

# Unequal classes, including one of a single image, as a harsh but legal label vector.
LABELS = torch.cat([torch.full((n,), c) for c, n in enumerate([50, 3, 2, 120, 1, 40, 9, 77, 5, 30])])
LABELS = LABELS[torch.randperm(len(LABELS), generator=torch.Generator().manual_seed(0))]


def concat(batches):
    return [torch.cat(column) for column in zip(*batches)]


def test_class_table_positives_share_the_class_and_are_not_the_anchor():
    table = ClassTable(LABELS)
    generator = torch.Generator().manual_seed(1)
    singleton = (LABELS == 4).nonzero().item()
    for _ in range(200):
        anchors = torch.arange(len(LABELS))
        positives = table.positives(anchors, generator)
        assert (LABELS[positives] == LABELS[anchors]).all()
        others = anchors != singleton
        assert (positives[others] != anchors[others]).all()
        assert positives[singleton] == singleton  # no other image of its class exists


def test_class_table_positives_cover_the_class_uniformly():
    table = ClassTable(LABELS)
    generator = torch.Generator().manual_seed(2)
    anchor = (LABELS == 6).nonzero()[0]
    draws = table.positives(anchor.repeat(16000), generator)
    counts = torch.bincount(draws, minlength=len(LABELS))[LABELS == 6]
    assert counts[(LABELS == 6).nonzero().flatten() == anchor].item() == 0
    others = counts[counts > 0]
    assert len(others) == 8 and ((others - 2000).abs() < 250).all()  # 16000 / 8 each


def test_class_table_negatives_come_from_other_classes_uniformly():
    table = ClassTable(LABELS)
    generator = torch.Generator().manual_seed(3)
    anchors = torch.zeros(18000, dtype=torch.long)
    negatives = table.negatives(anchors, generator)
    assert (LABELS[negatives] != LABELS[0]).all()
    per_class = torch.bincount(LABELS[negatives], minlength=10)
    assert per_class[LABELS[0]] == 0
    assert ((per_class[per_class > 0] - 2000).abs() < 250).all()  # 18000 / 9 other classes


def test_pair_sampler_invariants_over_many_epochs():
    sampler = PairSampler(LABELS, batch_size=32)
    generator = torch.Generator().manual_seed(4)
    positives_per_epoch = []
    for _ in range(50):
        batches = sampler.epoch(generator)
        assert len(batches) == len(sampler) == 11
        assert all(len(b[0]) == 32 for b in batches[:-1]) and len(batches[-1][0]) == 337 - 320
        first, second, same = concat(batches)
        assert torch.equal(first.sort().values, torch.arange(len(LABELS)))  # every image once
        assert ((LABELS[first] == LABELS[second]) == same.bool()).all()
        not_singleton = LABELS[first] != 4
        assert (first[not_singleton] != second[not_singleton]).all()
        positives_per_epoch.append(int(same.sum()))
    assert positives_per_epoch == [len(LABELS) // 2] * 50


def test_triplet_sampler_invariants_over_many_epochs():
    sampler = TripletSampler(LABELS, batch_size=64)
    generator = torch.Generator().manual_seed(5)
    for _ in range(50):
        anchor, positive, negative = concat(sampler.epoch(generator))
        assert torch.equal(anchor.sort().values, torch.arange(len(LABELS)))
        assert (LABELS[positive] == LABELS[anchor]).all()
        assert (positive[LABELS[anchor] != 4] != anchor[LABELS[anchor] != 4]).all()
        assert (LABELS[negative] != LABELS[anchor]).all()


def test_index_sampler_is_a_permutation_in_batches():
    sampler = IndexSampler(LABELS, batch_size=100)
    (indices,) = concat(sampler.epoch(torch.Generator().manual_seed(6)))
    assert torch.equal(indices.sort().values, torch.arange(len(LABELS)))
    assert len(sampler) == 4


def test_samplers_are_deterministic_under_a_seed_and_vary_between_epochs():
    for sampler_class in (IndexSampler, PairSampler, TripletSampler):
        sampler = sampler_class(LABELS, batch_size=16)
        one, two = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        first_epoch = concat(sampler.epoch(one))
        assert all(torch.equal(a, b) for a, b in zip(first_epoch, concat(sampler.epoch(two))))
        assert not torch.equal(first_epoch[0], concat(sampler.epoch(one))[0])
