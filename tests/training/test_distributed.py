"""Several processes training one model (training/distributed.py, docs/distributed.md).

Whole runs are launched as a user launches them, `python -m torch.distributed.run
--nproc-per-node 2 train.py ...` (torchrun), on the tiny IDX data, with gloo on the CPU and one
thread per process. What needs a look inside the processes (a loss's share of a batch, the
decisions they take together) runs in two processes started with torch.multiprocessing and the
environment torchrun would give them.
"""

import os
import signal
import socket
import time

import pytest
import torch

from conftest import REAL_DATA_VARIABLE


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def _shares_and_decisions():
    """In each of two processes: a toy network's loss and gradient of a batch, shared out, against
    one process's of the whole batch; the decisions taken together; a lost process."""
    from losses import online_triplet_loss
    from training import distributed
    from training.errors import ConfigError, RunError
    world = distributed.init("cpu")
    seen = {}
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.PReLU(), torch.nn.Linear(8, 3))
    images, labels = torch.randn(7, 4), torch.tensor([0, 0, 1, 1, 2, 2, 0])
    cases = {"online, 4 + 3 rows": (lambda model, n: online_triplet_loss(model(images[:n]), labels[:n]),
                                    lambda model, n: world.divide(online_triplet_loss(
                                        world.gather(model(world.rows(images[:n])), n), labels[:n])), 7),
             "mean, 4 + 3 rows": (lambda model, n: torch.nn.functional.cross_entropy(model(images[:n]), labels[:n]),
                                  lambda model, n: world.weigh(torch.nn.functional.cross_entropy(
                                      model(world.rows(images[:n])), world.rows(labels[:n])), n), 7)}
    cases["mean, 1 + 0 rows"] = (*cases["mean, 4 + 3 rows"][:2], 1)
    shared = world.wrap(network)
    for name, (whole_loss, share_loss, items) in cases.items():
        whole = whole_loss(network, items)
        whole.backward()
        expected = [parameter.grad.clone() for parameter in network.parameters()]
        network.zero_grad()
        share = share_loss(shared, items)
        (share * world.size).backward()
        total = world.sum(share.detach().clone())
        seen[name] = (share.item(), total.item(), whole.item(),
                      max((parameter.grad - want).abs().max().item()
                          for parameter, want in zip(network.parameters(), expected)))
        network.zero_grad()
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


def test_shares_of_a_batch_add_up_to_its_loss_and_gradient_and_decisions_are_taken_together():
    results = in_processes(_shares_and_decisions)
    assert list(results) == [0], results   # process 1 left without a word
    assert not isinstance(results[0], BaseException), results[0]
    first = results[0]
    for name in ("online, 4 + 3 rows", "mean, 4 + 3 rows", "mean, 1 + 0 rows"):
        share, total, whole, gradient = first[name]
        assert total == pytest.approx(whole, rel=1e-6), name
        assert gradient < 1e-6, name
        if name.startswith("online"):   # both mine the whole batch, gathered: equal shares
            assert share == pytest.approx(whole / 2, rel=1e-6)
        elif name == "mean, 1 + 0 rows":   # process 0 has the one row and the whole loss
            assert share == pytest.approx(whole)
        else:                              # its 4 rows' mean, weighed 4/7
            assert share != pytest.approx(whole / 2, rel=1e-3)
    assert first["signal"] == signal.SIGTERM and first["no signal"] is None   # process 1 had it
    assert first["set-up"] == ("RunError", "process 1 of 2: no data in this machine's --data-dir", 2, True)
    message, waited = first["lost"]
    assert message.startswith("process 0 of 2 lost contact with the others (") and waited < 60
