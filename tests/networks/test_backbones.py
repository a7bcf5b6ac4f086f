"""Every backbone under every network: shapes for any channels and size, gradients, parameter
counts as documented, the CPU speed tricks against the layers as written, and checkpoints of
the original's layout loading into the `original` backbone."""

import re

import pytest
import torch
from torch import nn
from torch.nn import functional

import networks
from networks import (BACKBONES, DECODERS, NETWORKS, ClassificationNet, EmbeddingNet, KochSiameseNet,
                      VariationalAutoencoder, build)
from networks.layers import MaxPool2x2, channels_last

IMAGE_SHAPES = [(1, 28), (3, 32), (1, 16), (3, 64)]  # (channels, size)


def make(kind, backbone, latent_dims=2, in_channels=1, image_size=28, num_classes=10):
    extra = {"num_classes": num_classes} if kind is ClassificationNet else {}
    return kind(latent_dims, backbone=backbone, in_channels=in_channels, image_size=image_size, **extra)


def outputs(model, images):
    """Every tensor the model's forward gives (what a loss would read)."""
    if isinstance(model, KochSiameseNet):
        return (model(images, images.flip(0)),)
    result = model(images)
    return result if isinstance(result, tuple) else (result,)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("channels, size", IMAGE_SHAPES)
def test_every_network_gives_its_shapes_for_any_channels_and_size(backbone, channels, size):
    torch.manual_seed(0)
    images = torch.randn(3, channels, size, size)
    for latent_dims in (2, 3):
        kwargs = dict(backbone=backbone, in_channels=channels, image_size=size)
        assert EmbeddingNet(latent_dims, **kwargs)(images).shape == (3, latent_dims)
        classifier = ClassificationNet(latent_dims, 7, **kwargs)
        assert classifier(images).shape == (3, 7)
        assert classifier.embed(images).shape == (3, latent_dims)
        koch = KochSiameseNet(latent_dims, **kwargs)
        assert koch(images, images.flip(0)).shape == (3,)
        assert koch.embed(images).shape == (3, latent_dims)
        vae = VariationalAutoencoder(latent_dims, **kwargs)
        logits, mean, log_variance = vae(images)
        assert logits.shape == (3, channels, size, size)
        assert mean.shape == log_variance.shape == vae.embed(images).shape == (3, latent_dims)
        assert vae.decode(torch.randn(5, latent_dims)).shape == (5, channels, size, size)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_size_from_16_to_64_fits_the_trunk_and_the_decoder_exactly(backbone):
    for channels in (1, 3):
        for size in range(16, 65):
            image = torch.zeros(1, channels, size, size)
            with torch.no_grad():
                assert BACKBONES[backbone](2, channels, size)(image).shape == (1, 2), size
                assert DECODERS[backbone](2, channels, size)(torch.zeros(1, 2)).shape == image.shape, size


@pytest.mark.parametrize("backbone", BACKBONES)
def test_an_image_too_small_is_refused_naming_the_smallest_size(backbone):
    EmbeddingNet(2, backbone, 1, 16)
    for small in (15, 8):
        with pytest.raises(ValueError, match=f"the {backbone} backbone needs images of at least 16x16 "
                                             f"pixels, not {small}x{small}"):
            EmbeddingNet(2, backbone, 1, small)
    with pytest.raises(ValueError, match="at least 16x16"):
        VariationalAutoencoder(2, backbone, 3, 12)


def test_an_unknown_backbone_is_refused_naming_the_choices():
    with pytest.raises(ValueError, match="unknown backbone 'wid'; choose from original, wide"):
        EmbeddingNet(2, "wid")
    with pytest.raises(ValueError, match="unknown backbone"):
        VariationalAutoencoder(2, "wid")


