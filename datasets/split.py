"""One split of a data set, held whole as uint8 images on the training device.

The images stay bytes (N, C, H, W) and are scaled only when a batch is built: MNIST's
training split is 47 MB instead of 188 MB as float32, and no PIL image or per-sample Python
code comes near the training loop.
"""

from dataclasses import dataclass, field
from numbers import Real

import torch


class DatasetError(Exception):
    """A data set that is missing, unreadable or corrupt; the message says what and why, in one line."""


@dataclass
class Split:
    """uint8 images (N, C, H, W) and int64 labels (N,) on one device.

    `mean` and `std` are per channel, of the training split's pixels scaled to [0, 1]; the test
    split carries the training split's, so both are normalised alike. `class_names[label]`
    names a label; `paths` names each image's file (relative to the data set's folder, with
    '/' between parts) when the split was read from a folder, and is None for MNIST.

    For the code written before images had channels, images (N, H, W) are taken as one channel
    and a plain number as a mean or std of that channel.
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list
    mean: tuple
    std: tuple
    paths: list | None = None
    _constants: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.images.dim() == 3:
            self.images = self.images.unsqueeze(1)
        if self.images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W), not {tuple(self.images.shape)}")
        self.mean = (float(self.mean),) if isinstance(self.mean, Real) else tuple(map(float, self.mean))
        self.std = (float(self.std),) if isinstance(self.std, Real) else tuple(map(float, self.std))
        if not len(self.mean) == len(self.std) == self.images.shape[1]:
            raise ValueError(f"{self.images.shape[1]} channels, but {len(self.mean)} means and "
                             f"{len(self.std)} standard deviations")

    def __len__(self):
        return len(self.labels)

    @property
    def shape(self) -> tuple:
        """One image's shape, (C, H, W)."""
        return tuple(self.images.shape[1:])

    def inputs(self, indices) -> torch.Tensor:
        """The images at `indices` (a tensor of indices or a slice) as a normalised float batch
        (B, C, H, W): (pixel / 255 - mean) / std, channel by channel."""
        batch = self.images[indices].float()
        if batch.shape[1] == 1:  # plain numbers: the same arithmetic MNIST runs always had
            return batch.mul_(1.0 / (255.0 * self.std[0])).sub_(self.mean[0] / self.std[0])
        scale, shift = self._per_channel(batch.device)
        return batch.mul_(scale).sub_(shift)

    def pixels(self, indices) -> torch.Tensor:
        """The images at `indices` scaled to [0, 1], (B, C, H, W): pixel intensities, as a
        generative model's targets."""
        return self.images[indices].float().div_(255.0)

    def _per_channel(self, device):
        """(C, 1, 1) float32 tensors of 1 / (255 std) and mean / std, made once per device."""
        if device not in self._constants:
            scale = [1.0 / (255.0 * s) for s in self.std]
            shift = [m / s for m, s in zip(self.mean, self.std)]
            self._constants[device] = tuple(torch.tensor(values, dtype=torch.float32, device=device).view(-1, 1, 1)
                                            for values in (scale, shift))
        return self._constants[device]


def channel_statistics(images: torch.Tensor, chunk: int = 4096) -> tuple:
    """Per-channel mean and (population) standard deviation of uint8 images (N, C, H, W) scaled
    to [0, 1], as two tuples of floats.

    Counted exactly as a histogram of byte values, chunk by chunk, so that no float copy of the
    whole split is made. A channel that never varies gets a standard deviation of 1 rather than
    0, so that normalising it does not divide by zero.
    """
    channels = images.shape[1]
    counts = torch.zeros(channels, 256, dtype=torch.float64)
    for start in range(0, len(images), chunk):
        part = images[start:start + chunk]
        for c in range(channels):
            counts[c] += torch.bincount(part[:, c].reshape(-1), minlength=256).cpu().double()
    values = torch.arange(256, dtype=torch.float64) / 255.0
    total = counts.sum(dim=1)
    mean = (counts * values).sum(dim=1) / total
    variance = (counts * (values - mean[:, None]) ** 2).sum(dim=1) / total
    std = variance.sqrt()
    return tuple(mean.tolist()), tuple(s if s > 0 else 1.0 for s in std.tolist())
