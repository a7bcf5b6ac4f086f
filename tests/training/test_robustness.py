"""Issue 6: bad input writes nothing, interruptions and failures keep every result whole.

Most tests drive train.py in a subprocess on tiny IDX data; a full disk and an exhausted
device cannot be provoked on demand, so those call train.main in-process with the failing
call replaced.
"""

import dataclasses
import errno
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import numpy as np
import pytest
import torch

import train as train_script
import training.checkpoint
import training.loop
import training.outputs
import training.setup
from conftest import ROOT, REAL_DATA_VARIABLE, one_line_error, run_cli
from test_records import TIMINGS
from training import Config, EXPERIMENTS, NonFiniteLossError, RunError, run
from training.interruption import Interrupted, Interruption, StopNow, signals_held

pytestmark = pytest.mark.slow   # runs train.py end to end: left out of the fast loop (-m "not slow")

PREFIX = "triplet-loss-net-MNIST-"
TINY = ("--batch-size", 16, "--lr", 0.01)


def read_metrics(folder):
    return json.loads((folder / f"{PREFIX}metrics.json").read_text())


def without_timings(document):
    return [{key: value for key, value in row.items() if key not in TIMINGS}
            for row in document["epochs"]]


def error_line(capsys):
    """The one line train.py printed about the failure (the progress bar also writes to stderr)."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("train.py:")]
    assert len(lines) == 1, lines
    return lines[0]


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.endswith(".partial")]


# Bad input: exit 2, one line, and not even the output folder is created.

@pytest.mark.parametrize("case", ["missing data", "corrupt data", "unknown dataset", "device",
                                  "missing checkpoint"])
def test_bad_input_leaves_no_output_folder(case, tiny_data, tmp_path):
    data = tmp_path / "data"
    if case == "corrupt data":
        import shutil
        shutil.copytree(tiny_data, data)
        labels = data / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
        labels.write_bytes(labels.read_bytes()[:-3])
    (tmp_path / "a-file").write_text("not a folder")  # no files in it, and none can be downloaded there
    options = {"missing data": ("--data-dir", tmp_path / "a-file"),
               "corrupt data": ("--data-dir", data),
               "unknown dataset": ("--data-dir", tiny_data),
               "device": ("--data-dir", tiny_data, "--device", "mps"),
               "missing checkpoint": ("--data-dir", tiny_data, "--resume", tmp_path / "none.pt")}[case]
    dataset = "CIFAR10" if case == "unknown dataset" else "MNIST"
    output = tmp_path / "new" / "results"
    result = run_cli("triplet-loss-net", dataset, *options, "--output", output)
    one_line_error(result)
    assert not (tmp_path / "new").exists(), case


def test_an_unknown_dataset_suggests_the_closest_whatever_the_case(tiny_data, tmp_path):
    result = run_cli("siamese-contrastive", "fashion-mnist", "--data-dir", tiny_data, "--output", tmp_path)
    one_line_error(result, "unknown dataset 'fashion-mnist'", "did you mean FashionMNIST?",
                   "MNIST, FashionMNIST")


@pytest.mark.parametrize("device", ["mps", "tpu", "cpu:0"])  # cuda: test_cli.py
def test_a_device_that_does_not_exist_is_a_one_line_error(device, tiny_data, tmp_path):
    result = run_cli("siamese-contrastive", "MNIST", "--device", device, "--data-dir", tiny_data,
                     "--output", tmp_path / "out")
    one_line_error(result, "unknown device 'tpu'" if device == "tpu" else f"--device {device}",
                   "auto, cpu, cuda or cuda:N")
    assert not (tmp_path / "out").exists()


def test_an_output_below_a_file_is_a_one_line_error(tiny_data, tmp_path):
    (tmp_path / "file").write_text("a file")
    result = run_cli("siamese-contrastive", "MNIST", "--data-dir", tiny_data,
                     "--output", tmp_path / "file" / "results")
    one_line_error(result, "cannot be created", "is a file")


def test_an_unwritable_output_is_a_one_line_error(tiny_data, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as root: permissions are not enforced "
                        "(test_an_unwritable_output_is_refused_before_anything_runs simulates it)")
        for output in (locked, locked / "results"):
            result = run_cli("siamese-contrastive", "MNIST", "--data-dir", tiny_data, "--output", output)
            one_line_error(result, "is not writable")
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o700)


def test_an_unwritable_output_is_refused_before_anything_runs(tiny_data, tmp_path, monkeypatch, capsys):
    """As root permissions are not enforced, so os.access is made to say what it would for a user."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: (os.path.abspath(path) != str(locked)
                                                          and real_access(path, mode)))
    for output in (locked, locked / "new" / "results"):
        code = train_script.main(["siamese-contrastive", "MNIST", "--data-dir", tiny_data,
                                  "--output", str(output)])
        assert code == 2
        assert capsys.readouterr().err.strip() == (
            f"train.py: error: --output {output} is not writable"
            + ("" if output == locked else f" ({locked} is not writable)")
            + "; choose a folder you can write to")
    assert os.listdir(locked) == []


