"""benchmarks/bench_network.py end to end on a tiny data set, so that it cannot rot.

Only its command line and its table are relied on: its timings mean nothing on tiny data.
"""

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow   # each runs a benchmark script: left out of the fast loop


@pytest.mark.parametrize("backbone, trick", [(None, None), ("wide", "channels-last")])
def test_the_benchmark_runs_on_tiny_data_and_prints_a_ratio_for_each_case(tiny_data, backbone, trick):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_network.py"), "--data-dir", tiny_data,
         "--networks", "siamese-contrastive,triplet-loss-net", "--batch-sizes", "8", "--steps", "2",
         "--repeats", "1", *(["--backbone", backbone] if backbone else []), *(["--trick", trick] if trick else [])],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    rows = re.findall(r"^\| (\S+) \| (\S+) \| 8 \| [\d.]+ \| [\d.]+ \| ([\d.]+)x \|$", done.stdout,
                      re.MULTILINE)
    used = backbone or "original"
    assert [row[:2] for row in rows] == [(used, "siamese-contrastive"), (used, "triplet-loss-net")], done.stdout
    assert all(float(ratio) > 0 for _, _, ratio in rows)
    assert ("| layout as given, ms a step | channels last, ms a step |" in done.stdout) == (trick == "channels-last")


def test_each_trick_names_a_function_of_the_layers_else_replacing_it_would_time_nothing():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import bench_network
    import networks.layers as layers
    for name, without, _, _ in bench_network.TRICKS.values():
        assert callable(getattr(layers, name)) and getattr(layers, name) is not without


def test_the_model_timed_is_the_experiments_network_on_the_backbone_asked_for():
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import bench_network
    from networks import KochSiameseNet
    from training import Config, find_experiment
    experiment = find_experiment("siamese-binary-cross-entropy")
    model = bench_network.model_on("wide", experiment, Config("siamese-binary-cross-entropy", "MNIST",
                                                              latent_dims=3))
    assert isinstance(model, KochSiameseNet)
    assert model.hyperparameters == dict(latent_dims=3, backbone="wide", in_channels=1, image_size=28,
                                         distance="euclidean")
    assert model.embedding_net.features[0].out_channels == 32


def test_an_unknown_backbone_is_refused_in_one_line(tiny_data):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_network.py"), "--data-dir", tiny_data,
         "--backbone", "wid"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "'wid'" in done.stderr.strip().splitlines()[-1] and "wide" in done.stderr.strip().splitlines()[-1]


def test_an_unknown_network_is_refused_in_one_line(tiny_data):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_network.py"), "--data-dir", tiny_data,
         "--networks", "siamese-contrastiv"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "siamese-contrastiv" in done.stderr.strip().splitlines()[-1]
