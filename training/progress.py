"""What a run shows while it trains: one line at the start, one per epoch that stays on
screen, warnings, and a progress bar over the batches that only a terminal gets (a log
redirected to a file is not flooded with its redraws)."""

import os
import sys

from tqdm import tqdm


class Progress:
    """A tqdm bar over every batch of the run, with the latest loss and the latest 5-NN
    accuracy (labelled with the epoch it belongs to) beside it. `enabled` None: the bar is
    shown when standard error is a terminal."""

    def __init__(self, total: int, enabled: bool | None = None, lines: bool = True):
        self.lines = lines   # False: no log lines either (torchrun's processes other than 0)
        self.reader_gone = False   # the log's reader went away: the run stops after its epoch
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = tqdm(total=total, disable=not enabled, unit="batch", dynamic_ncols=True, leave=False)
        self.values = {}
        self.epoch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def update(self) -> None:
        self.bar.update()

    def line(self, message: str) -> None:
        """A line of the log, above the bar (printed with or without the bar)."""
        if not self.lines:
            return
        try:
            tqdm.write(message, file=sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:   # `| head`, or a `| tee` stopped: no file failed
            stdout_closed()
            self.lines, self.reader_gone = False, True

    def show_loss(self, loss: float) -> None:
        self.values["epoch"] = self.epoch
        self.values["loss"] = f"{loss:.4f}"
        self.bar.set_postfix(self.values, refresh=False)

    def show_score(self, epoch: int, knn_accuracy: float) -> None:
        self.values.pop("knn", None)
        self.values[f"5-NN after epoch {epoch}"] = f"{knn_accuracy:.4f}"
        self.values = {key: value for key, value in self.values.items()
                       if not key.startswith("5-NN") or key.endswith(f" {epoch}")}
        self.bar.set_postfix(self.values, refresh=False)


def stdout_closed() -> int:
    """Point standard output at os.devnull once its reader went away (`train.py ... | head -1`),
    so that no later line, nor Python's own flush at exit, fails again; returns 1, the exit
    status Python's documentation of SIGPIPE recommends for a command that stops there."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1
