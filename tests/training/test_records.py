"""metrics.json, model.pt and --resume, through the command line on tiny data sets."""

import dataclasses
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import one_line_error, run_cli
from datasets import Split
from training import Config, EXPERIMENTS, run
from training.evaluation import METRICS
from networks import ClassificationNet

pytestmark = pytest.mark.slow   # runs train.py end to end: left out of the fast loop (-m "not slow")

TIMINGS = {"train_seconds", "evaluation_seconds", "seconds", "samples_per_second"}
ROW_KEYS = {"epoch", "train_loss", "val_loss", *METRICS, "retrieval_queries", "test_spread", *TIMINGS}


def train(tiny_data, output, *options, network="triplet-loss-net"):
    result = run_cli(network, "MNIST", "--batch-size", 16, "--lr", 0.01, "--data-dir", tiny_data,
                     "--output", output, *options)
    assert result.returncode == 0, result.stderr
    return result


def read_metrics(folder, network="triplet-loss-net"):
    return json.loads((folder / f"{network}-MNIST-metrics.json").read_text())


@pytest.fixture(scope="module")
def finished(tiny_data, tmp_path_factory):
    """A two-epoch run, shared by the tests below: its folder."""
    folder = tmp_path_factory.mktemp("finished")
    train(tiny_data, folder, "--epochs", 2, "--seed", 7, "--animation")
    return folder


@pytest.fixture(scope="module")
def checkpoint(finished):
    return finished / "triplet-loss-net-MNIST-model.pt"


def test_metrics_json_follows_its_schema(finished):
    document = read_metrics(finished)
    assert document["schema_version"] == 2
    configuration = document["configuration"]
    for option in (field.name for field in dataclasses.fields(Config)):
        assert option in configuration, option
    assert configuration["seed"] == 7 and configuration["epochs"] == 2 and configuration["margin"] == 1.0
    # Options the network ignores are null; --animation says how often a frame was drawn.
    assert configuration["classes_per_batch"] is None and configuration["mining"] is None
    assert configuration["animation"] == {"every_epoch": True, "every_batches": None}
    assert configuration["network_resolved"] == "triplet-loss-net"
    assert set(document["environment"]) >= {"python", "torch", "torchvision", "device", "code_version", "threads"}
    assert document["environment"]["torch"] == torch.__version__
    assert document["environment"]["device"] == "cpu"
    assert document["environment"]["device_name"] not in ("", "x86_64", "aarch64", "arm64")
    assert document["collapsed"] is None and document["diverged"] is None
    assert document["initial_val_loss"] > 0
    assert document["epochs_completed"] == 2 and document["complete"] is True
    assert [row["epoch"] for row in document["epochs"]] == [1, 2]
    for row in document["epochs"]:
        assert set(row) == ROW_KEYS
        for name in ("knn_accuracy", "precision_at_1", "map_at_r"):
            assert 0.0 <= row[name] <= 1.0
        assert -1.0 <= row["silhouette"] <= 1.0
        assert row["samples_per_second"] > 0 and row["seconds"] >= row["train_seconds"]
    assert document["final"] == document["epochs"][-1]
    assert document["files"]["metrics"].endswith("triplet-loss-net-MNIST-metrics.json")


def test_retrieval_takes_a_sample_of_queries_except_after_the_last_epoch(tiny_data, tmp_path, monkeypatch):
    import training.setup
    from training.metrics import retrieval_scores
    monkeypatch.setattr(training.setup, "RETRIEVAL_SAMPLE", 20)
    config = Config("siamese-contrastive", "MNIST", epochs=2, batch_size=16, lr=0.01, data_dir=str(tiny_data),
                    output=str(tmp_path))
    run(config, show_progress=False)
    rows = read_metrics(tmp_path, "siamese-contrastive")["epochs"]
    assert [row["retrieval_queries"] for row in rows] == [20, 50]
    arrays = np.load(tmp_path / "siamese-contrastive-MNIST-embeddings.npz")
    exact = retrieval_scores(torch.from_numpy(arrays["test_embeddings"]), torch.from_numpy(arrays["test_labels"]))
    assert (rows[-1]["precision_at_1"], rows[-1]["map_at_r"]) == pytest.approx(exact)


