"""The VAE's loss: the KL term against its closed form, the whole bound against a direct computation."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from losses import gaussian_kl_divergence, negative_elbo


def test_kl_hand_computed():
    mean = torch.tensor([[0.0, 0.0], [1.0, 2.0], [0.0, 0.0]])
    log_variance = torch.tensor([[0.0, 0.0], [0.0, 0.0], [math.log(4.0), 0.0]])
    # the prior itself: 0; shifted means: (1 + 4) / 2; variance 4: (4 - 1 - log 4) / 2
    expected = torch.tensor([0.0, 2.5, (3 - math.log(4.0)) / 2])
    assert torch.allclose(gaussian_kl_divergence(mean, log_variance), expected, atol=1e-6)


def test_kl_matches_torch_distributions():
    torch.manual_seed(0)
    mean, log_variance = torch.randn(50, 4) * 2, torch.randn(50, 4)
    theirs = kl_divergence(Normal(mean, (0.5 * log_variance).exp()), Normal(0.0, 1.0)).sum(dim=1)
    assert torch.allclose(gaussian_kl_divergence(mean, log_variance), theirs, atol=1e-5)


def test_negative_elbo_matches_a_direct_computation():
    torch.manual_seed(0)
    logits = torch.randn(6, 1, 28, 28) * 4
    targets = torch.rand(6, 1, 28, 28)
    mean, log_variance = torch.randn(6, 2), torch.randn(6, 2)
    reconstruction = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(dim=(1, 2, 3))
    kl = -0.5 * (1 + log_variance - mean.pow(2) - log_variance.exp()).sum(dim=1)
    expected = (reconstruction + kl).mean()
    assert negative_elbo(logits, targets, mean, log_variance).item() == pytest.approx(expected.item(), rel=1e-5)


def test_negative_elbo_hand_computed_on_two_pixels():
    # Two "images" of two pixels, logits 0 (p = 1/2): each pixel costs log 2, so 2 log 2 per
    # image; KL of the prior itself is 0, of mean 1 is 1/2.
    logits = torch.zeros(2, 2)
    targets = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    mean, log_variance = torch.tensor([[0.0], [1.0]]), torch.zeros(2, 1)
    assert negative_elbo(logits, targets, mean, log_variance).item() == pytest.approx(
        2 * math.log(2) + 0.25, rel=1e-6)
