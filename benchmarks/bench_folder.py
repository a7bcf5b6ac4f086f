"""A folder of your own images: decoding, the cache, and a training epoch against the classic
pipeline, side by side; not a test.

    python benchmarks/bench_folder.py --scratch tmp/bench-folder

1. The folder: `--samples` RGB 32x32 PNG images in `--classes` class folders, in the
   `train/` and `test/` layout (a fifth of each class in test/), written into `--scratch` unless
   a complete one of that size is already there. Each image is a class-specific shape (disc,
   ring, square, stripes, ...) of a random colour, place and size over a smooth random
   colour gradient with pixel noise: photo-like enough that PNG compresses it as it does
   CIFAR's images (a few KB each), so decoding costs what it costs on real images.
2. Reading it: `datasets.load_dataset` with the cache emptied (decoding every file, then writing
   the cache, as a user's first run does), then again (reading the cache, as every later run
   does); images per second of each, medians of `--repeats`, alternately. The cache lives in
   `--scratch`, never in the user's own cache folder.
3. A training epoch on the folder's training split, for every `--networks`: this suite
   (`training.setup.set_up`, then the loop's `train_epoch`, timed as bench_train.py times it on
   MNIST) against the classic per-sample pipeline of benchmarks/classic.py, with
   `torchvision.datasets.ImageFolder` and `ToTensor()` + `Normalize(mean, std)` in place of
   torchvision's MNIST (the same pair/triplet wrapper, DataLoader and loop); the same network,
   first weights, batch size and torch threads. Alternately, each run a fresh process; then, to
   say where the classic's seconds go, one pass over its DataLoader alone (decoding, transforms,
   partners and collation, no network), which its epoch makes twice (the counting pass and the
   training pass). Medians; a ratio is the median of the side-by-side ratios.

Prints the machine, a table and the ratios; writes everything as JSON (`--json`). Runs are timed
on whatever else the machine is doing: compare only figures from one run of this script.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from bench_train import machine, measured, suite_epoch, summarise, synchronise  # noqa: E402
from training.config import positive  # noqa: E402

IMAGE_SIZE = 32
TEST_SHARE = 5          # one image in TEST_SHARE goes to test/
COMPLETE = ".complete"  # written last into a finished folder (hidden: the folder reader ignores it)
NETWORKS = "siamese-contrastive,embedding-classification"


# ---------------------------------------------------------------- the folder

def _shape_masks(labels, rng):
    """(N, 32, 32) bool: a class-specific shape per label, at a random place and size."""
    count = len(labels)
    axis = np.linspace(-1, 1, IMAGE_SIZE)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    centre = rng.uniform(-0.3, 0.3, size=(count, 2, 1, 1))
    y, x = y[None] - centre[:, 0], x[None] - centre[:, 1]
    s = rng.uniform(0.35, 0.65, size=(count, 1, 1))
    r = np.hypot(x, y)
    shapes = [
        r < s,                                                   # disc
        (r < s) & (r > s * 0.6),                                 # ring
        (abs(x) < s) & (abs(y) < s),                             # square
        abs(x) + abs(y) < s,                                     # diamond
        (r < s) & (np.sin(y * 12) > 0),                          # horizontal stripes
        (r < s) & (np.sin(x * 12) > 0),                          # vertical stripes
        ((abs(x) < s / 3) | (abs(y) < s / 3)) & (r < s),         # cross
        (y > -s) & (y < s) & (abs(x) < (y + s) / 2),             # triangle
        (abs(x) < s) & (abs(y) < s) & (np.sin(x * 9) * np.sin(y * 9) > 0),   # checkerboard
        (np.hypot(x - s / 2, y) < s / 2) | (np.hypot(x + s / 2, y) < s / 2),  # two discs
    ]
    return np.stack([shapes[label % len(shapes)][i] for i, label in enumerate(labels)])


def synthetic_images(labels, rng) -> np.ndarray:
    """(N, 32, 32, 3) uint8: each label's shape in a random colour over a smooth random colour
    gradient, plus pixel noise."""
    count = len(labels)
    t = np.linspace(0, 1, IMAGE_SIZE)
    corners = rng.uniform(0, 255, size=(count, 4, 3))   # top-left, top-right, bottom-left, bottom-right
    top = corners[:, None, 0] * (1 - t[None, :, None]) + corners[:, None, 1] * t[None, :, None]
    bottom = corners[:, None, 2] * (1 - t[None, :, None]) + corners[:, None, 3] * t[None, :, None]
    background = top[:, None] * (1 - t[None, :, None, None]) + bottom[:, None] * t[None, :, None, None]
    colour = rng.uniform(0, 255, size=(count, 1, 1, 3))
    images = np.where(_shape_masks(labels, rng)[..., None], colour, background)
    images += rng.normal(0, 10, size=images.shape)
    return np.clip(images, 0, 255).astype(np.uint8)


def write_folder(root: str, samples: int, classes: int, seed: int = 0, chunk: int = 1000) -> str:
    """`samples` PNG images in `root/{train,test}/class-<k>/<n>.png` (one in TEST_SHARE of
    each class in test/), unless `root` already holds a complete folder; returns `root`."""
    from PIL import Image

    if os.path.exists(os.path.join(root, COMPLETE)):
        return root
    shutil.rmtree(root, ignore_errors=True)   # an unfinished one from a run that stopped
    rng = np.random.default_rng(seed)
    labels = np.arange(samples) % classes
    names = [f"class-{label}" for label in range(classes)]
    for split in ("train", "test"):
        for name in names:
            os.makedirs(os.path.join(root, split, name), exist_ok=True)
    for start in range(0, samples, chunk):
        batch = labels[start:start + chunk]
        for offset, (label, pixels) in enumerate(zip(batch, synthetic_images(batch, rng))):
            index = start + offset
            split = "test" if (index // classes) % TEST_SHARE == TEST_SHARE - 1 else "train"
            Image.fromarray(pixels, "RGB").save(os.path.join(root, split, names[label], f"{index:06d}.png"))
    with open(os.path.join(root, COMPLETE), "w") as f:
        f.write(f"{samples} images, {classes} classes, seed {seed}\n")
    return root


def folder_bytes(root: str) -> int:
    return sum(os.path.getsize(os.path.join(folder, name))
               for folder, _, names in os.walk(root) for name in names if name.endswith(".png"))


# ---------------------------------------------------------------- decoding and the cache

def reading(root: str, cache_dir: str, repeats: int, log) -> dict:
    """Images per second of load_dataset on `root` with the cache emptied, then from the cache,
    alternately `repeats` times; medians, and every run."""
    from datasets import cache, load_dataset

    runs = {"decode": [], "cache": []}
    images = None
    for repeat in range(repeats):
        shutil.rmtree(cache_dir, ignore_errors=True)
        for kind in ("decode", "cache"):
            started = time.perf_counter()
            data = load_dataset(root, ROOT, "cpu", progress=False)
            seconds = time.perf_counter() - started
            if data.from_cache != (kind == "cache"):
                raise RuntimeError(f"the {kind} run {'did not read' if kind == 'cache' else 'read'} the cache")
            images = len(data.train) + len(data.test)
            runs[kind].append(images / seconds)
            log(f"  reading repeat {repeat + 1} {kind}: {images / seconds:.0f} images/s ({seconds:.2f} s)")
    cache_file = cache.location(root, None)
    return {"images": images, "decode_images_per_second": statistics.median(runs["decode"]),
            "cache_images_per_second": statistics.median(runs["cache"]),
            "ratio": statistics.median(c / d for d, c in zip(runs["decode"], runs["cache"])),
            "cache_mb": os.path.getsize(cache_file) / 2**20, "runs": runs,
            "mean": list(data.train.mean), "std": list(data.train.std)}


# ---------------------------------------------------------------- workers (one per process)

def classic_folder(root: str, mean, std):
    """torchvision's ImageFolder on `root`, one PNG -> normalised tensor per item, with its
    targets as a tensor (the classic pair/triplet wrappers read `targets.numpy()`)."""
    import torch
    from torchvision import datasets, transforms

    dataset = datasets.ImageFolder(root, transform=transforms.Compose([
        transforms.ToTensor(), transforms.Normalize(mean, std)]))
    dataset.targets = torch.tensor(dataset.targets)
    return dataset


def worker(job) -> dict:
    """One timed run in this process: the suite's epoch, the classic's epoch, or one pass over
    the classic's DataLoader alone. Data loading and the model are built before the clock."""
    import torch

    from training import Config

    torch.set_num_threads(job["threads"])
    config = Config(job["network"], job["folder"], epochs=1, batch_size=job["batch_size"], device="cpu",
                    output=job["output"])
    if job["pipeline"] == "suite":
        seconds, items = suite_epoch(config)
        return {"seconds": seconds, "items": items}

    from classic import classic_loader, classic_model, classic_train_epoch
    from training.setup import resolve_device

    device = resolve_device(config.device)
    dataset = classic_folder(os.path.join(job["folder"], "train"), job["mean"], job["std"])
    loader = classic_loader(config.network, dataset, config.batch_size)
    started = time.perf_counter()
    if job["pipeline"] == "classic data":
        for _ in loader:
            pass
    else:
        model = classic_model(config, dataset, device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        started = time.perf_counter()
        classic_train_epoch(model, config.network, loader, optimizer, config, device)
        synchronise(device)
    return {"seconds": time.perf_counter() - started, "items": len(dataset)}


def run_in_own_process(**job) -> tuple[float, float, float]:
    """One worker run in a fresh process: (samples per second, seconds, peak MB)."""
    result = measured([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job)])
    timed = json.loads(result["stdout"].strip().splitlines()[-1])
    return timed["items"] / timed["seconds"], timed["seconds"], result["peak_rss_mb"]


