"""A folder of images in torchvision's ImageFolder layout, decoded once into one uint8 array.

Layout: `root/<class>/<image>`, one folder per class; class names are the folder names, sorted
(as torchvision sorts them), and a class folder's images may lie in subfolders of it. When
`root/train/` and `root/test/` both exist, each holds class folders and they are the two splits;
otherwise the caller holds some of each class out (`hold_out`). Hidden names (starting with '.',
such as .DS_Store and ._copies), the `__MACOSX` folders that zip leaves and the `Thumbs.db` and
`desktop.ini` that file browsers leave are ignored everywhere. Files directly in `root` belong
to no class and are ignored with a warning.

Every other file is tried as an image (`decode.py` says how each is turned into pixels). A file
that is not an image or cannot be decoded is skipped and counted, and one warning line names
the first few; a folder with no readable image at all, a missing or empty folder, one class
only, or a class without a readable image is a DatasetError with a one-line message (and so
is a test split of fewer than two classes, and a held-out split that leaves fewer than two
classes of two training images).

The size: `image_size` when given; otherwise the images' own size when they are all one square
size between 16 and 64 pixels, else whichever of 16 and 64 lies nearer the median of the
images' shorter sides (40 and above: 64). The channels: 1 when every image is greyscale (by its
mode, a palette of greys only, or equal R, G and B everywhere), else 3 (greyscale images then
repeat their grey in all three).

Decoding runs in a few threads (Pillow decodes and resizes without holding Python's lock) under
a progress bar, after checking that the array will take at most half the memory available. The
result is cached (cache.py), so a second load of an unchanged folder reads one file.
"""

import math
import os
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from . import cache, decode
from .names import shown
from .split import DatasetError

SMALLEST_DEFAULT_SIZE, LARGEST_DEFAULT_SIZE = 16, 64
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
MEMORY_SHARE = 0.5  # the decoded images may take at most this share of the memory available
THREADS = 4         # at most; never more than the CPUs
CHUNK = 64          # images a thread decodes per task
NAMED_SKIPS = 3     # files named in the skipped-files warning
ACCEPTED = "a folder of class folders, <folder>/<class>/<image> (PNG, JPEG, BMP, GIF, WebP)"


@dataclass
class Listing:
    """The files of a folder, in label order then path order, before any is opened."""

    root: str
    class_names: list
    paths: list           # relative to root, '/' between parts
    labels: list          # an int per path
    in_test: list | None  # a bool per path in the train/ and test/ layout, else None
    stats: list           # (size in bytes, modification time in ns) per path
    warnings: list = field(default_factory=list)


@dataclass
class FolderImages:
    """A folder decoded: uint8 images (N, C, S, S), labels, paths, and what was skipped."""

    images: torch.Tensor
    labels: torch.Tensor
    paths: list
    in_test: torch.Tensor | None
    class_names: list
    skipped: list          # (path, reason) per file that is not a readable image
    from_cache: bool
    warnings: list = field(default_factory=list)


def _hidden(name):
    return name.startswith(".") or name in IGNORED_NAMES


def _entries(folder):
    """The visible entries of `folder`, sorted by name, as (name, is_folder) pairs."""
    try:
        with os.scandir(folder) as scan:
            entries = [(entry.name, entry.is_dir()) for entry in scan if not _hidden(entry.name)]
    except OSError as error:
        reason = ("permission denied" if isinstance(error, PermissionError)
                  else (error.strerror or str(error)).lower())
        raise DatasetError(f"cannot read the folder {shown(folder)}: {reason}") from None
    return sorted(entries)


def _class_files(folder, relative):
    """Every visible file under a class folder, recursively, sorted; links are followed, and a
    folder met twice (a link loop) is read once."""
    files, seen, pending = [], set(), [(folder, relative)]
    while pending:
        path, rel = pending.pop()
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        for name, is_folder in _entries(path):
            if is_folder:
                pending.append((os.path.join(path, name), f"{rel}/{name}"))
            else:
                files.append(f"{rel}/{name}")
    return sorted(files)