# Ctrl-C and SIGTERM.

EPOCHS = 12  # tiny epochs take a fraction of a second each; the signal comes after the second


def start(tiny_data, output, *options):
    env = {key: value for key, value in os.environ.items() if key != REAL_DATA_VARIABLE}
    return subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), "triplet-loss-net",
                             "MNIST", "--epochs", str(EPOCHS), *map(str, TINY), "--seed", "3",
                             "--data-dir", str(tiny_data), "--output", str(output), *map(str, options)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_epoch(process, folder, epoch, timeout=240):
    """Poll metrics.json until it has `epoch` epochs (it is written whole, so it always parses)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if read_metrics(folder)["epochs_completed"] >= epoch:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"no epoch {epoch} within {timeout} s")


@pytest.fixture(scope="module")
def uninterrupted(tiny_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    result = run_cli("triplet-loss-net", "MNIST", "--epochs", EPOCHS, *TINY, "--seed", 3,
                     "--data-dir", tiny_data, "--output", folder, "--animation", "--shift", 1)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.parametrize("sent,exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_cleanly_and_the_run_resumes_to_the_same_numbers(sent, exit_code, tiny_data,
                                                                        tmp_path, uninterrupted):
    folder = tmp_path / "run"
    # With --shift, each epoch's offsets come from the run's generator too.
    process = start(tiny_data, folder, "--animation", "--shift", 1)
    wait_for_epoch(process, folder, 2)
    # While the run trains, metrics.json lists what it has written so far, and nothing else:
    # the figures and embeddings come when it ends.
    during = read_metrics(folder)
    assert set(during["files"]) == {"metrics", "checkpoint"}
    assert all(os.path.isfile(path) for path in during["files"].values())
    process.send_signal(sent)
    stdout, stderr = process.communicate(timeout=240)
    assert process.returncode == exit_code, stderr
    assert "Traceback" not in stderr
    document = read_metrics(folder)
    done = document["epochs_completed"]
    assert 2 <= done < EPOCHS and document["complete"] is False
    assert document["interrupted"] == sent.name and document["failed"] is None
    assert (f"interrupted: {sent.name} received during epoch {done + 1}" in stderr
            or f"interrupted: {sent.name} received after the last batch of epoch {done}" in stderr)
    assert torch.load(folder / f"{PREFIX}model.pt", weights_only=True)["epoch"] == done
    assert sorted(os.listdir(folder)) == sorted(PREFIX + name for name in training.outputs.FILES.values())
    assert set(document["files"]) == set(training.outputs.FILES)
    assert leftovers(folder) == []
    # The epochs done so far are those of the uninterrupted run, and so are its embeddings:
    # the end-of-run files show the last completed epoch.
    assert without_timings(document) == without_timings(read_metrics(uninterrupted))[:done]

    command = stderr.strip().splitlines()[-1]
    assert command.startswith("resume with: python ")
    arguments = shlex.split(command.removeprefix("resume with: python "))
    assert arguments[-2:] == ["--resume", str(folder / f"{PREFIX}model.pt")]
    resumed = subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert without_timings(read_metrics(folder)) == without_timings(read_metrics(uninterrupted))
    document = read_metrics(folder)
    assert document["complete"] is True and document["interrupted"] is None
    assert document["resumed_from"] == str(folder / f"{PREFIX}model.pt")
    continued, whole = (np.load(where / f"{PREFIX}embeddings.npz") for where in (folder, uninterrupted))
    for key in whole.files:
        np.testing.assert_array_equal(continued[key], whole[key])
    # The frames of the epochs before the interruption came back from the checkpoint.
    assert iio.imread(folder / f"{PREFIX}latent-space-development.gif", index=None).shape[0] == EPOCHS


def test_a_signal_before_the_first_epoch_ends_says_there_is_nothing_to_plot(tiny_data, tmp_path):
    folder = tmp_path / "run"
    # A GIF frame after every batch makes the first epoch slow; the signal comes as soon as the
    # output folder exists (it is made once the signal handlers are in place, before training).
    process = start(tiny_data, folder, "--animation", 1, "--log-interval", 1)
    deadline = time.monotonic() + 240
    while not folder.exists() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 143, stderr
    if folder.exists() and os.listdir(folder):
        assert read_metrics(folder)["epochs_completed"] > 0, "a run with no completed epoch wrote a file"
        pytest.skip("the machine ran the first epoch before the signal came")
    assert "nothing to plot or resume, and no file was written" in stderr and "resume with" not in stderr
    assert not folder.exists(), "the run left behind the empty --output folder it made"


def test_only_the_empty_folders_a_run_made_are_removed(tmp_path):
    from training.outputs import make_output_folder, remove_empty_folders
    made = make_output_folder(str(tmp_path / "a" / "b"))
    assert made == [str(tmp_path / "a" / "b"), str(tmp_path / "a")]
    remove_empty_folders(made)
    assert os.listdir(tmp_path) == []
    made = make_output_folder(str(tmp_path / "c" / "d"))
    (tmp_path / "c" / "note.txt").write_text("the user's")
    remove_empty_folders(made)   # d goes; c holds a file and stays
    assert os.listdir(tmp_path / "c") == ["note.txt"]
    assert make_output_folder(str(tmp_path)) == []   # there before: never the run's to remove


def test_a_signal_during_an_epochs_evaluation_stops_after_that_epoch_and_says_so(tiny_data, tmp_path,
                                                                                 monkeypatch):
    real_score = training.loop.score

    def score_then_ctrl_c(*args):
        os.kill(os.getpid(), signal.SIGINT)   # the handler only notes it: the evaluation goes on
        return real_score(*args)
    monkeypatch.setattr(training.loop, "score", score_then_ctrl_c)
    config = Config("triplet-loss-net", "MNIST", epochs=3, batch_size=16, data_dir=tiny_data,
                    output=str(tmp_path))
    with pytest.raises(Interrupted, match="SIGINT received after the last batch of epoch 1$") as stopped:
        run(config, show_progress=False)
    assert stopped.value.epochs_completed == 1
    assert read_metrics(tmp_path)["epochs_completed"] == 1


def test_ctrl_c_while_torch_loads_is_one_line(tiny_data, tmp_path):
    # The first second or two of every run imports torch; Ctrl-C then printed a traceback.
    # (SIGINT set back to its default for the child: a shell's background job, CI's say,
    # inherits it ignored, and Python then never raises KeyboardInterrupt.)
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), "siamese-contrastive",
                                "MNIST", "--data-dir", tiny_data, "--output", str(tmp_path / "out")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(0.3)   # Python is running train.py by now, and still importing
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr == "train.py: interrupted before training began; nothing was trained\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_torchs_import_lets_the_import_finish_then_stops(sent, tiny_data, tmp_path):
    # A KeyboardInterrupt raised inside a C extension's initialisation can turn into another error
    # (a RecursionError in numpy, an ImportError with a fatal error after it): the signal is sent
    # from inside the first `import torch`, and must wait until the imports are whole.
    code = f"""
