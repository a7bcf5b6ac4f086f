"""Bad input to a benchmark script is one line on stderr and exit 2, as it is for train.py.

In process (each script's main(argv)): argparse's refusal is a SystemExit before any work, and
a subprocess per case would spend seconds importing torch again.
"""

import importlib
import os
from urllib.error import URLError

import pytest
import torchvision

from conftest import ROOT


def offline(self):
    """torchvision's MNIST.download on a machine without internet."""
    os.makedirs(self.raw_folder, exist_ok=True)   # as torchvision's own download does first
    raise URLError("no internet")


WHOLE = "a positive whole number up to 2147483647"
BAD_VALUES = [
    ("bench_train", "--repeats", "0", f"argument --repeats: 0 is not {WHOLE}"),
    ("bench_train", "--samples", "-5", f"argument --samples: -5 is not {WHOLE}"),
    ("bench_train", "--budget", "-1", "argument --budget: -1 is not a finite number of 0 or more"),
    ("bench_train", "--budget", "inf", "argument --budget: inf is not a finite number of 0 or more"),
    ("bench_train", "--target", "1.5", "argument --target: 1.5 is not an accuracy (a fraction, at most 1)"),
    ("bench_train", "--target", "0", "argument --target: 0 is not a positive number"),
    ("bench_train", "--whole-process", "siamese", "unknown network(s) siamese; choose from "),
    ("bench_train", "--whole-process", "vae", "--whole-process vae: the classic pipeline has no equivalent of it; "
                                              "choose one of embedding-classification, siamese-contrastive, "),
    ("bench_train", "--networks", "nonsense", "unknown network(s) nonsense; choose from "),
    ("bench_train", "--device", "tpu", "unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
    ("bench_train", "--quality-settings", "defaults,fast,,all",
     "argument --quality-settings: unknown setting(s) 'fast', '', 'all'; choose from defaults, original, lr-0.005"),
    ("bench_train", "--thread-counts", "1,two",
     "argument --thread-counts: '1,two' is not a comma-separated list of positive integers"),
    ("bench_network", "--steps", "0", f"argument --steps: 0 is not {WHOLE}"),
    ("bench_network", "--repeats", "-1", f"argument --repeats: -1 is not {WHOLE}"),
    ("bench_network", "--batch-sizes", "32,0", f"argument --batch-sizes: 0 is not {WHOLE}"),
    ("bench_evaluation", "--repeats", "0", f"argument --repeats: 0 is not {WHOLE}"),
    ("bench_evaluation", "--train-batches", "x", "argument --train-batches: 'x' is not a whole number"),
    ("bench_evaluation", "--threads", "0", f"argument --threads: 0 is not {WHOLE}"),
    ("bench_evaluation", "--device", "tpu", "unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
]


def refusal(script, args, folder, capsys):
    """The one line `script` refuses `args` with, after "error: "; bench_train's results and
    scratch go to `folder`, so that a regression cannot overwrite benchmarks/results."""
    main = importlib.import_module(script).main
    if script == "bench_train":
        args += ["--json", str(folder / "r.json"), "--scratch", str(folder / "scratch")]
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert ": error: " in lines[-1], lines  # argparse's usage, then the line ("prog: error: ...")
    return lines[-1].split(": error: ", 1)[1]


@pytest.fixture
def in_tmp_path(tmp_path, monkeypatch):
    """The scripts importable, and run from tmp_path (a relative default path would land there)."""
    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("script,option,value,message", BAD_VALUES,
                         ids=[f"{script}{option}={value}" for script, option, value, _ in BAD_VALUES])
def test_a_bad_value_is_refused_in_one_line(script, option, value, message, tiny_data, in_tmp_path, capsys):
    assert message in refusal(script, ["--data-dir", tiny_data, option, value], in_tmp_path, capsys)
    assert os.listdir(in_tmp_path) == []  # no results file, no scratch folder


@pytest.mark.parametrize("script", ["bench_train", "bench_network", "bench_evaluation"])
def test_missing_data_is_refused_in_one_line(script, in_tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)   # online or not
    line = refusal(script, ["--data-dir", str(in_tmp_path / "nowhere")], in_tmp_path, capsys)
    assert line.startswith(f"MNIST is not in {in_tmp_path / 'nowhere'}"), line
    assert os.listdir(in_tmp_path) == []


def test_a_model_file_that_is_not_one_is_refused_in_one_line(tiny_data, in_tmp_path, capsys):
    (in_tmp_path / "notes.pt").write_text("not weights")
    line = refusal("bench_evaluation", ["--data-dir", tiny_data, "--repeats", "1", "--train-batches", "1",
                                        "--model", str(in_tmp_path / "notes.pt")], in_tmp_path, capsys)
    assert line.startswith(f"--model {in_tmp_path / 'notes.pt'} is not the model.pt of a siamese-contrastive "
                           f"MNIST run ("), line
    assert os.listdir(in_tmp_path) == ["notes.pt"]


@pytest.mark.parametrize("option,value,message", [
    ("--lr", "0", "--lr 0.0 is not accepted; give a positive number up to "),
    ("--epochs", "0", "--epochs 0 is not accepted; give a whole number from 1 to "),
    ("--batch-size", "x", "argument --batch-size: 'x' is not a whole number"),
    ("--device", "tpu", "unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
])
def test_the_classic_pipeline_checks_its_values_as_train_py_does(option, value, message, tiny_data, in_tmp_path,
                                                                  capsys):
    main = importlib.import_module("classic").main
    with pytest.raises(SystemExit) as stopped:
        main(["siamese-contrastive", "MNIST", "--data-dir", tiny_data, "--output", str(in_tmp_path / "out"),
              option, value])
    assert stopped.value.code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]
    assert os.listdir(in_tmp_path) == []
