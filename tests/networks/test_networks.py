import math

import pytest
import torch

from networks import ClassificationNet, EmbeddingNet, KochSiameseNet, VariationalAutoencoder
from networks.layers import channels_last


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


def test_koch_head_is_a_negatively_weighted_euclidean_distance():
    net = KochSiameseNet(2)
    with torch.no_grad():  # softplus(log(e^2 - 1)) = 2
        net.similarity.weight.fill_(math.log(math.e ** 2 - 1))
        net.similarity.bias.fill_(0.5)
    images = torch.randn(3, 1, 28, 28)
    z = net.embed(torch.cat([images, images.flip(0)]))
    z1, z2 = z.chunk(2)
    expected = 0.5 - 2.0 * ((z1[:, 0] - z2[:, 0]) ** 2 + (z1[:, 1] - z2[:, 1]) ** 2).sqrt()
    assert torch.allclose(net(images, images.flip(0)), expected, atol=1e-5)


def test_the_earlier_koch_head_is_a_negatively_weighted_l1_distance():
    # Built for checkpoints written before the head read the Euclidean distance.
    net = KochSiameseNet(2, distance="l1")
    with torch.no_grad():  # softplus(log(e - 1)) = 1, softplus(log(e^2 - 1)) = 2
        net.similarity.weight.copy_(torch.tensor([[math.log(math.e - 1), math.log(math.e ** 2 - 1)]]))
        net.similarity.bias.fill_(0.5)
    images = torch.randn(3, 1, 28, 28)
    z = net.embed(torch.cat([images, images.flip(0)]))
    z1, z2 = z.chunk(2)
    expected = 0.5 - (z1[:, 0] - z2[:, 0]).abs() - 2.0 * (z1[:, 1] - z2[:, 1]).abs()
    assert torch.allclose(net(images, images.flip(0)), expected, atol=1e-5)


def head_alone(distance, raw_weights):
    """The Koch head with the trunk replaced by the identity, so that its "images" are embeddings."""
    net = KochSiameseNet(2, distance=distance)
    net.embedding_net = torch.nn.Identity()
    with torch.no_grad():
        net.similarity.weight.copy_(torch.tensor([raw_weights]))
    return net


@pytest.mark.parametrize("distance, raw_weights", [("euclidean", [-3.0]), ("l1", [3.0, -3.0])])
def test_koch_head_never_rewards_distance_whatever_its_weights(distance, raw_weights):
    # Raw weights of either sign: a free-sign L1 head with a = (3, -3) would call the pairs moved
    # apart along the first axis more alike, and a Euclidean head with a weight of -3 every pair
    # moved apart; these heads call every pair moved apart less alike.
    net = head_alone(distance, raw_weights)
    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(50, 2, generator=generator), torch.randn(50, 2, generator=generator)
    for axis in range(2):
        apart = z2.clone()
        apart[:, axis] += 0.5 * torch.sign(z2[:, axis] - z1[:, axis])
        assert (net(z1, apart) < net(z1, z2)).all()


def test_koch_head_sees_the_distance_the_k_nn_measures():
    # The k-NN reads the plain Euclidean distance, which a rotation of the space keeps. The
    # head must keep it too: an L1 head calls pairs along a diagonal less alike than the same
    # pairs along an axis.
    net = head_alone("euclidean", [1.0])
    angle = torch.tensor(math.pi / 4)
    rotation = torch.tensor([[angle.cos(), -angle.sin()], [angle.sin(), angle.cos()]])
    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(50, 2, generator=generator), torch.randn(50, 2, generator=generator)
    torch.testing.assert_close(net(z1 @ rotation.T, z2 @ rotation.T), net(z1, z2))
    l1 = head_alone("l1", [1.0, 1.0])
    assert not torch.allclose(l1(z1 @ rotation.T, z2 @ rotation.T), l1(z1, z2), atol=1e-3)


def test_koch_head_has_a_finite_gradient_for_a_pair_that_coincides():
    net = head_alone("euclidean", [1.0])
    z = torch.randn(4, 2, requires_grad=True)
    net(z, z.detach().clone()).sum().backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("latent_dims", [1, 2, 16])
def test_vae_shapes_and_embedding_is_the_posterior_mean(latent_dims):
    model = VariationalAutoencoder(latent_dims)
    images = torch.randn(5, 1, 28, 28)
    logits, mean, log_variance = model(images)
    assert logits.shape == (5, 1, 28, 28)
    assert mean.shape == log_variance.shape == (5, latent_dims)
    assert torch.equal(model.embed(images), model.encode(images)[0])
    assert model.decode(torch.randn(7, latent_dims)).shape == (7, 1, 28, 28)


def test_vae_decoder_gives_valid_images():
    torch.manual_seed(0)
    model = VariationalAutoencoder(2)
    pixels = torch.sigmoid(model.decode(torch.randn(64, 2) * 3))
    assert pixels.shape == (64, 1, 28, 28)
    assert torch.isfinite(pixels).all() and (pixels >= 0).all() and (pixels <= 1).all()


