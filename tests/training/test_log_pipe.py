"""train.py's log on a pipe whose reader goes away (`train.py ... | head -1`): the run stops
after the epoch it is in, as on a signal (named SIGPIPE): the epoch saved, the figures written,
resumable; at its last epoch it just finishes."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, REAL_DATA_VARIABLE

pytestmark = pytest.mark.slow   # runs train.py end to end


def start(epochs, tiny_data, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != REAL_DATA_VARIABLE}
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), "siamese-contrastive", "MNIST",
                             "--epochs", str(epochs), "--batch-size", "32", "--data-dir", tiny_data,
                             "--output", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_a_closed_stdout_stops_the_run_after_its_epoch_as_a_signal_would(tiny_data, tmp_path):
    process = start(3, tiny_data, tmp_path)
    lines = [process.stdout.readline() for _ in range(2)]   # the start line and epoch 1's
    assert lines[1].startswith("epoch 1/3:"), lines
    process.stdout.close()   # the reader goes away: epoch 2's line fails, after epoch 2's files
    stderr = process.communicate(timeout=300)[1]
    assert process.returncode == 128 + signal.SIGPIPE, stderr   # as a shell reports a SIGPIPE kill
    lines = stderr.strip().splitlines()
    assert lines[0].startswith("train.py: interrupted: SIGPIPE received after the last batch of epoch 2; "), stderr
    assert "resume with: " in lines[-1] and "Traceback" not in stderr and "could not write" not in stderr
    # Epoch 2 was saved before its line failed, and the stop wrote the figures, as a signal's does.
    document = json.loads((tmp_path / "siamese-contrastive-MNIST-metrics.json").read_text())
    assert document["epochs_completed"] == 2 and document["interrupted"] == "SIGPIPE"
    assert torch.load(tmp_path / "siamese-contrastive-MNIST-model.pt", weights_only=True)["epoch"] == 2
    assert (tmp_path / "siamese-contrastive-MNIST-testing-set-embedding.png").exists()


def test_a_closed_stdout_at_the_last_epoch_lets_the_run_finish(tiny_data, tmp_path):
    process = start(2, tiny_data, tmp_path)
    process.stdout.readline()   # the start line
    process.stdout.close()      # epoch 1's line fails: it goes on to its last epoch, silently
    stderr = process.communicate(timeout=300)[1]
    assert process.returncode == 128 + signal.SIGPIPE and "epoch 1" in stderr, stderr
    process = start(1, tiny_data, tmp_path / "one")
    process.stdout.readline()
    process.stdout.close()      # the last epoch's line fails: the run is complete, its files whole
    stderr = process.communicate(timeout=300)[1]
    assert process.returncode == 0 and stderr == "", stderr
    document = json.loads((tmp_path / "one" / "siamese-contrastive-MNIST-metrics.json").read_text())
    assert document["complete"] and document["interrupted"] is None
