"""Failures that end a run with one line of explanation instead of a traceback."""


class RunError(Exception):
    """A run that cannot go on; `exit_code` 2 for bad input, 1 for a failure while training."""

    exit_code = 2


class NonFiniteLossError(RunError):
    exit_code = 1

    def __init__(self, epoch, batch):
        super().__init__(f"the loss became non-finite (NaN or infinite) at epoch {epoch}, "
                         f"batch {batch}; try a lower --lr")
        self.epoch, self.batch = epoch, batch
