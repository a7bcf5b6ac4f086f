"""benchmarks/bench_network.py end to end on a tiny data set, so that it cannot rot.

Only its command line and its table are relied on: its timings mean nothing on tiny data.
"""

import os
import re
import subprocess
import sys

from conftest import ROOT


def test_the_benchmark_runs_on_tiny_data_and_prints_a_ratio_for_each_case(tiny_data):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_network.py"), "--data-dir", tiny_data,
         "--networks", "siamese-contrastive,triplet-loss-net", "--batch-sizes", "8", "--steps", "2",
         "--repeats", "1"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^\| (\S+) \| 8 \| [\d.]+ \| [\d.]+ \| ([\d.]+)x \|$", done.stdout, re.MULTILINE)
    assert [network for network, _ in rows] == ["siamese-contrastive", "triplet-loss-net"], done.stdout
    assert all(float(ratio) > 0 for _, ratio in rows)


def test_an_unknown_network_is_refused_in_one_line(tiny_data):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_network.py"), "--data-dir", tiny_data,
         "--networks", "siamese-contrastiv"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "siamese-contrastiv" in done.stderr.strip().splitlines()[-1]
