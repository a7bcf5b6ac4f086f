"""Random shifts (datasets/shift.py) against a pixel-by-pixel reference."""

import torch

from datasets.shift import ShiftedSplit, draw_offsets, shift_images
from datasets.split import Split


def moved_by_hand(image, down, right):
    """The reference: out[c, y, x] = image[c, y - down, x - right], 0 outside the image."""
    channels, height, width = image.shape
    out = torch.zeros_like(image)
    for y in range(height):
        for x in range(width):
            if 0 <= y - down < height and 0 <= x - right < width:
                out[:, y, x] = image[:, y - down, x - right]
    return out


def test_every_image_moves_by_its_own_offset_and_zeros_move_in():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (12, 3, 7, 9), dtype=torch.uint8, generator=generator)
    offsets = draw_offsets(len(images), 3, generator)
    moved = shift_images(images, offsets, 3)
    assert moved.dtype == torch.uint8 and moved.shape == images.shape
    for image, (down, right), out in zip(images, offsets.tolist(), moved):
        assert torch.equal(out, moved_by_hand(image, down, right))


def test_offsets_cover_the_range_and_repeat_with_the_generator():
    draw = lambda: draw_offsets(5000, 2, torch.Generator().manual_seed(7))   # noqa: E731
    offsets = draw()
    assert offsets.shape == (5000, 2) and offsets.dtype == torch.int64
    assert set(offsets.flatten().tolist()) == {-2, -1, 0, 1, 2}
    assert torch.equal(offsets, draw())


def test_a_shifted_split_gives_the_moved_images_normalised_and_keeps_the_rest():
    generator = torch.Generator().manual_seed(1)
    split = Split(torch.randint(0, 256, (20, 1, 6, 6), dtype=torch.uint8, generator=generator),
                  torch.arange(20) % 4, ["a", "b", "c", "d"], mean=0.3, std=0.2)
    offsets = draw_offsets(len(split), 2, generator)
    shifted = ShiftedSplit(split, offsets, 2)
    indices = torch.tensor([3, 0, 17, 3])
    moved = Split(shift_images(split.images[indices], offsets[indices], 2), split.labels[indices],
                  split.class_names, split.mean, split.std)
    assert torch.equal(shifted.inputs(indices), moved.inputs(slice(None)))
    assert torch.equal(shifted.pixels(indices), moved.pixels(slice(None)))
    assert shifted.labels is split.labels and shifted.class_names is split.class_names and len(shifted) == 20
    assert not torch.equal(shifted.inputs(indices), split.inputs(indices))   # the offsets are not all zero
