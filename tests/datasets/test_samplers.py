import torch

import pytest

from datasets import BalancedBatchSampler, ClassTable, IndexSampler, PairSampler, TripletSampler

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
        assert same[~not_singleton].sum() == 0  # the single image of class 4 is paired negatively
        positives_per_epoch.append(int(same.sum()))
    assert positives_per_epoch == [len(LABELS) // 2] * 50


def test_triplet_sampler_invariants_over_many_epochs():
    sampler = TripletSampler(LABELS, batch_size=64)
    generator = torch.Generator().manual_seed(5)
    singleton = (LABELS == 4).nonzero().item()
    negatives = torch.zeros(len(LABELS), dtype=torch.long)
    for _ in range(50):
        batches = sampler.epoch(generator)
        assert len(batches) == len(sampler) == 6  # 336 anchors: every image but the single one
        anchor, positive, negative = concat(batches)
        assert torch.equal(anchor.sort().values, torch.arange(len(LABELS))[torch.arange(len(LABELS)) != singleton])
        assert (LABELS[positive] == LABELS[anchor]).all() and (positive != anchor).all()
        assert (LABELS[negative] != LABELS[anchor]).all()
        negatives += torch.bincount(negative, minlength=len(LABELS))
    assert negatives[singleton] > 0  # the single image still serves as a negative


def test_pair_and_triplet_samplers_draw_per_image_items_of_every_image_with_fresh_partners():
    singleton = (LABELS == 4).nonzero().item()
    generator = torch.Generator().manual_seed(8)
    for _ in range(20):
        pairs = PairSampler(LABELS, batch_size=32, per_image=3)
        batches = pairs.epoch(generator)
        assert len(batches) == len(pairs) == 32   # 3 x 337 pairs
        first, second, same = concat(batches)
        assert torch.equal(torch.bincount(first, minlength=len(LABELS)), torch.full((len(LABELS),), 3))
        assert ((LABELS[first] == LABELS[second]) == same.bool()).all()
        assert int(same.sum()) == 3 * len(LABELS) // 2
        assert same[first == singleton].sum() == 0
        # the three pairs of an image are drawn apart, not one pair three times
        partners = second[first.argsort(stable=True)].view(len(LABELS), 3)
        assert (partners == partners[:, :1]).all(dim=1).float().mean() < 0.05
        triplets = TripletSampler(LABELS, batch_size=64, per_image=2)
        anchor, positive, negative = concat(triplets.epoch(generator))
        assert len(triplets) == 11   # 2 x 336 anchors
        counts = torch.bincount(anchor, minlength=len(LABELS))
        assert counts[singleton] == 0 and (counts[torch.arange(len(LABELS)) != singleton] == 2).all()
        assert (LABELS[positive] == LABELS[anchor]).all() and (positive != anchor).all()
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


def test_balanced_batches_hold_p_classes_of_k_images():
    sampler = BalancedBatchSampler(LABELS, classes_per_batch=4, images_per_class=5)
    generator = torch.Generator().manual_seed(8)
    for _ in range(50):
        batches = sampler.epoch(generator)
        assert len(batches) == len(sampler) == len(LABELS) // 20
        for (indices,) in batches:
            classes, counts = LABELS[indices].unique(return_counts=True)
            assert len(classes) == 4 and (counts == 5).all()
            assert LABELS[indices].view(4, 5).unique(dim=1).shape == (4, 1)  # class by class
            for cls in classes:
                members = indices[LABELS[indices] == cls]
                if (LABELS == cls).sum() >= 5:  # a class with enough images never repeats one
                    assert len(members.unique()) == 5


def test_balanced_batches_repeat_the_images_of_a_class_smaller_than_k_evenly():
    # Class 1 has 3 images, class 2 two, class 8 five; K = 8: each image 8 // n or 8 // n + 1 times.
    # Class 4 has a single image and is never drawn; the nine others fill every batch.
    sampler = BalancedBatchSampler(LABELS, classes_per_batch=9, images_per_class=8)
    generator = torch.Generator().manual_seed(9)
    for _ in range(30):
        for (indices,) in sampler.epoch(generator):
            assert sorted(LABELS[indices].unique().tolist()) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
            for cls, expected in ((1, [2, 3, 3]), (2, [4, 4]), (8, [1, 1, 2, 2, 2])):
                copies = torch.bincount(indices[LABELS[indices] == cls], minlength=len(LABELS))
                assert sorted(copies[copies > 0].tolist()) == expected


def test_balanced_epoch_uses_every_image_once_when_classes_are_equal():
    labels = torch.arange(10).repeat_interleave(48)[torch.randperm(480, generator=torch.Generator().manual_seed(0))]
    sampler = BalancedBatchSampler(labels, classes_per_batch=10, images_per_class=16)
    (indices,) = concat(sampler.epoch(torch.Generator().manual_seed(10)))
    assert torch.equal(indices.sort().values, torch.arange(480))


def test_balanced_epochs_use_every_image_about_once_when_drawing_some_classes():
    labels = torch.arange(10).repeat_interleave(48)
    sampler = BalancedBatchSampler(labels, classes_per_batch=5, images_per_class=16)
    generator = torch.Generator().manual_seed(11)
    uses = sum(torch.bincount(concat(sampler.epoch(generator))[0], minlength=480) for _ in range(300))
    assert len(sampler) == 6
    assert ((uses / 300 - 1).abs() < 0.2).all()  # 300 epochs, each image about once an epoch


def test_balanced_sampler_is_deterministic_under_a_seed_and_refuses_too_many_classes():
    sampler = BalancedBatchSampler(LABELS, classes_per_batch=3, images_per_class=4)
    one, two = torch.Generator().manual_seed(12), torch.Generator().manual_seed(12)
    first_epoch = concat(sampler.epoch(one))[0]
    assert torch.equal(first_epoch, concat(sampler.epoch(two))[0])
    assert not torch.equal(first_epoch, concat(sampler.epoch(one))[0])
    with pytest.raises(ValueError, match="only 10 classes"):
        BalancedBatchSampler(LABELS, classes_per_batch=11, images_per_class=2)
    assert ClassTable(LABELS).num_pairable == 9 and ClassTable(LABELS).num_classes == 10
    with pytest.raises(ValueError, match="only 9 classes have two images or more"):
        BalancedBatchSampler(LABELS, classes_per_batch=10, images_per_class=2)


def test_balanced_batches_never_draw_a_single_image_class_and_draw_the_rest_by_size():
    sampler = BalancedBatchSampler(LABELS, classes_per_batch=3, images_per_class=4)
    generator = torch.Generator().manual_seed(13)
    drawn = torch.zeros(10)
    for _ in range(400):
        for (indices,) in sampler.epoch(generator):
            classes = LABELS[indices].view(3, 4)
            assert (classes == classes[:, :1]).all() and len(classes[:, 0].unique()) == 3
            drawn[classes[:, 0]] += 1
    assert drawn[4] == 0
    # Drawn with probability growing with size: the largest class (120 images) most, the two-image class least.
    order = drawn[torch.tensor([0, 1, 2, 3, 5, 6, 7, 8, 9])].argsort()
    assert order[0].item() == 2 and order[-1].item() == 3


def test_samplers_say_once_which_classes_cannot_form_a_positive_pair():
    names = [f"c{i}" for i in range(10)]
    for sampler in (PairSampler(LABELS, 32, class_names=names), TripletSampler(LABELS, 32, class_names=names),
                    BalancedBatchSampler(LABELS, 3, 4, class_names=names)):
        (warning,) = sampler.warnings
        assert warning.startswith("warning: class 'c4' has a single image, which cannot form a positive pair")
        assert "\n" not in warning
    assert IndexSampler(LABELS, 32).warnings == []
    two = torch.tensor([0, 1, 1, 2, 3, 3, 5])  # labels 0, 2 and 5 hold one image each
    (warning,) = PairSampler(two, 4).warnings
    assert warning.startswith("warning: 3 classes have a single image") and "(0, 2, 5)" in warning
    equal = torch.arange(10).repeat_interleave(3)
    for sampler in (PairSampler(equal, 4), TripletSampler(equal, 4), BalancedBatchSampler(equal, 2, 2)):
        assert sampler.warnings == []


def test_triplets_need_a_class_of_two_images_and_pairs_two_classes():
    with pytest.raises(ValueError, match="no class has two images"):
        TripletSampler(torch.arange(5), 4)
    for sampler_class, what in ((PairSampler, "pairs"), (TripletSampler, "triplets")):
        with pytest.raises(ValueError, match=f"{what} need a negative of another class, but the labels hold only 1 "):
            sampler_class(torch.zeros(6, dtype=torch.long), 4)


# The draws as the samplers made them before classes of one image were left out of positive pairs:
# with every class of two images or more, the samplers must make exactly these draws (runs resumed
# from a checkpoint, and the README's figures, rely on the same seed giving the same batches).
def reference_pair_epoch(table, size, generator):
    first = torch.randperm(size, generator=generator)
    same = torch.zeros(size)
    same[torch.randperm(size, generator=generator)[: size // 2]] = 1.0
    second = torch.where(same.bool(), table.positives(first, generator), table.negatives(first, generator))
    return [first, second, same]


def reference_triplet_epoch(table, size, generator):
    anchor = torch.randperm(size, generator=generator)
    return [anchor, table.positives(anchor, generator), table.negatives(anchor, generator)]


def reference_balanced_epoch(sampler, generator):
    weights = sampler.table.count.double().expand(sampler.num_batches, -1)
    classes = torch.multinomial(weights, sampler.classes_per_batch, generator=generator)
    drawn = torch.zeros(sampler.num_batches, sampler.table.num_classes, dtype=torch.long)
    drawn.scatter_(1, classes, 1)
    occurrence = (drawn.cumsum(0) - 1).gather(1, classes)
    chunks = torch.empty(sampler.num_batches, sampler.classes_per_batch, sampler.images_per_class,
                         dtype=torch.long)
    for cls in range(sampler.table.num_classes):
        chosen = classes == cls
        if chosen.any():
            chunks[chosen] = sampler._chunks_of(cls, int(drawn[:, cls].sum()), generator)[occurrence[chosen]]
    return [chunks.flatten()]


def test_draws_are_unchanged_when_every_class_has_two_images_or_more():
    labels = torch.arange(10).repeat_interleave(torch.tensor([7, 30, 2, 9, 12, 3, 40, 5, 8, 11]))
    labels = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    table = ClassTable(labels)
    cases = ((PairSampler(labels, 16), lambda g: reference_pair_epoch(table, len(labels), g)),
             (TripletSampler(labels, 16), lambda g: reference_triplet_epoch(table, len(labels), g)))
    balanced = BalancedBatchSampler(labels, 4, 6)
    cases += ((balanced, lambda g: reference_balanced_epoch(balanced, g)),)
    for sampler, reference in cases:
        ours, theirs = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
        for _ in range(3):
            assert all(torch.equal(a, b) for a, b in zip(concat(sampler.epoch(ours)), reference(theirs)))
