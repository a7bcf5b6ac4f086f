"""Shared fixtures: tiny data sets written in the real IDX layout, and the real data when present."""

import os
import struct
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_DATA_VARIABLE = "SIAMESE_DATA_DIR"


def write_idx(path, array):
    """Write a uint8 array as an uncompressed IDX file (magic 0x0000 08 ndim, big-endian sizes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def make_images(labels, rng):
    """28x28 images whose class shows as a bright 6x6 square at a class-specific place, plus noise."""
    images = rng.integers(0, 60, size=(len(labels), 28, 28))
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        images[i, 2 + 8 * row: 8 + 8 * row, 2 + 6 * col: 8 + 6 * col] = 255
    return images.astype(np.uint8)


def write_tiny_dataset(root, name="MNIST", per_class_train=12, per_class_test=5, seed=0):
    """A small, learnable data set in torchvision's layout `<root>/<name>/raw/*-ubyte`."""
    rng = np.random.default_rng(seed)
    raw = os.path.join(root, name, "raw")
    os.makedirs(raw, exist_ok=True)
    for prefix, per_class in (("train", per_class_train), ("t10k", per_class_test)):
        labels = rng.permutation(np.repeat(np.arange(10), per_class)).astype(np.uint8)
        write_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte"), make_images(labels, rng))
        write_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte"), labels)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("data"))
    write_tiny_dataset(root, "MNIST")
    write_tiny_dataset(root, "FashionMNIST", seed=1)
    return root


def find_real_data(environment=os.environ):
    """The folder holding the real MNIST: $SIAMESE_DATA_DIR, else ./data of the repository, where
    the README's first command downloads it; None when neither holds it."""
    for root in (environment.get(REAL_DATA_VARIABLE), os.path.join(ROOT, "data")):
        if root and os.path.isfile(os.path.join(root, "MNIST", "raw", "train-images-idx3-ubyte")):
            return root
    return None


@pytest.fixture(scope="session")
def real_data():
    root = find_real_data()
    if root is None:
        pytest.skip(f"real MNIST not found: set {REAL_DATA_VARIABLE} to a folder holding MNIST/raw/*-ubyte, "
                    f"or run the README's first command, which downloads it to ./data")
    return root


def run_cli(*args, cwd=ROOT, timeout=300):
    """Run train.py as a user would; returns the CompletedProcess (text output)."""
    env = {key: value for key, value in os.environ.items() if key != REAL_DATA_VARIABLE}
    return subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *map(str, args)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
