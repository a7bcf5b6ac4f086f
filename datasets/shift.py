"""Random shifts: the training images moved by a few pixels, drawn anew every epoch.

A small translation is the augmentation every digit or clothing classifier uses: the class
does not change when the drawing moves by two pixels, and a network that sees the moves
learns a space that holds the test images' positions too. The background that moves in is
0 (black), MNIST's and FashionMNIST's own.

The offsets of an epoch are drawn once, one (rows, columns) pair per training image, from the
run's generator: every process of a torchrun run draws the same, and a resumed run the same
as an uninterrupted one.
"""

import torch

from .split import Split


def draw_offsets(count: int, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """(count, 2) int64 offsets, each uniform in -pixels..pixels."""
    return torch.randint(-pixels, pixels + 1, (count, 2), generator=generator)


def shift_images(images: torch.Tensor, offsets: torch.Tensor, pixels: int) -> torch.Tensor:
    """`images` (B, C, H, W) each moved by its offset (B, 2) = (down, right), at most `pixels`
    in each direction; what moves in is 0. The same dtype and shape as `images`."""
    count, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (pixels, pixels, pixels, pixels))
    offsets = offsets.to(images.device)
    # Output pixel (y, x) reads the input at (y - down, x - right): padded (y - down + pixels, ...).
    rows = torch.arange(height, device=images.device) + (pixels - offsets[:, :1])   # (B, H)
    columns = torch.arange(width, device=images.device) + (pixels - offsets[:, 1:])  # (B, W)
    items = torch.arange(count, device=images.device)[:, None, None]
    return padded[items, :, rows[:, :, None], columns[:, None, :]].permute(0, 3, 1, 2).contiguous()


class ShiftedSplit:
    """A training Split seen through one epoch's offsets: `inputs` and `pixels` give the moved
    images; everything else (labels, class names, statistics) is the split's."""

    def __init__(self, split: Split, offsets: torch.Tensor, pixels: int):
        # On the split's device, so that a batch's offsets are looked up where its indices are
        # (on a GPU, indexing a CPU table with them would wait for the device every batch).
        self.split, self.offsets, self.pixels_moved = split, offsets.to(split.images.device), pixels

    def __getattr__(self, name):
        return getattr(self.split, name)

    def __len__(self):
        return len(self.split)

    def _moved(self, indices) -> Split:
        images = shift_images(self.split.images[indices], self.offsets[indices], self.pixels_moved)
        return Split(images, self.split.labels[indices], self.split.class_names, self.split.mean, self.split.std)

    def inputs(self, indices) -> torch.Tensor:
        return self._moved(indices).inputs(slice(None))

    def pixels(self, indices) -> torch.Tensor:
        return self._moved(indices).pixels(slice(None))