def test_the_decoder_crops_the_centre_of_its_larger_map():
    # 30 is no multiple of 4: the decoder makes 32x32 and keeps its central 30x30.
    decoder = DECODERS["original"](2, 1, 30)
    crop = decoder[-1]
    assert isinstance(crop, networks.layers.CenterCrop) and crop.size == 30
    whole = torch.arange(2 * 32 * 32, dtype=torch.float32).reshape(2, 1, 32, 32)
    assert torch.equal(crop(whole), whole[:, :, 1:31, 1:31])
    assert not any(isinstance(layer, networks.layers.CenterCrop) for layer in DECODERS["original"](2, 1, 28))


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("kind", NETWORKS.values(), ids=list(NETWORKS))
@pytest.mark.parametrize("channels, size", [(1, 28), (3, 20)])
def test_gradients_reach_every_parameter(backbone, kind, channels, size):
    torch.manual_seed(0)
    model = make(kind, backbone, in_channels=channels, image_size=size)
    images = torch.randn(4, channels, size, size)
    sum(output.square().mean() for output in outputs(model, images)).backward()
    # The Koch head reads only z1 - z2, in which the trunk's last bias cancels: its gradient is 0.
    last_bias = (f"embedding_net.head.{len(model.embedding_net.head) - 1}.bias"
                 if kind is KochSiameseNet else None)
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        if name == last_bias:
            assert torch.equal(parameter.grad, torch.zeros_like(parameter)), name
        else:
            assert parameter.grad.abs().sum() > 0, name