import builtins, os, signal, sys
sys.path.insert(0, {ROOT!r})
signal.signal(signal.SIGINT, signal.default_int_handler)   # as in a terminal, also under CI
real_import, kills = builtins.__import__, []
def import_sending_a_signal(name, *args, **kwargs):
    if name == "torch" and not kills:
        kills.append(os.kill(os.getpid(), {int(sent)}))
    return real_import(name, *args, **kwargs)
builtins.__import__ = import_sending_a_signal
import train
code = train.main(["siamese-contrastive", "MNIST", "--data-dir", {str(tiny_data)!r},
                   "--output", {str(tmp_path / "out")!r}])
print(kills != [], hasattr(sys.modules.get("training.loop"), "run"))
sys.exit(code)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 128 + sent, result.stderr
    assert result.stdout == "True True\n"   # the signal came, and the imports ended whole
    assert result.stderr == "train.py: interrupted before training began; nothing was trained\n"
    assert not (tmp_path / "out").exists()


def test_signals_held_notes_the_first_signal_and_stops_on_the_second():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with signals_held() as received:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)   # the handler runs here, and only notes it
            assert received == [signal.SIGTERM]
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            pytest.fail("a second signal should have stopped the block")
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_second_signal_stops_at_once(monkeypatch):
    """Within an Interruption the first Ctrl-C is only noted; the second raises StopNow; leaving
    the block puts the earlier handlers back."""
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(StopNow) as stopped:
        with Interruption() as interruption:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)  # the handler runs between bytecodes of the main thread
            assert interruption.signal == signal.SIGINT
            with pytest.raises(Interrupted) as interrupted:
                interruption.check(epoch=4)
            assert interrupted.value.exit_code == 130 and interrupted.value.epoch == 4
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
            pytest.fail("the second signal did not stop the block")
    assert stopped.value.exit_code == 143
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_two_quick_signals_leave_no_partial_file(tiny_data, tmp_path):
    folder = tmp_path / "run"
    process = start(tiny_data, folder, "--animation", 1)
    wait_for_epoch(process, folder, 1)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)  # the run is writing its figures and GIF by now
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert leftovers(folder) == []
    read_metrics(folder)  # whole
    assert torch.load(folder / f"{PREFIX}model.pt", weights_only=True)["epoch"] >= 1


