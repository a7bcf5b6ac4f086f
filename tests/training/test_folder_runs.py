"""Every network trains on a folder of the user's own images: colour, another size, more classes
than fit a P x K batch's default, a class of one image."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from training import EXPERIMENTS, Config, run
from training.outputs import FILES


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory):
    """12 classes of 24x24 RGB images (each a coloured square at a class-specific place), one
    class with a single image."""
    root = tmp_path_factory.mktemp("images") / "shapes"
    rng = np.random.default_rng(0)
    for label in range(12):
        folder = root / f"class {label:02d}"
        folder.mkdir(parents=True)
        for index in range(1 if label == 11 else 10):
            pixels = rng.integers(0, 60, size=(24, 24, 3), dtype=np.uint8)
            row, col = divmod(label, 4)
            pixels[2 + 7 * row: 8 + 7 * row, 2 + 5 * col: 7 + 5 * col] = (255, 40 * (label % 6), 128)
            Image.fromarray(pixels).save(folder / f"{index}.png")
    return str(root)


@pytest.mark.slow
@pytest.mark.parametrize("network", list(EXPERIMENTS))
def test_every_network_trains_on_a_folder_and_writes_its_files(network, rgb_folder, tmp_path, capsys):
    config = Config(network, rgb_folder, epochs=1, batch_size=16, images_per_class=3, output=str(tmp_path),
                    animation=0)
    run(config, show_progress=False)
    names = sorted(os.listdir(tmp_path))
    assert all(name.startswith(f"{network}-shapes-") for name in names)
    assert {f"{network}-shapes-{file}" for file in FILES.values()} <= set(names)
    document = json.loads((tmp_path / f"{network}-shapes-metrics.json").read_text())
    assert document["data"]["kind"] == "folder" and document["data"]["shape"] == [3, 24, 24]
    assert len(document["held_out"]) == document["data"]["images"]["test"]
    if network.startswith("online"):
        assert document["configuration"]["classes_per_batch"] == 10   # the smaller of 10 and the classes
    arrays = np.load(tmp_path / f"{network}-shapes-embeddings.npz")
    assert arrays["train_embeddings"].shape[1] == 2


def save_images(folder, count, rng):
    folder.mkdir(parents=True)
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, size=(16, 16), dtype=np.uint8)).save(folder / f"{index}.png")


def test_a_training_split_too_small_for_a_batch_does_not_blame_an_option_not_given(tmp_path):
    from conftest import one_line_error, run_cli
    rng = np.random.default_rng(0)
    for split, count in (("train", 1), ("test", 2)):
        for name in ("a", "b", "c"):
            save_images(tmp_path / "pics" / split / name, count, rng)
    result = run_cli("online-triplet", tmp_path / "pics", "--epochs", "1", "--output", tmp_path / "out")
    one_line_error(result, "the training split is too small for online-triplet's batches", "it has 0")
    assert "--classes-per-batch" not in result.stderr
    given = run_cli("online-triplet", tmp_path / "pics", "--epochs", "1", "--output", tmp_path / "out",
                    "--classes-per-batch", "3")
    one_line_error(given, "--classes-per-batch 3: ")


def test_a_folders_warnings_begin_warning_like_every_other(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        save_images(tmp_path / "pics" / name, 6, rng)
    (tmp_path / "pics" / "notes.txt").write_text("not a class")
    run(Config("embedding-classification", str(tmp_path / "pics"), epochs=1, output=str(tmp_path / "out"),
               animation=0), show_progress=False)
    output = capsys.readouterr()
    lines = [line for line in (output.out + output.err).splitlines() if "notes.txt" in line]
    assert lines and all(line.startswith("warning: ") for line in lines), lines
