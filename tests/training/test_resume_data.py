"""A run resumes only on the data its checkpoint was trained on: a folder that changed since
(classes, colour, images added or replaced) is refused in one line before the weights load, and
the earlier run's files stay as they were."""

import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import one_line_error, run_cli
from training.checkpoint import check_same_data
from training.errors import RunError

NETWORK = "embedding-classification"
OPTIONS = ("--batch-size", 16, "--seed", 3)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """No test writes into the user's own cache (run_cli's train.py inherits the variable)."""
    monkeypatch.setenv("SIAMESE_CACHE_DIR", str(tmp_path / "cache"))


def save_images(folder, count, rng, first=0, colour=False):
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(first, first + count):
        pixels = rng.integers(0, 256, size=(16, 16, 3) if colour else (16, 16), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder `pics` of three classes, and the output of one epoch trained on it."""
    root = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        save_images(root / "pics" / name, 10, rng)
    result = run_cli(NETWORK, root / "pics", "--epochs", 1, *OPTIONS, "--output", root / "out")
    assert result.returncode == 0, result.stderr
    return root


def change_images_added(pics, rng):
    save_images(pics / "a", 4, rng, first=10)


def change_class_added(pics, rng):
    save_images(pics / "d", 10, rng)


def change_colour(pics, rng):
    for name in ("a", "b", "c"):
        save_images(pics / name, 10, rng, colour=True)


def change_image_replaced(pics, rng):
    save_images(pics / "b", 1, rng)


CHANGES = {
    "images added": (change_images_added, "was trained on 24 training and 6 test images of 3 classes; "
                                          "pics now has 27 and 7 of 3"),
    "class added": (change_class_added, "was trained on 3 classes; pics now has 4 (d added)"),
    "colour": (change_colour, "was trained on 1-channel images of 16x16 pixels; pics now gives 3-channel"),
    "image replaced": (change_image_replaced, "was trained on images of pixel mean "),
}


@pytest.mark.slow
@pytest.mark.parametrize("change", list(CHANGES))
def test_resuming_on_a_changed_folder_is_a_one_line_error_that_changes_nothing(change, trained, tmp_path):
    shutil.copytree(trained, tmp_path / "run")
    pics, out = tmp_path / "run" / "pics", tmp_path / "run" / "out"
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    make_change, fragment = CHANGES[change]
    make_change(pics, np.random.default_rng(1))
    result = run_cli(NETWORK, "pics", "--epochs", 2, *OPTIONS, "--output", "out",
                     "--resume", f"out/{NETWORK}-pics-model.pt", cwd=tmp_path / "run")
    one_line_error(result, fragment, "a resumed run must see the same data")
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before


@pytest.mark.slow
def test_a_checkpoint_without_image_counts_resumes_on_the_same_folder(trained, tmp_path):
    """Checkpoints written before the counts were recorded: what they do record is compared."""
    shutil.copytree(trained, tmp_path / "run")
    pics, out = tmp_path / "run" / "pics", tmp_path / "run" / "out"
    checkpoint = out / f"{NETWORK}-pics-model.pt"
    state = torch.load(checkpoint, weights_only=True)
    assert state["images"] == {"train": 24, "test": 6}
    del state["images"]
    torch.save(state, checkpoint)
    result = run_cli(NETWORK, pics, "--epochs", 2, *OPTIONS, "--output", out, "--resume", checkpoint)
    assert result.returncode == 0, result.stderr


class Split:
    """What check_same_data reads of a split: its length, shape, statistics and class names."""

    def __init__(self, count, mean=0.5, channels=1, size=16, class_names=("a", "b", "c")):
        self.count, self.shape = count, (channels, size, size)
        self.mean, self.std = (mean,) * channels, (0.25,) * channels
        self.class_names = list(class_names)

    def __len__(self):
        return self.count


def checkpoint_of(train, test, **omitted):
    state = {"preprocessing": {"mean": list(train.mean), "std": list(train.std), "class_names": train.class_names},
             "hyperparameters": {"image_size": train.shape[-1]},
             "images": {"train": len(train), "test": len(test)}}
    for key in omitted:
        del state[key]
    return state


def test_check_same_data_compares_what_the_checkpoint_records():
    train, test = Split(24), Split(6)
    check_same_data("model.pt", checkpoint_of(train, test), train, test, "pics")
    # Older checkpoints: without counts, without the image size, without any preprocessing (MNIST's).
    check_same_data("model.pt", checkpoint_of(train, test, images=None), train, test, "pics")
    check_same_data("model.pt", checkpoint_of(train, test, hyperparameters=None), train, test, "pics")
    check_same_data("model.pt", {}, Split(30), test, "pics")
    with pytest.raises(RunError, match="pics now has 25 and 6 of 3"):
        check_same_data("model.pt", checkpoint_of(train, test), Split(25), test, "pics")
    with pytest.raises(RunError, match="pics now has images of pixel mean 0.51, as many but not the same"):
        check_same_data("model.pt", checkpoint_of(train, test, images=None), Split(24, mean=0.51), test, "pics")
    with pytest.raises(RunError, match=r"3 classes; pics now has 2 \(c gone\)"):
        check_same_data("model.pt", checkpoint_of(train, test), Split(24, class_names="ab"), test, "pics")
    with pytest.raises(RunError, match="of 16x16 pixels; pics now gives 1-channel images of 20x20 pixels"):
        check_same_data("model.pt", checkpoint_of(train, test), Split(24, size=20), test, "pics")