# Parameter counts, by the formulas of networks/backbones.py's docstrings: C channels, an h x w
# map after the convolutions (valid 5x5 convolutions, each followed by a 2x2 max-pool), D outputs.
def side_after_convs(size):
    return ((size - 4) // 2 - 4) // 2


def trunk_parameters(backbone, channels, size, out_dims):
    hw = side_after_convs(size) ** 2
    if backbone == "original":
        return 6 * (25 * channels + 1) + 16 * (6 * 25 + 1) + 128 * (16 * hw + 1) + out_dims * (128 + 1) + 3
    wide = (32 * (25 * channels + 1) + 64 * (32 * 25 + 1) + 256 * (64 * hw + 1) + 256 * (256 + 1)
            + out_dims * (256 + 1) + 4)
    return wide if backbone == "wide" else wide + 2 * (32 + 64)  # wide-gn: a scale and shift a channel


def decoder_parameters(backbone, channels, size, latent_dims):
    s = -(-size // 4)
    if backbone == "original":
        return (128 * (latent_dims + 1) + 32 * s * s * (128 + 1) + 16 * (32 * 16 + 1)
                + channels * (16 * 16 + 1) + 3)
    return (256 * (latent_dims + 1) + 256 * (256 + 1) + 64 * s * s * (256 + 1) + 32 * (64 * 16 + 1)
            + channels * (32 * 16 + 1) + 4)


def count(module):
    return sum(parameter.numel() for parameter in module.parameters())


DOCUMENTED = {  # at 1x28x28, D = 2: the numbers the docstrings state
    "original": (35_729, 211_124),
    "wide": (380_806, 905_829),
    "wide-gn": (380_998, 905_829),
}


def test_the_documented_counts_are_the_formulas_and_the_docstrings_state_them():
    assert set(DOCUMENTED) == set(BACKBONES) == set(DECODERS)
    for backbone, (trunk, decoder) in DOCUMENTED.items():
        assert trunk_parameters(backbone, 1, 28, 2) == trunk
        assert decoder_parameters(backbone, 1, 28, 2) == decoder
        assert f"{trunk:,} at 1x28x28 with D = 2" in " ".join(BACKBONES[backbone].__doc__.split())
        assert f"{decoder:,} at 1x28x28 with D = 2" in " ".join(DECODERS[backbone].__doc__.split())
    assert side_after_convs(28) == 4 and side_after_convs(16) == 1


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("channels, size, dims", [(1, 28, 2), (3, 32, 2), (1, 16, 5), (3, 64, 3), (1, 37, 2)])
def test_parameter_counts_are_as_documented(backbone, channels, size, dims):
    kwargs = dict(backbone=backbone, in_channels=channels, image_size=size)
    trunk = trunk_parameters(backbone, channels, size, dims)
    assert count(BACKBONES[backbone](dims, channels, size)) == trunk
    assert count(EmbeddingNet(dims, **kwargs)) == trunk
    assert count(ClassificationNet(dims, 10, **kwargs)) == trunk + 10 * (dims + 1)
    assert count(KochSiameseNet(dims, **kwargs)) == trunk + 2   # a weight and a bias on the distance
    assert count(KochSiameseNet(dims, **kwargs, distance="l1")) == trunk + dims + 1
    assert count(VariationalAutoencoder(dims, **kwargs)) == (trunk_parameters(backbone, channels, size, 2 * dims)
                                                             + decoder_parameters(backbone, channels, size, dims))


# The speed tricks (networks/layers.py) against the layers as written, for every backbone.
def as_written(trunk, images, layout=channels_last):
    """The trunk module after module: each PReLU before its pool, torch's own max-pooling; on
    the images laid out as the trunk lays them out, unless `layout` is given."""
    x = layout(images)
    for layer in trunk.features:
        x = functional.max_pool2d(x, 2) if isinstance(layer, MaxPool2x2) else layer(x)
    return trunk.head(x.flatten(1))


def conv_prelus(trunk):
    return [layer for layer in trunk.features if isinstance(layer, nn.PReLU)]


def prelu_input_shapes(trunk, images):
    seen = []
    hooks = [prelu.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
             for prelu in conv_prelus(trunk)]
    trunk(images)
    for hook in hooks:
        hook.remove()
    return seen


def gradients(trunk, forward, images):
    trunk.zero_grad()
    forward(images).square().sum().backward()
    return [parameter.grad.clone() for parameter in trunk.parameters()]


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("slope", [0.25, 1e-30])
def test_pooling_before_a_positive_prelu_is_the_layers_as_written_on_a_quarter(backbone, slope):
    torch.manual_seed(0)
    trunk = BACKBONES[backbone](3, 1, 28)
    for prelu in conv_prelus(trunk):
        prelu.weight.data.fill_(slope)
    images = torch.randn(6, 1, 28, 28)
    images[:3, :, :10] = 0.0  # blank rows, as in MNIST: windows of equal conv outputs (ties)
    widths = [layer.out_channels for layer in trunk.features if isinstance(layer, nn.Conv2d)]
    assert prelu_input_shapes(trunk, images) == [(6, widths[0], 12, 12), (6, widths[1], 4, 4)]
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            assert torch.equal(trunk(images), as_written(trunk, images))
    for got, expected in zip(gradients(trunk, trunk, images),
                             gradients(trunk, lambda x: as_written(trunk, x), images)):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_a_negative_prelu_slope_goes_before_its_pool(backbone):
    torch.manual_seed(0)
    trunk = BACKBONES[backbone](3, 3, 32)
    first, second = conv_prelus(trunk)
    second.weight.data.fill_(-0.5)
    images = torch.randn(4, 3, 32, 32)
    widths = [layer.out_channels for layer in trunk.features if isinstance(layer, nn.Conv2d)]
    assert prelu_input_shapes(trunk, images) == [(4, widths[0], 14, 14), (4, widths[1], 10, 10)]
    with torch.no_grad():
        assert torch.equal(trunk(images), as_written(trunk, images))
    for got, expected in zip(gradients(trunk, trunk, images),
                             gradients(trunk, lambda x: as_written(trunk, x), images)):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("channels", [1, 3])
def test_on_a_cpu_the_layers_run_channels_last_and_give_the_layers_values_up_to_rounding(backbone, channels):
    torch.manual_seed(0)
    trunk = BACKBONES[backbone](3, channels, 28)
    images = torch.randn(6, channels, 28, 28)
    seen = []   # the strides of what each conv layer is given
    hooks = [layer.register_forward_pre_hook(lambda module, args: seen.append(args[0].stride()))
             for layer in trunk.features if isinstance(layer, nn.Conv2d)]
    embeddings = trunk(images)
    for hook in hooks:
        hook.remove()
    assert all(stride[1] == 1 for stride in seen) and len(seen) == 2   # a pixel's channels side by side
    torch.testing.assert_close(embeddings, as_written(trunk, images, layout=lambda x: x), rtol=1e-5, atol=1e-6)
    for got, expected in zip(gradients(trunk, trunk, images),
                             gradients(trunk, lambda x: as_written(trunk, x, layout=lambda x: x), images)):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_images_laid_out_channels_last_already_are_not_copied():
    images = torch.randn(4, 3, 8, 8)
    laid_out = channels_last(images)
    assert laid_out.stride() == (192, 1, 24, 3) and torch.equal(laid_out, images)
    assert channels_last(laid_out) is laid_out
    grey = channels_last(torch.randn(4, 1, 8, 8))
    assert grey.stride() == (64, 1, 8, 1) and channels_last(grey) is grey


@pytest.mark.parametrize("backbone", BACKBONES)
def test_every_network_embeds_the_same_with_and_without_autograd(backbone):
    torch.manual_seed(0)
    images = torch.randn(5, 3, 24, 24)
    for kind in NETWORKS.values():
        model = make(kind, backbone, in_channels=3, image_size=24)
        with torch.inference_mode():
            fast = model.embed(images)
        assert torch.equal(fast, model.embed(images).detach()), kind.__name__


@pytest.mark.parametrize("backbone", BACKBONES)
def test_an_image_embeds_the_same_alone_as_in_a_batch_in_training_mode_too(backbone):
    # No layer mixes the images of a batch (wide-gn's group norms take one image's statistics,
    # where a batch norm would not): several processes under torchrun train what one does.
    torch.manual_seed(0)
    trunk = BACKBONES[backbone](2, 3, 24).train()
    images = torch.randn(6, 3, 24, 24)
    together = trunk(images)
    for index in range(len(images)):
        torch.testing.assert_close(trunk(images[index:index + 1])[0], together[index], rtol=1e-5, atol=1e-6)


# Checkpoints of the original's layout (the networks as they were before backbones existed,
# written out here layer by layer) load into the `original` backbone unchanged.
class OldEmbeddingNet(nn.Module):
    def __init__(self, latent_dims=2):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.PReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(6, 16, 5), nn.PReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Linear(256, 128), nn.PReLU(), nn.Linear(128, latent_dims))

    def forward(self, images):
        return self.head(self.features(images).flatten(1))


class OldClassificationNet(nn.Module):
    def __init__(self, latent_dims=2, num_classes=10):
        super().__init__()
        self.embedding_net = OldEmbeddingNet(latent_dims)
        self.classifier = nn.Linear(latent_dims, num_classes)

    def forward(self, images):
        return self.classifier(self.embedding_net(images))


class OldKochSiameseNet(nn.Module):
    def __init__(self, latent_dims=2):
        super().__init__()
        self.embedding_net = OldEmbeddingNet(latent_dims)
        self.similarity = nn.Linear(latent_dims, 1)

    def forward(self, first, second):
        return self.similarity((self.embedding_net(first) - self.embedding_net(second)).abs()).squeeze(1)


class OldVariationalAutoencoder(nn.Module):
    def __init__(self, latent_dims=2):
        super().__init__()
        self.encoder = OldEmbeddingNet(2 * latent_dims)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dims, 128), nn.PReLU(),
            nn.Linear(128, 32 * 7 * 7), nn.PReLU(), nn.Unflatten(1, (32, 7, 7)),
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.PReLU(),
            nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1))

    def forward(self, images):  # the mean's decoding, so that the outputs are deterministic
        mean, log_variance = self.encoder(images).chunk(2, dim=1)
        return self.decoder(mean), mean, log_variance