# A non-finite loss.

def test_a_run_diverging_in_its_first_epoch_says_where_and_leaves_an_earlier_runs_files_alone(
        tiny_data, tmp_path):
    # An earlier run's files in the folder: a run with no completed epoch must not replace any
    # of them (a record of its stop beside the earlier run's figures would mix two runs).
    earlier = {f"embedding-classification-MNIST-{name}": f"earlier run's {name}".encode()
               for name in ("metrics.json", "model.pt", "stats.png")}
    for name, content in earlier.items():
        (tmp_path / name).write_bytes(content)
    result = run_cli("embedding-classification", "MNIST", "--epochs", 2, "--batch-size", 16,
                     "--lr", 1e6, "--data-dir", tiny_data, "--output", tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "non-finite" in line and "epoch 1, batch 2" in line and "lower --lr" in line
    assert line.endswith("no epoch was completed, so there is nothing to plot or resume, and no file was written")
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == earlier


def test_a_loss_that_turns_nan_in_epoch_2_keeps_the_checkpoint_of_epoch_1(tiny_data, tmp_path,
                                                                           monkeypatch):
    calls = {"training": 0}
    triplet = EXPERIMENTS["triplet-loss-net"]
    per_epoch = len(triplet.make_sampler(torch.arange(120) % 10,
                                         Config("triplet-loss-net", "MNIST", batch_size=16)))

    def nan_from_epoch_2_batch_3(model, split, batch, config):
        loss = triplet.batch_loss(model, split, batch, config)
        if model.training:
            calls["training"] += 1
            if calls["training"] >= per_epoch + 3:
                return loss * float("nan")
        return loss
    monkeypatch.setitem(EXPERIMENTS, "triplet-loss-net",
                        dataclasses.replace(triplet, batch_loss=nan_from_epoch_2_batch_3))
    config = Config("triplet-loss-net", "MNIST", epochs=3, batch_size=16, data_dir=tiny_data,
                    output=str(tmp_path), animation=0)
    with pytest.raises(NonFiniteLossError, match="epoch 2, batch 3; try a lower --lr"):
        run(config, show_progress=False)
    state = torch.load(tmp_path / f"{PREFIX}model.pt", weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(value).all() for value in state["model"].values())
    document = read_metrics(tmp_path)
    assert document["epochs_completed"] == 1 and "epoch 2, batch 3" in document["failed"]
    assert set(document["files"]) == set(training.outputs.FILES)
    embeddings = np.load(tmp_path / f"{PREFIX}embeddings.npz")
    assert np.isfinite(embeddings["test_embeddings"]).all()
    assert leftovers(tmp_path) == []
    # Its learning rate was laid out over 3 epochs: it resumes with those, not another total.
    with pytest.raises(RunError, match="stopped after epoch 1 of 3; pass --epochs 3 to finish it"):
        run(dataclasses.replace(config, epochs=5, resume=str(tmp_path / f"{PREFIX}model.pt")))


# Going on after the last epoch: more epochs, a learning-rate cycle of their own.

def test_a_finished_run_given_more_epochs_trains_them_in_a_cycle_of_their_own(tiny_data, tmp_path,
                                                                              monkeypatch):
    config = Config("triplet-loss-net", "MNIST", epochs=1, batch_size=16, lr=0.01, seed=3,
                    data_dir=tiny_data, output=str(tmp_path / "first"))
    run(config, show_progress=False)
    checkpoint = str(tmp_path / "first" / f"{PREFIX}model.pt")
    schedules = []
    real_schedule = training.setup.one_cycle_schedule

    def noted(optimizer, *args, **kwargs):
        schedules.append((real_schedule(optimizer, *args, **kwargs), optimizer.param_groups[0]["lr"]))
        return schedules[-1][0]
    monkeypatch.setattr(training.setup, "one_cycle_schedule", noted)

    # Epochs 2 and 3 in one go ...
    whole = dataclasses.replace(config, epochs=3, resume=checkpoint, output=str(tmp_path / "whole"))
    run(whole, show_progress=False)
    schedule, first_rate = schedules[-1]
    # ... start from the bottom of a warm-up (peak / 25), not part-way down a 3-epoch cycle
    # (0.0075 at its second third), and the cycle spans exactly their steps.
    assert first_rate == pytest.approx(0.01 / 25)
    assert schedule.last_epoch == schedule.total_steps == 2 * len(
        EXPERIMENTS["triplet-loss-net"].make_sampler(torch.arange(120) % 10, config))
    assert torch.load(tmp_path / "whole" / f"{PREFIX}model.pt", weights_only=True)["cycle_start"] == 1

    # ... and stopped after epoch 2, then resumed: the same numbers, in the same cycle.
    real_score = training.loop.score

    def score_then_ctrl_c(*args):   # in epoch 2, this run's first
        monkeypatch.setattr(training.loop, "score", real_score)
        os.kill(os.getpid(), signal.SIGINT)
        return real_score(*args)
    stopped = dataclasses.replace(whole, output=str(tmp_path / "stopped"))
    monkeypatch.setattr(training.loop, "score", score_then_ctrl_c)
    with pytest.raises(Interrupted, match="after the last batch of epoch 2"):
        run(stopped, show_progress=False)
    run(dataclasses.replace(stopped, resume=str(tmp_path / "stopped" / f"{PREFIX}model.pt")),
        show_progress=False)
    assert without_timings(read_metrics(tmp_path / "stopped")) == without_timings(read_metrics(tmp_path / "whole"))


# A failure while writing.

def main_in_process(tiny_data, folder, seed, *options):
    return train_script.main(["triplet-loss-net", "MNIST", "--epochs", "1", "--batch-size", "16",
                              "--seed", str(seed), "--data-dir", tiny_data, "--output", str(folder),
                              "--animation", *options])


@pytest.mark.parametrize("failing", ["stats.png", "latent-space-development.gif"])
def test_a_file_that_cannot_be_written_keeps_its_earlier_version(failing, tiny_data, tmp_path,
                                                                 monkeypatch, capsys):
    assert main_in_process(tiny_data, tmp_path, 1) == 0
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    capsys.readouterr()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")
    if failing.endswith(".gif"):  # the encoder itself fails
        monkeypatch.setattr(training.outputs, "latent_space_gif", full_disk)
    else:  # the disk fills up while the file is written: write_atomically must clean up
        real_write = training.outputs.write_atomically

        def full_disk_for_one_file(path, data):
            with pytest.MonkeyPatch.context() as patch:
                if str(path).endswith(failing):
                    patch.setattr(os, "fsync", full_disk)
                return real_write(path, data)
        monkeypatch.setattr(training.outputs, "write_atomically", full_disk_for_one_file)
    code = main_in_process(tiny_data, tmp_path, 2)
    assert code == 1
    assert error_line(capsys) == (f"train.py: error: could not write {tmp_path / (PREFIX + failing)} (No space "
                      f"left on device); the other files were written, and none was left half-written")
    # The earlier run's file of that name went when this run's first epoch replaced that run: it
    # must not stand beside this run's files as if it were this run's.
    assert not (tmp_path / (PREFIX + failing)).exists()
    for name in ("embeddings.npz", "testing-set-embedding.png", "metrics.json"):
        assert (tmp_path / (PREFIX + name)).read_bytes() != before[PREFIX + name], name
    assert leftovers(tmp_path) == []
    assert read_metrics(tmp_path)["configuration"]["seed"] == 2
    assert failing not in "".join(read_metrics(tmp_path)["files"].values())


def test_a_checkpoint_that_cannot_be_written_stops_the_run_and_keeps_the_earlier_one(
        tiny_data, tmp_path, monkeypatch, capsys):
    assert main_in_process(tiny_data, tmp_path, 1) == 0
    checkpoint = tmp_path / f"{PREFIX}model.pt"
    before = checkpoint.read_bytes()
    real_write = training.checkpoint.write_atomically

    def full_disk(path, data):
        def fail(fd):
            raise OSError(28, "No space left on device")
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "fsync", fail)
            return real_write(path, data)
    monkeypatch.setattr(training.checkpoint, "write_atomically", full_disk)
    assert main_in_process(tiny_data, tmp_path, 2) == 1
    assert error_line(capsys) == (f"train.py: error: could not write {checkpoint} (No space left on "
                                  f"device); the run stopped, and earlier files of that name are "
                                  f"unchanged")
    assert checkpoint.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_folder_that_becomes_unwritable_names_the_file_and_how_to_resume(tiny_data, tmp_path, monkeypatch,
                                                                             capsys):
    """metrics.json of epoch 2 cannot be written (the folder made read-only after the checkpoint,
    simulated: as root permissions are not enforced): the line names metrics.json, not the
    temporary file, and the next line resumes from the checkpoint of epoch 2."""
    real_open = os.open
    writes = []

    def read_only_after_epoch_2s_checkpoint(file, flags, *args, **kwargs):
        if str(file).endswith(".partial"):
            writes.append(file)
            if len(writes) == 4:   # checkpoint, metrics.json, checkpoint, metrics.json
                raise PermissionError(errno.EPERM, "Operation not permitted", file)
        return real_open(file, flags, *args, **kwargs)
    monkeypatch.setattr(os, "open", read_only_after_epoch_2s_checkpoint)
    argv = ["triplet-loss-net", "MNIST", "--epochs", "3", "--batch-size", "16", "--data-dir", tiny_data,
            "--output", str(tmp_path)]
    assert train_script.main(argv) == 1
    error, command = capsys.readouterr().err.strip().splitlines()[-2:]
    assert error == (f"train.py: error: could not write {tmp_path / (PREFIX + 'metrics.json')} (Operation "
                     f"not permitted); the run stopped, and earlier files of that name are unchanged")
    checkpoint = tmp_path / f"{PREFIX}model.pt"
    assert command.startswith("resume with: python ") and command.endswith(f"--resume {checkpoint}")
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2
    assert [row["epoch"] for row in read_metrics(tmp_path)["epochs"]] == [1]
    assert leftovers(tmp_path) == []


