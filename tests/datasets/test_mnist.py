import os
import shutil
from urllib.error import URLError

import pytest
import torch
import torchvision

from conftest import write_idx
from datasets import DatasetError, Split, canonical_dataset_name, load_split
from datasets.split import channel_statistics
import numpy as np


def test_load_split_reads_the_idx_files_onto_the_device(tiny_data):
    train = load_split("MNIST", tiny_data, train=True)
    test = load_split("MNIST", tiny_data, train=False)
    assert train.images.shape == (120, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.shape == (1, 28, 28) and train.mean == (0.1307,) and train.std == (0.3081,)
    assert test.labels.shape == (50,) and test.labels.dtype == torch.int64
    assert torch.equal(torch.bincount(train.labels), torch.full((10,), 12))


def test_inputs_are_normalised_float_batches(tiny_data):
    split = load_split("MNIST", tiny_data, train=True)
    batch = split.inputs(torch.tensor([3, 0, 7]))
    assert batch.shape == (3, 1, 28, 28) and batch.dtype == torch.float32
    expected = (split.images[[3, 0, 7]].float() / 255 - 0.1307) / 0.3081
    assert torch.allclose(batch, expected, atol=1e-6)


def test_pixels_are_intensities_in_zero_one(tiny_data):
    split = load_split("MNIST", tiny_data, train=True)
    batch = split.pixels(torch.tensor([5, 2]))
    assert batch.shape == (2, 1, 28, 28) and batch.dtype == torch.float32
    assert torch.equal(batch * 255, split.images[[5, 2]].float())
    assert batch.min() == 0 and batch.max() == 1  # the tiny images hold black-ish noise and 255


def test_colour_inputs_are_normalised_channel_by_channel():
    images = torch.randint(0, 256, (4, 3, 5, 6), dtype=torch.uint8)
    split = Split(images, torch.zeros(4, dtype=torch.long), ["a"], mean=(0.1, 0.5, 0.9), std=(0.2, 0.3, 0.4))
    assert split.shape == (3, 5, 6)
    batch = split.inputs(torch.tensor([2, 0]))
    for c, (mean, std) in enumerate([(0.1, 0.2), (0.5, 0.3), (0.9, 0.4)]):
        assert torch.allclose(batch[:, c], (images[[2, 0], c].float() / 255 - mean) / std, atol=1e-5)
    assert torch.equal(split.inputs(slice(1, 3)), split.inputs(torch.tensor([1, 2])))
    assert torch.equal(split.pixels(slice(0, 4)) * 255, images.float())


def test_a_split_of_images_without_channels_has_one():
    split = Split(torch.zeros(2, 7, 7, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), ["a"], 0.5, 0.25)
    assert split.images.shape == (2, 1, 7, 7) and split.mean == (0.5,) and split.std == (0.25,)
    with pytest.raises(ValueError, match="3 channels, but 1 means"):
        Split(torch.zeros(2, 3, 7, 7, dtype=torch.uint8), torch.zeros(2, dtype=torch.long), ["a"], 0.5, 0.25)


def test_channel_statistics_are_exact():
    images = torch.tensor([[[[0, 255]], [[51, 51]]], [[[255, 255]], [[102, 102]]]], dtype=torch.uint8)  # (2, 2, 1, 2)
    mean, std = channel_statistics(images, chunk=1)
    red = torch.tensor([0, 255, 255, 255]) / 255.0
    assert mean[0] == pytest.approx(0.75) and std[0] == pytest.approx(red.std(unbiased=False).item())
    assert mean[1] == pytest.approx(0.3) and std[1] == pytest.approx(0.1)
    assert channel_statistics(torch.full((3, 1, 2, 2), 9, dtype=torch.uint8)) == ((9 / 255,), (1.0,))


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


def test_a_failed_download_into_a_deep_folder_leaves_none_behind_and_says_why(tmp_path, monkeypatch):
    def offline_with_a_two_line_reason(self):
        os.makedirs(self.raw_folder, exist_ok=True)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried mirror: no internet")
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline_with_a_two_line_reason)
    with pytest.raises(DatasetError) as error:
        load_split("MNIST", str(tmp_path / "a" / "b" / "c"), train=True)
    assert "(Error downloading train-images-idx3-ubyte.gz: Tried mirror: no internet)" in str(error.value)
    assert os.listdir(tmp_path) == []


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


TORCHVISION_OFFLINE = (  # torchvision's message when no mirror can be reached, as it builds it
    "Error downloading train-images-idx3-ubyte.gz:\n"
    "Tried https://ossci-datasets.s3.amazonaws.com/mnist/, got:\n"
    "<urlopen error [Errno -2] Name or service not known>\n"
    "Tried https://storage.googleapis.com/cvdf-datasets/mnist/, got:\n"
    "<urlopen error [Errno -2] Name or service not known>\n")


def test_a_long_download_error_is_shown_in_whole_lines_never_cut(tmp_path, monkeypatch):
    def unreachable(self):
        raise RuntimeError(TORCHVISION_OFFLINE)
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", unreachable)
    with pytest.raises(DatasetError) as error:
        load_split("MNIST", str(tmp_path), train=True)
    message = str(error.value)
    # The first mirror's attempt whole; the second would pass the limit, and is left out whole.
    assert ("(Error downloading train-images-idx3-ubyte.gz: Tried https://ossci-datasets.s3.amazonaws.com/"
            "mnist/, got: <urlopen error [Errno -2] Name or service not known>); pass --data-dir") in message
    assert "storage.googleapis" not in message and "\n" not in message


def test_a_download_reason_keeps_whole_lines_and_no_dangling_lead_in():
    from datasets.mnist import download_reason
    error = RuntimeError(TORCHVISION_OFFLINE)
    lines = TORCHVISION_OFFLINE.splitlines()
    assert download_reason(error, limit=1000) == " ".join(lines)
    # Room for the first two lines only: "Tried ..., got:" would lead to nothing, so it goes too.
    assert download_reason(error, limit=len(lines[0]) + 1 + len(lines[1])) == lines[0].rstrip(":")
    assert download_reason(RuntimeError("x" * 300)) == ""   # left out rather than cut
    assert download_reason(RuntimeError("word " * 100)) == ""
