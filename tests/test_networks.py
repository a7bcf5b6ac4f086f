import pytest
import torch

from networks import ClassificationNet, EmbeddingNet, KochSiameseNet


@pytest.mark.parametrize("latent_dims", [1, 2, 16])
def test_output_shapes(latent_dims):
    images = torch.randn(5, 1, 28, 28)
    assert EmbeddingNet(latent_dims)(images).shape == (5, latent_dims)
    assert ClassificationNet(latent_dims)(images).shape == (5, 10)
    assert ClassificationNet(latent_dims).embed(images).shape == (5, latent_dims)
    assert KochSiameseNet(latent_dims)(images, images.flip(0)).shape == (5,)
    assert KochSiameseNet(latent_dims).embed(images).shape == (5, latent_dims)


@pytest.mark.parametrize("model_class", [EmbeddingNet, ClassificationNet, KochSiameseNet])
def test_gradients_reach_the_first_convolution(model_class):
    torch.manual_seed(0)
    model = model_class(2)
    images = torch.randn(4, 1, 28, 28)
    output = model(images, images.flip(0)) if model_class is KochSiameseNet else model(images)
    output.pow(2).sum().backward()
    trunk = model if model_class is EmbeddingNet else model.embedding_net
    first_conv = trunk.features[0]
    assert isinstance(first_conv, torch.nn.Conv2d) and first_conv.in_channels == 1
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0


def test_koch_head_is_a_weighted_l1_distance():
    net = KochSiameseNet(2)
    with torch.no_grad():
        net.similarity.weight.copy_(torch.tensor([[2.0, -1.0]]))
        net.similarity.bias.fill_(0.5)
    images = torch.randn(3, 1, 28, 28)
    z = net.embed(torch.cat([images, images.flip(0)]))
    z1, z2 = z.chunk(2)
    expected = 2.0 * (z1[:, 0] - z2[:, 0]).abs() - (z1[:, 1] - z2[:, 1]).abs() + 0.5
    assert torch.allclose(net(images, images.flip(0)), expected, atol=1e-5)