def test_embeddings_npz_holds_both_splits_and_agrees_with_the_metrics(finished):
    arrays = np.load(finished / "triplet-loss-net-MNIST-embeddings.npz")
    assert arrays["train_embeddings"].shape == (120, 2) and arrays["test_embeddings"].shape == (50, 2)
    assert sorted(np.bincount(arrays["test_labels"])) == [5] * 10
    from training.metrics import knn_accuracy
    recomputed = knn_accuracy(*(torch.from_numpy(arrays[key]) for key in
                                ("train_embeddings", "train_labels", "test_embeddings", "test_labels")))
    assert read_metrics(finished)["final"]["knn_accuracy"] == recomputed


def resume(tiny_data, tmp_path, path, *options, network="triplet-loss-net"):
    return run_cli(network, "MNIST", "--epochs", 3, "--data-dir", tiny_data, "--output", tmp_path,
                   "--resume", path, *options)


def test_resuming_a_missing_file_is_a_one_line_error(tiny_data, tmp_path):
    one_line_error(resume(tiny_data, tmp_path, tmp_path / "nothing.pt"), "--resume", "no such file")


def test_resuming_a_file_that_is_no_checkpoint_is_a_one_line_error(tiny_data, tmp_path):
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("these are not weights")
    one_line_error(resume(tiny_data, tmp_path, not_a_checkpoint), "is not a checkpoint")
    other_tensors = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, other_tensors)
    one_line_error(resume(tiny_data, tmp_path, other_tensors), "is not a checkpoint")


@pytest.mark.parametrize("network,options,fragment", [
    ("siamese-contrastive", (), "network of 'triplet-loss-net', not 'siamese-contrastive'"),
    ("triplet-loss-net", ("--latent-dims", 3), "latent_dims of 2, not 3"),
])
def test_resuming_another_experiment_is_a_one_line_error(network, options, fragment, checkpoint,
                                                         tiny_data, tmp_path):
    one_line_error(resume(tiny_data, tmp_path, checkpoint, *options, network=network), fragment)


def test_resuming_another_dataset_is_a_one_line_error(checkpoint, tiny_data, tmp_path):
    result = run_cli("triplet-loss-net", "FashionMNIST", "--epochs", 3, "--data-dir", tiny_data,
                     "--output", tmp_path, "--resume", checkpoint)
    one_line_error(result, "dataset of 'MNIST', not 'FashionMNIST'")


def test_resuming_with_no_epochs_left_is_a_one_line_error(checkpoint, tiny_data, tmp_path):
    result = run_cli("tripet-loss-net", "mnist", "--epochs", 2, "--data-dir", tiny_data,
                     "--output", tmp_path, "--resume", checkpoint)
    one_line_error(result, "already trained 2 epochs", "--epochs is the total")


# The checkpoint was trained with --batch-size 16 --lr 0.01 --seed 7 (see `finished`).
@pytest.mark.parametrize("options,fragment", [
    (("--batch-size", 16, "--lr", 0.02, "--seed", 7), "trained with --lr 0.01, not 0.02"),
    (("--lr", 0.01, "--seed", 7), "trained with --batch-size 16, not 256"),
    (("--batch-size", 16, "--lr", 0.01, "--seed", 7, "--margin", 2), "pass --margin 1.0"),
])
def test_resuming_with_other_training_settings_is_a_one_line_error(options, fragment, checkpoint, tiny_data,
                                                                   tmp_path):
    one_line_error(resume(tiny_data, tmp_path, checkpoint, *options), fragment)


