"""train.py's log on a pipe whose reader goes away (`train.py ... | head -1`): the run stops
quietly, as a command killed by SIGPIPE would, and the files it wrote stay whole."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, REAL_DATA_VARIABLE

pytestmark = pytest.mark.slow   # runs train.py end to end


@pytest.mark.parametrize("epochs", [1, 2])
def test_a_closed_stdout_stops_the_run_quietly(epochs, tiny_data, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != REAL_DATA_VARIABLE}
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), "siamese-contrastive", "MNIST",
                                "--epochs", str(epochs), "--batch-size", "32", "--data-dir", tiny_data,
                                "--output", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = [process.stdout.readline() for _ in range(2)]   # the start line and epoch 1's
    assert lines[1].startswith(f"epoch 1/{epochs}:"), lines
    process.stdout.close()   # the reader goes away: the next line (epoch 2's, or the summary) fails
    stderr = process.communicate(timeout=300)[1]
    assert process.returncode == 1   # Python's documented exit status on EPIPE
    assert stderr == ""              # no "could not write a file", no traceback
    # Epoch 1's files were written before the pipe broke, and stay whole.
    document = json.loads((tmp_path / "siamese-contrastive-MNIST-metrics.json").read_text())
    assert document["epochs_completed"] == 1
    assert torch.load(tmp_path / "siamese-contrastive-MNIST-model.pt", weights_only=True)["epoch"] == 1