def test_vae_samples_with_the_reparameterisation_trick():
    model = VariationalAutoencoder(2)
    mean, log_variance = torch.tensor([[1.0, -2.0]]), torch.tensor([[math.log(0.25), 0.0]])
    model.encode = lambda images: (mean.expand(len(images), 2), log_variance.expand(len(images), 2))
    model.decode = lambda latents: latents  # let the samples through
    torch.manual_seed(0)
    samples, _, _ = model(torch.zeros(20000, 1, 28, 28))
    assert torch.allclose(samples.mean(dim=0), mean[0], atol=0.02)
    assert torch.allclose(samples.std(dim=0), torch.tensor([0.5, 1.0]), atol=0.02)


def test_vae_gradients_reach_the_encoder_through_the_sample():
    torch.manual_seed(0)
    model = VariationalAutoencoder(2)
    logits, _, _ = model(torch.randn(4, 1, 28, 28))
    logits.sum().backward()  # the decoder's output alone: only the sample links it to the encoder
    first_conv = model.encoder.features[0]
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(3, 6, 24, 24), (2, 16, 8, 8), (2, 4, 7, 9), (5, 1, 3, 2)])
def test_fast_max_pool_without_autograd_equals_torch_pooling(shape):
    from networks.layers import MaxPool2x2
    torch.manual_seed(0)
    x = torch.randn(shape)
    x[0, 0, :2, :2] = 1.0  # a tie inside one window
    with torch.no_grad():
        fast = MaxPool2x2()(x)
    assert torch.equal(fast, torch.nn.functional.max_pool2d(x, 2))
    with torch.inference_mode():
        assert torch.equal(MaxPool2x2()(x), fast)


def test_embedding_is_the_same_with_and_without_autograd():
    torch.manual_seed(0)
    model = EmbeddingNet(2)
    images = torch.randn(8, 1, 28, 28)
    with torch.inference_mode():
        fast = model(images)
    assert torch.equal(fast, model(images).detach())


def prelu_inputs(model, images, grad=True):
    """The shapes of the tensors each conv layer's PReLU was applied to in one forward pass."""
    seen = []
    hooks = [prelu.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
             for prelu in (model.features[1], model.features[4])]
    with torch.set_grad_enabled(grad):
        model(images)
    for hook in hooks:
        hook.remove()
    return seen


def reference_embedding(model, images):
    """The network as written, module after module: conv, PReLU, pool, conv, PReLU, pool, head,
    on the images laid out as the network lays them out (channels_last: its own test)."""
    return model.head(model.features(channels_last(images)).flatten(1))


def parameter_gradients(model, images):
    """(the model's gradients, the gradients of the network as written) of one loss."""
    gradients = []
    for forward in (model, lambda images: reference_embedding(model, images)):
        model.zero_grad()
        forward(images).square().sum().backward()
        gradients.append([parameter.grad.clone() for parameter in model.parameters()])
    return gradients


@pytest.mark.parametrize("slope", [0.25, 1e-30])
def test_pooling_before_a_positive_prelu_is_the_same_function_on_a_quarter(slope):
    torch.manual_seed(0)
    model = EmbeddingNet(2)
    for prelu in (model.features[1], model.features[4]):
        prelu.weight.data.fill_(slope)
    images = torch.randn(6, 1, 28, 28)
    images[:3, :, :10] = 0.0   # blank rows, as in MNIST: windows of equal conv outputs (ties)
    assert prelu_inputs(model, images) == [(6, 6, 12, 12), (6, 16, 4, 4)]   # pooled first
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            assert torch.equal(model(images), reference_embedding(model, images))
    # Gradients equal those of the network as written, up to the order of summation.
    for got, expected in zip(*parameter_gradients(model, images)):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("slope", [-0.5, 0.0])
def test_a_negative_or_zero_prelu_slope_is_applied_before_pooling(slope):
    torch.manual_seed(0)
    model = EmbeddingNet(2)
    model.features[4].weight.data.fill_(slope)
    images = torch.randn(6, 1, 28, 28)
    assert prelu_inputs(model, images) == [(6, 6, 12, 12), (6, 16, 8, 8)]   # each layer decides
    model.features[1].weight.data.fill_(slope)
    assert prelu_inputs(model, images) == [(6, 6, 24, 24), (6, 16, 8, 8)]
    assert torch.equal(model(images), reference_embedding(model, images))
    for got, expected in zip(*parameter_gradients(model, images)):
        assert torch.equal(got, expected)


def test_pooling_first_would_be_wrong_for_a_negative_slope():
    """What the test above guards: with a negative slope, the other order is another function."""
    torch.manual_seed(0)
    features = EmbeddingNet(2).features
    features[4].weight.data.fill_(-0.5)
    images = torch.randn(6, 1, 28, 28)
    with torch.no_grad():
        swapped = features[4](features[5](features[3](features[:3](images))))
        assert not torch.equal(swapped, features(images))


def test_evaluation_embeds_every_image_once_in_order_across_batches():
    from datasets.mnist import Split
    from training import evaluation
    torch.manual_seed(3)
    images = torch.randint(0, 256, (2 * evaluation.EMBEDDING_BATCH_SIZE + 7, 28, 28), dtype=torch.uint8)
    split = Split(images, torch.zeros(len(images), dtype=torch.int64), [], 0.1307, 0.3081)
    model = EmbeddingNet(2)
    embedded = evaluation.embed(model, split)
    with torch.no_grad():
        expected = torch.cat([model(split.inputs(torch.tensor([i]))) for i in range(len(images))])
    torch.testing.assert_close(embedded, expected, rtol=1e-5, atol=1e-5)
