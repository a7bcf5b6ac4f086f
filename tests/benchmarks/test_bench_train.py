"""benchmarks/bench_train.py on a tiny data set, so that it cannot rot: end to end (slow), and
in process its parts: the runs it times are built as train.py builds them, and the
whole-process profile wraps functions that the run calls.

Only that it runs and reports every figure; its timings mean nothing on tiny data and are
never asserted (speed is measured by running the benchmark itself, see benchmarks/).
"""

import importlib
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_train  # noqa: E402
from bench_train import PROFILED, Phases, profiled, profiled_train, table  # noqa: E402

PHASES = {"start-up and imports", "data loading", "run setup", "training", "evaluation", "plotting", "GIF",
          "file writing", "other"}


@pytest.mark.slow
def test_the_benchmark_runs_both_pipelines_and_reports_every_figure(tiny_data, tmp_path):
    results = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_train.py"), "--data-dir", tiny_data,
         "--networks", "siamese-contrastive", "--batch-sizes", "16", "--repeats", "1", "--samples", "60",
         "--budget", "0", "--thread-counts", "1,2", "--quality-settings", "defaults,epochs-7",
         "--json", results, "--scratch", tmp_path / "scratch"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(results.read_text())

    (row,) = report["throughput"]
    assert (row["network"], row["batch_size"]) == ("siamese-contrastive", 16)
    for pipeline in ("suite", "classic"):
        assert row[f"{pipeline}_samples_per_second"] > 0
        assert row[f"{pipeline}_peak_rss_mb"] > 100  # torch alone is several hundred MB
    assert row["ratio"] > 0
    assert "| siamese-contrastive | 16 |" in done.stdout

    whole = report["whole_process"]
    assert whole["suite_wall_seconds"] > 0 and whole["classic_wall_seconds"] > 0
    for key in ("phases", "phases_of_a_default_run"):  # one epoch; the default 10
        assert set(whole[f"{key}_seconds"]) == PHASES
        assert all(seconds > 0 for name, seconds in whole[f"{key}_seconds"].items() if name != "other")
        assert whole[f"{key}_after_training_share"] > 0
    assert whole["phases_of_a_default_run_seconds"]["training"] > whole["phases_seconds"]["training"]
    # Both whole processes wrote the original's four figures (the suite writes its records too).
    figures = {"training-set-embedding.png", "testing-set-embedding.png", "stats.png",
               "latent-space-development.gif"}
    for pipeline in ("suite", "classic"):
        written = {name.removeprefix("siamese-contrastive-MNIST-")
                   for name in os.listdir(tmp_path / "scratch" / pipeline)}
        assert figures <= written
    assert written == figures  # the classic pipeline writes nothing else

    # The suite alone on one thread and on two, side by side, at every batch size.
    (threads,) = report["threads"]
    assert (threads["network"], threads["batch_size"]) == ("siamese-contrastive", 16)
    assert set(threads["samples_per_second"]) == {"1", "2"}
    assert all(speed > 0 for speed in threads["samples_per_second"].values())
    assert threads["speedup"]["1"] == 1.0 and threads["speedup"]["2"] > 0
    assert "| siamese-contrastive | 16 |" in done.stdout.split("1 thread(s) samples/s")[1]

    assert [quality["network"] for quality in report["time_to_quality"]] == ["siamese-contrastive",
                                                                             "online-contrastive"]
    for quality in report["time_to_quality"]:
        assert quality["settings"] == {"defaults": [], "epochs-7": ["--epochs", "7"]}
        assert set(quality["runs"]) == {"defaults", "epochs-7"}
        for runs in quality["runs"].values():
            (seen,) = runs
            assert len(seen) == 1  # a budget of 0 s stops each run at its first evaluation
            assert 0 <= seen[0][1] <= 1
        assert f"| {quality['network']} | epochs-7 | --epochs 7 |" in done.stdout


@pytest.mark.slow
def test_the_time_to_quality_alone_prints_its_table_only(tiny_data, tmp_path, capsys):
    # main() in process, its one quality run in a worker process as always: one torch import, not two
    assert bench_train.main(["--data-dir", tiny_data, "--batch-sizes", "none", "--thread-counts", "none",
                             "--whole-process", "none", "--time-to-quality", "siamese-contrastive",
                             "--quality-settings", "lr-0.02", "--repeats", "1", "--budget", "0",
                             "--json", str(tmp_path / "r.json"), "--scratch", str(tmp_path / "scratch")]) == 0
    tables = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    assert tables[0] == "| network | setting | train.py options | best 5-NN within budget | seconds to target |"
    assert len(tables) == 3 and tables[2].startswith("| siamese-contrastive | lr-0.02 | --lr 0.02 | ")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["throughput"] == [] and report["whole_process"] is None


