"""The one entry point for a run's data: a known data set's name or a folder -> both splits.

names.py says what an argument names: 'mnist' is MNIST, 'data/pets' or 'pets' a folder.
"""

import os
from dataclasses import dataclass, field

import torch

from .folder import check_fits, hold_out, read_folder
from .mnist import IMAGE_SIZE, load_split
from .names import canonical_dataset_name, folder_name, is_path, shown
from .split import DatasetError, Split, channel_statistics

DEFAULT_TEST_FRACTION = 0.2


@dataclass
class Dataset:
    """Both splits of a data set, on one device, and what to say about them.

    name: for output file names and titles: 'MNIST', 'FashionMNIST', or the folder's own name
        ('pets' for data/pets/), never a path.
    class_names: `class_names[label]`; a folder's class folder names (bytes that are not UTF-8
        shown as backslash escapes, so that every name can be printed and written as JSON).
    held_out: the test split's files (relative to the folder, '/' between parts, sorted) when
        they were held out of the folder at random; None for MNIST and for train/ and test/ folders.
        Like `Split.paths` they are the names as the file system gives them (a name that is not
        UTF-8 keeps Python's lone surrogates: json.dumps escapes them, ensure_ascii=False cannot).
    warnings: one line each, for the caller to print (files skipped, names ignored, a cache that
        could not be written).
    source: what the data was, for metrics.json (plain JSON values; no path of this machine).
    root: the folder as given (None for MNIST), to open `Split.paths` from.
    from_cache: whether a folder's images were read from the cache rather than decoded.
    """

    name: str
    train: Split
    test: Split
    class_names: list
    held_out: list | None = None
    warnings: list = field(default_factory=list)
    source: dict = field(default_factory=dict)
    root: str | None = None
    from_cache: bool = False


def load_dataset(name_or_path: str, data_dir: str, device="cpu", image_size: int | None = None,
                 test_fraction: float = DEFAULT_TEST_FRACTION, seed: int = 0, progress: bool = True,
                 use_cache: bool = True) -> Dataset:
    """Load MNIST or FashionMNIST from `data_dir`, or the image folder `name_or_path`, onto `device`.

    For a folder: `image_size` None picks the default size (folder.py says which), and when the
    folder has no train/ and test/ folders `test_fraction` of each class is held out, drawn with
    `seed`. `progress` shows a progress bar while a folder is decoded (on a terminal). Raises
    DatasetError with a one-line message for anything wrong with the data.
    """
    if not is_path(name_or_path):
        return _known(canonical_dataset_name(name_or_path), name_or_path, data_dir, device, image_size)
    if not 0 < test_fraction < 1:
        raise DatasetError(f"the test fraction must lie between 0 and 1 (not included), not {test_fraction}")
    if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
        raise DatasetError(f"the image size must be a whole number of pixels of 1 or more, not {image_size}")
    folder = read_folder(name_or_path, image_size, progress, use_cache)
    if folder.in_test is None:
        in_test, held_out = hold_out(folder.labels, folder.class_names, test_fraction, seed), True
    else:
        in_test, held_out = folder.in_test, False
        test_classes = folder.labels[in_test].unique()
        if len(test_classes) < 2:
            what = ("no readable image" if len(test_classes) == 0 else
                    f"images of one class only ({shown(folder.class_names[test_classes[0]])})")
            raise DatasetError(f"{shown(name_or_path)}/test holds {what}, and a test split needs two "
                               f"classes or more: give it images of more classes, or leave train/ and "
                               f"test/ out to hold a test split out at random")
    _check_device_fits(folder.images, device)
    train_images, test_images = _separate(folder.images, in_test)
    labels = folder.labels
    mean, std = channel_statistics(train_images)
    test_index = in_test.nonzero().flatten().tolist()
    train_paths = [path for path, test in zip(folder.paths, in_test.tolist()) if not test]
    test_paths = [folder.paths[i] for i in test_index]

    class_names = [shown(name) for name in folder.class_names]  # printable, for legends and JSON

    def split(split_images, split_labels, paths):
        return Split(images=split_images.to(device), labels=split_labels.to(device),
                     class_names=class_names, mean=mean, std=std, paths=paths)

    train = split(train_images, labels[~in_test], train_paths)
    test = split(test_images, labels[in_test], test_paths)
    name = folder_name(name_or_path)
    source = {"kind": "folder", "name": name,
              "layout": "held out" if held_out else "train and test folders",
              "test_fraction": test_fraction if held_out else None, "seed": seed if held_out else None,
              "images": {"train": len(train), "test": len(test)}, "skipped": len(folder.skipped),
              "shape": list(train.shape), "background": "white", "mean": list(mean), "std": list(std)}
    return Dataset(name=name, train=train, test=test, class_names=class_names,
                   held_out=sorted(test_paths) if held_out else None, warnings=folder.warnings,
                   source=source, root=name_or_path, from_cache=folder.from_cache)


def _separate(images, in_test, chunk=1024):
    """(training images, test images): the test images copied out, the training images moved to
    the front of `images` in place (a view of it), so that at most a fifth or so more memory is
    needed rather than a second copy of everything."""
    test = images[in_test]
    keep = (~in_test).nonzero().flatten()
    # keep[j] >= j, and each chunk is gathered before it is written: no row is overwritten before it is read.
    for start in range(0, len(keep), chunk):
        rows = keep[start:start + chunk]
        if rows[0] != start or rows[-1] != start + len(rows) - 1:
            images[start:start + len(rows)] = images[rows]
    return images[:len(keep)], test


def _known(name, argument, data_dir, device, image_size):
    if image_size is not None and image_size != IMAGE_SIZE:
        raise DatasetError(f"{name}'s images are {IMAGE_SIZE}x{IMAGE_SIZE}; --image-size {image_size} "
                           f"applies to image folders only")
    warnings = []
    data = os.path.join(data_dir, name)
    if os.path.isdir(argument) and not (os.path.isdir(data) and os.path.samefile(argument, data)):
        warnings.append(f"'{argument}' is the built-in {name}, not the folder {argument}/ here: "
                        f"write ./{argument} to train on the folder")
    train = load_split(name, data_dir, train=True, device=device)
    test = load_split(name, data_dir, train=False, device=device)
    source = {"kind": "known", "name": name, "images": {"train": len(train), "test": len(test)},
              "shape": list(train.shape), "mean": list(train.mean), "std": list(train.std)}
    return Dataset(name=name, train=train, test=test, class_names=train.class_names,
                   warnings=warnings, source=source)


def _check_device_fits(images, device):
    """A GPU holds the images too: refuse before copying when they take more than the share of
    its free memory that the host allows (folder.py)."""
    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return
    free, _ = torch.cuda.mem_get_info(device)
    count, channels, size, _ = images.shape
    check_fits(count, channels, size, free, where=f"{device} memory")