def epochs(networks, batch_size, threads, repeats, root, output, mean, std, log) -> list:
    """Per network: suite and classic epochs alternately, then the classic's data pass alone."""
    rows = []
    for network in networks:
        runs = {"suite": [], "classic": []}
        data_seconds = []
        for repeat in range(repeats):
            for pipeline in ("suite", "classic", "classic data"):
                speed, seconds, peak = run_in_own_process(
                    pipeline=pipeline, network=network, batch_size=batch_size, threads=threads, folder=root,
                    output=output, mean=mean, std=std)
                if pipeline == "classic data":
                    data_seconds.append(seconds)
                else:
                    runs[pipeline].append({"samples_per_second": speed, "seconds": seconds, "peak_rss_mb": peak})
                log(f"  {network} batch {batch_size} repeat {repeat + 1} {pipeline}: {speed:.0f} samples/s "
                    f"({seconds:.1f} s), {peak:.0f} MB")
        row = summarise(network, batch_size, runs)
        row["suite_epoch_seconds"] = statistics.median(run["seconds"] for run in runs["suite"])
        row["classic_epoch_seconds"] = statistics.median(run["seconds"] for run in runs["classic"])
        row["classic_data_pass_seconds"] = statistics.median(data_seconds)
        row["classic_data_pass_runs"] = data_seconds
        # The classic epoch is two passes over its loader (counting, training) plus the steps.
        row["classic_data_share"] = statistics.median(
            min(1.0, 2 * data / run["seconds"]) for data, run in zip(data_seconds, runs["classic"]))
        rows.append(row)
    return rows