# Out of memory.
# Out of memory.

@pytest.mark.parametrize("failure", ["out of memory", "full disk"])
def test_a_run_that_fails_before_writing_a_file_leaves_no_folder_of_its_own(failure, tiny_data, tmp_path,
                                                                            monkeypatch, capsys):
    if failure == "out of memory":   # in the first epoch
        def fail(*args, **kwargs):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        monkeypatch.setattr(training.loop, "train_epoch", fail)
    else:                            # the first checkpoint cannot be written
        def fail(path, data):
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(training.checkpoint, "write_atomically", fail)
    (tmp_path / "kept").mkdir()
    assert main_in_process(tiny_data, tmp_path / "kept" / "new" / "out", 0) == 1
    assert error_line(capsys).startswith("train.py: error: ")
    assert os.listdir(tmp_path / "kept") == []   # the folders the run made are gone, the one before it stays


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
                                   RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)")])
def test_out_of_memory_suggests_a_smaller_batch(error, tiny_data, tmp_path, monkeypatch, capsys):
    def exhausted(*args, **kwargs):
        raise error
    monkeypatch.setattr(training.loop, "train_epoch", exhausted)
    code = main_in_process(tiny_data, tmp_path, 0)
    assert code == 1
    # (no "or --device cpu": it is on the CPU already)
    assert error_line(capsys) == ("train.py: error: out of memory on cpu; try a smaller --batch-size (now 16; "
                      "for online-contrastive and online-triplet, fewer --classes-per-batch or "
                      "--images-per-class)")