def list_folder(root: str, fewest_classes: int = 2) -> Listing:
    """The class folders and files of `root`; raises DatasetError when the layout is wrong.

    Training needs two classes or more; embed.py and search.py read a folder of one class
    (`fewest_classes=1`): queries and embeddings need no second class."""
    name = shown(root)
    if not os.path.exists(root):
        raise DatasetError(f"{name} does not exist: expected MNIST, FashionMNIST or {ACCEPTED}")
    if not os.path.isdir(root):
        raise DatasetError(f"{name} is a file, not a folder: expected MNIST, FashionMNIST or {ACCEPTED}")
    entries = _entries(root)
    folders = [entry for entry, is_folder in entries if is_folder]
    loose = [entry for entry, is_folder in entries if not is_folder]
    warnings = []
    if "train" in folders and "test" in folders:
        others = [f"{entry}/" for entry in folders if entry not in ("train", "test")] + loose
        if others:
            warnings.append(f"{name}: ignored beside train/ and test/: {_some(others)}")
        train, train_loose = _read_classes(os.path.join(root, "train"), "train")
        test, test_loose = _read_classes(os.path.join(root, "test"), "test")
        if train_loose or test_loose:
            warnings.append(f"{name}: ignored {_count(len(train_loose) + len(test_loose), 'file')} "
                            f"outside the class folders: {_some(train_loose + test_loose)}")
        class_names = sorted(train)
        unknown = sorted(set(test) - set(train))
        if unknown:
            raise DatasetError(f"{name}/test holds class folders that {name}/train does not: "
                               f"{_some(unknown)}; test/ may only hold classes of train/")
        parts = [(train, False), (test, True)]
    else:
        for split_name in ("train", "test"):
            if split_name in folders and any(is_folder for _, is_folder in
                                             _entries(os.path.join(root, split_name))):
                other = "test" if split_name == "train" else "train"
                raise DatasetError(f"{name} holds {split_name}/ of class folders but no {other}/: "
                                   f"give both train/ and test/, or put the class folders "
                                   f"directly in {name}")
        if not folders:
            held = f"holds {_count(len(loose), 'file')} but no class folder" if loose else "is empty"
            raise DatasetError(f"{name} {held}: expected {ACCEPTED}")
        if loose:
            warnings.append(f"{name}: ignored {_count(len(loose), 'file')} outside the class folders: "
                            f"{_some(loose)}")
        classes, _ = _read_classes(root, "")
        class_names = sorted(classes)
        parts = [(classes, None)]
    if len(class_names) < fewest_classes:
        raise DatasetError(f"{name} holds a single class folder ({shown(class_names[0])}): "
                           f"expected two classes or more, each in a folder of its own")
    paths, labels, in_test = [], [], []
    for label, class_name in enumerate(class_names):
        for classes, test in parts:
            files = classes.get(class_name, [])
            paths += files
            labels += [label] * len(files)
            in_test += [test] * len(files)
    stats = [_stat(os.path.join(root, *path.split("/"))) for path in paths]
    return Listing(root=root, class_names=class_names, paths=paths, labels=labels,
                   in_test=None if parts[0][1] is None else in_test, stats=stats, warnings=warnings)


def _read_classes(folder, prefix):
    """({class name: [relative file paths]} of the class folders in `folder`, [its loose files])."""
    classes, loose = {}, []
    for entry, is_folder in _entries(folder):
        rel = f"{prefix}/{entry}" if prefix else entry
        if not is_folder:
            loose.append(rel)
            continue
        files = _class_files(os.path.join(folder, entry), rel)
        if not files:
            raise DatasetError(f"the class folder {shown(os.path.join(folder, entry))} is empty: "
                               f"every class folder needs at least one image")
        classes[entry] = files
    if not classes:
        raise DatasetError(f"{shown(folder)} holds no class folder: expected {ACCEPTED}")
    return classes, loose


def _stat(path):
    try:
        status = os.stat(path)
        return status.st_size, status.st_mtime_ns
    except OSError:
        return -1, -1  # unreadable: skipped when it is opened


def _count(number, noun):
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _some(names, count=NAMED_SKIPS):
    names = [shown(name) for name in names]
    return ", ".join(names[:count]) + (f" and {len(names) - count} more" if len(names) > count else "")