def table(reads, rows) -> str:
    lines = [f"reading {reads['images']} PNG images: decoding {reads['decode_images_per_second']:.0f} images/s, "
             f"from the cache {reads['cache_images_per_second']:.0f} images/s "
             f"({reads['ratio']:.0f}x; cache file {reads['cache_mb']:.0f} MB)"]
    if rows:
        lines += ["", "| network | batch | suite samples/s | classic samples/s | ratio | classic data pass s "
                      "| classic epoch s | suite epoch s | suite peak MB | classic peak MB |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['network']} | {r['batch_size']} | {r['suite_samples_per_second']:.0f} | "
                  f"{r['classic_samples_per_second']:.0f} | {r['ratio']:.1f}x | {r['classic_data_pass_seconds']:.1f} | "
                  f"{r['classic_epoch_seconds']:.1f} | {r['suite_epoch_seconds']:.1f} | "
                  f"{r['suite_peak_rss_mb']:.0f} | {r['classic_peak_rss_mb']:.0f} |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------- the benchmark

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0].rstrip(","),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--samples", type=positive(int), default=20_000,
                        help="images in the folder (train and test together)")
    parser.add_argument("--classes", type=positive(int), default=10, help="class folders")
    parser.add_argument("--repeats", type=positive(int), default=3, help="runs of each side per case")
    parser.add_argument("--threads", type=positive(int), default=None,
                        help="torch threads of every training run (default: torch's default)")
    parser.add_argument("--batch-size", type=positive(int), default=256, help="of both pipelines")
    parser.add_argument("--networks", default=NETWORKS,
                        help="comma-separated networks whose epochs are timed; 'none' to time reading only")
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results", "bench_folder-cpu.json"),
                        help="where the results go")
    parser.add_argument("--scratch", default=None,
                        help="folder for the images, the cache and the runs' output, kept for the next run "
                             "(default: a temporary folder, removed at the end)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    from classic import CLASSIC_RECIPES
    from training import EXPERIMENTS

    networks = [] if args.networks == "none" else args.networks.split(",")
    unknown = [name for name in networks if name not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown network(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    no_classic = [name for name in networks if name not in CLASSIC_RECIPES]
    if no_classic:
        parser.error(f"--networks {','.join(no_classic)}: the classic pipeline has no equivalent; choose from "
                     f"{', '.join(CLASSIC_RECIPES)}, or none")
    if args.classes < 2:
        parser.error(f"--classes {args.classes}: a folder needs 2 classes or more")
    smallest = 2 * TEST_SHARE * args.classes   # two test images of every class, so pairs can form
    if args.samples < smallest:
        parser.error(f"--samples {args.samples}: at least {smallest} for {args.classes} classes "
                     f"({2 * TEST_SHARE} a class, so that test/ holds two of each)")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    log = lambda line: print(line, flush=True)   # noqa: E731
    temporary = tempfile.TemporaryDirectory(prefix="bench-folder-") if args.scratch is None else None
    scratch = temporary.name if temporary else args.scratch
    variable, before = "SIAMESE_CACHE_DIR", os.environ.get("SIAMESE_CACHE_DIR")
    os.environ[variable] = os.path.join(scratch, "cache")   # this process's and the workers'
    try:
        results = {"machine": machine(), "samples": args.samples, "classes": args.classes,
                   "image_size": IMAGE_SIZE, "repeats": args.repeats, "threads": threads,
                   "batch_size": args.batch_size}
        log(json.dumps(results["machine"]))
        root = os.path.join(scratch, f"folder-{args.samples}-{args.classes}")
        started = time.perf_counter()
        write_folder(root, args.samples, args.classes)
        results["folder_mb"] = folder_bytes(root) / 2**20
        log(f"folder of {args.samples} PNG images ({results['folder_mb']:.0f} MB) ready in "
            f"{time.perf_counter() - started:.0f} s")
        reads = reading(root, os.environ[variable], args.repeats, log)
        results["reading"] = reads
        results["epochs"] = epochs(networks, args.batch_size, threads, args.repeats, root,
                                   os.path.join(scratch, "output"), reads["mean"], reads["std"], log)
        print(table(reads, results["epochs"]))
        from training.files import write_atomically

        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        write_atomically(args.json, (json.dumps(results, indent=1) + "\n").encode())
        print(f"results in {args.json}")
    finally:
        if before is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = before
        if temporary:
            temporary.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
