"""Bad input to a benchmark script is one line on stderr and exit 2, as it is for train.py."""

import os
import subprocess
import sys

import pytest

from conftest import ROOT

BAD_VALUES = [
    ("bench_train.py", "--repeats", "0", "argument --repeats: 0 is not positive"),
    ("bench_train.py", "--samples", "-5", "argument --samples: -5 is not positive"),
    ("bench_train.py", "--budget", "-1", "argument --budget: -1 is negative"),
    ("bench_train.py", "--target", "1.5", "argument --target: 1.5 is not an accuracy (a fraction, at most 1)"),
    ("bench_train.py", "--target", "0", "argument --target: 0 is not positive"),
    ("bench_train.py", "--whole-process", "siamese", "unknown network(s) siamese; choose from "),
    ("bench_network.py", "--steps", "0", "argument --steps: 0 is not positive"),
    ("bench_network.py", "--repeats", "-1", "argument --repeats: -1 is not positive"),
    ("bench_network.py", "--batch-sizes", "32,0", "argument --batch-sizes: 0 is not positive"),
    ("bench_evaluation.py", "--repeats", "0", "argument --repeats: 0 is not positive"),
    ("bench_evaluation.py", "--train-batches", "x", "argument --train-batches: 'x' is not a number"),
    ("bench_evaluation.py", "--threads", "0", "argument --threads: 0 is not positive"),
    ("bench_evaluation.py", "--device", "tpu", "unknown device 'tpu'; use auto, cpu, cuda or cuda:N"),
]


def run(script, *args, cwd):
    """The script in `cwd`; bench_train's results and scratch go there too, never to benchmarks/results."""
    if script == "bench_train.py":
        args += ("--json", os.path.join(cwd, "r.json"), "--scratch", os.path.join(cwd, "scratch"))
    return subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def last_line_of_a_refusal(done):
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("script,option,value,message", BAD_VALUES,
                         ids=[f"{script}{option}={value}" for script, option, value, _ in BAD_VALUES])
def test_a_bad_value_is_refused_in_one_line(script, option, value, message, tiny_data, tmp_path):
    done = run(script, "--data-dir", tiny_data, option, value, cwd=tmp_path)
    last = last_line_of_a_refusal(done)
    assert last.startswith(f"{script}: error: ") and message in last, last
    assert os.listdir(tmp_path) == []  # no results file, no scratch folder


@pytest.mark.parametrize("script", ["bench_train.py", "bench_network.py", "bench_evaluation.py"])
def test_missing_data_is_refused_in_one_line(script, tmp_path):
    done = run(script, "--data-dir", tmp_path / "nowhere", cwd=tmp_path)
    last = last_line_of_a_refusal(done)
    assert last.startswith(f"{script}: error: MNIST is not in {tmp_path / 'nowhere'}"), last
    assert set(os.listdir(tmp_path)) <= {"nowhere"}  # the download attempt may make the data folder
