"""Which options a run uses (training/usage.py): metrics.json records the others as null, and a
run given one of them says that it is ignored, without failing (the original's command lines
keep working)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli
from training import EXPERIMENTS, Config, default_data_dir, run
from training.usage import configuration_record, ignored_option_warnings, unused_options

MNIST = {"kind": "known", "name": "MNIST", "shape": [1, 28, 28]}
HELD_OUT = {"kind": "folder", "name": "pets", "layout": "held out", "shape": [3, 32, 32]}
SPLIT = {"kind": "folder", "name": "pets", "layout": "train and test folders", "shape": [3, 32, 32]}

# By hand, from what each network's loss and sampler read (training/registry.py).
NETWORK_UNUSED = {
    "embedding-classification": {"margin", "classes_per_batch", "images_per_class", "mining"},
    "siamese-contrastive": {"classes_per_batch", "images_per_class", "mining"},
    "siamese-binary-cross-entropy": {"margin", "classes_per_batch", "images_per_class", "mining"},
    "triplet-loss-net": {"classes_per_batch", "images_per_class", "mining"},
    "online-contrastive": {"batch_size", "mining"},
    "online-triplet": {"batch_size"},
    "vae": {"margin", "classes_per_batch", "images_per_class", "mining"},
}


@pytest.mark.parametrize("network", list(EXPERIMENTS))
@pytest.mark.parametrize("source,data_unused", [(MNIST, {"image_size", "test_fraction"}),
                                                (HELD_OUT, {"data_dir"}),
                                                (SPLIT, {"data_dir", "test_fraction"})])
def test_each_network_and_data_uses_what_it_reads(network, source, data_unused):
    assert set(unused_options(network, source)) == NETWORK_UNUSED[network] | data_unused


def test_the_record_nulls_what_the_run_does_not_use():
    config = Config("vae", "MNIST", margin=3.0, mining="semi-hard", data_dir="somewhere", test_fraction=0.5)
    record = configuration_record(config, "vae", MNIST)
    assert record["margin"] is record["mining"] is record["test_fraction"] is record["image_size"] is None
    assert record["data_dir"] == "somewhere" and record["batch_size"] == 256
    folder = configuration_record(Config("online-triplet", "data/pets", data_dir="./data"), "online-triplet", HELD_OUT)
    assert folder["data_dir"] is None and folder["batch_size"] is None
    assert folder["test_fraction"] == 0.2 and folder["mining"] == "all"
    assert folder["image_size"] == 32   # not given: the size the folder's images were resized to
    assert configuration_record(Config("vae", "data/pets"), "vae", SPLIT)["test_fraction"] is None


def test_only_options_given_a_value_other_than_the_default_are_warned_about():
    assert ignored_option_warnings(Config("vae", "MNIST"), "vae", MNIST) == []
    assert ignored_option_warnings(Config("online-triplet", "MNIST", batch_size=256), "online-triplet", MNIST) == []
    lines = ignored_option_warnings(Config("online-triplet", "MNIST", batch_size=64, test_fraction=0.5),
                                    "online-triplet", MNIST)
    assert lines == ["warning: --batch-size is not used by online-triplet; it is ignored (it is for "
                     "embedding-classification, siamese-contrastive, siamese-binary-cross-entropy, "
                     "triplet-loss-net and vae)",
                     "warning: --test-fraction is not used by MNIST; it is ignored (it is for a folder "
                     "without train/ and test/)"]
    folder = ignored_option_warnings(Config("vae", "data/pets", data_dir="elsewhere"), "vae", SPLIT)
    assert folder == ["warning: --data-dir is not used by the folder pets; it is ignored (it is for MNIST "
                      "and FashionMNIST)"]


@pytest.mark.slow
@pytest.mark.parametrize("network,options,ignored", [
    ("vae", ["--margin", 3], ["--margin"]),
    ("siamese-contrastive", ["--mining", "semi-hard", "--test-fraction", 0.5], ["--mining", "--test-fraction"]),
    ("online-triplet", ["--batch-size", 64], ["--batch-size"])])
def test_an_option_the_run_does_not_use_is_a_warning_not_an_error(network, options, ignored, tiny_data, tmp_path):
    result = run_cli(network, "MNIST", "--epochs", 1, "--data-dir", tiny_data, "--output", tmp_path, *options)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stdout.splitlines() if " is not used by " in line]
    assert [line.split()[1] for line in warnings] == ignored
    assert all(f"is not used by {network if option != '--test-fraction' else 'MNIST'}; it is ignored" in line
               for option, line in zip(ignored, warnings))
    configuration = json.loads((tmp_path / f"{network}-MNIST-metrics.json").read_text())["configuration"]
    for option in ignored:
        assert configuration[option[2:].replace("-", "_")] is None
    assert configuration["data_dir"] == tiny_data


@pytest.fixture(scope="module")
def split_folder(tmp_path_factory):
    """Two classes of 16x16 grey images in train/ and test/ folders."""
    root = tmp_path_factory.mktemp("images") / "blobs"
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("test", 3)):
        for label in range(2):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 60, size=(16, 16), dtype=np.uint8)
                pixels[2 + 8 * label: 6 + 8 * label, 4:12] = 255
                Image.fromarray(pixels).save(folder / f"{index}.png")
    return str(root)


@pytest.mark.slow
def test_a_folder_run_records_no_data_dir_and_no_test_fraction(split_folder, tmp_path, capsys):
    config = Config("embedding-classification", split_folder, epochs=1, batch_size=8, output=str(tmp_path),
                    data_dir=default_data_dir(), test_fraction=0.3)
    run(config, show_progress=False)
    document = json.loads((tmp_path / "embedding-classification-blobs-metrics.json").read_text())
    configuration = document["configuration"]
    assert configuration["data_dir"] is None and configuration["test_fraction"] is None
    assert configuration["image_size"] == 16
    out = capsys.readouterr().out
    assert "warning: --test-fraction is not used by the folder blobs; it is ignored" in out
    assert "--data-dir" not in out   # the default, not given


def test_the_schema_doc_lists_every_setting_it_nulls():
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "metrics-json.md")) as f:
        text = f.read()
    for option in ("data_dir", "test_fraction", "image_size", "batch_size", "margin", "mining",
                   "classes_per_batch", "images_per_class"):
        assert f"`{option}`" in text, option