def test_resuming_with_the_same_settings_goes_on_and_without_animation_writes_no_gif(checkpoint, tiny_data,
                                                                                       tmp_path):
    # The checkpoint holds GIF frames (its run had --animation); this run asks for no GIF.
    result = resume(tiny_data, tmp_path, checkpoint, "--batch-size", 16, "--lr", 0.01, "--seed", 7)
    assert result.returncode == 0, result.stderr
    assert [row["epoch"] for row in read_metrics(tmp_path)["epochs"]] == [1, 2, 3]
    assert not list(tmp_path.glob("*.gif"))


def test_resuming_in_place_without_animation_removes_the_earlier_gif(finished, tiny_data, tmp_path):
    """A GIF of the first epochs must not stand beside files of more epochs, unlisted in
    metrics.json: a new run without --animation removes an earlier GIF, and so does a resumed one."""
    import shutil
    shutil.copytree(finished, tmp_path, dirs_exist_ok=True)
    gif = tmp_path / "triplet-loss-net-MNIST-latent-space-development.gif"
    assert gif.exists()
    result = resume(tiny_data, tmp_path, tmp_path / "triplet-loss-net-MNIST-model.pt",
                    "--batch-size", 16, "--lr", 0.01, "--seed", 7)
    assert result.returncode == 0, result.stderr
    document = read_metrics(tmp_path)
    assert [row["epoch"] for row in document["epochs"]] == [1, 2, 3]
    assert not gif.exists() and "animation" not in document["files"]


class CollapsedClassificationNet(ClassificationNet):
    """Trains as usual, but shows the evaluation a space with every image in one place."""

    def embed(self, images):
        return super().embed(images) * 0 + 3.0


def test_a_collapsed_space_is_reported_once_with_its_epoch(tiny_data, tmp_path, monkeypatch, capsys):
    collapsing = dataclasses.replace(EXPERIMENTS["embedding-classification"],
                                     make_model=lambda config, *shape: CollapsedClassificationNet(config.latent_dims))
    monkeypatch.setitem(EXPERIMENTS, "embedding-classification", collapsing)
    final, _ = run(Config("embedding-classification", "MNIST", epochs=2, data_dir=tiny_data,
                          output=str(tmp_path)), show_progress=False)
    lines = capsys.readouterr().out.splitlines()
    warnings = [line for line in lines if line.startswith("warning") and "collapsed" in line]
    # Said when it happens, never again for epoch 2; metrics.json keeps it for train.py's last line.
    assert len(warnings) == 1 and "epoch 1" in warnings[0] and "try a lower --lr" in warnings[0]
    assert final["test_spread"] == 0.0 and final["map_at_r"] == 0.0
    assert not math.isnan(final["knn_accuracy"])
    document = json.loads((tmp_path / "embedding-classification-MNIST-metrics.json").read_text())
    assert document["collapsed"] == 1 and document["diverged"] is None and document["warnings"] == warnings


def test_online_triplet_names_its_own_remedy_for_a_collapse():
    assert "--mining all" in EXPERIMENTS["online-triplet"].remedy


def test_a_loss_that_explodes_without_becoming_nan_is_reported_as_diverged(tiny_data, tmp_path, monkeypatch,
                                                                             capsys):
    # The training loss grows a millionfold while validation (eval mode) stays as it was: over
    # 100 times the untrained network's validation loss, the rule for "diverged".
    experiment = EXPERIMENTS["embedding-classification"]

    def exploding(model, split, batch, config):
        loss = experiment.batch_loss(model, split, batch, config)
        return loss * 1e6 if model.training else loss
    monkeypatch.setitem(EXPERIMENTS, "embedding-classification",
                        dataclasses.replace(experiment, batch_loss=exploding))
    run(Config("embedding-classification", "MNIST", epochs=2, lr=1e-9, data_dir=tiny_data,
               output=str(tmp_path)), show_progress=False)
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning")
                and "diverged" in line]
    assert len(warnings) == 1
    assert "diverged" in warnings[0] and "epoch 1" in warnings[0] and "try a lower --lr" in warnings[0]
    document = json.loads((tmp_path / "embedding-classification-MNIST-metrics.json").read_text())
    assert document["diverged"] == 1 and document["collapsed"] is None and document["warnings"] == warnings
    assert document["final"]["train_loss"] > 100 * document["initial_val_loss"]


