"""Several processes training one model (training/distributed.py, docs/distributed.md).

Whole runs are launched as a user launches them, `python -m torch.distributed.run
--nproc-per-node 2 train.py ...` (torchrun), on the tiny IDX data, with gloo on the CPU and one
thread per process. What needs a look inside the processes (a loss's share of a batch, the
decisions they take together) runs in two processes started with torch.multiprocessing and the
environment torchrun would give them. Every test that starts processes is marked slow (each
process loads torch); the fast loop keeps the checks of a batch's cut and of torchrun's
environment.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from conftest import REAL_DATA_VARIABLE, ROOT
from training.registry import EXPERIMENTS

EPOCHS = 12            # tiny epochs: a signal sent after the second lands before the last
VAE = ("vae", "MNIST", "--batch-size", 13, "--lr", 0.001, "--seed", 4)   # 120 items: 9 x 13 + 3
PREFIX = "vae-MNIST-"
TIMINGS = ("train_seconds", "evaluation_seconds", "seconds", "samples_per_second")
TOLERANCE = 1e-4


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(**extra):
    env = {key: value for key, value in os.environ.items()
           if key != REAL_DATA_VARIABLE and key not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")}
    env.update(OMP_NUM_THREADS="1", **extra)
    return env


def train_command(*args, processes=1, logs=None):
    """train.py's command line, through torchrun for more than one process (`logs`: a folder
    for each process's stdout and stderr, instead of the terminal's)."""
    script = [os.path.join(ROOT, "train.py"), *map(str, args)]
    if processes == 1:
        return [sys.executable, *script]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
                "--master-port", str(free_port())]
    if logs is not None:
        launcher += ["--log-dir", str(logs), "--redirects", "3"]
    return [*launcher, *script]


def train(*args, processes=1, logs=None, timeout=300):
    return subprocess.run(train_command(*args, processes=processes, logs=logs), cwd=ROOT, env=environment(),
                          capture_output=True, text=True, timeout=timeout)


def start(*args, processes=1, logs=None):
    # (SIGINT back to its default: a shell's background job, CI's say, would pass it on ignored.)
    return subprocess.Popen(train_command(*args, processes=processes, logs=logs), cwd=ROOT, env=environment(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def process_log(logs, rank, stream="stderr"):
    """What process `rank` of a torchrun started with `logs` wrote to `stream`."""
    (path,) = logs.glob(f"*/attempt_0/{rank}/{stream}.log")
    return path.read_text()


def metrics(folder):
    return json.loads((folder / f"{PREFIX}metrics.json").read_text())


def wait_for_epoch(process, folder, epoch, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        try:
            if metrics(folder)["epochs_completed"] >= epoch:
                return
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"no epoch {epoch} within {timeout} s")


def assert_same_run(folder, reference):
    """Same epochs (up to float summation order) and the same final embeddings within 1e-4."""
    rows, expected = metrics(folder)["epochs"], metrics(reference)["epochs"]
    assert [row["epoch"] for row in rows] == [row["epoch"] for row in expected]
    for row, want in zip(rows, expected):
        for key, value in want.items():
            if key not in TIMINGS and isinstance(value, float):
                assert row[key] == pytest.approx(value, rel=TOLERANCE, abs=TOLERANCE), (row["epoch"], key)
    ours, theirs = (np.load(where / f"{PREFIX}embeddings.npz") for where in (folder, reference))
    for key in ("train_embeddings", "test_embeddings"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(ours["test_labels"], theirs["test_labels"])


def _in_process(rank, size, port, queue, function, args):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(size), LOCAL_WORLD_SIZE=str(size),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.environ.pop(REAL_DATA_VARIABLE, None)
    torch.set_num_threads(1)
    try:
        queue.put((rank, function(*args)))
    except BaseException as error:   # reported to the test, which fails on it
        queue.put((rank, error))


def in_processes(function, *args, size=2, timeout=240):
    """function(*args) in `size` processes with torchrun's environment; their results by rank
    (an exception a process raised is its result; a process that vanished has none)."""
    context = torch.multiprocessing.get_context("spawn")
    queue = context.SimpleQueue()
    port = free_port()
    processes = [context.Process(target=_in_process, args=(rank, size, port, queue, function, args))
                 for rank in range(size)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout)
        if process.is_alive():
            process.kill()
    results = {}
    while not queue.empty():
        rank, result = queue.get()
        results[rank] = result
    return results


# The batch shared out.

def test_a_batch_is_cut_into_consecutive_parts_that_differ_by_at_most_one_row():
    from training.distributed import ALONE, World
    assert [World(rank, 2).bounds(7) for rank in range(2)] == [(0, 4), (4, 7)]
    assert [World(rank, 3).bounds(7) for rank in range(3)] == [(0, 3), (3, 5), (5, 7)]
    assert [World(rank, 2).bounds(1) for rank in range(2)] == [(0, 1), (1, 1)]   # process 1: no rows
    rows = torch.arange(10) * 10
    assert torch.equal(World(1, 3).rows(rows), torch.tensor([40, 50, 60]))
    loss = torch.tensor(2.0)
    assert ALONE.rows(rows) is rows and ALONE.weigh(loss, 10) is loss and ALONE.gather(rows, 10) is rows


def _shares_and_decisions(tiny_data):
    """In each of two processes: for every experiment, its share of a batch's loss, the shares'
    sum and the gradient DistributedDataParallel leaves, next to one process's loss and gradient
    of the whole batch; then the decisions the processes take together; then process 1 leaves."""
    from training import distributed
    from training.config import Config
    from training.errors import ConfigError, RunError
    from training.registry import EXPERIMENTS
    from training.setup import set_up
    world = distributed.init("cpu")
    seen = {}
    for name, experiment in EXPERIMENTS.items():
        config = Config(name, "MNIST", batch_size=7, lr=1e-3, classes_per_batch=3, images_per_class=3,
                        data_dir=tiny_data, output="unused")
        alone, shared = set_up(config), set_up(config, world)
        batch = alone.sampler.epoch(torch.Generator().manual_seed(5))[0]   # 7 items: 4 + 3; or 3 x 3: 5 + 4
        sizes = [len(batch[0])] + ([1] if "batch_size" in experiment.settings else [])   # 1: 1 + 0
        for size in sizes:
            batch = [column[:size] for column in batch]
            torch.manual_seed(size)   # the vae's noise: the same draws for both
            whole = experiment.batch_loss(alone.model, alone.train, batch, config)
            whole.backward()
            torch.manual_seed(size)
            share = experiment.batch_loss(shared.training_model, shared.train, batch, config)
            (share * world.size).backward()
            total = world.sum(share.detach().clone())
            gradient = max((mine.grad - theirs.grad).abs().max().item()
                           for mine, theirs in zip(shared.model.parameters(), alone.model.parameters()))
            scale = max(theirs.grad.abs().max().item() for theirs in alone.model.parameters())
            seen[name, size] = (share.item(), total.item(), whole.item(), gradient, scale)
    seen["signal"] = world.agreed_signal(signal.SIGTERM if world.rank == 1 else None)
    seen["no signal"] = world.agreed_signal(None)
    try:
        with world.agreement():
            if world.rank == 1:
                raise ConfigError("no data in this machine's --data-dir")
    except RunError as error:
        seen["set-up"] = (type(error).__name__, str(error), error.exit_code, getattr(error, "agreed", False))
    with world.agreement():
        pass   # no failure: nothing raised anywhere
    if world.rank == 1:
        os._exit(0)   # gone, without a word
    started = time.monotonic()
    try:
        world.barrier()
    except distributed.LostContactError as error:
        seen["lost"] = (str(error), time.monotonic() - started)
    world.close()
    return seen


@pytest.mark.slow
def test_two_processes_share_every_batch_loss_exactly_and_take_their_decisions_together(tiny_data):
    results = in_processes(_shares_and_decisions, tiny_data)
    assert list(results) == [0], results   # process 1 left without a word
    found = results[0]
    assert not isinstance(found, BaseException), found
    losses = {key: value for key, value in found.items() if isinstance(key, tuple)}
    assert {name for name, _ in losses} == set(EXPERIMENTS)
    for (name, size), (share, total, whole, gradient, scale) in losses.items():
        # The shares add up to the single-process loss of the whole batch, and the gradient
        # DDP leaves is the single-process one, up to the order of the sums.
        assert total == pytest.approx(whole, rel=1e-5, abs=1e-6), (name, size)
        assert gradient <= 1e-5 * max(scale, 1.0), (name, size, gradient, scale)
        if name.startswith("online"):   # both mine the whole batch, gathered: equal shares
            assert share == pytest.approx(whole / 2, rel=1e-5), name
        elif size == 1:                 # process 0 has the one item, process 1 none
            assert share == pytest.approx(whole), name
        else:                           # process 0's 4 of 7 rows: a share of its own
            assert share != pytest.approx(whole / 2, rel=1e-3), name
    assert found["signal"] == signal.SIGTERM and found["no signal"] is None   # process 1 had it
    assert found["set-up"] == ("RunError", "process 1 of 2: no data in this machine's --data-dir", 2, True)
    message, waited = found["lost"]
    assert message.startswith("process 0 of 2 lost contact with the others (") and waited < 60


def _loading_times(tiny_data):
    """In each of two processes: set a run up, its data loading slowed down in process 0; when
    this process began and ended loading."""
    from training import distributed, setup
    from training.config import Config
    world, times, load = distributed.init("cpu"), [], setup.load_dataset

    def slow_in_process_0(*args, **kwargs):
        times.append(time.time())
        time.sleep(1.0 if world.rank == 0 else 0.0)
        data = load(*args, **kwargs)
        times.append(time.time())
        return data
    setup.load_dataset = slow_in_process_0
    setup.set_up(Config("online-contrastive", "MNIST", data_dir=tiny_data, output="unused"), world)
    world.close()
    return times


@pytest.mark.slow
def test_process_0_loads_the_data_before_the_others_so_a_download_happens_once(tiny_data):
    # Two processes downloading into one folder at once left an empty folder behind when the
    # download failed: each removed only the folders it had made itself.
    results = in_processes(_loading_times, tiny_data)
    assert not any(isinstance(result, BaseException) for result in results.values()), results
    (began_0, ended_0), (began_1, _) = results[0], results[1]
    assert began_1 >= ended_0 > began_0 + 0.9


def test_the_environment_torchrun_sets_is_checked_before_anything_starts(monkeypatch):
    from training import distributed
    from training.errors import ConfigError
    assert distributed.init("cpu") is distributed.ALONE   # without torchrun: no process group
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="not LOCAL_RANK, MASTER_ADDR, MASTER_PORT; start the run with torchrun"):
        distributed.init("cpu")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    with pytest.raises(ConfigError, match="under torchrun each process uses the GPU of its LOCAL_RANK"):
        distributed.init("cuda:1")
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, "soon")
    with pytest.raises(ConfigError, match="SIAMESE_DISTRIBUTED_TIMEOUT is 'soon'; give a positive number"):
        distributed.init("cpu")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.delenv(distributed.TIMEOUT_VARIABLE)
    assert distributed.init("cpu") is distributed.ALONE   # torchrun with one process: one process


# Whole runs through torchrun.

@pytest.fixture(scope="module")
def one_process(tiny_data, tmp_path_factory):
    """The single-process run the others are compared with."""
    folder = tmp_path_factory.mktemp("one")
    result = train(*VAE, "--epochs", EPOCHS, "--data-dir", tiny_data, "--output", folder)
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.slow
def test_two_processes_train_the_model_one_process_trains(one_process, tiny_data, tmp_path):
    # 13 a batch: 7 + 6 rows, and the last batch of each epoch (3 items) 2 + 1.
    result = train(*VAE, "--epochs", EPOCHS, "--data-dir", tiny_data, "--output", tmp_path, processes=2)
    assert result.returncode == 0, result.stderr
    assert_same_run(tmp_path, one_process)
    assert metrics(tmp_path)["environment"]["world_size"] == 2
    assert metrics(one_process)["environment"]["world_size"] == 1
    # Process 0 alone printed: one summary, the files once.
    assert result.stdout.count("wrote:") == 1 and result.stdout.count(f"{PREFIX}stats.png") == 1


@pytest.mark.slow
def test_a_metric_loss_trains_the_same_space_up_to_where_it_sits(tiny_data, tmp_path):
    """triplet-loss-net's loss sees only differences of embeddings: the last layer's bias gets
    a zero gradient, which rounding makes +-1e-8, and Adam turns that noise into steps of
    --lr. The space is the same; where it sits drifts, in one process as in two. With --shift,
    every process draws the same moves of the same images."""
    runs = {}
    for processes in (1, 2):
        folder = tmp_path / str(processes)
        result = train("triplet-loss-net", "MNIST", "--batch-size", 13, "--lr", 0.001, "--epochs", 2, "--shift", 2,
                       "--data-dir", tiny_data, "--output", folder, processes=processes)
        assert result.returncode == 0, result.stderr
        runs[processes] = np.load(folder / "triplet-loss-net-MNIST-embeddings.npz")["test_embeddings"]
    centred = {processes: points - points.mean(axis=0) for processes, points in runs.items()}
    np.testing.assert_allclose(centred[2], centred[1], rtol=0, atol=TOLERANCE)


@pytest.mark.slow
def test_ctrl_c_to_torchrun_stops_both_processes_with_one_line_and_one_process_resumes(one_process, tiny_data,
                                                                                     tmp_path):
    logs = tmp_path / "logs"
    folder = tmp_path / "run"
    process = start(*VAE, "--epochs", EPOCHS, "--data-dir", tiny_data, "--output", folder, processes=2, logs=logs)
    wait_for_epoch(process, folder, 2)
    process.send_signal(signal.SIGINT)   # to torchrun, which sends it on to both processes
    _, launcher = process.communicate(timeout=120)
    assert process.returncode == 1 and "SignalException" in launcher   # torchrun's own code and report
    assert "Traceback" not in process_log(logs, 0) + process_log(logs, 1)
    lines = process_log(logs, 0).strip().splitlines()
    assert process_log(logs, 1) == ""       # process 0 speaks for both
    document = metrics(folder)
    done = document["epochs_completed"]
    assert 2 <= done < EPOCHS and document["interrupted"] == "SIGINT"
    assert len(lines) == 2 and lines[0].startswith("train.py: interrupted: SIGINT received")
    assert f"show epoch {done}, the last completed" in lines[0]
    assert lines[1].startswith("resume with: torchrun --nproc-per-node 2 ")
    assert torch.load(folder / f"{PREFIX}model.pt", weights_only=True)["epoch"] == done
    assert (folder / f"{PREFIX}embeddings.npz").exists()

    result = train(*VAE, "--epochs", EPOCHS, "--data-dir", tiny_data, "--output", folder,
                   "--resume", folder / f"{PREFIX}model.pt")
    assert result.returncode == 0, result.stderr
    assert_same_run(folder, one_process)
    assert metrics(folder)["environment"]["world_size"] == 1


@pytest.mark.slow
def test_a_single_process_run_interrupted_resumes_in_two(one_process, tiny_data, tmp_path):
    process = start(*VAE, "--epochs", EPOCHS, "--data-dir", tiny_data, "--output", tmp_path)
    wait_for_epoch(process, tmp_path, 1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "resume with: python " in stderr
    result = train(*VAE, "--epochs", EPOCHS, "--data-dir", tiny_data, "--output", tmp_path,
                   "--resume", tmp_path / f"{PREFIX}model.pt", processes=2)
    assert result.returncode == 0, result.stderr
    assert_same_run(tmp_path, one_process)
    assert metrics(tmp_path)["environment"]["world_size"] == 2


# Failures.

def _fault_in_process_1_at_epoch_2_batch_3(fault, tiny_data, output):
    """Train triplet-loss-net in this process (one of two) with `fault` coming to process 1
    alone during epoch 2, batch 3: a NaN loss, or a SIGTERM. Returns (the error the run raised,
    its exit code, the batches this process trained)."""
    import dataclasses
    from training import distributed
    from training.config import Config
    from training.errors import RunError
    from training.loop import run
    from training.registry import EXPERIMENTS
    triplet = EXPERIMENTS["triplet-loss-net"]
    trained = {"batches": 0}
    per_epoch = 15   # 240 triplets (two per training image) in batches of 16

    def faulty(model, split, batch, config):
        loss = triplet.batch_loss(model, split, batch, config)
        if model.training:
            trained["batches"] += 1
            if distributed.world_of(model).rank == 1 and trained["batches"] == per_epoch + 3:
                if fault == "signal":
                    os.kill(os.getpid(), signal.SIGTERM)   # noted; the batch goes on
                else:
                    return loss * float("nan")
        return loss
    EXPERIMENTS["triplet-loss-net"] = dataclasses.replace(triplet, batch_loss=faulty)
    config = Config("triplet-loss-net", "MNIST", epochs=3, batch_size=16, log_interval=1,
                    data_dir=tiny_data, output=output)
    try:
        run(config, show_progress=False)
    except RunError as error:
        return str(error), error.exit_code, trained["batches"]
    return "no error", 0, trained["batches"]


@pytest.mark.slow
@pytest.mark.parametrize("fault,message,exit_code", [
    ("nan", "the loss became non-finite (NaN or infinite) at epoch 2, batch 3; try a lower --lr", 1),
    ("signal", "SIGTERM received during epoch 2", 143)])
def test_a_fault_in_one_process_stops_both_at_the_same_batch_with_the_last_epochs_files(
        fault, message, exit_code, tiny_data, tmp_path):
    results = in_processes(_fault_in_process_1_at_epoch_2_batch_3, fault, tiny_data, str(tmp_path))
    # Both stop after batch 3 of epoch 2 (15 batches an epoch), with the single-process message.
    assert results[0] == results[1] == (message, exit_code, 15 + 3), results
    state = torch.load(tmp_path / "triplet-loss-net-MNIST-model.pt", weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(value).all() for value in state["model"].values())
    document = json.loads((tmp_path / "triplet-loss-net-MNIST-metrics.json").read_text())
    assert document["epochs_completed"] == 1
    assert document["interrupted" if fault == "signal" else "failed"] in ("SIGTERM", message)
    assert (tmp_path / "triplet-loss-net-MNIST-embeddings.npz").exists()   # process 0 wrote epoch 1's


def worker_pids(launcher_pid):
    """{RANK: pid} of the processes a torchrun started."""
    with open(f"/proc/{launcher_pid}/task/{launcher_pid}/children") as f:
        children = [int(pid) for pid in f.read().split()]
    ranks = {}
    for pid in children:
        with open(f"/proc/{pid}/environ", "rb") as f:
            variables = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        ranks[int(variables[b"RANK"])] = pid
    return ranks


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds torchrun's processes in /proc")
def test_a_killed_process_makes_the_other_stop_with_one_line_and_its_last_epochs_files(tiny_data, tmp_path):
    logs, folder = tmp_path / "logs", tmp_path / "run"
    process = start(*VAE, "--epochs", 40, "--data-dir", tiny_data, "--output", folder, processes=2, logs=logs)
    wait_for_epoch(process, folder, 1)
    os.kill(worker_pids(process.pid)[1], signal.SIGKILL)
    killed = time.monotonic()
    _, launcher = process.communicate(timeout=120)
    assert time.monotonic() - killed < 60   # in practice a second or two: the connection drops
    assert process.returncode == 1
    assert "rank      : 1 (local_rank: 1)" in launcher and "SIGKILL" in launcher   # torchrun's report
    lines = process_log(logs, 0).strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in process_log(logs, 0), process_log(logs, 0)
    assert lines[0].startswith("train.py: error: process 0 of 2 lost contact with the others (")
    document = metrics(folder)
    done = document["epochs_completed"]
    assert done >= 1 and "lost contact" in document["failed"]
    assert f"show epoch {done}, the last completed" in lines[0]
    assert (folder / f"{PREFIX}embeddings.npz").exists()


@pytest.mark.slow
def test_a_stalled_process_is_given_up_after_the_timeout(tiny_data, tmp_path):
    """Without torchrun watching (which stops the others when a process dies), a process that
    stalls in a collective is waited for SIAMESE_DISTRIBUTED_TIMEOUT seconds, no longer."""
    port, processes = free_port(), []
    for rank in (0, 1):
        env = environment(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(port), SIAMESE_DISTRIBUTED_TIMEOUT="5")
        processes.append(subprocess.Popen(train_command(*VAE, "--epochs", 40, "--data-dir", tiny_data,
                                                        "--output", tmp_path), cwd=ROOT, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        wait_for_epoch(processes[0], tmp_path, 1)
        processes[1].send_signal(signal.SIGSTOP)
        stalled = time.monotonic()
        _, stderr = processes[0].communicate(timeout=120)
        assert 4 < time.monotonic() - stalled < 60
        assert processes[0].returncode == 1
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in stderr, stderr
        assert "lost contact with the others (Timed out" in lines[0] and "more than 5 s" in lines[0]
    finally:
        processes[1].kill()
        processes[1].communicate()
