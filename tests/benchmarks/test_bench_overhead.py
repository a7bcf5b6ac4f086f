"""benchmarks/bench_overhead.py on a tiny data set, in process: that it runs and reports both
timings over the same items, and that what it times as "the network alone" is the registry's
own loss. Its timings mean nothing on tiny data and are never asserted.
"""

import json
import os
import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_overhead  # noqa: E402
from bench_overhead import COMPUTE, next_batches  # noqa: E402
from training import EXPERIMENTS, Config  # noqa: E402
from training.setup import set_up  # noqa: E402

NETWORKS = ["siamese-contrastive", "online-contrastive", "embedding-classification"]


def test_the_benchmark_reports_both_timings_over_the_same_items(tiny_data, tmp_path, capsys):
    results = tmp_path / "results.json"
    assert bench_overhead.main(["--data-dir", tiny_data, "--batch-size", "8", "--batches", "2", "--repeats", "1",
                                "--threads", "1", "--json", str(results)]) == 0
    report = json.loads(results.read_text())
    assert (report["backbone"], report["batch_size"], report["batches"], report["repeats"]) == ("wide", 8, 2, 1)
    assert report["machine"]["torch_threads"] == 1 and report["budget_percent"] == 10
    assert len(report["load_average_before"]) == len(report["load_average_after"]) == 3
    assert [row["network"] for row in report["networks"]] == NETWORKS
    printed = capsys.readouterr().out
    for row in report["networks"]:
        (only,) = row["rounds"]
        # Tiny MNIST has 120 training images: one P x K batch of 10 x 16, else 2 of 8 pairs or images.
        per_batch = 160 if row["network"] == "online-contrastive" else 8
        assert row["items"] == row["network_items"] == only["loop_items"] == only["network_items"]
        assert row["items"] == row["batches"] * per_batch and row["items_per_batch"] == per_batch
        assert row["loop_seconds_per_batch"] > 0 and row["network_seconds_per_batch"] > 0
        assert row["loop_seconds_per_batch"] == pytest.approx(only["loop"] / row["batches"])
        assert row["overhead_percent"] == pytest.approx(100 * (only["loop"] / only["network"] - 1))
        assert row["within_budget"] == (row["overhead_percent"] <= 10)
        assert f"| {row['network']} | {per_batch} | " in printed


def test_with_shift_the_loop_moves_its_images_and_the_report_says_so(tiny_data, tmp_path, monkeypatch):
    import training.loop
    moves = []   # the --shift of every ShiftedSplit the loop makes
    made = training.loop.ShiftedSplit
    monkeypatch.setattr(training.loop, "ShiftedSplit", lambda *args: moves.append(args[-1]) or made(*args))
    results = tmp_path / "results.json"
    assert bench_overhead.main(["--data-dir", tiny_data, "--networks", "siamese-contrastive", "--shift", "2",
                                "--batch-size", "8", "--batches", "2", "--repeats", "2", "--threads", "1",
                                "--json", str(results)]) == 0
    assert json.loads(results.read_text())["shift"] == 2
    assert moves == [2, 2, 2]   # the warm-up round and both timed rounds


@pytest.mark.parametrize("network", sorted(EXPERIMENTS))
def test_the_network_alone_computes_the_registrys_loss_on_the_loops_next_batches(network, tiny_data, tmp_path):
    run = set_up(Config(network, "MNIST", data_dir=tiny_data, device="cpu", backbone="wide", batch_size=8,
                        output=str(tmp_path)))
    state = run.generator.get_state()
    batches, seconds = next_batches(FirstSampler(run))
    assert torch.equal(run.generator.get_state(), state) and seconds > 0   # the loop's draw is untouched
    trained = run.sampler.epoch(run.generator)   # what train_epoch draws next
    assert len(batches) == len(trained) > 0
    assert all(torch.equal(a, b) for mine, theirs in zip(batches, trained) for a, b in zip(mine, theirs))

    prepare, compute = COMPUTE[network]
    for batch in batches[:2]:
        torch.manual_seed(0)   # the vae draws its noise in the step
        expected = run.experiment.batch_loss(run.model, run.train, batch, run.config)
        torch.manual_seed(0)
        assert compute(run.model, prepare(run.train, batch), run.config).item() == pytest.approx(expected.item())


class FirstSampler:
    """A run whose sampler is wrapped as the benchmark wraps it (every batch of an epoch)."""

    def __init__(self, run):
        self.generator = run.generator
        self.sampler = bench_overhead.FirstBatches(run.sampler, len(run.sampler))


def test_an_unknown_network_is_refused_in_one_line(tiny_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_overhead.main(["--data-dir", tiny_data, "--networks", "siamese-contrastiv",
                             "--json", str(tmp_path / "r.json")])
    assert stopped.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "siamese-contrastiv" in line and "siamese-contrastive" in line
    assert os.listdir(tmp_path) == []


def test_a_shift_train_py_refuses_is_refused_in_train_pys_words(tiny_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        bench_overhead.main(["--data-dir", tiny_data, "--shift", "9", "--json", str(tmp_path / "r.json")])
    assert stopped.value.code == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--shift" in line and "9" in line and "8" in line   # what was wrong and what is accepted
    assert os.listdir(tmp_path) == []