def EarlierKochSiameseNet(latent_dims):
    """The Koch head that checkpoints of the original layout hold: an L1 distance per dimension."""
    return KochSiameseNet(latent_dims, distance="l1")


OLD_AND_NEW = [(OldEmbeddingNet, EmbeddingNet), (OldClassificationNet, ClassificationNet),
               (OldKochSiameseNet, EarlierKochSiameseNet), (OldVariationalAutoencoder, VariationalAutoencoder)]
TRUNK_KEYS = ["features.0.weight", "features.0.bias", "features.1.weight", "features.3.weight",
              "features.3.bias", "features.4.weight", "head.0.weight", "head.0.bias", "head.1.weight",
              "head.2.weight", "head.2.bias"]
OLD_KEYS = {
    EmbeddingNet: TRUNK_KEYS,
    ClassificationNet: [f"embedding_net.{key}" for key in TRUNK_KEYS]
    + ["classifier.weight", "classifier.bias"],
    EarlierKochSiameseNet: [f"embedding_net.{key}" for key in TRUNK_KEYS] + ["similarity.weight", "similarity.bias"],
    VariationalAutoencoder: [f"encoder.{key}" for key in TRUNK_KEYS] + [
        "decoder.0.weight", "decoder.0.bias", "decoder.1.weight", "decoder.2.weight", "decoder.2.bias",
        "decoder.3.weight", "decoder.5.weight", "decoder.5.bias", "decoder.6.weight", "decoder.7.weight",
        "decoder.7.bias"],
}


