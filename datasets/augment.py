"""Augmentation of the training images: random shifts and mirroring, drawn anew every epoch.

A small translation is the augmentation every digit or clothing classifier uses: the class does
not change when the drawing moves by two pixels. A left-right mirror keeps the class of a shirt
or a shoe (not of a digit). A network that sees the moves learns a space that holds the test
images' variations too. The background that moves in is 0 (black), MNIST's and FashionMNIST's
own. Whether either helps is a matter of measurement: benchmarks/results/wide-backbone.md.

The moves of an epoch are drawn once, one (down, right, mirrored) triple per training image,
from the run's generator: every process of a torchrun run draws the same, and a resumed run the
same as an uninterrupted one.
"""

import torch

from .split import Split


def draw_moves(count: int, pixels: int, mirror: bool, generator: torch.Generator) -> torch.Tensor:
    """(count, 3) int64 moves: a shift down and right, each uniform in -pixels..pixels, and
    whether to mirror first (0 or 1, each with probability 1/2 when `mirror`, else 0)."""
    moves = torch.zeros(count, 3, dtype=torch.int64)
    if pixels:
        moves[:, :2] = torch.randint(-pixels, pixels + 1, (count, 2), generator=generator)
    if mirror:
        moves[:, 2] = torch.randint(0, 2, (count,), generator=generator)
    return moves


def move_images(images: torch.Tensor, moves: torch.Tensor, pixels: int) -> torch.Tensor:
    """`images` (B, C, H, W) each mirrored left-right where its move (B, 3) says, then shifted
    by (down, right), at most `pixels` in each direction; what moves in is 0. The same dtype
    and shape as `images`."""
    count, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (pixels, pixels, pixels, pixels))
    moves = moves.to(images.device)
    down, right, mirrored = moves[:, :1], moves[:, 1:2], moves[:, 2:]
    # Output pixel (y, x) reads the mirrored image at (y - down, x - right); column x' of the
    # mirrored image is column W - 1 - x' of the image. Padding adds `pixels` to both indices.
    rows = torch.arange(height, device=images.device) - down + pixels                 # (B, H)
    source = torch.arange(width, device=images.device) - right                        # (B, W)
    columns = torch.where(mirrored.bool(), width - 1 - source, source) + pixels        # (B, W)
    items = torch.arange(count, device=images.device)[:, None, None]
    return padded[items, :, rows[:, :, None], columns[:, None, :]].permute(0, 3, 1, 2).contiguous()


class AugmentedSplit:
    """A training Split seen through one epoch's moves: `inputs` and `pixels` give the moved
    images; everything else (labels, class names, statistics) is the split's."""

    def __init__(self, split: Split, moves: torch.Tensor, pixels: int):
        self.split, self.moves, self.pixels_moved = split, moves, pixels

    def __getattr__(self, name):
        return getattr(self.split, name)

    def __len__(self):
        return len(self.split)

    def _moved(self, indices) -> Split:
        images = move_images(self.split.images[indices], self.moves[indices.cpu()], self.pixels_moved)
        return Split(images, self.split.labels[indices], self.split.class_names, self.split.mean, self.split.std)

    def inputs(self, indices) -> torch.Tensor:
        return self._moved(indices).inputs(slice(None))

    def pixels(self, indices) -> torch.Tensor:
        return self._moved(indices).pixels(slice(None))
