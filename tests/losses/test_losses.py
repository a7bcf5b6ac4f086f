import math

import pytest
import torch
import torch.nn.functional as F

from losses import (binary_cross_entropy_with_logits, contrastive_loss, cross_entropy_loss,
                    euclidean_distance, triplet_loss)


def test_contrastive_loss_hand_computed():
    z1 = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    z2 = torch.tensor([[3.0, 4.0], [0.3, 0.4], [3.0, 4.0]])
    same = torch.tensor([1.0, 0.0, 0.0])
    # d = 5, 0.5, 5 ; margin 2:
    # similar: 25 / 2 = 12.5 ; dissimilar within margin: (2 - 0.5)^2 / 2 = 1.125 ; beyond: 0
    expected = (12.5 + 1.125 + 0.0) / 3
    assert contrastive_loss(z1, z2, same, margin=2.0).item() == pytest.approx(expected, rel=1e-6)


def test_contrastive_loss_uses_plain_distance_for_the_margin():
    z1 = torch.zeros(1, 2)
    z2 = torch.tensor([[0.6, 0.8]])  # d = 1, d^2 = 1
    assert contrastive_loss(z1, z2, torch.tensor([0.0]), margin=1.5).item() == pytest.approx(0.125)
    assert contrastive_loss(z1, z2, torch.tensor([1.0]), margin=1.5).item() == pytest.approx(0.5)


def test_triplet_loss_hand_computed():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    n = torch.tensor([[0.0, 1.5], [4.0, 0.0]])
    # d(a,p) = 1, 1 ; d(a,n) = 1.5, 4 ; margin 1: max(0, 0.5) = 0.5, max(0, -2) = 0
    assert triplet_loss(a, p, n, margin=1.0).item() == pytest.approx(0.25)


def test_triplet_loss_with_the_distance_swap_hand_computed():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    n = torch.tensor([[1.5, 0.0], [0.0, -0.5]])
    # d(a,p) = 1, 1 ; d(a,n) = 1.5, 0.5 ; d(p,n) = 0.5, 1.5 ; the swap takes 0.5, 0.5:
    # margin 1: max(0, 1.5) = 1.5 twice (without it: 0.5 and 1.5)
    assert triplet_loss(a, p, n, margin=1.0, swap=True).item() == pytest.approx(1.5)
    assert triplet_loss(a, p, n, margin=1.0).item() == pytest.approx(1.0)


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_loss_matches_torch(swap):
    torch.manual_seed(0)
    a, p, n = torch.randn(3, 64, 5).unbind(0)
    for margin in (0.2, 1.0, 3.0):
        ours = triplet_loss(a, p, n, margin, swap=swap)
        theirs = F.triplet_margin_loss(a, p, n, margin=margin, p=2, eps=0.0, swap=swap)
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)


def test_binary_cross_entropy_hand_computed():
    logits = torch.tensor([0.0, 2.0, -1.0])
    targets = torch.tensor([1.0, 0.0, 0.0])
    expected = (math.log(2) + math.log(1 + math.exp(2)) + math.log(1 + math.exp(-1))) / 3
    assert binary_cross_entropy_with_logits(logits, targets).item() == pytest.approx(expected, rel=1e-6)


def test_binary_cross_entropy_matches_torch_and_is_stable():
    torch.manual_seed(0)
    logits = torch.cat([torch.randn(100) * 5, torch.tensor([500.0, -500.0, 90.0, -90.0])])
    targets = torch.randint(0, 2, (104,)).float()
    ours = binary_cross_entropy_with_logits(logits, targets)
    assert torch.isfinite(ours)
    assert ours.item() == pytest.approx(F.binary_cross_entropy_with_logits(logits, targets).item(), rel=1e-6)


def test_cross_entropy_hand_computed_and_matches_torch():
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = torch.tensor([2, 0])
    expected = ((math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 3) + math.log(3)) / 2
    assert cross_entropy_loss(logits, labels).item() == pytest.approx(expected, rel=1e-6)
    torch.manual_seed(0)
    logits, labels = torch.randn(50, 10) * 30, torch.randint(0, 10, (50,))
    assert cross_entropy_loss(logits, labels).item() == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-5)


@pytest.mark.parametrize("loss", [
    lambda z: contrastive_loss(z, z.clone(), torch.tensor([1.0, 0.0])),
    lambda z: triplet_loss(z, z.clone(), z.clone()),
    lambda z: euclidean_distance(z, z.clone()).sum(),
])
def test_identical_embeddings_give_finite_loss_and_gradients(loss):
    z = torch.tensor([[0.5, -1.0], [2.0, 3.0]], requires_grad=True)
    value = loss(z)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(z.grad).all()


def test_contrastive_gradient_pulls_similar_and_pushes_dissimilar():
    z1 = torch.zeros(2, 2, requires_grad=True)
    z2 = torch.tensor([[0.5, 0.0], [0.5, 0.0]], requires_grad=True)
    contrastive_loss(z1, z2, torch.tensor([1.0, 0.0])).backward()
    assert z2.grad[0, 0] > 0  # descending the gradient moves the similar partner towards z1
    assert z2.grad[1, 0] < 0  # ... and the dissimilar one away
