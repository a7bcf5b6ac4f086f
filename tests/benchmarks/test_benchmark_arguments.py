"""Bad input to a benchmark script is one line on stderr and exit 2, as it is for train.py.

In process (each script's main(argv)): argparse's refusal is a SystemExit before any work, and
a subprocess per case would spend seconds importing torch again.
"""

import importlib
import os

import pytest
import torchvision

from conftest import ROOT
from test_datasets import offline

BAD_VALUES = [
    ("bench_train", "--repeats", "0", "argument --repeats: 0 is not positive"),
    ("bench_train", "--samples", "-5", "argument --samples: -5 is not positive"),
    ("bench_train", "--budget", "-1", "argument --budget: -1 is negative"),
    ("bench_train", "--target", "1.5", "argument --target: 1.5 is not an accuracy (a fraction, at most 1)"),
    ("bench_train", "--target", "0", "argument --target: 0 is not positive"),
    ("bench_train", "--whole-process", "siamese", "unknown network(s) siamese; choose from "),
    ("bench_network", "--steps", "0", "argument --steps: 0 is not positive"),
    ("bench_network", "--repeats", "-1", "argument --repeats: -1 is not positive"),
    ("bench_network", "--batch-sizes", "32,0", "argument --batch-sizes: 0 is not positive"),
    ("bench_evaluation", "--repeats", "0", "argument --repeats: 0 is not positive"),
    ("bench_evaluation", "--train-batches", "x", "argument --train-batches: 'x' is not a whole number"),
    ("bench_evaluation", "--threads", "0", "argument --threads: 0 is not positive"),
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
