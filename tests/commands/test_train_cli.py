"""train.py end to end, in a subprocess, on tiny data sets written in the real IDX layout."""

import json
import os
import re

import imageio.v3 as iio
import pytest

from conftest import one_line_error, run_cli

pytestmark = pytest.mark.slow   # runs train.py end to end: left out of the fast loop (-m "not slow")

FIGURES = ("training-set-embedding.png", "testing-set-embedding.png", "stats.png")
RECORDS = ("metrics.json", "model.pt", "embeddings.npz")
NETWORKS = ["embedding-classification", "siamese-contrastive", "siamese-binary-cross-entropy",
            "triplet-loss-net"]
NEW_NETWORKS = ["online-contrastive", "online-triplet", "vae"]


def files_in(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("network", NETWORKS)
def test_each_network_writes_its_files(network, tiny_data, tmp_path):
    result = run_cli(network, "MNIST", "--epochs", 2, "--batch-size", 16, "--lr", 0.01,
                     "--data-dir", tiny_data, "--output", tmp_path, "--animation")
    assert result.returncode == 0, result.stderr
    prefix = f"{network}-MNIST-"
    assert files_in(tmp_path) == sorted(prefix + name for name in
                                        (*FIGURES, *RECORDS, "latent-space-development.gif"))
    for name in FIGURES:
        image = iio.imread(tmp_path / (prefix + name))
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    frames = iio.imread(tmp_path / (prefix + "latent-space-development.gif"), index=None)
    assert frames.shape[0] == 2  # one frame per epoch
    assert "5-NN accuracy" in result.stdout and "MAP@R" in result.stdout
    for name in (*FIGURES, *RECORDS):  # the summary names every file written
        assert str(tmp_path / (prefix + name)) in result.stdout


def test_vae_writes_its_manifold_and_reconstructions(tiny_data, tmp_path):
    result = run_cli("vae", "MNIST", "--epochs", 2, "--batch-size", 16, "--lr", 0.01,
                     "--data-dir", tiny_data, "--output", tmp_path, "--animation")
    assert result.returncode == 0, result.stderr
    extra = ("manifold.png", "reconstructions.png")
    assert files_in(tmp_path) == sorted("vae-MNIST-" + name for name in
                                        (*FIGURES, *RECORDS, *extra, "latent-space-development.gif"))
    for name in extra:
        image = iio.imread(tmp_path / ("vae-MNIST-" + name))
        assert image.ndim == 3 and min(image.shape[:2]) > 200
    assert "5-NN accuracy" in result.stdout


# Tiny data: 12 training images per class, 5 test images per class; 4 classes x 3 images a batch.
ONLINE_RUNS = [("online-contrastive",), *(("online-triplet", "--mining", mining)
                                          for mining in ("batch-hard", "semi-hard", "all"))]


@pytest.mark.parametrize("network_and_mining", ONLINE_RUNS,
                         ids=["contrastive", "batch-hard", "semi-hard", "all"])
def test_online_networks_train_on_balanced_batches(network_and_mining, tiny_data, tmp_path):
    network = network_and_mining[0]
    result = run_cli(*network_and_mining, "MNIST", "--epochs", 2, "--lr", 0.01,
                     "--classes-per-batch", 4, "--images-per-class", 3,
                     "--data-dir", tiny_data, "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    assert files_in(tmp_path) == sorted(f"{network}-MNIST-" + name for name in (*FIGURES, *RECORDS))
    accuracy = json.loads((tmp_path / f"{network}-MNIST-metrics.json").read_text())["final"]["knn_accuracy"]
    assert accuracy >= 0.5  # the tiny classes are easy; chance is 0.1


def test_animation_every_n_batches_adds_frames(tiny_data, tmp_path):
    # 240 pairs (two per training image) in batches of 32: 8 batches, a frame after batches 3 and 6
    # and at each epoch's end.
    result = run_cli("siamese-contrastive", "MNIST", "--epochs", 2, "--batch-size", 32,
                     "--data-dir", tiny_data, "--output", tmp_path, "--animation", 3)
    assert result.returncode == 0, result.stderr
    frames = iio.imread(tmp_path / "siamese-contrastive-MNIST-latent-space-development.gif", index=None)
    assert frames.shape[0] == 2 * (2 + 1)


def test_no_gif_without_animation(tiny_data, tmp_path):
    result = run_cli("triplet-loss-net", "fashionmnist", "--epochs", 1, "--data-dir", tiny_data,
                     "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    assert files_in(tmp_path) == sorted("triplet-loss-net-fashionmnist-" + name
                                        for name in (*FIGURES, *RECORDS))


@pytest.mark.parametrize("typed", ["siamese-constrastive", "tripet-loss-net"])
def test_the_original_spellings_work_and_name_the_files(typed, tiny_data, tmp_path):
    # The original README's own command, as typed there.
    result = run_cli(typed, "MNIST", "--epochs", 1, "--data-dir", tiny_data, "--output", tmp_path,
                     "--animation")
    assert result.returncode == 0, result.stderr
    assert f"{typed}-MNIST-latent-space-development.gif" in files_in(tmp_path)
    assert f"{typed}-MNIST-testing-set-embedding.png" in files_in(tmp_path)


@pytest.mark.parametrize("dims", [1, 5])
def test_latent_dims_other_than_two_are_plotted(dims, tiny_data, tmp_path):
    result = run_cli("siamese-contrastive", "MNIST", "--epochs", 1, "--latent-dims", dims,
                     "--data-dir", tiny_data, "--output", tmp_path, "--animation")
    assert result.returncode == 0, result.stderr
    assert len(files_in(tmp_path)) == 7


def test_help_lists_every_choice_and_default():
    result = run_cli("--help")
    assert result.returncode == 0
    for text in [*NETWORKS, *NEW_NETWORKS, "siamese-constrastive", "tripet-loss-net", "MNIST", "FashionMNIST",
                 "--lr", "0.01", "--epochs", "--batch-size", "256", "--output", "./tmp",
                 "--log-interval", "50", "--animation", "--device", "auto", "--seed",
                 "--data-dir", "--latent-dims", "--margin", "--classes-per-batch", "10",
                 "--images-per-class", "16", "--mining", "batch-hard", "semi-hard", "all", "--resume"]:
        assert text in result.stdout, text


def test_the_margin_help_names_both_losses_and_their_defaults():
    from training.registry import CONTRASTIVE_MARGIN, EXPERIMENTS, TRIPLET_MARGIN
    help_text = re.sub(r"(\w)- (\w)", r"\1-\2", " ".join(run_cli("--help").stdout.split()))  # unwrapped
    start = help_text.index("--margin MARGIN margin of the contrastive and the triplet losses")
    text = help_text[start:help_text.index("--classes-per-batch", start)]
    with_margin = {name: experiment.margin for name, experiment in EXPERIMENTS.items() if experiment.margin}
    assert with_margin == {"siamese-contrastive": CONTRASTIVE_MARGIN, "online-contrastive": CONTRASTIVE_MARGIN,
                           "triplet-loss-net": TRIPLET_MARGIN, "online-triplet": TRIPLET_MARGIN}
    assert (f"default: {CONTRASTIVE_MARGIN:g} for siamese-contrastive and online-contrastive, "
            f"{TRIPLET_MARGIN:g} for triplet-loss-net and online-triplet") in text


def test_unknown_network_lists_the_choices_and_suggests_one(tiny_data, tmp_path):
    result = run_cli("siamese-contrastiv", "MNIST", "--data-dir", tiny_data, "--output", tmp_path)
    one_line_error(result, "unknown network 'siamese-contrastiv'", "did you mean siamese-contrastive",
                   "embedding-classification", "triplet-loss-net")
    assert files_in(tmp_path) == []


def test_unknown_dataset_lists_the_choices(tiny_data, tmp_path):
    result = run_cli("siamese-contrastive", "CIFAR10", "--data-dir", tiny_data, "--output", tmp_path)
    one_line_error(result, "unknown dataset 'CIFAR10'", "MNIST", "FashionMNIST")


@pytest.mark.parametrize("typed,frames_every", [("True", 0), ("true", 0), ("False", None), ("FALSE", None),
                                                 ("7", 7)])
def test_animation_takes_the_original_true_and_false_as_well_as_a_number(typed, frames_every):
    # The original's help showed `--animation False`: True is one frame per epoch, False none.
    import train
    assert train.parse_args(["siamese-contrastive", "MNIST", "--animation", typed]).animation == frames_every
    assert train.parse_args(["siamese-contrastive", "MNIST", "--animation"]).animation == 0
    assert train.parse_args(["siamese-contrastive", "MNIST"]).animation is None


@pytest.mark.parametrize("option,value", [("--epochs", 0), ("--epochs", "ten"), ("--batch-size", -3),
                                          ("--lr", 0), ("--log-interval", 0), ("--animation", 0),
                                          ("--animation", "maybe"),
                                          ("--latent-dims", 0), ("--margin", -1), ("--lr", "inf"),
                                          ("--lr", "nan"), ("--margin", "inf"),
                                          ("--classes-per-batch", 0), ("--images-per-class", 0),
                                          ("--mining", "hardest"), ("--seed", -1), ("--seed", 2**64 - 1),
                                          ("--batch-size", 2**70), ("--latent-dims", 2**70),
                                          ("--images-per-class", 2**70), ("--resume", "")])
def test_bad_numbers_are_one_line_errors(option, value, tmp_path):
    result = run_cli("siamese-contrastive", "MNIST", option, value, "--output", tmp_path)
    one_line_error(result, option)


def test_more_classes_per_batch_than_the_data_set_holds_is_a_one_line_error(tiny_data, tmp_path):
    result = run_cli("online-triplet", "MNIST", "--classes-per-batch", 11, "--data-dir", tiny_data,
                     "--output", tmp_path)
    one_line_error(result, "--classes-per-batch 11", "only 10 classes")


def test_missing_cuda_is_a_one_line_error(tiny_data, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = run_cli("siamese-contrastive", "MNIST", "--device", "cuda", "--data-dir", tiny_data,
                     "--output", tmp_path)
    one_line_error(result, "CUDA is not available")


def test_output_that_is_a_file_is_a_one_line_error(tiny_data, tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder")
    result = run_cli("siamese-contrastive", "MNIST", "--data-dir", tiny_data, "--output", blocker)
    one_line_error(result, "is a file")


def test_corrupt_data_file_is_named(tiny_data, tmp_path):
    import shutil
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    images = data / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    result = run_cli("siamese-contrastive", "MNIST", "--data-dir", data, "--output", tmp_path / "out")
    one_line_error(result, str(images), "truncated")


def test_the_log_is_a_start_line_and_a_line_an_epoch_with_no_progress_bar_when_redirected(tiny_data, tmp_path):
    result = run_cli("siamese-contrastive", "MNIST", "--epochs", 2, "--batch-size", 16, "--data-dir", tiny_data,
                     "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("siamese-contrastive on MNIST (120 training images of 1x28x28), backbone original, cpu (")
    assert lines[0].endswith(f"2 epochs -> {tmp_path}/siamese-contrastive-MNIST-*")
    assert [line.split(":")[0] for line in lines[1:3]] == ["epoch 1/2", "epoch 2/2"]
    assert "5-NN" in lines[1] and lines[1].endswith(" s")
    assert "\r" not in result.stderr and "batch/s" not in result.stderr and "it/s" not in result.stderr


def test_a_new_run_replaces_an_earlier_runs_files_and_resume_keeps_its_own(tiny_data, tmp_path):
    # The README's first command twice: the second run writes no GIF, and the first run's GIF
    # must not stay beside the second run's files as if it were the second run's.
    first = run_cli("siamese-contrastive", "MNIST", "--epochs", 1, "--data-dir", tiny_data, "--output", tmp_path,
                    "--animation")
    assert first.returncode == 0, first.stderr
    second = run_cli("siamese-contrastive", "MNIST", "--epochs", 2, "--data-dir", tiny_data, "--output", tmp_path)
    assert second.returncode == 0, second.stderr
    assert "siamese-contrastive-MNIST-latent-space-development.gif" not in files_in(tmp_path)
    assert len(files_in(tmp_path)) == 6
    resumed = run_cli("siamese-contrastive", "MNIST", "--epochs", 3, "--data-dir", tiny_data, "--output", tmp_path,
                      "--resume", tmp_path / "siamese-contrastive-MNIST-model.pt")
    assert resumed.returncode == 0, resumed.stderr
    assert len(files_in(tmp_path)) == 6
    # Another network's files in the same folder are another run's: left alone.
    other = run_cli("triplet-loss-net", "MNIST", "--epochs", 1, "--data-dir", tiny_data, "--output", tmp_path)
    assert other.returncode == 0, other.stderr
    assert len(files_in(tmp_path)) == 12


@pytest.mark.parametrize("option,fragment", [("--classes-per-batch", "no negatives"),
                                             ("--images-per-class", "no positive")])
@pytest.mark.parametrize("network", ["online-contrastive", "online-triplet"])
def test_an_online_batch_with_nothing_to_mine_is_a_one_line_error(network, option, fragment, tiny_data, tmp_path):
    result = run_cli(network, "MNIST", option, 1, "--data-dir", tiny_data, "--output", tmp_path / "out")
    one_line_error(result, f"{option} 1 is too few for {network}", fragment)
    assert not (tmp_path / "out").exists()


def test_a_batch_larger_than_the_training_split_says_what_is_used_instead(tiny_data, tmp_path):
    result = run_cli("siamese-contrastive", "MNIST", "--epochs", 1, "--batch-size", 5000, "--data-dir", tiny_data,
                     "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    assert ("warning: --batch-size 5000 is larger than an epoch (240 items from 120 training images): each "
            "epoch is one batch of 240, a single step; a smaller --batch-size (say 30) takes more steps"
            ) in result.stdout.splitlines()
