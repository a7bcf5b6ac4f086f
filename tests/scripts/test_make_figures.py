"""scripts/make_figures.py end to end on a tiny data set (two networks, one data set)."""

import json
import os
import shlex
import subprocess
import sys

import imageio.v3 as iio
import pytest

from conftest import ROOT


def make_figures(tiny_data, tmp_path, *options):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "make_figures.py"),
         "--networks", "siamese-contrastive,embedding-classification", "--datasets", "MNIST",
         "--data-dir", tiny_data, "--work-dir", str(tmp_path / "work"),
         "--output", str(tmp_path / "output"), "--diagram", str(tmp_path / "architectures.png"),
         *options], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.slow
def test_figures_table_and_diagram_then_skips_current_runs(tiny_data, tmp_path):
    first = make_figures(tiny_data, tmp_path)
    assert first.stdout.count("trained") == 3   # siamese-contrastive at its defaults and its recipe
    output = tmp_path / "output"
    assert sorted(os.listdir(output)) == [
        "embedding-classification-MNIST-testing-set-embedding.png",
        "results.json", "results.md",
        "siamese-contrastive-MNIST-latent-space-development.gif",
        "siamese-contrastive-MNIST-testing-set-embedding.png"]
    assert iio.imread(output / "siamese-contrastive-MNIST-latent-space-development.gif",
                      index=None).shape[0] == 10  # default epochs, one frame each
    results = json.loads((output / "results.json").read_text())
    assert [(row["network"], row["dataset"], row["options"]) for row in results["runs"]] == [
        ("embedding-classification", "MNIST", ""), ("siamese-contrastive", "MNIST", ""),
        ("siamese-contrastive", "MNIST", "--shift 1")]
    for row in results["runs"]:
        assert row["epochs"] == 10 and 0 <= row["knn_accuracy"] <= 1 and row["device"] == "cpu"
        folder = f"{row['network']}-MNIST" + ("-shift-1" if row["options"] else "")
        metrics = json.loads((tmp_path / "work" / folder / f"{row['network']}-MNIST-metrics.json").read_text())
        assert row["knn_accuracy"] == metrics["final"]["knn_accuracy"]
        assert metrics["configuration"]["shift"] == (1 if row["options"] else 0)
    table = (output / "results.md").read_text()
    assert "| siamese-contrastive | original |  | MNIST | " in table and "commit" in table
    assert iio.imread(tmp_path / "architectures.png").shape[1] > 800

    again = make_figures(tiny_data, tmp_path)
    assert again.stdout.count("current, skipped") == 3
    assert json.loads((output / "results.json").read_text())["runs"] == results["runs"]

    redone = make_figures(tiny_data, tmp_path, "--redo", "--networks", "siamese-contrastive")
    assert redone.stdout.count("trained") == 2
    # Deterministic: the same seed on the same machine gives the same numbers.
    rerun = json.loads((output / "results.json").read_text())["runs"]
    assert [row["knn_accuracy"] for row in rerun] == [row["knn_accuracy"] for row in results["runs"]]


def test_the_table_names_the_commit_as_it_was_before_the_figures_changed_it(tmp_path, monkeypatch):
    # Written into the repository's output/, the new figures make the working tree differ from
    # the commit; the provenance line must describe the code that made them, not that.
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import make_figures as script
    events = []
    row = {"network": "siamese-contrastive", "backbone": "original", "dataset": "MNIST", "epochs": 1, "knn_accuracy": 0.5,
           "precision_at_1": 0.5, "map_at_r": 0.5, "train_seconds": 1.0, "device": "cpu"}
    monkeypatch.setattr(script, "run_one", lambda *args: (row, str(tmp_path), False))
    monkeypatch.setattr(script, "copy_figure", lambda *args: events.append("figures"))
    monkeypatch.setattr(script, "commit", lambda: events.append("commit") or "abc1234")
    script.main(["--networks", "siamese-contrastive", "--datasets", "MNIST", "--output",
                 str(tmp_path / "output"), "--diagram", str(tmp_path / "architectures.png")])
    assert events == ["commit", "figures", "figures"]   # the embedding and the GIF
    assert json.loads((tmp_path / "output" / "results.json").read_text())["commit"] == "abc1234"