def test_a_network_too_large_for_memory_is_one_line(tiny_data, tmp_path, monkeypatch, capsys):
    # As --latent-dims 100000000 does: a 51 GB linear layer.
    def exhausted(config, *shape):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                           "allocate memory: you tried to allocate 51200000000 bytes.")
    monkeypatch.setitem(EXPERIMENTS, "triplet-loss-net",
                        dataclasses.replace(EXPERIMENTS["triplet-loss-net"], make_model=exhausted))
    assert main_in_process(tiny_data, tmp_path, 0) == 1
    assert error_line(capsys) == ("train.py: error: out of memory on cpu; a network with --latent-dims 2 "
                                  "does not fit; try fewer")


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 180.00 MiB"),
                                   RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: "
                                                "can't allocate memory: you tried to allocate 188160000 bytes"),
                                   MemoryError()])
def test_out_of_memory_while_loading_the_data_is_one_line(error, tiny_data, tmp_path, monkeypatch, capsys):
    def exhausted(*args, **kwargs):
        raise error
    monkeypatch.setattr(training.setup, "load_dataset", exhausted)
    assert main_in_process(tiny_data, tmp_path, 0) == 1
    assert error_line(capsys) == ("train.py: error: out of memory on cpu; the data sets did not fit (they are "
                                  "held there whole, as bytes); free some memory, or try a smaller --image-size")


def test_an_unexpected_error_keeps_its_traceback(tiny_data, tmp_path, monkeypatch):
    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(training.loop, "train_epoch", bug)
    with pytest.raises(ZeroDivisionError):
        main_in_process(tiny_data, tmp_path, 0)


# Determinism.

def test_the_same_seed_gives_the_same_numbers_and_another_seed_does_not(tiny_data, tmp_path):
    runs = {}
    for name, seed in (("first", 5), ("again", 5), ("other", 6)):
        result = run_cli("triplet-loss-net", "MNIST", "--epochs", 1, *TINY, "--seed", seed,
                         "--data-dir", tiny_data, "--output", tmp_path / name)
        assert result.returncode == 0, result.stderr
        runs[name] = (without_timings(read_metrics(tmp_path / name)),
                      np.load(tmp_path / name / f"{PREFIX}embeddings.npz"))
    (first_rows, first), (again_rows, again), (other_rows, other) = runs.values()
    assert first_rows == again_rows
    for key in first.files:
        np.testing.assert_array_equal(first[key], again[key])
    assert other_rows != first_rows
    assert not np.array_equal(other["train_embeddings"], first["train_embeddings"])
