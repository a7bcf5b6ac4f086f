"""benchmarks/bench_evaluation.py end to end on a tiny data set, so that it cannot rot.

Only its command line (--data-dir, --repeats, --train-batches, --threads) and its ratio line
are relied on: its timings mean nothing on tiny data, and the parts it times may change.
"""

import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow   # each runs a benchmark script: left out of the fast loop


def test_the_benchmark_runs_on_tiny_data_and_prints_the_ratio(tiny_data):
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_evaluation.py"), "--data-dir", tiny_data,
         "--repeats", "1", "--train-batches", "2", "--threads", "1"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ratio = re.search(r"^full evaluation / training epoch: (\S+)", done.stdout, re.MULTILINE)
    assert ratio, done.stdout
    assert float(ratio.group(1)) > 0
    run = re.search(r"^a default run of 10 epochs, evaluation / training: (\S+)", done.stdout, re.MULTILINE)
    assert run, done.stdout
    assert float(run.group(1)) > 0


def test_the_benchmark_evaluates_the_model_it_is_given(tiny_data, tmp_path, capsys, monkeypatch):
    import torch
    from training import Config, find_experiment
    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))
    from bench_evaluation import main   # in process: a second torch import would cost seconds
    config = Config("siamese-contrastive", "MNIST", data_dir=tiny_data, device="cpu")
    torch.manual_seed(3)
    given = find_experiment(config.network).make_model(config, (1, 28, 28), 10)
    torch.save({"model": given.state_dict()}, tmp_path / "model.pt")
    main(["--data-dir", tiny_data, "--repeats", "1", "--train-batches", "2", "--model", str(tmp_path / "model.pt")])
    printed = capsys.readouterr().out
    assert f"model {tmp_path / 'model.pt'}" in printed
    assert re.search(r"^last epoch's evaluation / training epoch: \S+", printed, re.MULTILINE)
