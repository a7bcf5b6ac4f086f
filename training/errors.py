"""Failures that end a run with one line of explanation instead of a traceback."""

import contextlib

import torch


class RunError(Exception):
    """A run that cannot go on; `exit_code` 2 for bad input, 1 for a failure while training.

    train.py prints it as `train.py: <label>: <message>`."""

    exit_code = 2
    label = "error"


class NonFiniteLossError(RunError):
    exit_code = 1

    def __init__(self, epoch, batch):
        super().__init__(f"the loss became non-finite (NaN or infinite) at epoch {epoch}, "
                         f"batch {batch}; try a lower --lr")
        self.epoch, self.batch = epoch, batch


class WriteError(RunError):
    """Files that could not be written (a full disk, say); the others were written."""

    exit_code = 1

    def __init__(self, failures):
        super().__init__("could not write " + ", ".join(failures) + "; the other files were "
                         "written, and earlier files of those names are unchanged")
        self.failures = failures


class OutOfMemoryError(RunError):
    exit_code = 1

    def __init__(self, device, batch_size):
        super().__init__(f"out of memory on {device}; try a smaller --batch-size (now "
                         f"{batch_size}; for online-contrastive and online-triplet, fewer "
                         f"--classes-per-batch or --images-per-class), or --device cpu")


@contextlib.contextmanager
def out_of_memory_explained(device, batch_size):
    """Turn the device running out of memory inside the block into an OutOfMemoryError."""
    try:
        yield
    except RuntimeError as error:  # torch.OutOfMemoryError is one; some back ends only say so
        if isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower():
            raise OutOfMemoryError(device, batch_size) from None
        raise