def new_outputs(model, images):
    if isinstance(model, VariationalAutoencoder):
        mean, log_variance = model.encode(images)
        return model.decode(mean), mean, log_variance
    return outputs(model, images)


@pytest.mark.parametrize("old_class, new_class", OLD_AND_NEW, ids=[new.__name__ for _, new in OLD_AND_NEW])
def test_a_checkpoint_of_the_original_layout_loads_into_the_original_backbone(old_class, new_class, tmp_path):
    torch.manual_seed(1)
    old = old_class(2)
    for parameter in old.parameters():  # trained-looking weights, positive and negative slopes
        parameter.data.add_(0.1 * torch.randn_like(parameter))
    torch.save({"model": old.state_dict()}, tmp_path / "model.pt")
    state = torch.load(tmp_path / "model.pt", weights_only=True)["model"]
    assert list(state) == OLD_KEYS[new_class]

    new = new_class(2)  # the default backbone is the original's
    assert list(new.state_dict()) == OLD_KEYS[new_class]
    new.load_state_dict(state)  # strict: the same keys and shapes
    images = torch.randn(6, 1, 28, 28)
    with torch.no_grad():
        if old_class is OldKochSiameseNet:
            # The Koch head now keeps its distance weights negative (-softplus(w)): the same keys
            # mean another head, so only the trunk's embedding is the old one (and training's
            # checkpoint refuses to resume such a run).
            torch.testing.assert_close(new.embed(images), old.embedding_net(images), rtol=1e-5, atol=1e-6)
            return
        old_outputs = old(images)
        old_outputs = old_outputs if isinstance(old_outputs, tuple) else (old_outputs,)
        for got, expected in zip(new_outputs(new, images), old_outputs, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)   # rounding: channels_last


@pytest.mark.parametrize("old_class, new_class", OLD_AND_NEW, ids=[new.__name__ for _, new in OLD_AND_NEW])
def test_the_original_backbone_starts_from_the_original_weights_under_the_same_seed(old_class, new_class):
    # So that a --seed gives the same run as before backbones existed.
    torch.manual_seed(0)
    old = old_class(2).state_dict()
    torch.manual_seed(0)
    new = new_class(2).state_dict()
    assert list(old) == list(new)
    assert all(torch.equal(old[key], new[key]) for key in old)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("kind", NETWORKS.values(), ids=list(NETWORKS))
def test_a_network_is_rebuilt_from_its_hyperparameters(backbone, kind):
    model = make(kind, backbone, latent_dims=3, in_channels=3, image_size=20, num_classes=4)
    expected = dict(latent_dims=3, backbone=backbone, in_channels=3, image_size=20)
    if kind is ClassificationNet:
        expected["num_classes"] = 4
    if kind is KochSiameseNet:
        expected["distance"] = "euclidean"
    assert model.hyperparameters == expected
    rebuilt = build(kind.__name__, **model.hyperparameters)
    assert type(rebuilt) is kind and rebuilt.hyperparameters == expected
    rebuilt.load_state_dict(model.state_dict())  # strict: the same keys and shapes
    images = torch.randn(2, 3, 20, 20)
    with torch.no_grad():
        assert torch.equal(rebuilt.embed(images), model.embed(images))
    with pytest.raises(ValueError, match=re.escape("unknown network 'Embedding'; choose from EmbeddingNet")):
        build("Embedding", **model.hyperparameters)