def read_folder(root: str, image_size: int | None = None, progress: bool = True,
                use_cache: bool = True) -> FolderImages:
    """Decode every image of `root` (or read them from the cache) into one uint8 array.

    Raises DatasetError for a layout that is wrong, no readable image or a class without one,
    or images that would not fit in memory. Warnings (files skipped or ignored, a cache that
    could not be written) come back in `warnings`, one line each, for the caller to print.
    """
    listing = list_folder(root)
    key = cache.fingerprint(listing.paths, listing.labels, listing.in_test, listing.stats, image_size)
    location = cache.location(root, image_size) if use_cache else None
    stored = cache.read(location, key) if location else None
    if stored is not None:
        images, skipped = stored["images"], [tuple(pair) for pair in stored["skipped"]]
        labels, paths = stored["labels"], stored["paths"]
        in_test = stored["in_test"]
        warnings = listing.warnings + _skipped_warning(skipped, len(listing.paths), shown(root))
        return FolderImages(images, labels, paths, in_test, listing.class_names, skipped, True, warnings)

    images, kept, skipped = _decode_all(listing, image_size, progress)
    labels = torch.tensor([listing.labels[i] for i in kept], dtype=torch.int64)
    paths = [listing.paths[i] for i in kept]
    in_test = (torch.tensor([listing.in_test[i] for i in kept], dtype=torch.bool)
               if listing.in_test is not None else None)
    _check_every_class_kept(listing, labels, in_test, skipped)
    warnings = listing.warnings + _skipped_warning(skipped, len(listing.paths), shown(root))
    if location:
        failure = cache.write(location, {"fingerprint": key, "images": images, "labels": labels,
                                         "paths": paths, "in_test": in_test,
                                         "skipped": [list(pair) for pair in skipped]})
        if failure:
            warnings.append(f"could not write the cache of decoded images ({failure}); the next "
                            f"run decodes {shown(root)} again")
    return FolderImages(images, labels, paths, in_test, listing.class_names, skipped, False, warnings)


def _skipped_warning(skipped, total, root):
    if not skipped:
        return []
    named = _some([f"{path} ({reason})" for path, reason in skipped])
    return [f"{root}: skipped {len(skipped)} of {_count(total, 'file')}, not readable images: {named}"]


def _check_every_class_kept(listing, labels, in_test, skipped):
    counts = torch.bincount(labels, minlength=len(listing.class_names))
    if in_test is not None:
        counts = torch.bincount(labels[~in_test], minlength=len(listing.class_names))
    for label, count in enumerate(counts.tolist()):
        if count == 0:
            folder = f"train/{listing.class_names[label]}" if in_test is not None else listing.class_names[label]
            reasons = [f"{path} ({reason})" for path, reason in skipped
                       if path.startswith(f"{folder}/")]
            raise DatasetError(f"the class folder {shown(listing.root)}/{shown(folder)} holds no readable "
                               f"image ({_some(reasons)}): every class needs at least one PNG, JPEG, "
                               f"BMP, GIF or WebP image")


def default_image_size(sizes) -> int:
    """The size images of these (width, height) pairs are resized to when none is asked for:
    their own when all are one square size from 16 to 64; else whichever of 16 and 64 lies
    nearer the median shorter side (64 from 40 on, the two being equally near at 40)."""
    if len(set(sizes)) == 1:
        width, height = sizes[0]
        if width == height and SMALLEST_DEFAULT_SIZE <= width <= LARGEST_DEFAULT_SIZE:
            return width
    median = float(np.median([min(width, height) for width, height in sizes]))
    middle = (SMALLEST_DEFAULT_SIZE + LARGEST_DEFAULT_SIZE) / 2
    return LARGEST_DEFAULT_SIZE if median >= middle else SMALLEST_DEFAULT_SIZE


def _reason(error):
    """A few words on why a file could not be read as an image."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, Image.DecompressionBombError):
        return "too many pixels for Pillow's decompression-bomb limit"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _threads(count):
    return max(1, min(THREADS, os.cpu_count() or 1, math.ceil(count / CHUNK)))


def _run(pool, work, chunks, bar):
    """`work` on every chunk in the pool's threads. An exception (Ctrl-C in this thread, or any
    raised in a worker) ends `map`'s iterator, which cancels the chunks not yet begun."""
    for done in pool.map(work, chunks):
        bar.update(done)


