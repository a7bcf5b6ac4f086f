"""Ctrl-C (SIGINT) and SIGTERM during training: stop cleanly at the end of a batch.

Inside `with Interruption() as interruption:` the first signal only records itself in
`interruption.signal`; the loop looks at it once per batch and raises Interrupted, and the run
then writes its files for the epochs it completed. A second signal raises StopNow wherever
the program is: every file is written through a temporary name and a rename, so stopping at
once still leaves each file whole (the earlier version or the new one). Leaving the block
puts the handlers that were there before back.
"""

import contextlib
import signal
import threading

from .errors import RunError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(RunError):
    """The run stopped on a signal; exit code 128 + the signal's number (130, 143), as a shell
    reports a process killed by it."""

    label = "interrupted"

    def __init__(self, received, epoch, after_last_batch=False):
        when = "after the last batch of" if after_last_batch else "during"
        super().__init__(f"{received.name} received {when} epoch {epoch}")
        self.signal, self.epoch = received, epoch
        self.exit_code = 128 + received


class StopNow(KeyboardInterrupt):
    """A second signal: stop at once, without writing anything more."""

    def __init__(self, received):
        super().__init__(received.name)
        self.signal = received
        self.exit_code = 128 + received


class Interruption:
    """`world`: the processes training together (training/distributed.py); with several, a
    signal that any of them received stops all of them at the same batch."""

    def __init__(self, world=None):
        self.signal = None       # the first signal received, a signal.Signals
        self.world = world
        self._previous = {}

    def __enter__(self):
        # Python only lets the main thread install handlers; elsewhere (a test calling run()
        # from a thread) signals keep their usual effect.
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.signal(number, self._first) for number in SIGNALS}
        return self

    def __exit__(self, *exc):
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def check(self, epoch, after_last_batch=False):
        """Raise Interrupted if a signal came; called between batches, and once more after an
        epoch's evaluation and files (`after_last_batch`)."""
        received = self.signal if self.world is None else self.world.agreed_signal(self.signal)
        if received is not None:
            raise Interrupted(received, epoch, after_last_batch)

    def _first(self, number, frame):
        self.signal = signal.Signals(number)
        for other in SIGNALS:
            signal.signal(other, _stop_now)


@contextlib.contextmanager
def signals_held():
    """Inside the block SIGINT and SIGTERM only note themselves in the list it yields: the
    block (importing torch) ends whole, and the caller then stops. A KeyboardInterrupt raised
    inside a C extension's initialisation can break it in other ways (a RecursionError, an
    ImportError, a fatal error) that no `except KeyboardInterrupt` catches. A second signal
    raises KeyboardInterrupt at once: an import that hangs can still be stopped."""
    received = []

    def note(number, frame):
        if received:   # a second signal: stop now, as within an Interruption
            raise KeyboardInterrupt
        received.append(number)

    if threading.current_thread() is not threading.main_thread():   # handlers are the main thread's
        yield received
        return
    previous = {number: signal.signal(number, note) for number in SIGNALS}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stop_now(number, frame):
    raise StopNow(signal.Signals(number))