def test_the_printed_report_has_one_blank_line_between_sections_and_none_before():
    threads = [{"network": "siamese-contrastive", "batch_size": 32, "samples_per_second": {"1": 100.0, "2": 150.0},
                "speedup": {"1": 1.0, "2": 1.5}}]
    phases = {"training": 6.0, "evaluation": 1.0}
    whole = {"network": "siamese-contrastive", "phases_seconds": phases, "phases_after_training_share": 0.17,
             "phases_of_a_default_run_seconds": phases, "phases_of_a_default_run_after_training_share": 0.17}
    printed = table([], whole, threads).split("\n")
    assert printed[0].startswith("| network | batch | 1 thread(s) samples/s")
    assert printed.count("") == 1 and printed[printed.index("") + 1].startswith("train.py's seconds, one epoch:")
    assert table([], whole, []).split("\n")[0].startswith("train.py's seconds, one epoch:")
    assert table([], None, []) == ""


def test_every_function_the_profile_wraps_is_in_the_module_it_patches():
    for module, name, phase, _ in PROFILED:
        assert callable(getattr(importlib.import_module(module), name, None)), f"{module}.{name}"
        assert phase in PHASES


def test_a_function_that_is_gone_stops_the_profile_before_anything_is_wrapped():
    import training.loop
    original = training.loop.train_epoch
    gone = (("training.loop", "train_epoch", "training", True), ("training.loop", "run_epoch", "training", True))
    with pytest.raises(LookupError, match=r"training\.loop\.run_epoch, which no longer exist"):
        with profiled(gone):
            pytest.fail("the block ran")
    assert training.loop.train_epoch is original


def test_a_function_the_run_no_longer_calls_stops_the_profile_and_is_put_back():
    import training.loop
    original = training.loop.train_epoch
    with pytest.raises(LookupError, match=r"training\.loop\.train_epoch, which the run no longer calls"):
        with profiled((("training.loop", "train_epoch", "training", True),)):
            assert training.loop.train_epoch is not original
    assert training.loop.train_epoch is original


def test_nested_calls_count_in_the_innermost_phase_only():
    ticks = iter([0.0, 1.0, 4.0, 10.0, 20.0, 21.0])   # the clock's readings, in the order taken
    phases = Phases(clock=lambda: next(ticks))
    inner = phases.timed("evaluation", lambda: None, "inner")
    outer = phases.timed("training", lambda: inner(), "outer")
    outer()      # 0 .. 10, of which inner 1 .. 4
    inner()      # 20 .. 21, alone
    assert phases.seconds == {"training": 7.0, "evaluation": 4.0}
    assert phases.calls == {"inner": 2, "outer": 1}


def test_the_profile_of_a_run_times_each_phase_and_file_writing_apart_from_other(tiny_data, tmp_path):
    modules = {module: importlib.import_module(module) for module, *_ in PROFILED}
    originals = {(module, name): getattr(modules[module], name) for module, name, *_ in PROFILED}
    phases = profiled_train(["siamese-contrastive", "MNIST", "--epochs", "1", "--animation", "--data-dir",
                             tiny_data, "--output", str(tmp_path / "out")])
    assert set(phases) == PHASES - {"start-up and imports"}
    assert all(seconds > 0 for name, seconds in phases.items() if name != "other")
    for (module, name), original in originals.items():   # the run's functions are its own again
        assert getattr(modules[module], name) is original
    assert (tmp_path / "out" / "siamese-contrastive-MNIST-latent-space-development.gif").is_file()


def test_the_suite_epoch_trains_every_item_of_the_epoch(tiny_data):
    seconds, items = bench_train.one_epoch("suite", "siamese-contrastive", 16, tiny_data, "cpu")
    assert seconds > 0 and items == 240   # every image of the tiny training split, paired twice


def test_the_classic_pipeline_starts_from_the_first_weights_of_the_suites_run(tiny_data):
    from classic import classic_model, torchvision_split
    from training import Config
    from training.setup import set_up

    dataset = torchvision_split("MNIST", tiny_data, train=True)
    for seed in (0, 5):
        config = Config("siamese-contrastive", "MNIST", data_dir=tiny_data, device="cpu", seed=seed)
        suite = set_up(config).model.state_dict()
        classic = classic_model(config, dataset, torch.device("cpu")).state_dict()
        assert suite.keys() == classic.keys()
        assert all(torch.equal(suite[key], classic[key]) for key in suite)
    other = classic_model(Config("siamese-contrastive", "MNIST", seed=1), dataset,
                          torch.device("cpu")).state_dict()
    assert not all(torch.equal(other[key], classic[key]) for key in other)