def _decode_all(listing, image_size, show_progress):
    """(images (N, C, S, S) uint8 tensor, indices of the files kept, [(path, reason) skipped])."""
    from tqdm import tqdm

    files = [os.path.join(listing.root, *path.split("/")) for path in listing.paths]
    name = shown(os.path.basename(os.path.normpath(listing.root)))
    bar = tqdm(total=2 * len(files), desc=f"reading {name}", unit="image", leave=False,
               disable=None if show_progress else True)  # None: shown on a terminal only
    failures = {}  # file index -> why it was skipped
    with bar, warnings.catch_warnings(), ThreadPoolExecutor(_threads(len(files))) as pool:
        # Pillow warns about what it still reads (corrupt EXIF data, huge images), a line per
        # file; a file it cannot read is named in the skipped-files line anyway.
        warnings.filterwarnings("ignore", module=r"PIL\.")
        probes = _probe_all(pool, files, failures, bar)
        readable = sorted(probes)
        if not readable:
            named = _some([f"{listing.paths[i]} ({failures[i]})" for i in sorted(failures)])
            raise DatasetError(f"{shown(listing.root)} holds {_count(len(files), 'file')} but no readable "
                               f"image: expected PNG, JPEG, BMP, GIF or WebP images in class folders ({named})")
        bar.total = len(files) + len(readable)
        size = image_size or default_image_size([probes[i][:2] for i in readable])
        channels = 1 if all(probes[i][2] for i in readable) else 3
        _check_memory(len(readable), channels, size)
        images, grey, failed = _decode_into(pool, [files[i] for i in readable], size, channels, bar)
        failures.update((readable[position], reason) for position, reason in failed.items())

    kept = [position for position, i in enumerate(readable) if i not in failures]
    if len(kept) < len(readable):
        for new, old in enumerate(kept):  # in place: no second copy of the array
            if new != old:
                images[new] = images[old]
        images, grey = images[:len(kept)], grey[kept]
    if channels == 3 and grey.all():
        images = np.ascontiguousarray(images[:, :1])
    skipped = [(listing.paths[i], failures[i]) for i in sorted(failures)]
    return torch.from_numpy(images), [readable[position] for position in kept], skipped


def _chunks(count):
    return [range(start, min(start + CHUNK, count)) for start in range(0, count, CHUNK)]


def _probe_all(pool, files, failures, bar):
    """{file index: (width, height, greyscale)} of the files Pillow can open; the others'
    reasons go into `failures`."""
    probes = {}

    def probe_chunk(indices):
        for i in indices:
            try:
                probes[i] = decode.probe(files[i])
            except Exception as error:  # Pillow raises many kinds for a broken file
                failures[i] = _reason(error)
        return len(indices)

    _run(pool, probe_chunk, _chunks(len(files)), bar)
    return probes


