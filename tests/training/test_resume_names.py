"""A resumed run writes to its checkpoint's own file names, the spelling its first run typed, so
that a folder never holds two sets of files of one run."""

import json
import os

import pytest

from training import Config, run

pytestmark = pytest.mark.slow   # trains twice


def test_a_resume_spelt_otherwise_goes_on_writing_the_first_runs_files(tiny_data, tmp_path, capsys):
    first = Config("tripet-loss-net", "mnist", epochs=1, batch_size=32, data_dir=tiny_data, output=str(tmp_path))
    run(first, show_progress=False)
    names = sorted(os.listdir(tmp_path))
    assert all(name.startswith("tripet-loss-net-mnist-") for name in names) and len(names) == 6

    resumed = Config("triplet-loss-net", "MNIST", epochs=2, batch_size=32, data_dir=tiny_data, output=str(tmp_path),
                     resume=str(tmp_path / "tripet-loss-net-mnist-model.pt"))
    final, written = run(resumed, show_progress=False)
    assert final["epoch"] == 2
    assert sorted(os.listdir(tmp_path)) == names   # the same files, now of epoch 2
    assert all(os.path.basename(path).startswith("tripet-loss-net-mnist-") for path in written.values())
    document = json.loads((tmp_path / "tripet-loss-net-mnist-metrics.json").read_text())
    assert document["epochs_completed"] == 2 and len(document["epochs"]) == 2
    assert document["configuration"]["network_resolved"] == "triplet-loss-net"
    assert f"-> {tmp_path}/tripet-loss-net-mnist-*" in capsys.readouterr().out
