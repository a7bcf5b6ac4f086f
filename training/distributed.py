"""Several processes training one model, as `torchrun` starts them (docs/distributed.md).

`torchrun --nproc-per-node W train.py ...` starts W copies of train.py with RANK, LOCAL_RANK,
WORLD_SIZE, MASTER_ADDR and MASTER_PORT in their environment. `init` joins them in one process
group, gloo on the CPU or NCCL with the GPU cuda:LOCAL_RANK, and returns their World; without
torchrun (or with one process) it returns ALONE, whose methods are identities that touch no
process group, so a single process runs the code, and gets the numbers, it always did.

How a batch is shared. Every process draws the same batches: the sampler's generator and
torch's are seeded alike and advance alike, so the global batch (--batch-size, or P x K) is the
same everywhere, and each process trains its rows of it. N items are cut into W consecutive
parts of N // W or N // W + 1 rows, process 0's first. A loss that is a mean over items
(registry.mean_over_items) is computed by each process over its rows and weighed by its share
of the items, rows / N, so that the shares add up to the mean over the whole batch.
DistributedDataParallel averages the processes' gradients, so the loop backpropagates
share x W: the gradient is then the single-process mean's, up to the order of the sums,
whether or not W divides N (a process whose part of a small last batch is empty adds zero).
Weighing, rather than refusing such a batch, keeps every --batch-size for every W.

Online mining needs every embedding of the batch: `gather` collects them from every process
with their gradients (torch.distributed.nn.functional.all_gather, whose backward sums each
process's gradient back into the process that computed the embedding). Every process then
computes the same whole-batch loss, and its share is that loss / W (`divide`).

Random draws inside a loss (the vae's noise) are made for the whole batch from torch's
generator, the same in every process, and each process takes its rows.

Decisions taken together, so that every process stops at the same batch: `agreed_signal`
once a batch (did any process receive SIGINT or SIGTERM?), `sum` of the batch losses every
--log-interval batches (a non-finite loss anywhere is then non-finite everywhere, at the same
batch), and `agreement` once, at set-up (did any process fail?). The signal and set-up
questions go through a gloo group on the CPU, which on GPUs keeps the per-batch question from
waiting for the device. Process 0 alone evaluates, draws and writes files, without
collectives; the others wait for it at the next collective.

Failures. A process that dies closes its connections, and the others' next collective fails
at once; one that stalls is given up after SIAMESE_DISTRIBUTED_TIMEOUT seconds. Either way
the collective's error becomes a LostContactError: one line, and the process stops.
"""

import contextlib
import datetime
import os
import re
import signal
import warnings

import torch
import torch.distributed as dist

from .errors import ConfigError, NonFiniteLossError, RunError, first_line
from .interruption import Interrupted, StopNow

TIMEOUT_VARIABLE = "SIAMESE_DISTRIBUTED_TIMEOUT"
# Bounds how long a process waits for a stalled one. The others wait for process 0 while it
# evaluates each epoch and writes the run's files, so it must be longer than those take.
DEFAULT_TIMEOUT = 600   # seconds
TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


class LostContactError(RunError):
    """Another process died or stalled: a collective failed. Every process that sees it says
    so (process 0 may be the one that died); exit code 1."""

    exit_code = 1

    def __init__(self, world, error):
        reason = re.sub(r"^\[[^\]]*\] ", "", first_line(error, limit=1000)).split(". This is")[0]
        super().__init__(f"process {world.rank} of {world.size} lost contact with the others "
                         f"({reason[:120]}): another process stopped, or stalled for more than "
                         f"{world.timeout:g} s (${TIMEOUT_VARIABLE}); its own message or torchrun's "
                         f"report says which and why")