def _decode_into(pool, files, size, channels, bar):
    """(uint8 array (len(files), channels, size, size), bool array: which images are grey,
    {position: why} of the files that failed, whose rows are left unset)."""
    images = np.empty((len(files), channels, size, size), dtype=np.uint8)
    grey = np.ones(len(files), dtype=bool)
    failed = {}

    def decode_chunk(positions):
        for position in positions:
            try:
                pixels = decode.decode(files[position], size)
            except Exception as error:
                failed[position] = _reason(error)
                continue
            if pixels.ndim == 2:
                images[position] = pixels  # broadcast over the channels
            elif channels == 3:
                images[position] = pixels.transpose(2, 0, 1)
                grey[position] = False
            else:  # a grey palette or mode held colour after all: take its luminance
                images[position, 0] = np.asarray(Image.fromarray(pixels).convert("L"))
        return len(positions)

    _run(pool, decode_chunk, _chunks(len(files)), bar)
    return images, grey, failed


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation: MemAvailable from /proc/meminfo (Linux),
    else the free pages os.sysconf reports; None where neither can be read (no check then)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(count: int, channels: int, size: int, available: int | None, where: str = "memory") -> None:
    """Raise DatasetError when `count` images of channels x size x size bytes take more than
    MEMORY_SHARE of `available` bytes (no check when that is None), naming the largest
    --image-size that fits."""
    if available is None:
        return
    needed, budget = count * channels * size * size, int(available * MEMORY_SHARE)
    if needed <= budget:
        return
    largest = math.isqrt(budget // (count * channels))
    advice = (f"--image-size {largest} or smaller fits" if largest >= 1
              else "no --image-size fits: use fewer images")
    raise DatasetError(f"{count:,} images of {channels}x{size}x{size} need {_bytes(needed)}, more than "
                       f"{MEMORY_SHARE:.0%} of the {_bytes(available)} of {where} available; {advice}")


def _check_memory(count, channels, size):
    check_fits(count, channels, size, available_memory())


def _bytes(count):
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000
    return f"{count:,.1f} TB"


def held_counts(class_sizes: np.ndarray, test_fraction: float) -> np.ndarray:
    """How many images of each class `hold_out` holds out: round(n * test_fraction) of a class
    of n images (halves round up), but never its last one."""
    rounded = np.floor(class_sizes * test_fraction + 0.5).astype(np.int64)
    return np.clip(np.minimum(rounded, class_sizes - 1), 0, None)


def _split_shortfalls(class_sizes, test_fraction, class_names=None):
    """What a split at `test_fraction` lacks, as (split, reason) pairs: the test split needs
    images of two classes or more (a class alone has no negatives), the training split two
    classes of two images or more (positive pairs of two classes, as every pair, triplet and
    P x K batch needs); [] when it lacks nothing. `class_names` names a lone class."""
    held = held_counts(class_sizes, test_fraction)
    kept = class_sizes - held
    shortfalls = []

    def one_class(where):
        return f"one class only ({shown(class_names[where[0]])})" if class_names else "one class only"

    tested, trained = np.flatnonzero(held), np.flatnonzero(kept >= 2)
    if len(tested) < 2:
        what = "no image" if len(tested) == 0 else f"images of {one_class(tested)}"
        shortfalls.append(("test", f"it holds out {what}, and a test split needs two classes or more"))
    if len(trained) < 2:
        what = "no class keeps" if len(trained) == 0 else f"{one_class(trained)} keeps"
        shortfalls.append(("training", f"{what} two images or more for training, and training needs "
                                       f"two such classes"))
    return shortfalls


def _working_fractions(class_sizes):
    """The test fractions of two decimals (0.01 to 0.99) that leave both splits enough: one
    range, since a larger fraction only holds more out of each class."""
    return [step / 100 for step in range(1, 100) if not _split_shortfalls(class_sizes, step / 100)]


def hold_out(labels: torch.Tensor, class_names: list, test_fraction: float, seed: int) -> torch.Tensor:
    """A bool mask of the images held out as the test split: round(n * test_fraction) of each
    class of n images (halves round up), drawn at random, but never a class's last training
    image (so a class of one image is held out nowhere, and a class of two keeps both when
    round(2 * test_fraction) is 0). Each class draws from its own generator, seeded by `seed`
    and the class's name, so adding images to one class does not change another's split.

    Raises DatasetError, in one line, when the test split would hold fewer than two classes (one
    class has no negatives to measure) or the training split fewer than two classes of two
    images or more (nothing to form positive pairs of two classes from), naming the fractions
    that would do for this folder, or what it lacks when none would (two classes of three
    images or more)."""
    labels = labels.cpu().numpy()
    class_sizes = np.bincount(labels, minlength=len(class_names))
    shortfalls = _split_shortfalls(class_sizes, test_fraction, class_names)
    if shortfalls:
        splits = " and the ".join(split for split, _ in shortfalls)
        reasons = "; ".join(reason for _, reason in shortfalls)
        working = _working_fractions(class_sizes)
        advice = (f"a --test-fraction from {working[0]} to {working[-1]} works for this folder" if working
                  else "no --test-fraction can split this folder: that needs two classes of three images "
                       "or more (or train/ and test/ folders)")
        raise DatasetError(f"--test-fraction {test_fraction} leaves too few images in the {splits} split: "
                           f"{reasons}; {advice}")
    counts = held_counts(class_sizes, test_fraction)
    mask = np.zeros(len(labels), dtype=bool)
    for label, name in enumerate(class_names):
        members = np.flatnonzero(labels == label)
        generator = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8", "surrogateescape"))])
        mask[members[generator.permutation(len(members))[:counts[label]]]] = True
    return torch.from_numpy(mask)