def test_a_gpu_is_named_with_its_number(monkeypatch):
    # metrics.json's environment.device is str(device): "cuda" would not say which GPU trained.
    from training.setup import resolve_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert str(resolve_device("cuda")) == "cuda:0"
    assert str(resolve_device("auto")) == "cuda:0"
    assert str(resolve_device("cuda:1")) == "cuda:1"
    assert str(resolve_device("cpu")) == "cpu"


def test_a_checkpoint_restored_on_the_cpu_leaves_cuda_alone(tmp_path, monkeypatch):
    # A checkpoint written on a GPU holds that GPU's generator. Resumed with --device cpu, or on a
    # machine with fewer GPUs, restoring it must not touch CUDA ("invalid device ordinal").
    from training.checkpoint import restore, save_checkpoint

    def untouchable(*args, **kwargs):
        raise AssertionError("CUDA's random state was touched")
    for name in ("get_rng_state", "get_rng_state_all", "set_rng_state", "set_rng_state_all"):
        monkeypatch.setattr(torch.cuda, name, untouchable)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)

    model = ClassificationNet(2)
    optimizer = torch.optim.Adam(model.parameters())
    generator = torch.Generator().manual_seed(1)
    path = tmp_path / "model.pt"
    pair = Split(images=torch.zeros(2, 1, 28, 28, dtype=torch.uint8), labels=torch.tensor([0, 1]),
                 class_names=["0", "1"], mean=0.1307, std=0.3081)
    run = SimpleNamespace(model=model, optimizer=optimizer, generator=generator, device=torch.device("cpu"),
                          cycle_start=0, history=[{"epoch": 1}], frames=[], config=Config("vae", "MNIST"),
                          identity={}, initial_val_loss=None, alarms={}, sampler=None,
                          train=pair, test=pair)
    save_checkpoint(path, run)
    state = torch.load(path, weights_only=True)
    assert state["cuda_rng"] == []
    state["cuda_rng"] = [torch.zeros(16, dtype=torch.uint8)] * 2   # as if from a 2-GPU run
    restore(state, model, optimizer, generator, torch.device("cpu"))


def test_a_run_on_a_gpu_asks_cudnn_for_deterministic_algorithms(monkeypatch):
    from training.setup import seed_everything
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    seed_everything(5, torch.device("cpu"))
    assert torch.backends.cudnn.deterministic is False   # nothing to ask on the CPU
    seed_everything(5, torch.device("cuda", 0))
    assert torch.backends.cudnn.deterministic is True and torch.backends.cudnn.benchmark is False
    assert torch.initial_seed() == 5


EARLIER_VERSIONS = {
    "koch-free-sign": ("siamese-binary-cross-entropy", {}, "distance l1"),   # before checkpoints described their model
    "koch-l1": ("siamese-binary-cross-entropy", {"latent_dims": 2, "backbone": "original", "in_channels": 1,
                                                 "image_size": 28}, "distance l1"),
}


@pytest.mark.parametrize("network, hyperparameters, earlier", EARLIER_VERSIONS.values(), ids=list(EARLIER_VERSIONS))
def test_a_checkpoint_of_an_earlier_version_of_the_network_is_not_resumed(network, hyperparameters, earlier):
    from training.checkpoint import check_same_network
    from training.config import Config
    from training.errors import RunError
    from training.registry import find_experiment
    model = find_experiment(network).make_model(Config(network, "MNIST"), (1, 28, 28), 10)
    state = {"hyperparameters": hyperparameters} if hyperparameters else {}
    with pytest.raises(RunError, match=f"holds a {network} of an earlier version \\({earlier}\\)"):
        check_same_network("model.pt", state, model, network)
    check_same_network("model.pt", {"hyperparameters": model.hyperparameters}, model, network)   # this version's own


