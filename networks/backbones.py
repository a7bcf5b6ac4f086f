"""The backbones every network is built on, by name, as plain layer lists: `--backbone NAME`.

BACKBONES maps a name to a builder `(out_dims, in_channels, image_size) -> Trunk`, a module
that maps (B, in_channels, image_size, image_size) float images to (B, out_dims). DECODERS maps
the same names to the variational autoencoder's decoder for that backbone, `(latent_dims,
out_channels, image_size) -> nn.Module` mapping (B, latent_dims) to (B, out_channels,
image_size, image_size) pixel logits.

The layers read like the papers' figures; how they run (and the CPU speed tricks every backbone
gets) is networks/layers.py. The first linear layer's input follows the image's channels and
size: it is read off the convolutional layers by `flat_size`, which refuses an image too small
for them. Adding a backbone is one builder and one decoder here, and an entry in each dict.

Parameter counts, in each builder's docstring, are for C input channels, an h x w map after
the convolutions, D outputs, and each PReLU's single slope; tests/networks/test_backbones.py
checks them.
"""

import itertools
import math

from torch import nn

from .layers import CenterCrop, MaxPool2x2, Trunk


def original(out_dims: int, in_channels: int = 1, image_size: int = 28) -> Trunk:
    """The original project's trunk (after @adambielski's siamese-triplet):

    conv C->6 5x5, PReLU, max-pool 2, conv 6->16 5x5, PReLU, max-pool 2,
    linear (16*h*w)->128, PReLU, linear 128->D.            (h = w = 4 at 28x28, so 256 inputs)

    Parameters: 6(25C + 1) + 16(6*25 + 1) + 128(16hw + 1) + D(128 + 1) + 3;
    35,729 at 1x28x28 with D = 2. Images from 16x16.
    """
    features = [
        nn.Conv2d(in_channels, 6, 5), nn.PReLU(), MaxPool2x2(),
        nn.Conv2d(6, 16, 5), nn.PReLU(), MaxPool2x2(),
    ]
    head = [
        nn.Linear(flat_size("original", features, image_size), 128), nn.PReLU(),
        nn.Linear(128, out_dims),
    ]
    return Trunk(features, head)


def wide(out_dims: int, in_channels: int = 1, image_size: int = 28) -> Trunk:
    """The wider trunk of @adambielski's siamese-triplet:

    conv C->32 5x5, PReLU, max-pool 2, conv 32->64 5x5, PReLU, max-pool 2,
    linear (64*h*w)->256, PReLU, linear 256->256, PReLU, linear 256->D.   (1024 inputs at 28x28)

    Parameters: 32(25C + 1) + 64(32*25 + 1) + 256(64hw + 1) + 256(256 + 1) + D(256 + 1) + 4;
    380,806 at 1x28x28 with D = 2. Images from 16x16.
    """
    features = [
        nn.Conv2d(in_channels, 32, 5), nn.PReLU(), MaxPool2x2(),
        nn.Conv2d(32, 64, 5), nn.PReLU(), MaxPool2x2(),
    ]
    head = [
        nn.Linear(flat_size("wide", features, image_size), 256), nn.PReLU(),
        nn.Linear(256, 256), nn.PReLU(),
        nn.Linear(256, out_dims),
    ]
    return Trunk(features, head)


def wide_gn(out_dims: int, in_channels: int = 1, image_size: int = 28) -> Trunk:
    """The wide trunk with a group norm (Wu & He 2018; 8 groups) after each convolution:

    conv C->32 5x5, group norm, PReLU, max-pool 2, conv 32->64 5x5, group norm, PReLU, max-pool 2,
    linear (64*h*w)->256, PReLU, linear 256->256, PReLU, linear 256->D.   (1024 inputs at 28x28)

    Each group norm scales every image's maps to zero mean and unit variance over each group of
    channels, then by a learned scale and shift per channel. Its statistics are those of one
    image, not of the batch as a batch norm's are (which trained as well here): an embedding
    does not depend on the images beside it in a batch, evaluation computes what training did,
    and several processes under torchrun train what one does without synchronising statistics.

    Parameters: wide's + 2(32 + 64); 380,998 at 1x28x28 with D = 2. Images from 16x16.
    """
    features = [
        nn.Conv2d(in_channels, 32, 5), nn.GroupNorm(8, 32), nn.PReLU(), MaxPool2x2(),
        nn.Conv2d(32, 64, 5), nn.GroupNorm(8, 64), nn.PReLU(), MaxPool2x2(),
    ]
    head = [
        nn.Linear(flat_size("wide-gn", features, image_size), 256), nn.PReLU(),
        nn.Linear(256, 256), nn.PReLU(),
        nn.Linear(256, out_dims),
    ]
    return Trunk(features, head)


