"""How a backbone's layers run: the Trunk module, and the three CPU speed tricks every backbone gets.

A backbone (networks/backbones.py) is written as plain layer lists, the way the paper's figure
reads: conv, PReLU, max-pool, ..., linear, PReLU, linear. Trunk runs those lists and is the one
place where the speed tricks apply, so that every backbone gets them and none has to spell them:

- channels_last: the images are laid out channels-last in memory before the first layer;
- MaxPool2x2: max-pooling without autograd as the maximum of strided slices;
- prelu_then_pool: a PReLU followed by a max-pool is computed pool first while that is the same
  function (a positive slope, on a CPU).

They give the same values as the layers as written, the first up to rounding
(tests/networks/test_backbones.py); benchmarks/bench_network.py times each.
"""

import torch
from torch import nn


class MaxPool2x2(nn.MaxPool2d):
    """nn.MaxPool2d(2) whose forward pass without autograd is the maximum of strided slices,
    first of row pairs, then of column pairs: the same values, about eight times faster on a
    CPU for these small feature maps (torch's pooling kernel also computes the argmax indices
    that only a backward pass needs; two maxima of halves ran 30% faster than one of quarters).
    With autograd on, torch's kernel stays: its backward pass is much faster than the slices'.
    """

    def __init__(self):
        super().__init__(2)

    def forward(self, x):
        if torch.is_grad_enabled():
            return super().forward(x)
        x = x[..., :x.shape[-2] // 2 * 2, :x.shape[-1] // 2 * 2]  # floor, as max_pool2d does
        rows = torch.maximum(x[..., 0::2, :], x[..., 1::2, :])
        return torch.maximum(rows[..., 0::2], rows[..., 1::2])


def prelu_then_pool(x, prelu, pool):
    """pool(prelu(x)), computed as prelu(pool(x)) on a CPU while that is the same function.

    A PReLU whose slopes are positive is increasing, so the largest of its values in a window
    is its value at the window's largest input: pooling first gives the same numbers, to the
    bit, and the PReLU and its backward pass see a quarter of the elements (a training step at
    batch 256 is a quarter to a third shorter: benchmarks/bench_network.py). Gradients are
    those of pool(prelu(x)) up to rounding (the slope's gradient is summed in another order).
    Otherwise the PReLU goes first: a negative slope makes it another function, and a zero
    slope ties every negative input, so that which one the gradient reaches would change. On a
    GPU it goes first too: checking the slope's sign there would make the host wait for the
    device at every layer.
    """
    if x.device.type == "cpu" and bool((prelu.weight > 0).all()):
        return prelu(pool(x))
    return pool(prelu(x))


def channels_last(images):
    """`images` (B, C, H, W) laid out channels-last in memory, a pixel's C values side by side,
    on a CPU; as they are elsewhere and when they are laid out so already.

    A convolution keeps its input's layout, so every conv and pooling layer of the trunk then
    runs on oneDNN's and torch's channels-last kernels, which on a CPU are faster for these
    layers than the default layout's, the max-pooling of the backward pass by far. The values
    are the same up to rounding: a convolution sums its products in another order. On a GPU
    the layout is left to the caller.
    """
    if images.device.type != "cpu" or (images.stride(1) == 1
                                       and images.is_contiguous(memory_format=torch.channels_last)):
        return images
    # .contiguous(memory_format=...) would leave a one-channel image as it is: its layouts
    # differ only in the channel's stride, which a size-1 dimension does not count.
    return torch.empty_like(images, memory_format=torch.channels_last).copy_(images)


class Trunk(nn.Module):
    """A backbone: `features`, the convolutional layers, then `head`, the linear layers on their
    flattened output. (B, C, H, W) images -> (B, out_features of head's last layer).

    Both are nn.Sequential of the layers as listed, so the state_dict's keys are `features.<i>`
    and `head.<i>` by position in the list. forward runs them in that order, on images laid out
    by channels_last, except that a PReLU directly followed by a MaxPool2x2 goes through
    prelu_then_pool.
    """

    def __init__(self, features, head):
        super().__init__()
        self.features = nn.Sequential(*features)
        self.head = nn.Sequential(*head)

    def forward(self, images):
        return self.head(run_features(self.features, channels_last(images)).flatten(1))


def run_features(layers, x):
    """x through `layers` in order; each PReLU with a MaxPool2x2 after it through prelu_then_pool."""
    layers, index = list(layers), 0
    while index < len(layers):
        layer = layers[index]
        following = layers[index + 1] if index + 1 < len(layers) else None
        if isinstance(layer, nn.PReLU) and isinstance(following, MaxPool2x2):
            x = prelu_then_pool(x, layer, following)
            index += 2
        else:
            x = layer(x)
            index += 1
    return x


class CenterCrop(nn.Module):
    """The central `size` x `size` pixels of (B, C, H, W) maps at least that large: lets a
    decoder whose transposed convolutions double a map's size reach any image size."""

    def __init__(self, size):
        super().__init__()
        self.size = size

    def forward(self, x):
        top, left = (x.shape[-2] - self.size) // 2, (x.shape[-1] - self.size) // 2
        return x[..., top:top + self.size, left:left + self.size]

    def extra_repr(self):
        return f"size={self.size}"
