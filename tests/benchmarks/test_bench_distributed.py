"""benchmarks/bench_distributed.py end to end on the tiny data, so that it cannot rot.

Only that it runs every layout and reports every figure; timings on tiny data mean nothing and
are never asserted (benchmarks/results/ holds the measured ones).
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import REAL_DATA_VARIABLE, ROOT


@pytest.mark.slow
def test_the_benchmark_trains_every_layout_and_reports_every_figure(tiny_data, tmp_path):
    results = tmp_path / "results.json"
    env = {key: value for key, value in os.environ.items() if key not in (REAL_DATA_VARIABLE, "RANK")}
    done = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "bench_distributed.py"),
                           "--data-dir", tiny_data, "--networks", "online-triplet", "--batch-size", "16",
                           "--repeats", "1", "--json", results, "--scratch", tmp_path / "scratch"],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(results.read_text())
    rows = {row["layout"]: row for row in report["medians"]}
    assert list(rows) == ["1 process x 1 thread", "1 process x 2 threads", "2 processes x 1 thread"]
    for row in rows.values():
        assert row["train_seconds"] > 0 and row["samples_per_second"] > 0 and row["wall_seconds"] > 0
    assert rows["1 process x 1 thread"]["training_speedup"] == 1.0
    assert [run["world_size"] for run in report["runs"]["online-triplet"]["2 processes x 1 thread"]] == [2]
    timings = report["collectives_seconds"]["online-triplet"]
    assert timings["parameters"] > 1000 and timings["gradients"] > 0 and timings["stop decision"] > 0
    assert "| online-triplet | 2 processes x 1 thread |" in done.stdout
