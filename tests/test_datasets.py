import os
import shutil
from urllib.error import URLError

import pytest
import torch
import torchvision

from conftest import write_idx
from datasets import DatasetError, canonical_dataset_name, load_split
import numpy as np


def test_load_split_reads_the_idx_files_onto_the_device(tiny_data):
    train = load_split("MNIST", tiny_data, train=True)
    test = load_split("MNIST", tiny_data, train=False)
    assert train.images.shape == (120, 28, 28) and train.images.dtype == torch.uint8
    assert test.labels.shape == (50,) and test.labels.dtype == torch.int64
    assert torch.equal(torch.bincount(train.labels), torch.full((10,), 12))


def test_inputs_are_normalised_float_batches(tiny_data):
    split = load_split("MNIST", tiny_data, train=True)
    batch = split.inputs(torch.tensor([3, 0, 7]))
    assert batch.shape == (3, 1, 28, 28) and batch.dtype == torch.float32
    expected = (split.images[[3, 0, 7]].float() / 255 - split.mean) / split.std
    assert torch.allclose(batch.squeeze(1), expected, atol=1e-6)


def test_pixels_are_intensities_in_zero_one(tiny_data):
    split = load_split("MNIST", tiny_data, train=True)
    batch = split.pixels(torch.tensor([5, 2]))
    assert batch.shape == (2, 1, 28, 28) and batch.dtype == torch.float32
    assert torch.equal(batch.squeeze(1) * 255, split.images[[5, 2]].float())
    assert batch.min() == 0 and batch.max() == 1  # the tiny images hold black-ish noise and 255


def test_dataset_names_are_case_insensitive():
    assert canonical_dataset_name("mnist") == "MNIST"
    assert canonical_dataset_name("FASHIONMNIST") == "FashionMNIST"
    assert canonical_dataset_name("cifar") is None


def offline(self):
    os.makedirs(self.raw_folder, exist_ok=True)   # as torchvision's own download does first
    raise URLError("no internet")


def test_missing_files_offline_name_the_folder_files_and_option(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as error:
        load_split("MNIST", str(root), train=True)
    message = str(error.value)
    assert os.path.join(str(root), "MNIST", "raw") in message
    assert "train-images-idx3-ubyte" in message and "--data-dir" in message
    assert "\n" not in message
    assert os.listdir(tmp_path) == []   # the failed download left no folders behind


def copy_of(tiny_data, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(tiny_data, root)
    return root, root / "MNIST" / "raw"


def test_wrong_magic_number_is_named(tiny_data, tmp_path):
    root, raw = copy_of(tiny_data, tmp_path)
    data = bytearray((raw / "t10k-labels-idx1-ubyte").read_bytes())
    data[2] = 0x0D  # float instead of unsigned byte
    (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte is not an IDX file"):
        load_split("MNIST", str(root), train=False)


def test_labels_not_matching_images_are_named(tiny_data, tmp_path):
    root, raw = copy_of(tiny_data, tmp_path)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(7, dtype=np.uint8))
    with pytest.raises(DatasetError, match="holds 7 labels but .* holds 120 images"):
        load_split("MNIST", str(root), train=True)


def test_truncated_header_is_named(tiny_data, tmp_path):
    root, raw = copy_of(tiny_data, tmp_path)
    (raw / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(DatasetError, match="truncated"):
        load_split("MNIST", str(root), train=True)
