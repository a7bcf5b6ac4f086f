"""training/inputs.py: what embed.py and search.py read, checked on files the tests write."""

import warnings

import numpy as np
import pytest
from PIL import Image

from datasets.decode import decode
from training.inputs import _decoded, list_inputs, read_images, thumbnails


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_a_colour_image_for_a_one_channel_model_is_its_luminance_without_a_warning(mode, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / f"colour-{mode}.png"
    pixels = rng.integers(0, 256, (30, 30, len(mode)), dtype=np.uint8)
    pixels[..., 3:] = 255   # opaque: the luminance below is of the colours as they are
    Image.fromarray(pixels, mode).save(path)
    # torch warns of a read-only array only once a process, so the cause is checked as well.
    assert _decoded(str(path), 1, 28).flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images = read_images(list_inputs([str(path)], ""), channels=1, size=28)
        drawn, found = thumbnails([str(path)], channels=1, size=28, data_dir="")
    expected = np.asarray(Image.fromarray(decode(str(path), 28)).convert("L"))
    assert images.pixels.shape == (1, 1, 28, 28) and images.warnings == []
    assert np.array_equal(images.pixels[0, 0].numpy(), expected)
    assert found.tolist() == [True] and np.array_equal(drawn[0, 0].numpy(), expected)