def original_decoder(latent_dims: int, out_channels: int = 1, image_size: int = 28) -> nn.Sequential:
    """The variational autoencoder's decoder for `original` (at 1x28x28, the original's own):

    linear D->128, PReLU, linear 128->32*s*s, PReLU, transposed conv 32->16 4x4 stride 2, PReLU,
    transposed conv 16->C 4x4 stride 2,             (s = ceil(size / 4): 7 at 28x28, 7->14->28)
    then the central size x size pixels where 4s exceeds the image's size.

    Parameters: 128(D + 1) + 32s^2(128 + 1) + 16(32*16 + 1) + C(16*16 + 1) + 3;
    211,124 at 1x28x28 with D = 2.
    """
    side = math.ceil(image_size / 4)
    return decoder_to_size([
        nn.Linear(latent_dims, 128), nn.PReLU(),
        nn.Linear(128, 32 * side * side), nn.PReLU(), nn.Unflatten(1, (32, side, side)),
        nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), nn.PReLU(),
        nn.ConvTranspose2d(16, out_channels, 4, stride=2, padding=1),
    ], 4 * side, image_size)


def wide_decoder(latent_dims: int, out_channels: int = 1, image_size: int = 28) -> nn.Sequential:
    """The variational autoencoder's decoder for `wide` and `wide-gn`, its layers' widths in reverse:

    linear D->256, PReLU, linear 256->256, PReLU, linear 256->64*s*s, PReLU,
    transposed conv 64->32 4x4 stride 2, PReLU, transposed conv 32->C 4x4 stride 2,
    then the central size x size pixels where 4s exceeds the image's size.   (s = ceil(size / 4))

    Parameters: 256(D + 1) + 256(256 + 1) + 64s^2(256 + 1) + 32(64*16 + 1) + C(32*16 + 1) + 4;
    905,829 at 1x28x28 with D = 2.
    """
    side = math.ceil(image_size / 4)
    return decoder_to_size([
        nn.Linear(latent_dims, 256), nn.PReLU(),
        nn.Linear(256, 256), nn.PReLU(),
        nn.Linear(256, 64 * side * side), nn.PReLU(), nn.Unflatten(1, (64, side, side)),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.PReLU(),
        nn.ConvTranspose2d(32, out_channels, 4, stride=2, padding=1),
    ], 4 * side, image_size)


BACKBONES = {"original": original, "wide": wide, "wide-gn": wide_gn}
DECODERS = {"original": original_decoder, "wide": wide_decoder, "wide-gn": wide_decoder}


def build_backbone(name: str, out_dims: int, in_channels: int = 1, image_size: int = 28) -> Trunk:
    """BACKBONES[name](out_dims, in_channels, image_size), with a ValueError that names the
    choices for an unknown name."""
    return BACKBONES[known_backbone(name)](out_dims, in_channels, image_size)


def build_decoder(name: str, latent_dims: int, out_channels: int = 1, image_size: int = 28) -> nn.Module:
    """DECODERS[name](latent_dims, out_channels, image_size), likewise."""
    return DECODERS[known_backbone(name)](latent_dims, out_channels, image_size)


def known_backbone(name):
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(BACKBONES)}")
    return name


def flat_size(name: str, features, image_size: int) -> int:
    """The number of values `features` (conv and pooling layers) make of one image_size x
    image_size image: the first linear layer's input. A ValueError names the smallest size
    the layers take when the image is smaller."""
    side = feature_map_side(features, image_size)
    if side < 1:
        smallest = next(size for size in itertools.count(image_size + 1)
                        if feature_map_side(features, size) >= 1)
        raise ValueError(f"the {name} backbone needs images of at least {smallest}x{smallest} pixels, "
                         f"not {image_size}x{image_size}")
    channels = [layer.out_channels for layer in features if isinstance(layer, nn.Conv2d)][-1]
    return channels * side * side


def feature_map_side(features, image_size):
    """The side of the square map that `features` make of an image_size x image_size image
    (0 or less where a layer's window no longer fits)."""
    side = image_size
    for layer in features:
        if side < 1:
            return 0
        if isinstance(layer, nn.Conv2d):
            (kernel, _), (stride, _), (padding, _), (dilation, _) = (
                layer.kernel_size, layer.stride, layer.padding, layer.dilation)
            side = (side + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        elif isinstance(layer, nn.MaxPool2d):  # kernel_size and stride are ints here, as given
            side = (side - layer.kernel_size) // layer.stride + 1
    return side


def decoder_to_size(layers, side, image_size):
    """nn.Sequential of `layers`, which make side x side maps, cropped to image_size if larger."""
    return nn.Sequential(*layers, *([CenterCrop(image_size)] if side != image_size else []))
