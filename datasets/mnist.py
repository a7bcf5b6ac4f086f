"""MNIST and FashionMNIST as whole tensors on the training device: uint8 images (N, 1, 28, 28).

Files live in torchvision's layout, `<root>/<Name>/raw/*-ubyte`, and torchvision downloads
them when they are missing, so a user who is online needs nothing else. They are read here
rather than through torchvision's dataset classes: the IDX format is a header and raw bytes,
reading it ourselves lets every broken file be named with what is wrong with it (torchvision
only asserts), and importing torchvision costs 1.6 s of every run's start-up (it pulls in
torch._dynamo), which is now paid only when a download is needed.
"""

import os
import struct

import numpy as np
import torch

from .names import CLASS_NAMES, DATASET_NAMES, canonical_dataset_name  # noqa: F401 (also imported from here)
from .split import DatasetError, Split

# Pixel mean and standard deviation of each training split (after scaling to [0, 1]), per channel.
NORMALISATION = {"MNIST": ((0.1307,), (0.3081,)), "FashionMNIST": ((0.2860,), (0.3530,))}

_IDX_UBYTE = 0x08
REASON_LIMIT = 200  # characters of a failed download's reason shown in the error line
IMAGE_SIZE = 28


def split_files(name, train):
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def load_split(name: str, root: str, train: bool, device="cpu", download=True) -> Split:
    """Load the training (`train=True`) or test split of `name` ('MNIST' or 'FashionMNIST', as
    `canonical_dataset_name` spells it) from `root` onto `device`, images (N, 1, 28, 28).

    Downloads through torchvision when the files are missing (unless `download` is False);
    raises DatasetError with a one-line explanation when they cannot be had or are corrupt.
    """
    raw_folder = os.path.join(root, name, "raw")
    wanted = [f for is_train in (True, False) for f in split_files(name, is_train)]
    if not all(os.path.isfile(os.path.join(raw_folder, f)) for f in wanted):
        if not download:
            raise DatasetError(f"{name} is not in {raw_folder} (expected {', '.join(wanted)})")
        _download(name, root, raw_folder, wanted)

    image_file, label_file = (os.path.join(raw_folder, f) for f in split_files(name, train))
    images, labels = _read_idx(image_file, dims=3), _read_idx(label_file, dims=1)
    if len(images) != len(labels):
        raise DatasetError(f"{label_file} holds {len(labels)} labels but {image_file} holds "
                           f"{len(images)} images; the two files must come from the same split")
    if len(labels) == 0:
        raise DatasetError(f"{label_file} holds no images")
    num_classes = len(CLASS_NAMES[name])
    if labels.max() >= num_classes:
        raise DatasetError(f"{label_file} holds label {labels.max()}; expected 0..{num_classes - 1}")
    mean, std = NORMALISATION[name]
    return Split(images=torch.from_numpy(images).unsqueeze(1).to(device),
                 labels=torch.from_numpy(labels.astype(np.int64)).to(device),
                 class_names=CLASS_NAMES[name], mean=mean, std=std)


def _download(name, root, raw_folder, wanted):
    import torchvision  # only here: its import is slow, and only a download needs it

    # torchvision makes the folders before it downloads; a download that fails must not leave
    # them behind (bad input writes nothing). Innermost first, for rmdir.
    made, folder = [], os.path.abspath(raw_folder)
    while not os.path.isdir(folder):   # every missing folder up to the first that exists
        made.append(folder)
        folder = os.path.dirname(folder)
    try:
        getattr(torchvision.datasets, name)(root, train=True, download=True)
    except Exception as error:  # torchvision raises RuntimeError, URLError, OSError, ...
        for folder in made:
            try:
                os.rmdir(folder)
            except OSError:  # not empty (a partial download) or not made after all
                pass
        reason = download_reason(error) or type(error).__name__
        raise DatasetError(
            f"{name} is not in {raw_folder} (expected {', '.join(wanted)}) and could not be "
            f"downloaded ({reason}); pass --data-dir with a folder that holds {name}/raw/, "
            f"or run once with internet access") from None


def download_reason(error: Exception, limit: int = REASON_LIMIT) -> str:
    """`error`'s message on one line, made of its first whole lines that fit in `limit`
    characters: never cut inside a line, so a URL or a word is never shown in part. torchvision
    lists every mirror it tried, a line "Tried <mirror>, got:" then that mirror's error; a line
    that ends in ':' is dropped from the end, so that no lead-in is left without what it leads
    to. '' when even the first line does not fit."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    kept, length = [], -1
    for line in lines:
        if length + 1 + len(line) > limit:
            break
        kept.append(line)
        length += 1 + len(line)
    while len(kept) > 1 and kept[-1].endswith(":"):
        kept.pop()
    return " ".join(kept).rstrip(":")


def _read_idx(path, dims):
    """An uncompressed IDX file of unsigned bytes with `dims` dimensions, as a numpy array."""
    try:
        with open(path, "rb") as f:
            data = bytearray(f.read())  # writable, so torch can share its memory
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error.strerror}") from None
    size, header = len(data), data[:4 + 4 * dims]
    if len(header) < 4 + 4 * dims:
        raise DatasetError(f"{path} is truncated: {size} bytes is too short for an IDX header")
    zero, kind, ndim = struct.unpack(">HBB", header[:4])
    if zero != 0 or kind != _IDX_UBYTE or ndim != dims:
        raise DatasetError(f"{path} is not an IDX file of {dims}-dimensional unsigned bytes "
                           f"(magic number 0x{header[:4].hex()}, expected 0x0000080{dims})")
    shape = struct.unpack(f">{dims}I", header[4:])
    if dims == 3 and shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DatasetError(f"{path} holds {shape[1]}x{shape[2]} images, expected "
                           f"{IMAGE_SIZE}x{IMAGE_SIZE}")
    expected = 4 + 4 * dims + (shape[0] * (IMAGE_SIZE * IMAGE_SIZE if dims == 3 else 1))
    if size != expected:
        raise DatasetError(f"{path} is {size} bytes but its header announces {shape[0]} "
                           f"items ({expected} bytes): the file is truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
