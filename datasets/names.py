"""What a DATASET argument names, and the names shown for it: plain Python, no torch, so that
a command's --help and its argument checks stay fast.

An argument that contains a path separator ('/', or the platform's own) is a folder; otherwise a
known data set's name in any case ('mnist', 'FashionMNIST') is that data set, even when a folder
of that name exists (write './mnist' to mean the folder); any other argument is a folder,
relative to the current one.
"""

import os

CLASS_NAMES = {
    "MNIST": [str(digit) for digit in range(10)],
    "FashionMNIST": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
}
DATASET_NAMES = tuple(CLASS_NAMES)


def canonical_dataset_name(name: str) -> str | None:
    """'mnist' -> 'MNIST', 'fashionmnist' -> 'FashionMNIST'; None when unknown."""
    for known in DATASET_NAMES:
        if name.lower() == known.lower():
            return known
    return None


def has_separator(argument: str) -> bool:
    """Whether `argument` holds a path separator ('/', or the platform's own)."""
    separators = {"/", os.sep} | ({os.altsep} if os.altsep else set())
    return any(separator in argument for separator in separators)


def is_path(argument: str) -> bool:
    """Whether a DATASET argument names a folder rather than a known data set (see above)."""
    return has_separator(argument) or canonical_dataset_name(argument) is None


def shown(text: str) -> str:
    """A file name as it can be printed: bytes that are not UTF-8 (kept by Python as lone
    surrogates) become backslash escapes."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def folder_name(root: str) -> str:
    """The folder's own name, for output file names and titles: 'pets' for 'data/pets/', the
    current folder's name for '.'; never a path."""
    return shown(os.path.basename(os.path.normpath(os.path.abspath(root)))) or "images"


def dataset_name(argument: str) -> str:
    """The name a run's files and titles use: the canonical name of a known data set, the
    folder's own name for a folder."""
    return folder_name(argument) if is_path(argument) else canonical_dataset_name(argument)
