"""scripts/make_validation_split.py: the held-out part and the rest partition the training
split exactly, each class gives its share, and a seed always draws the same images."""

import os
import subprocess
import sys

import numpy as np

from conftest import ROOT, write_tiny_dataset

sys.path.insert(0, os.path.join(ROOT, "scripts"))

from datasets.mnist import _read_idx, load_split  # noqa: E402
from make_validation_split import held_out_indices  # noqa: E402


def split(source, out, *options):
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "make_validation_split.py"),
                           "--data-dir", str(source), "--out", str(out), *options],
                          capture_output=True, text=True, timeout=120)


def read(root, name, prefix):
    raw = os.path.join(root, name, "raw")
    return (_read_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte"), dims=3),
            _read_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte"), dims=1))


def test_parts_partition_the_training_split_stratified(tmp_path):
    source = write_tiny_dataset(str(tmp_path / "data"), "MNIST", per_class_train=12)
    write_tiny_dataset(str(tmp_path / "data"), "FashionMNIST", per_class_train=12, seed=1)
    result = split(source, tmp_path / "val", "--size", "30")
    assert result.returncode == 0, result.stderr
    for name in ("MNIST", "FashionMNIST"):
        images, labels = read(source, name, "train")
        rest_images, rest_labels = read(tmp_path / "val", name, "train")
        held_images, held_labels = read(tmp_path / "val", name, "t10k")
        assert len(held_labels) == 30 and len(rest_labels) == 90
        assert np.bincount(held_labels, minlength=10).tolist() == [3] * 10  # 12 per class, 1/4 held out
        # Each training image lands in exactly one part, in its original order there.
        held = held_out_indices(labels, 30, seed=0)
        rest = np.setdiff1d(np.arange(len(labels)), held)
        assert np.array_equal(held_images, images[held]) and np.array_equal(held_labels, labels[held])
        assert np.array_equal(rest_images, images[rest]) and np.array_equal(rest_labels, labels[rest])
        # The noise makes every image distinct: the rows of both parts are the original rows.
        rows = {image.tobytes() for image in images}
        assert len(rows) == len(images)
        assert {image.tobytes() for image in np.concatenate([rest_images, held_images])} == rows
    # train.py's loader reads the folder: its "test" split is the held-out part.
    assert len(load_split("MNIST", str(tmp_path / "val"), train=False)) == 30


def test_same_seed_same_files_other_seed_other_images(tmp_path):
    source = write_tiny_dataset(str(tmp_path / "data"), "MNIST", per_class_train=12)
    for out, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        assert split(source, tmp_path / out, "--size", "30", "--seed", seed, "--datasets",
                     "MNIST").returncode == 0
    files = ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    raw = {out: tmp_path / out / "MNIST" / "raw" for out in "abc"}
    assert all((raw["a"] / f).read_bytes() == (raw["b"] / f).read_bytes() for f in files)
    assert (raw["a"] / files[1]).read_bytes() != (raw["c"] / files[1]).read_bytes()


def test_quotas_round_by_largest_remainder():
    # Classes of 5, 3 and 2 images, 5 held out: shares 2.5, 1.5, 1.0 -> floors 2, 1, 1 and the
    # one place left goes to the first of the two equal remainders.
    labels = np.array([0] * 5 + [1] * 3 + [2] * 2)
    held = held_out_indices(labels, 5, seed=3)
    assert np.bincount(labels[held]).tolist() == [3, 1, 1]
    assert len(np.unique(held)) == 5 and np.all(np.diff(held) > 0)


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    source = write_tiny_dataset(str(tmp_path / "data"), "MNIST", per_class_train=12)
    for options in (("--datasets", "CIFAR"), ("--size", "120", "--datasets", "MNIST")):
        result = split(source, tmp_path / "val", *options)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert split(source, source).returncode == 2
