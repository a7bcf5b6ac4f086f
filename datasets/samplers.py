"""Batch samplers: each epoch becomes a list of batches, a batch a tuple of index tensors.

Everything is drawn for the whole epoch at once with vectorised indexing from per-class
index tables and a seeded `torch.Generator` (on the CPU, so that a seed means the same
draws on every device), then moved to the data's device in one transfer per epoch. No
Python code runs per sample, and the training loop only slices ready-made tensors.

An epoch has one item per image of the split, as in the classic `SiameseMNIST` /
`TripletMNIST` wrappers: every image is an anchor exactly once. The pair and triplet samplers
can draw `per_image` items of each image instead (each a fresh draw of partners), so that an
epoch holds more comparisons.

A class with a single image cannot form a positive pair. The pair and triplet samplers and the
P x K sampler leave such classes out of positive pairs (each says how in its docstring), and each
sampler's `warnings` holds one line that says so, for the caller to print once. When every class
has at least two images, as in MNIST and FashionMNIST, none of this changes a single draw.
"""

import math

import torch


class ClassTable:
    """Per-class index tables of a label vector, for drawing partners of many anchors at once.

    Samples are sorted by class into `order`; class c occupies `order[offset[c]:offset[c] + count[c]]`,
    and `rank[i]` is sample i's position inside its class's slice.
    """

    def __init__(self, labels):
        labels = labels.cpu()
        self.labels, self.class_of, self.count = torch.unique(labels, return_inverse=True, return_counts=True)
        self.order = torch.argsort(self.class_of, stable=True)
        self.offset = torch.cumsum(self.count, 0) - self.count
        self.rank = torch.empty_like(self.order)
        self.rank[self.order] = torch.arange(len(labels)) - self.offset[self.class_of[self.order]]

    @property
    def num_classes(self):
        return len(self.count)

    @property
    def singletons(self):
        """The positions (into `count`) of the classes with a single image."""
        return (self.count == 1).nonzero().flatten()

    @property
    def num_pairable(self):
        """How many classes have two images or more: the most a P x K batch can draw."""
        return self.num_classes - len(self.singletons)

    def has_partner(self, samples):
        """For each sample, whether another image of its class exists (False in a singleton class)."""
        return self.count[self.class_of[samples]] > 1

    def singleton_warning(self, class_names=None, left_out="left out of positive pairs"):
        """One line naming the classes with a single image and what is done with them, beginning
        'warning: ' as train.py's other warnings do; None when there are none.
        `class_names[label]` names a label (the labels themselves without it)."""
        singles = self.labels[self.singletons].tolist()
        if not singles:
            return None
        names = [repr(class_names[label]) if class_names is not None else str(label) for label in singles]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        if len(singles) == 1:
            return (f"warning: class {shown} has a single image, which cannot form a positive pair: "
                    f"it is {left_out}")
        return (f"warning: {len(singles)} classes have a single image, which cannot form a positive pair "
                f"({shown}): they are {left_out}")

    def positives(self, anchors, generator):
        """For each anchor, a uniformly drawn other image of its class.

        An anchor whose class has a single image is its own positive: there is no other.
        """
        cls = self.class_of[anchors]
        others = (self.count[cls] - 1).clamp_min(1)
        position = _uniform_below(others, generator)
        position = position + (position >= self.rank[anchors]).long()
        position = torch.where(self.count[cls] > 1, position, self.rank[anchors])
        return self.order[self.offset[cls] + position]

    def negatives(self, anchors, generator):
        """For each anchor, an image of another class: the class uniformly, then the image."""
        if self.num_classes < 2:
            raise ValueError("negatives need at least two classes in the labels")
        shift = torch.randint(1, self.num_classes, (len(anchors),), generator=generator)
        cls = (self.class_of[anchors] + shift) % self.num_classes
        return self.order[self.offset[cls] + _uniform_below(self.count[cls], generator)]


def _uniform_below(bounds, generator):
    """One integer uniformly drawn from [0, bound) for each bound."""
    draws = torch.rand(len(bounds), generator=generator, dtype=torch.float64)
    return (draws * bounds).long().clamp_max(bounds - 1)


class _EpochSampler:
    """Shared by the samplers below: `per_image` items per image, cut into batches of
    `batch_size`.

    `warnings`: lines for the caller to print once (empty when there is nothing to say).
    """

    def __init__(self, labels, batch_size, class_names=None, per_image=1):
        self.device = labels.device
        self.size = len(labels)
        self.batch_size = batch_size
        self.per_image = per_image
        self.table = ClassTable(labels)
        self.warnings = []

    @property
    def items(self):
        """Items (images, pairs or triplets) an epoch holds."""
        return self.size * self.per_image

    def __len__(self):
        return math.ceil(self.items / self.batch_size)

    def _anchors(self, generator):
        """Every image `per_image` times: one random order of them all after another."""
        return torch.cat([torch.randperm(self.size, generator=generator) for _ in range(self.per_image)])

    def _batches(self, *columns):
        columns = [column.to(self.device) for column in columns]
        return list(zip(*(column.split(self.batch_size) for column in columns)))


def _need_two_classes(table, what):
    if table.num_classes < 2:
        raise ValueError(f"{what} need a negative of another class, but the labels hold only "
                         f"{table.num_classes} class")


class IndexSampler(_EpochSampler):
    """Batches `(indices,)`: every image once, in a random order."""

    def epoch(self, generator):
        return self._batches(torch.randperm(self.size, generator=generator))