def test_resuming_a_koch_checkpoint_of_the_earlier_l1_head_is_a_one_line_error(tiny_data, tmp_path):
    network = "siamese-binary-cross-entropy"
    assert run_cli(network, "MNIST", "--epochs", 1, "--data-dir", tiny_data, "--output", tmp_path).returncode == 0
    path = tmp_path / f"{network}-MNIST-model.pt"
    state = torch.load(path, weights_only=True)
    del state["hyperparameters"]["distance"]   # as the version before wrote it: an L1 weight per dimension
    state["model"]["similarity.weight"] = torch.zeros(1, 2)
    torch.save(state, path)
    one_line_error(resume(tiny_data, tmp_path, path, network=network),
                   f"holds a {network} of an earlier version (distance l1)", "train it again")


@pytest.mark.parametrize("network, drawn", [("siamese-contrastive", 2), ("triplet-loss-net", 2),
                                            ("online-contrastive", 1)])
def test_a_checkpoint_from_when_every_epoch_drew_one_item_per_image_resumes_only_where_that_holds(
        network, drawn, tiny_data, tmp_path):
    # Written before the pair and triplet networks drew two items of every image an epoch: their
    # schedule was laid out over half the batches. The P x K networks' epochs did not change.
    assert run_cli(network, "MNIST", "--epochs", 1, "--data-dir", tiny_data, "--output", tmp_path).returncode == 0
    path = tmp_path / f"{network}-MNIST-model.pt"
    state = torch.load(path, weights_only=True)
    assert state["items_per_image"] == drawn
    del state["items_per_image"]
    torch.save(state, path)
    result = resume(tiny_data, tmp_path, path, network=network)
    if drawn == 1:
        assert result.returncode == 0, result.stderr
    else:
        one_line_error(result, "was trained on 1 pair(s) or triplet(s) of every image an epoch, and this "
                               "version draws 2", "train it again")


def test_the_command_ends_on_what_went_wrong(tmp_path):
    import train
    metrics = tmp_path / "metrics.json"
    warning = "warning: epoch 1: the loss (8.6e+22) is over 100 times ...; try a lower --lr (now 10)"
    metrics.write_text(json.dumps({"warnings": [warning]}))
    final = {"epoch": 1, "train_loss": 8.6e22, "val_loss": 0.5, "knn_accuracy": 0.1, "precision_at_1": 0.1,
             "map_at_r": 0.1, "silhouette": 0.0}
    lines = train.summary(final, {"metrics": str(metrics)}).splitlines()
    assert lines[-1] == warning
    # The losses are on the epoch's own line, printed just before: the summary does not repeat them.
    assert lines[0].startswith("test set: 5-NN accuracy 0.1000")
    assert not any("loss" in line for line in lines[:-1])
    from training.loop import epoch_line
    assert epoch_line({**final, "seconds": 1.0}, 1).startswith("epoch 1/1: loss 8.600e+22, validation loss 0.5000")


@pytest.mark.parametrize("make,reason", [
    (lambda path: path.mkdir(), "is a folder"),
    (lambda path: path.write_text("# not a checkpoint"), "(not a torch file)"),
    (lambda path: path.write_bytes(b"PK\x03\x04 and then nothing"), "not a torch file, or a truncated one"),
    (lambda path: torch.save(torch.nn.Linear(2, 2), path), "holds Python objects that a checkpoint")])
def test_a_file_that_is_no_checkpoint_is_named_in_plain_words(make, reason, tmp_path):
    from training.checkpoint import load_checkpoint
    from training.errors import RunError
    path = tmp_path / "model.pt"
    make(path)
    with pytest.raises(RunError) as error:
        load_checkpoint(str(path), {}, 2, {}, model=None)
    assert reason in str(error.value) and "\x1b" not in str(error.value) and "[1m" not in str(error.value)
