"""Augmentation (datasets/augment.py) against a pixel-by-pixel reference."""

import pytest
import torch

from datasets.augment import AugmentedSplit, draw_moves, move_images
from datasets.split import Split


def moved_by_hand(image, down, right, mirrored):
    """The reference: mirror left-right if asked, then out[c, y, x] = image[c, y - down, x - right],
    0 outside the image."""
    if mirrored:
        image = image.flip(-1)
    channels, height, width = image.shape
    out = torch.zeros_like(image)
    for y in range(height):
        for x in range(width):
            if 0 <= y - down < height and 0 <= x - right < width:
                out[:, y, x] = image[:, y - down, x - right]
    return out


@pytest.mark.parametrize("pixels,mirror", [(3, False), (0, True), (2, True)])
def test_every_image_moves_by_its_own_move_and_zeros_move_in(pixels, mirror):
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (16, 3, 7, 9), dtype=torch.uint8, generator=generator)
    moves = draw_moves(len(images), pixels, mirror, generator)
    moved = move_images(images, moves, pixels)
    assert moved.dtype == torch.uint8 and moved.shape == images.shape
    for image, (down, right, mirrored), out in zip(images, moves.tolist(), moved):
        assert torch.equal(out, moved_by_hand(image, down, right, mirrored))


def test_moves_cover_their_range_and_repeat_with_the_generator():
    draw = lambda *options: draw_moves(5000, *options, torch.Generator().manual_seed(7))   # noqa: E731
    moves = draw(2, True)
    assert moves.shape == (5000, 3) and moves.dtype == torch.int64
    assert set(moves[:, :2].flatten().tolist()) == {-2, -1, 0, 1, 2}
    assert set(moves[:, 2].tolist()) == {0, 1} and 0.45 < moves[:, 2].float().mean() < 0.55
    assert torch.equal(moves, draw(2, True))
    assert not draw(2, False)[:, 2].any() and not draw(0, True)[:, :2].any()


def test_an_augmented_split_gives_the_moved_images_normalised_and_keeps_the_rest():
    generator = torch.Generator().manual_seed(1)
    split = Split(torch.randint(0, 256, (20, 1, 6, 6), dtype=torch.uint8, generator=generator),
                  torch.arange(20) % 4, ["a", "b", "c", "d"], mean=0.3, std=0.2)
    moves = draw_moves(len(split), 2, True, generator)
    augmented = AugmentedSplit(split, moves, 2)
    indices = torch.tensor([3, 0, 17, 3])
    moved = Split(move_images(split.images[indices], moves[indices], 2), split.labels[indices],
                  split.class_names, split.mean, split.std)
    assert torch.equal(augmented.inputs(indices), moved.inputs(slice(None)))
    assert torch.equal(augmented.pixels(indices), moved.pixels(slice(None)))
    assert augmented.labels is split.labels and augmented.class_names is split.class_names and len(augmented) == 20
    assert not torch.equal(augmented.inputs(indices), split.inputs(indices))   # the moves are not all zero