class PairSampler(_EpochSampler):
    """Batches `(first, second, same)`: each image the first of one pair or more, half the pairs
    of its class.

    Each image is the first of `per_image` pairs an epoch.
    `same` is 1.0 for a positive pair (another image of the anchor's class) and 0.0 for a
    negative pair (an image of another class); exactly half of an epoch's pairs are positive.
    An image of a class with a single image is the first of its pairs too, always negative
    ones; the positive half is drawn among the other images (all of them are positive if they
    are fewer than half).
    """

    def __init__(self, labels, batch_size, class_names=None, per_image=1):
        super().__init__(labels, batch_size, class_names, per_image)
        _need_two_classes(self.table, "pairs")
        warning = self.table.singleton_warning(class_names, "paired only with other classes' images")
        self.warnings = [warning] if warning else []

    def epoch(self, generator):
        first = self._anchors(generator)
        pairs = len(first)
        same = torch.zeros(pairs)
        if len(self.table.singletons) == 0:
            same[torch.randperm(pairs, generator=generator)[: pairs // 2]] = 1.0
        else:
            eligible = self.table.has_partner(first).nonzero().flatten()
            same[eligible[torch.randperm(len(eligible), generator=generator)[: pairs // 2]]] = 1.0
        second = torch.where(same.bool(), self.table.positives(first, generator),
                             self.table.negatives(first, generator))
        return self._batches(first, second, same)


class TripletSampler(_EpochSampler):
    """Batches `(anchor, positive, negative)`: positive of the anchor's class and not the
    anchor itself, negative of another class.

    An image of a class with a single image is never an anchor (it has no positive), only a
    negative: an epoch has `per_image` triplets per image of the other classes.
    """

    def __init__(self, labels, batch_size, class_names=None, per_image=1):
        super().__init__(labels, batch_size, class_names, per_image)
        _need_two_classes(self.table, "triplets")
        self.anchors = self.table.has_partner(torch.arange(self.size))
        if not self.anchors.any():
            raise ValueError("no class has two images: triplets need an anchor and a positive of one class")
        warning = self.table.singleton_warning(class_names, "never an anchor, only a negative")
        self.warnings = [warning] if warning else []

    @property
    def items(self):
        return int(self.anchors.sum()) * self.per_image

    def epoch(self, generator):
        anchor = self._anchors(generator)
        if len(self.table.singletons):
            anchor = anchor[self.anchors[anchor]]
        return self._batches(anchor, self.table.positives(anchor, generator),
                             self.table.negatives(anchor, generator))


class BalancedBatchSampler:
    """Batches `(indices,)`: P classes x K images each, for mining pairs and triplets online.

    Each batch draws `classes_per_batch` (P) distinct classes, with probability growing with
    a class's size (`torch.multinomial` without replacement), and takes the next
    `images_per_class` (K) images of each. A class's images come in passes, each pass a
    fresh random permutation cut into chunks of K (the last n mod K images of a pass are left
    out of it; the next pass is a new permutation, so they are not owed a place there); a class
    with fewer than K images fills its chunk with its permutation repeated, so each of its
    images appears floor(K/n) or ceil(K/n) times in the batch. A class with a single image is
    never drawn (its K copies would be positive pairs of an image with itself): P may not exceed
    the number of classes with two images or more. An epoch has N // (P K) batches
    (at least one), so it holds about as many images as the split and most images are used
    once (on MNIST, 58,800 distinct images of 60,000 an epoch), each epoch drawn afresh.
    `--batch-size` plays no part: P K is the batch.
    """

    def __init__(self, labels, classes_per_batch, images_per_class, class_names=None):
        self.device = labels.device
        self.table = ClassTable(labels)
        if classes_per_batch > self.table.num_classes:
            raise ValueError(f"{classes_per_batch} classes per batch, but the labels hold only "
                             f"{self.table.num_classes} classes")
        pairable = self.table.num_pairable
        if classes_per_batch > pairable:
            raise ValueError(f"{classes_per_batch} classes per batch, but only {pairable} classes "
                             f"have two images or more (a class of one image cannot form a positive pair)")
        warning = self.table.singleton_warning(class_names, "left out of the batches")
        self.warnings = [warning] if warning else []
        self.classes_per_batch = classes_per_batch
        self.images_per_class = images_per_class
        self.num_batches = max(len(labels) // (classes_per_batch * images_per_class), 1)

    def __len__(self):
        return self.num_batches

    def epoch(self, generator):
        weights = torch.where(self.table.count > 1, self.table.count, 0).double().expand(self.num_batches, -1)
        classes = torch.multinomial(weights, self.classes_per_batch, generator=generator)  # (batches, P)
        # The i-th time a class is drawn in the epoch, it gives its i-th chunk of K images.
        drawn = torch.zeros(self.num_batches, self.table.num_classes, dtype=torch.long)
        drawn.scatter_(1, classes, 1)
        occurrence = (drawn.cumsum(0) - 1).gather(1, classes)
        chunks = torch.empty(self.num_batches, self.classes_per_batch, self.images_per_class,
                             dtype=torch.long)
        for cls in range(self.table.num_classes):
            chosen = classes == cls
            if chosen.any():
                chunks[chosen] = self._chunks_of(cls, int(drawn[:, cls].sum()), generator)[occurrence[chosen]]
        return [(batch,) for batch in chunks.flatten(1).to(self.device)]

    def _chunks_of(self, cls, count, generator):
        """`count` chunks of K image indices of class `cls`, in passes over its images."""
        size, k = int(self.table.count[cls]), self.images_per_class
        per_pass = max(size // k, 1)
        passes = -(-count // per_pass)
        permutations = torch.rand(passes, size, generator=generator).argsort(dim=1)
        permutations = permutations.repeat(1, -(-k // size))  # only repeats when size < K
        chunks = permutations[:, :per_pass * k].reshape(passes * per_pass, k)[:count]
        members = self.table.order[self.table.offset[cls]:self.table.offset[cls] + size]
        return members[chunks]
