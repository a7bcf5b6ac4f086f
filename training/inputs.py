"""What embed.py and search.py read: image files, folders of images, or a known data set's test
split, listed first (cheap: names, classes, file stats) and decoded at a model's size second.

- An image file: itself. Its class is its folder's name when that names one of the classes the
  caller knows (the model's, or a gallery's); otherwise it has none.
- A folder with subfolders: torchvision's ImageFolder layout, read as training reads it
  (datasets/folder.py's `list_folder`: class folders, or train/ and test/ of class folders;
  hidden files ignored); each image's class is its class folder. One class folder is enough:
  training's rule of two classes or more is no query's.
- A folder of images only: every image in it, sorted; their class is the folder's name when the
  caller knows a class of that name (digits/3 for a gallery with a class 3), else none.
- MNIST or FashionMNIST (any case; './mnist' for a folder of that name): its test split, from
  --data-dir; each image is recorded as '<name>:test/<index>'.

Images are decoded as training decodes them (datasets/decode.py) at the model's size, with the
model's channels: a colour image becomes its luminance for a one-channel model, a grey one
repeats its grey for a three-channel model. A data set's images are resized and their channel
repeated when the model was trained on other images. A file named on the command line that is
not an image is an error; one inside a folder is skipped, and one warning line names it.
"""

import hashlib
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from datasets import decode
from datasets.folder import IGNORED_NAMES, _reason, list_folder
from datasets.mnist import load_split, split_files
from datasets.names import canonical_dataset_name, has_separator, is_path, shown
from datasets.split import DatasetError

from .config import did_you_mean
from .names import DATASETS

THREADS = 4
DATASET_ITEM = re.compile(r"^(MNIST|FashionMNIST):test/(\d+)$")
NAMED_SKIPS = 3
IMAGE_FORMATS = "PNG, JPEG, BMP, GIF or WebP"


@dataclass
class Listing:
    """The images to embed, in order, before any is decoded.

    paths: each image as recorded in the outputs (a file's path as given or joined to the folder
        given; '<data set>:test/<index>' for a data set's image).
    files: the file to decode, or None for a data set's image.
    labels: each image's class name, or None.
    class_names: every class named, in order of appearance (a folder's sorted class folders,
        a data set's own order).
    named: whether each file was named on the command line (not found inside a folder).
    stats: (size, modification time in ns) of each file; of the data set's files for its images.
    """

    paths: list = field(default_factory=list)
    files: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    class_names: list = field(default_factory=list)
    named: list = field(default_factory=list)
    stats: list = field(default_factory=list)
    splits: dict = field(default_factory=dict)  # data set name -> its test Split
    warnings: list = field(default_factory=list)

    def __len__(self):
        return len(self.paths)

    def fingerprint(self) -> str:
        """A digest of what decides the images: every path, class, file size and time."""
        digest = hashlib.sha256(b"inputs 1\n")
        for path, label, stat in zip(self.paths, self.labels, self.stats):
            digest.update(f"{path}\0{label}\0{stat[0]}\0{stat[1]}\n".encode("utf-8", "surrogateescape"))
        return digest.hexdigest()

    def label_indices(self) -> np.ndarray:
        """Each image's class as an index into class_names, -1 where it has none."""
        index = {name: i for i, name in enumerate(self.class_names)}
        return np.array([index[label] if label is not None else -1 for label in self.labels], dtype=np.int64)

    def _add(self, path, file, label, named, stat):
        self.paths.append(path)
        self.files.append(file)
        self.labels.append(label)
        self.named.append(named)
        self.stats.append(stat)

    def _add_classes(self, names):
        self.class_names += [name for name in names if name not in self.class_names]


