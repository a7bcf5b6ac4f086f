"""benchmarks/bench_train.py end to end on a tiny data set, so that it cannot rot.

Only that it runs and reports every figure; its timings mean nothing on tiny data and are
never asserted (speed is measured by running the benchmark itself, see benchmarks/).
"""

import json
import os
import subprocess
import sys

from conftest import ROOT


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
        assert {"start-up and imports", "data loading", "training", "evaluation", "plotting", "GIF",
                "other"} <= set(whole[f"{key}_seconds"])
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


def test_the_time_to_quality_alone_prints_its_table_only(tiny_data, tmp_path):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_train.py"), "--data-dir", tiny_data,
         "--batch-sizes", "none", "--thread-counts", "none", "--whole-process", "none",
         "--time-to-quality", "siamese-contrastive", "--quality-settings", "lr-0.02", "--repeats", "1",
         "--budget", "0", "--json", tmp_path / "r.json", "--scratch", tmp_path / "scratch"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    tables = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert tables[0] == "| network | setting | train.py options | best 5-NN within budget | seconds to target |"
    assert len(tables) == 3 and tables[2].startswith("| siamese-contrastive | lr-0.02 | --lr 0.02 | ")
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["throughput"] == [] and report["whole_process"] is None


def test_an_unknown_network_is_refused(tiny_data, tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_train.py"),
                           "--data-dir", tiny_data, "--networks", "nonsense", "--json", tmp_path / "r.json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "unknown network(s) nonsense" in done.stderr
    assert not (tmp_path / "r.json").exists()


def test_an_unknown_quality_setting_is_one_line_and_exit_2(tiny_data, tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_train.py"),
                           "--data-dir", tiny_data, "--quality-settings", "defaults,fast,,all", "--json",
                           tmp_path / "r.json"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("bench_train.py: error: argument --quality-settings: unknown setting(s) "
                           "'fast', '', 'all'; choose from defaults, original, lr-0.005")
    assert last.endswith(", or all alone")
    assert "Traceback" not in done.stderr and not (tmp_path / "r.json").exists()


def test_a_bad_list_of_numbers_is_one_line_and_exit_2(tiny_data, tmp_path):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_train.py"),
                           "--data-dir", tiny_data, "--thread-counts", "1,two", "--json", tmp_path / "r.json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "bench_train.py: error: argument --thread-counts: '1,two' is not a comma-separated list of "
        "positive integers")
    assert "Traceback" not in done.stderr and not (tmp_path / "r.json").exists()


def test_the_printed_report_has_one_blank_line_between_sections_and_none_before():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    from bench_train import table
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