class World:
    """The processes training one model, seen from one of them (`rank` of `size`).

    ALONE (size 1) is a single process: every method is an identity and nothing
    communicates. Only `init` makes a World of several."""

    def __init__(self, rank: int = 0, size: int = 1, local_rank: int = 0, timeout: float = DEFAULT_TIMEOUT,
                 control=None):
        self.rank, self.size, self.local_rank, self.timeout = rank, size, local_rank, timeout
        self.control = control   # the gloo group of the decisions (None: the default group)

    @property
    def ddp(self) -> bool:
        """Whether several processes train (a process group, DistributedDataParallel)."""
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Process 0: the one that evaluates, draws, writes files and prints."""
        return self.rank == 0

    def __repr__(self):
        return f"World(rank={self.rank}, size={self.size})"

    # The global batch, shared.

    def bounds(self, items: int) -> tuple[int, int]:
        """(start, stop) of this process's rows of a batch of `items`."""
        return _bounds(items, self.rank, self.size)

    def rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """This process's rows of a whole batch's `tensor` (a view)."""
        if not self.ddp:
            return tensor
        start, stop = self.bounds(len(tensor))
        return tensor[start:stop]

    def weigh(self, loss: torch.Tensor, items: int) -> torch.Tensor:
        """This process's share of a batch of `items` whose loss is the mean over items, from
        `loss`, the mean over its own rows: loss x rows / items. A process without rows (a
        last batch smaller than the world) adds a zero that still reaches every parameter."""
        if not self.ddp:
            return loss
        start, stop = self.bounds(items)
        if stop == start:   # the mean of no items is NaN; its gradient is empty
            return loss.nan_to_num() * 0.0
        return loss * ((stop - start) / items)

    def divide(self, loss: torch.Tensor) -> torch.Tensor:
        """This process's share of a loss of the whole batch that every process computes alike."""
        return loss / self.size if self.ddp else loss

    def gather(self, tensor: torch.Tensor, items: int) -> torch.Tensor:
        """The whole batch's rows of `tensor`, from every process's rows (this one's is
        `tensor`), in batch order, with gradients: the gradient of each row goes back to the
        process that computed it. `items`: the whole batch's size."""
        if not self.ddp:
            return tensor
        from torch.distributed.nn.functional import all_gather   # autograd's; loaded where used
        counts = [stop - start for start, stop in (_bounds(items, rank, self.size) for rank in range(self.size))]
        # all_gather needs equal sizes: pad to the largest part, then cut the padding off.
        padding = tensor.new_zeros(max(counts) - len(tensor), *tensor.shape[1:])
        with self.contact(), warnings.catch_warnings():
            # Deprecated in recent torch for a function of the private _functional_collectives;
            # this one has the documented autograd and exists in every release the suite takes.
            warnings.simplefilter("ignore", FutureWarning)
            parts = all_gather(torch.cat([tensor, padding]))
        return torch.cat([part[:count] for part, count in zip(parts, counts)])

    # Decisions taken together.

    def agreed_signal(self, received):
        """The signal to stop on: `received` (this process's, or None) if any process received
        one, the same in every process; a collective, so every process must ask at the same
        batch."""
        if not self.ddp:
            return received
        number = torch.tensor([int(received or 0)])
        with self.contact():
            dist.all_reduce(number, op=dist.ReduceOp.MAX, group=self.control)
        return received or (signal.Signals(int(number)) if number else None)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """`tensor` summed over the processes, in place (on the device's group); returns it."""
        if self.ddp:
            with self.contact():
                dist.all_reduce(tensor)
        return tensor

    @contextlib.contextmanager
    def agreement(self):
        """Run the block in every process; if it raised a RunError in any of them, raise one in
        every process: its own, or the first failing process's, named. Process 0 says it
        (train.py: `announced_elsewhere`)."""
        failure = None
        try:
            yield
        except RunError as error:
            failure = error
        if self.ddp:
            reports = [None] * self.size
            report = None if failure is None else (type(failure).__name__, failure.exit_code, str(failure))
            with self.contact():
                dist.all_gather_object(reports, report, group=self.control)
            failed = [(rank, report) for rank, report in enumerate(reports) if report is not None]
            if failed and failure is None:
                rank, (_, exit_code, message) = failed[0]
                failure = RunError(f"process {rank} of {self.size}: {message}")
                failure.exit_code = exit_code
            if failure is not None:
                failure.agreed = True
        if failure is not None:
            raise failure

    def barrier(self) -> None:
        """Wait until every process is here."""
        if self.ddp:
            with self.contact():
                dist.barrier(group=self.control)

    @contextlib.contextmanager
    def contact(self):
        """Turn a failed collective inside the block (a process died or stalled) into a
        LostContactError. Outside DDP the block runs as it is."""
        try:
            yield
        except RuntimeError as error:
            if self.ddp and is_collective_failure(error):
                raise LostContactError(self, error) from None
            raise

    # The model.

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """`model` as the processes train it: DistributedDataParallel over the world (its
        parameters broadcast from process 0), which carries the world for the batch losses
        (`world_of`), or `model` itself for a single process."""
        if not self.ddp:
            return model
        device = next(model.parameters()).device
        # On a CPU the trunk runs channels-last (networks/layers.py), and the first conv of a
        # one-channel trunk gets its weight's gradient with a channel stride of 1 where the
        # weight has 25: the same memory, since a size-1 dimension's stride means nothing, but
        # DDP's reducer compares strides literally and would print a warning in the middle of
        # the first epoch. It copies that small gradient into its bucket instead; nothing else.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        with self.contact():
            wrapped = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        wrapped.world = self   # what the batch losses share the batch by: world_of(model)
        return wrapped

    def close(self) -> None:
        """Leave the process group (a World of one has none)."""
        if self.ddp and dist.is_initialized():
            dist.destroy_process_group()


ALONE = World()