def list_inputs(arguments: list, data_dir: str, known_classes=()) -> Listing:
    """The images named by `arguments` (files, folders, data set names), in the order given.
    Raises DatasetError (one line) for an argument that is none of these."""
    listing = Listing()
    for argument in arguments:
        if not is_path(argument):
            _list_dataset(listing, canonical_dataset_name(argument), data_dir)
        elif os.path.isdir(argument):
            _list_folder(listing, argument, known_classes)
        elif os.path.isfile(argument):
            label = _known_folder(os.path.dirname(os.path.abspath(argument)), known_classes, listing)
            listing._add(argument, argument, label, True, _stat(argument))
        elif os.path.exists(argument):
            raise DatasetError(f"{shown(argument)} is neither a file nor a folder")
        else:
            hint = "" if has_separator(argument) else did_you_mean(argument, list(DATASETS))
            raise DatasetError(f"{shown(argument)} does not exist{hint}: expected an image file, a folder of "
                               f"images (or of class folders), MNIST or FashionMNIST")
    return listing


def _list_dataset(listing, name, data_dir):
    split = load_split(name, data_dir, train=False)
    listing.splits[name] = split
    raw = os.path.join(data_dir, name, "raw")
    stat = tuple(x for f in split_files(name, False) for x in _stat(os.path.join(raw, f)))
    listing._add_classes(split.class_names)
    for index, label in enumerate(split.labels.tolist()):
        listing._add(f"{name}:test/{index}", None, split.class_names[label], False, stat)


def _visible(folder):
    try:
        names = sorted(os.listdir(folder))
    except OSError as error:
        raise DatasetError(f"cannot read the folder {shown(folder)} ({error.strerror})") from None
    return [name for name in names if not name.startswith(".") and name not in IGNORED_NAMES]


def _known_folder(folder, known_classes, listing):
    """The folder's name when it is one of `known_classes` (then added to the listing's), else None."""
    name = shown(os.path.basename(os.path.normpath(os.path.abspath(folder))))
    if name not in known_classes:
        return None
    listing._add_classes([name])
    return name


def _list_folder(listing, folder, known_classes=()):
    names = _visible(folder)
    if any(os.path.isdir(os.path.join(folder, name)) for name in names):
        layout = list_folder(folder, fewest_classes=1)
        listing.warnings += layout.warnings
        class_names = [shown(name) for name in layout.class_names]
        listing._add_classes(class_names)
        for path, label, stat in zip(layout.paths, layout.labels, layout.stats):
            listing._add(os.path.join(folder, *path.split("/")), os.path.join(folder, *path.split("/")),
                         class_names[label], False, stat)
        return
    if not names:
        raise DatasetError(f"{shown(folder)} is empty: expected images, or class folders of images")
    label = _known_folder(folder, known_classes, listing)
    for name in names:
        path = os.path.join(folder, name)
        listing._add(path, path, label, False, _stat(path))


def _stat(path):
    try:
        status = os.stat(path)
        return status.st_size, status.st_mtime_ns
    except OSError:
        return -1, -1


@dataclass
class Images:
    """A listing's images that could be read: uint8 pixels (N, C, S, S), and which entries they are."""

    pixels: torch.Tensor
    kept: list           # indices into the listing
    warnings: list


