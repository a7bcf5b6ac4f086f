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


class EmbeddingNet(nn.Module):
    """The shared convolutional trunk: a 1x28x28 image -> a `latent_dims` embedding.

    conv 1->6 5x5, PReLU, max-pool 2, conv 6->16 5x5, PReLU, max-pool 2,
    linear 256->128, PReLU, linear 128->latent_dims (after @adambielski's siamese-triplet).
    """

    def __init__(self, latent_dims=2):
        super().__init__()
        self.latent_dims = latent_dims
        self.features = nn.Sequential(   # forward() takes it three modules at a time
            nn.Conv2d(1, 6, 5), nn.PReLU(), MaxPool2x2(),
            nn.Conv2d(6, 16, 5), nn.PReLU(), MaxPool2x2(),
        )
        self.head = nn.Sequential(nn.Linear(16 * 4 * 4, 128), nn.PReLU(), nn.Linear(128, latent_dims))

    def forward(self, images):
        x = images
        for conv, prelu, pool in (self.features[:3], self.features[3:]):
            x = prelu_then_pool(conv(x), prelu, pool)
        return self.head(x.flatten(1))

    def embed(self, images):
        return self(images)