def world_of(model: torch.nn.Module) -> World:
    """The World whose processes train `model` together (a model World.wrap returned), else
    ALONE: a batch loss given the DistributedDataParallel model shares its batch, one given the
    bare model (a single process, or process 0's evaluation) computes the whole batch's."""
    return getattr(model, "world", ALONE)


def _bounds(items, rank, size):
    base, extra = divmod(items, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def is_collective_failure(error: BaseException) -> bool:
    """Whether `error` comes from a collective that another process left: gloo's broken or
    timed-out connections, NCCL's errors, torch's DistError."""
    if isinstance(error, getattr(dist, "DistError", ())):
        return True
    text = str(error)
    return any(mark in text for mark in ("gloo/transport", "Connection reset", "Connection closed",
                                         "Timed out", "NCCL", "ProcessGroup"))


def launched_by_torchrun() -> bool:
    """Whether torchrun (or a launcher like it) started this process: RANK and WORLD_SIZE set."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def process_rank() -> int:
    """This process's RANK (0 without torchrun), readable before any process group exists."""
    try:
        return int(os.environ.get("RANK", 0))
    except ValueError:
        return 0


def announced_elsewhere(error: BaseException) -> bool:
    """Whether another process (process 0) prints `error` for this one: the failures the
    processes meet together, a signal, a non-finite loss, bad input and a failed set-up, are
    said once; a process's own failures (its device out of memory, a lost contact, too few
    GPUs on its machine) by itself."""
    if process_rank() == 0:
        return False
    return (isinstance(error, (Interrupted, StopNow, NonFiniteLossError, KeyboardInterrupt))
            or getattr(error, "agreed", False))


def refused(message: str) -> ConfigError:
    """Bad input that every process meets alike (the same command line and environment), so
    that process 0 alone says it."""
    error = ConfigError(message)
    error.agreed = True
    return error


def timeout_seconds() -> float:
    """SIAMESE_DISTRIBUTED_TIMEOUT, or DEFAULT_TIMEOUT; ConfigError when it is no positive number."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise refused(f"${TIMEOUT_VARIABLE} is '{text}'; give a positive number of seconds "
                      f"(default {DEFAULT_TIMEOUT})")
    return seconds


def init(device_option: str) -> World:
    """Join the process group torchrun set up for this process, and return its World.

    Without torchrun, or with a world of one, returns ALONE and starts nothing. On GPUs
    (--device auto with CUDA, or cuda) each process takes cuda:LOCAL_RANK and NCCL, plus a gloo
    group for the decisions; on the CPU every collective is gloo's. A --device naming one GPU
    (cuda:N) is refused: each process's GPU is its LOCAL_RANK's (choose the GPUs with
    CUDA_VISIBLE_DEVICES).
    """
    if not launched_by_torchrun():
        return ALONE
    missing = [name for name in TORCHRUN_VARIABLES if not os.environ.get(name)]
    if missing:
        raise refused(f"RANK and WORLD_SIZE are set, but not {', '.join(missing)}; start the run "
                      f"with torchrun (docs/distributed.md), or unset RANK and WORLD_SIZE")
    try:
        rank, size, local_rank = (int(os.environ[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise refused(f"RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers, not "
                      f"{os.environ['RANK']!r}, {os.environ['WORLD_SIZE']!r} and "
                      f"{os.environ['LOCAL_RANK']!r}; start the run with torchrun") from None
    timeout = timeout_seconds()
    if size == 1:
        return ALONE
    gpus = device_option.startswith("cuda") or (device_option == "auto" and torch.cuda.is_available())
    if gpus:
        if device_option not in ("auto", "cuda"):
            raise refused(f"--device {device_option}: under torchrun each process uses the GPU of its "
                          f"LOCAL_RANK; pass --device cuda (or auto) and choose the GPUs with "
                          f"CUDA_VISIBLE_DEVICES")
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: CUDA is not available on this machine; use --device cpu")
        if local_rank >= torch.cuda.device_count():   # said by each process that meets it
            raise ConfigError(f"process {rank} has LOCAL_RANK {local_rank}, but this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s): start at most that many "
                              f"processes per machine (--nproc-per-node), or pass --device cpu")
        torch.cuda.set_device(local_rank)
    wait = datetime.timedelta(seconds=timeout)
    world = World(rank, size, local_rank, timeout)
    with world.contact():
        try:
            if gpus:
                dist.init_process_group("nccl", timeout=wait, device_id=torch.device("cuda", local_rank))
                world.control = dist.new_group(backend="gloo", timeout=wait)
            else:
                dist.init_process_group("gloo", timeout=wait)
        except ValueError as error:   # a malformed MASTER_ADDR/PORT or RANK
            raise ConfigError(f"could not join the other processes: {first_line(error)}") from None
    return world