def read_images(listing: Listing, channels: int, size: int, indices=None,
                accepted: str = IMAGE_FORMATS) -> Images:
    """Decode the listing's images (or those at `indices`) to (channels, size, size) uint8.

    A file named on the command line that is not a readable image is a DatasetError, which
    ends with what the caller accepts (`accepted`: a gallery may also be an npz); one found in
    a folder is skipped, and a warning line names the first few skipped."""
    indices = list(range(len(listing))) if indices is None else list(indices)
    pixels = torch.zeros((len(indices), channels, size, size), dtype=torch.uint8)
    failures = {}

    def read(position):
        i = indices[position]
        if listing.files[i] is None:
            return
        try:
            pixels[position] = torch.from_numpy(_decoded(listing.files[i], channels, size))
        except Exception as error:  # Pillow raises many kinds for a broken file
            failures[position] = _reason(error)

    with ThreadPoolExecutor(max(1, min(THREADS, os.cpu_count() or 1))) as pool:
        list(pool.map(read, range(len(indices))))
    for name, split in listing.splits.items():
        wanted = [(position, dataset_item(listing.paths[i])[1]) for position, i in enumerate(indices)
                  if listing.files[i] is None and listing.paths[i].startswith(f"{name}:")]
        if wanted:
            positions, rows = zip(*wanted)
            pixels[list(positions)] = resized(split.images[list(rows)], channels, size)
    named_failures = [position for position in failures if listing.named[indices[position]]]
    if named_failures:
        position = min(named_failures)
        reason = "" if failures[position] == "not an image" else f" ({failures[position]})"
        raise DatasetError(f"{shown(listing.paths[indices[position]])} is not an image this program can read"
                           f"{reason}: expected {accepted}")
    kept = [i for position, i in enumerate(indices) if position not in failures]
    warnings = []
    if failures:
        named = [f"{shown(listing.paths[indices[p]])} ({failures[p]})" for p in sorted(failures)]
        more = f" and {len(named) - NAMED_SKIPS} more" if len(named) > NAMED_SKIPS else ""
        warnings.append(f"skipped {len(failures)} of {len(indices)} files, not readable images: "
                        f"{', '.join(named[:NAMED_SKIPS])}{more}")
        pixels = pixels[[p for p in range(len(indices)) if p not in failures]]
    if not kept:
        raise DatasetError(f"none of the files is a readable image: expected {accepted}")
    return Images(pixels=pixels, kept=kept, warnings=warnings)


def _decoded(file, channels, size):
    """One file as uint8 (channels, size, size), as datasets/folder.py turns it into a channel count.

    Always a writable array: torch.from_numpy warns about a read-only one (what np.asarray gives
    of a Pillow image)."""
    image = decode.decode(file, size)
    if image.ndim == 2:
        return np.repeat(image[None], channels, axis=0)
    if channels == 3:
        return image.transpose(2, 0, 1)
    return np.array(Image.fromarray(image).convert("L"))[None]


def resized(images: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """uint8 images (N, C, H, W) at (channels, size, size): bilinear, antialiased resizing, and a
    grey channel repeated (or colour averaged to luminance) when the channels differ."""
    if images.shape[2:] != (size, size):
        images = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear",
                                                 antialias=True, align_corners=False)
        images = images.round().clamp(0, 255).to(torch.uint8)
    if images.shape[1] != channels:
        if channels == 3:
            images = images.expand(-1, 3, -1, -1)
        else:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    return images


def dataset_item(path: str):
    """(data set name, index) of a recorded '<name>:test/<index>' path, else None."""
    match = DATASET_ITEM.match(path)
    return (match.group(1), int(match.group(2))) if match else None


def thumbnails(paths: list, channels: int, size: int, data_dir: str) -> tuple:
    """(uint8 (N, channels, size, size), bool (N,) found) of recorded paths, for figures: a file
    or data set image that cannot be read any more is left blank rather than refused (the
    caller says so). A data set missing from `data_dir` is not downloaded for a thumbnail."""
    pixels = torch.full((len(paths), channels, size, size), 255, dtype=torch.uint8)
    found = torch.zeros(len(paths), dtype=torch.bool)
    splits = {}
    for position, path in enumerate(paths):
        item = dataset_item(path)
        try:
            if item is None:
                pixels[position] = torch.from_numpy(_decoded(path, channels, size))
            else:
                name, index = item
                if name not in splits:
                    try:
                        splits[name] = load_split(name, data_dir, train=False, download=False)
                    except DatasetError:   # not there, or corrupt: tried once
                        splits[name] = None
                if splits[name] is None:
                    continue
                pixels[position] = resized(splits[name].images[index:index + 1], channels, size)[0]
            found[position] = True
        except Exception:  # a moved or deleted file, data no longer there: drawn blank
            continue
    return pixels, found