def provenance_of(tmp_path, monkeypatch, *options):
    """The results.md provenance line and results.json command of a stubbed make_figures run."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import make_figures as script
    row = {"network": "siamese-contrastive", "backbone": "original", "dataset": "MNIST", "epochs": 1, "knn_accuracy": 0.5,
           "precision_at_1": 0.5, "map_at_r": 0.5, "train_seconds": 1.0, "device": "cpu"}
    monkeypatch.setattr(script, "run_one", lambda *args: (row, str(tmp_path), False))
    monkeypatch.setattr(script, "copy_figure", lambda *args: None)
    monkeypatch.setattr(script, "commit", lambda: "abc1234")
    script.main(["--networks", "siamese-contrastive", "--datasets", "MNIST", "--jobs", "1",
                 "--output", str(tmp_path / "output"), "--diagram", str(tmp_path / "architectures.png"),
                 *options])
    line = (tmp_path / "output" / "results.md").read_text().strip().splitlines()[-1]
    return line, json.loads((tmp_path / "output" / "results.json").read_text())["command"]


def test_the_provenance_line_holds_no_absolute_path(tmp_path, monkeypatch):
    data = tmp_path / "some data"
    monkeypatch.delenv("SIAMESE_DATA_DIR", raising=False)
    line, command = provenance_of(tmp_path, monkeypatch, "--data-dir", str(data),
                                  f"--work-dir={tmp_path / 'work'}")
    assert line.startswith(f"Produced by `{command}` at commit abc1234 (")
    # Every path is relative to the repository root, where the command runs.
    expected = os.path.relpath(data, ROOT)
    assert f"--data-dir '{expected}'" in command
    assert f"--work-dir={os.path.relpath(tmp_path / 'work', ROOT)}" in command
    words = shlex.split(command)
    assert not any(os.path.isabs(word.partition("=")[2] or word) for word in words), command
    threads = os.cpu_count() or 1
    assert f"{threads} torch thread{'s' if threads > 1 else ''} per run, 1 run at a time" in line


def test_the_provenance_line_names_the_data_variable_and_keeps_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.setenv("SIAMESE_DATA_DIR", str(tmp_path / "datasets"))
    _, command = provenance_of(tmp_path, monkeypatch, "--data-dir", str(tmp_path / "datasets"))
    assert "--data-dir $SIAMESE_DATA_DIR" in command
    monkeypatch.chdir(ROOT)
    _, command = provenance_of(tmp_path, monkeypatch, "--data-dir", "../shared/datasets")
    assert "--data-dir ../shared/datasets" in command


def test_the_gallery_shows_the_run_with_the_best_accuracy():
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import make_figures as script
    rows = [{"network": "vae", "dataset": "MNIST", "backbone": "original", "options": "", "knn_accuracy": 0.7},
            {"network": "vae", "dataset": "MNIST", "backbone": "wide", "options": "", "knn_accuracy": 0.8},
            {"network": "siamese-contrastive", "dataset": "MNIST", "backbone": "original", "options": "",
             "knn_accuracy": 0.98},
            {"network": "siamese-contrastive", "dataset": "MNIST", "backbone": "original", "options": "--shift 1",
             "knn_accuracy": 0.99},
            {"network": "siamese-contrastive", "dataset": "MNIST", "backbone": "wide", "options": "",
             "knn_accuracy": 0.97}]
    assert script.best_runs(rows) == {("vae", "MNIST"): ("vae", "MNIST", "wide", ""),
                                      ("siamese-contrastive", "MNIST"):
                                          ("siamese-contrastive", "MNIST", "original", "--shift 1")}
    assert "--backbone" not in script.train_options("vae", "MNIST")
    # The README's Fig. 1 is its first command's run: only that one draws the GIF.
    assert "--animation" in script.train_options("siamese-contrastive", "MNIST")
    assert "--animation" not in script.train_options("siamese-contrastive", "MNIST", options=("--shift", "1"))


def test_the_table_lists_a_backbones_runs_by_data_set_and_recipes_beside_the_defaults_last():
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import make_figures as script
    keys = [("siamese-contrastive", "MNIST", "original", "--shift 1"),
            ("online-contrastive", "MNIST", "wide", "--shift 2 --lr 0.005"),
            ("siamese-contrastive", "FashionMNIST", "original", ""),
            ("online-contrastive", "FashionMNIST", "wide", "--lr 0.005 --images-per-class 32"),
            ("siamese-contrastive", "MNIST", "original", "")]
    assert sorted(keys, key=script.table_order) == [keys[4], keys[2], keys[0], keys[1], keys[3]]


def test_other_backbones_run_the_tables_networks_with_their_recipe():
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import make_figures as script
    runs = script.planned_runs(["siamese-contrastive", "online-contrastive"], ["MNIST"], ["original", "wide"])
    # `original` runs every network at its defaults (the floors' rows), and a recipe beside it.
    assert runs == [("siamese-contrastive", "MNIST", "original", ()),
                    ("siamese-contrastive", "MNIST", "original", ("--shift", "1")),
                    ("online-contrastive", "MNIST", "original", ()),
                    ("online-contrastive", "MNIST", "wide", ("--shift", "2", "--lr", "0.005"))]
    options = script.train_options(*runs[-1])
    assert options[options.index("--backbone"):] == ["--backbone", "wide", "--shift", "2", "--lr", "0.005"]
    assert script.train_options("online-contrastive", "MNIST") == ["online-contrastive", "MNIST", "--seed", "0"]
