"""The online triplet loss has the gradient of the plain triplet loss over the mined triplets,
whatever shortcut it takes to compute it ("all" sums per-pair counts instead of gathering)."""

import pytest
import torch

from losses import TRIPLET_MINING, online_triplet_loss, pairwise_euclidean_distance, triplet_loss
from losses.mining import all_positive_triplets, batch_hard_triplets, semi_hard_triplets

MARGIN = 0.8
MINERS = {"batch-hard": lambda d, y: batch_hard_triplets(d, y),
          "semi-hard": lambda d, y: semi_hard_triplets(d, y, MARGIN),
          "all": lambda d, y: all_positive_triplets(d, y, MARGIN)}


@pytest.mark.parametrize("mining", TRIPLET_MINING)
def test_gradient_equals_the_triplet_loss_on_the_mined_triplets(mining):
    generator = torch.Generator().manual_seed(1)
    checked = 0
    for _ in range(10):
        labels = torch.randint(0, 4, (16,), generator=generator)
        start = torch.randn(16, 2, generator=generator)
        ours = start.clone().requires_grad_()
        online_triplet_loss(ours, labels, MARGIN, mining).backward()
        theirs = start.clone().requires_grad_()
        a, p, n = MINERS[mining](pairwise_euclidean_distance(start), labels)
        if len(a) == 0:
            continue
        triplet_loss(theirs[a], theirs[p], theirs[n], MARGIN).backward()
        assert torch.allclose(ours.grad, theirs.grad, atol=1e-6)
        assert ours.grad.abs().sum() > 0
        checked += 1
    assert checked >= 8
