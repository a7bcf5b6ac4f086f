"""Hold a validation split out of the training set, written as a data folder train.py reads.

    python scripts/make_validation_split.py --data-dir DATA --out VALSPLIT [--size 10000] [--seed 0]

For MNIST and FashionMNIST in `DATA` (torchvision's layout, `<Name>/raw/*-ubyte`) it writes
`VALSPLIT/<Name>/raw/train-*` (the training split minus the held-out images) and
`VALSPLIT/<Name>/raw/t10k-*` (the held-out images). The held-out part is stratified: each
class gives its share of `--size` (largest remainders round the shares so they add up to
`--size` exactly), its images chosen by a seeded permutation; both parts keep the original
order. Then

    python train.py NETWORK MNIST --data-dir VALSPLIT

trains on the rest and reports the held-out images as its "test" numbers, so that options are
chosen without looking at the test set (which the folder does not contain). The images are
still normalised with the full training split's mean and standard deviation (datasets/mnist.py):
a fixed constant, not a statistic fitted to the held-out images.
"""

import argparse
import os
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from datasets.mnist import DATASET_NAMES, DatasetError, _read_idx, split_files  # noqa: E402


def held_out_indices(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """The sorted indices of a stratified random sample of `size` of `labels`.

    Class c gets round(size * n_c / N) places (largest remainders, so the total is `size`),
    filled by the first of its images in one seeded permutation of all indices.
    """
    classes, counts = np.unique(labels, return_counts=True)
    shares = size * counts / len(labels)
    quota = np.floor(shares).astype(np.int64)
    quota[np.argsort(-(shares - quota), kind="stable")[: size - quota.sum()]] += 1
    order = np.random.default_rng(seed).permutation(len(labels))
    chosen = [order[labels[order] == cls][:count] for cls, count in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


def write_idx(path: str, array: np.ndarray) -> None:
    """An uncompressed IDX file of unsigned bytes (magic 0x0000 08 ndim, big-endian sizes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">HBB", 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def split_dataset(name: str, data_dir: str, out: str, size: int, seed: int) -> tuple[int, int]:
    """Write `out/<name>/raw/` from `data_dir/<name>/raw/`'s training split; returns the sizes
    (training part, validation part)."""
    source = os.path.join(data_dir, name, "raw")
    image_file, label_file = (os.path.join(source, f) for f in split_files(name, train=True))
    images, labels = _read_idx(image_file, dims=3), _read_idx(label_file, dims=1)
    if len(images) != len(labels):
        raise DatasetError(f"{image_file} holds {len(images)} images but {label_file} "
                           f"{len(labels)} labels")
    if not 0 < size < len(labels):
        raise DatasetError(f"--size {size}: the training split of {name} holds {len(labels)} "
                           f"images; hold out between 1 and {len(labels) - 1}")
    held_out = np.zeros(len(labels), dtype=bool)
    held_out[held_out_indices(labels, size, seed)] = True
    raw = os.path.join(out, name, "raw")
    os.makedirs(raw, exist_ok=True)
    for train, keep in ((True, ~held_out), (False, held_out)):
        image_name, label_name = split_files(name, train)
        write_idx(os.path.join(raw, image_name), images[keep])
        write_idx(os.path.join(raw, label_name), labels[keep])
    return int((~held_out).sum()), int(held_out.sum())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="folder holding <Name>/raw/*-ubyte")
    parser.add_argument("--out", required=True, help="folder to write the split data sets into")
    parser.add_argument("--size", type=int, default=10_000, help="images held out per data set")
    parser.add_argument("--seed", type=int, default=0, help="seed of the held-out images' draw")
    parser.add_argument("--datasets", default=",".join(DATASET_NAMES),
                        help="comma-separated data sets to split")
    args = parser.parse_args(argv)
    names = [name for name in args.datasets.split(",") if name]
    unknown = [name for name in names if name not in DATASET_NAMES]
    if unknown or not names:
        print(f"make_validation_split.py: error: unknown data set '{','.join(unknown)}'; "
              f"choose from: {', '.join(DATASET_NAMES)}", file=sys.stderr)
        return 2
    if os.path.abspath(args.out) == os.path.abspath(args.data_dir):
        print("make_validation_split.py: error: --out must differ from --data-dir (it would "
              "overwrite the real data)", file=sys.stderr)
        return 2
    for name in names:
        try:
            train, validation = split_dataset(name, args.data_dir, args.out, args.size, args.seed)
        except DatasetError as error:
            print(f"make_validation_split.py: error: {error}", file=sys.stderr)
            return 2
        print(f"{name}: {train} training and {validation} validation images in "
              f"{os.path.join(args.out, name, 'raw')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
