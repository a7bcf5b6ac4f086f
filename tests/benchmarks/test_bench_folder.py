"""benchmarks/bench_folder.py on a tiny folder, so that it cannot rot: the folder it writes is one
that load_dataset and torchvision's ImageFolder both read, alike; both pipelines train the same
items; the whole script runs and reports every figure (slow); bad numbers are one line.

Its timings mean nothing on a tiny folder and are never asserted.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_folder  # noqa: E402
from bench_folder import COMPLETE, _shape_masks, classic_folder, synthetic_images, worker, write_folder  # noqa: E402


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return write_folder(str(tmp_path_factory.mktemp("scratch") / "folder"), samples=200, classes=10)


def png_files(root):
    return sorted(os.path.relpath(os.path.join(folder, name), root)
                  for folder, _, names in os.walk(root) for name in names if name.endswith(".png"))


def test_the_folder_is_class_folders_of_rgb_32px_pngs_a_fifth_of_each_class_held_out(tiny_folder):
    from PIL import Image

    files = png_files(tiny_folder)
    assert len(files) == 200
    for split, per_class in (("train", 16), ("test", 4)):
        for label in range(10):
            assert len(os.listdir(os.path.join(tiny_folder, split, f"class-{label}"))) == per_class
    with Image.open(os.path.join(tiny_folder, files[0])) as image:
        assert (image.format, image.mode, image.size) == ("PNG", "RGB", (32, 32))


def test_an_existing_folder_is_kept_and_an_unfinished_one_rewritten(tiny_folder, tmp_path):
    first = os.path.join(tiny_folder, png_files(tiny_folder)[0])
    stamp = os.stat(first).st_mtime_ns
    write_folder(tiny_folder, samples=200, classes=10)
    assert os.stat(first).st_mtime_ns == stamp

    unfinished = write_folder(str(tmp_path / "f"), samples=40, classes=2)
    os.remove(os.path.join(unfinished, COMPLETE))
    os.remove(os.path.join(unfinished, png_files(unfinished)[0]))   # as if stopped while writing
    write_folder(unfinished, samples=40, classes=2)
    assert len(png_files(unfinished)) == 40


def test_every_class_has_a_shape_of_its_own():
    # The same draws (place, size) for every class: the ten masks must all differ, and each
    # cover part of the image, neither nothing nor all of it.
    masks = np.stack([_shape_masks(np.array([label] * 20), np.random.default_rng(0)) for label in range(10)])
    shares = masks.mean(axis=(2, 3))
    assert (shares > 0.03).all() and (shares < 0.7).all(), shares
    for a in range(10):
        for b in range(a + 1, 10):
            assert (masks[a] != masks[b]).mean() > 0.02, (a, b)   # a disc and a square: their corners
    images = synthetic_images(np.arange(10), np.random.default_rng(0))
    assert images.shape == (10, 32, 32, 3) and images.dtype == np.uint8


def test_both_pipelines_read_the_same_pixels_and_train_the_same_items(tiny_folder, tmp_path, monkeypatch):
    from datasets import load_dataset

    monkeypatch.setenv("SIAMESE_CACHE_DIR", str(tmp_path / "cache"))
    data = load_dataset(tiny_folder, ROOT, "cpu", progress=False)
    assert data.train.images.shape == (160, 3, 32, 32) and len(data.test) == 40
    classic = classic_folder(os.path.join(tiny_folder, "train"), data.train.mean, data.train.std)
    assert classic.classes == data.class_names
    # The same file gives the same normalised pixels in both (ToTensor + Normalize).
    path, label = classic.samples[7]
    index = data.train.paths.index("train/" + os.path.relpath(path, os.path.join(tiny_folder, "train")))
    mean, std = torch.tensor(data.train.mean)[:, None, None], torch.tensor(data.train.std)[:, None, None]
    suite_pixels = (data.train.images[index].float() / 255 - mean) / std
    assert int(data.train.labels[index]) == label
    assert torch.allclose(classic[7][0], suite_pixels, atol=1e-5)

    threads = torch.get_num_threads()
    try:
        job = {"network": "embedding-classification", "batch_size": 64, "threads": 1, "folder": tiny_folder,
               "output": str(tmp_path / "out"), "mean": data.train.mean, "std": data.train.std}
        timed = {pipeline: worker({**job, "pipeline": pipeline}) for pipeline in ("suite", "classic", "classic data")}
    finally:
        torch.set_num_threads(threads)
    assert {pipeline: run["items"] for pipeline, run in timed.items()} == {
        "suite": 160, "classic": 160, "classic data": 160}
    assert all(run["seconds"] > 0 for run in timed.values())
    assert not os.path.exists(tmp_path / "out")   # set_up writes nothing


@pytest.mark.slow
def test_the_benchmark_runs_and_reports_every_figure(tmp_path):
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_folder.py"), "--samples", "200", "--repeats", "1",
         "--threads", "1", "--networks", "siamese-contrastive", "--json", results, "--scratch", tmp_path / "scratch"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "SIAMESE_CACHE_DIR": str(tmp_path / "mine")})
    assert done.returncode == 0, done.stderr
    report = json.loads(results.read_text())
    reads = report["reading"]
    assert reads["images"] == 200
    assert reads["decode_images_per_second"] > 0 and reads["cache_images_per_second"] > 0
    assert len(reads["runs"]["decode"]) == len(reads["runs"]["cache"]) == 1
    (row,) = report["epochs"]
    assert (row["network"], row["batch_size"]) == ("siamese-contrastive", 256)
    for key in ("suite_samples_per_second", "classic_samples_per_second", "ratio", "classic_data_pass_seconds"):
        assert row[key] > 0, key
    assert 0 < row["classic_data_share"] <= 1
    assert report["threads"] == 1 and report["machine"]["cpus"] == os.cpu_count()
    assert "| siamese-contrastive | 256 |" in done.stdout
    # The cache went into the scratch folder, never the user's own.
    assert os.listdir(tmp_path / "scratch" / "cache") and not os.path.exists(tmp_path / "mine")
    assert len(png_files(tmp_path / "scratch" / "folder-200-10")) == 200


@pytest.mark.parametrize("args,message", [
    (["--samples", "0"], "argument --samples: 0 is not a positive whole number up to 2147483647"),
    (["--repeats", "-1"], "argument --repeats: -1 is not a positive whole number up to 2147483647"),
    (["--threads", "two"], "argument --threads: 'two' is not a whole number"),
    (["--batch-size", "1.5"], "argument --batch-size: '1.5' is not a whole number"),
    (["--samples", "50"], "--samples 50: at least 100 for 10 classes (10 a class, so that test/ holds two of each)"),
    (["--classes", "1"], "--classes 1: a folder needs 2 classes or more"),
    (["--networks", "siamese"], "unknown network(s) siamese; choose from "),
    (["--networks", "siamese-contrastive,vae"], "--networks vae: the classic pipeline has no equivalent; choose from "),
])
def test_a_bad_value_is_refused_in_one_line(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        bench_folder.main([*args, "--json", str(tmp_path / "r.json"), "--scratch", str(tmp_path / "scratch")])
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert message in lines[-1].split(": error: ", 1)[1], lines
    assert "Traceback" not in "\n".join(lines)
    assert os.listdir(tmp_path) == []   # no results, no scratch folder
