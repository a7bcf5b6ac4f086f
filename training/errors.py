"""Failures that end a run with one line of explanation instead of a traceback."""

import contextlib


def first_line(error, limit=120):
    """What an exception says, in one line of at most `limit` characters (its type's name when
    it says nothing; terminal colour codes removed), for a one-line error message that quotes a
    library's reason."""
    import re
    lines = re.sub(r"\x1b\[[0-9;]*m|\[[0-9;]*m", "", str(error)).strip().splitlines()
    line = lines[0] if lines else type(error).__name__
    return line if len(line) <= limit else line[:limit - 3].rsplit(" ", 1)[0] + " ..."


def unreadable_checkpoint(path, error):
    """Why `path` could not be read as a checkpoint, in a few words of our own: torch's messages
    run over several lines and talk about its own defaults."""
    import os
    if os.path.isdir(path):
        return "it is a folder, not a file"
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":   # torch.save writes a zip archive
                return "not a torch file"
    except OSError:
        pass
    text = str(error)
    if "zip archive" in text or "PytorchStreamReader" in text:
        return "not a torch file, or a truncated one"
    if "Weights only load failed" in text or "weights_only" in text:
        return "it holds Python objects that a checkpoint of this program never holds"
    return first_line(error)


def run_command(program: str, work) -> int:
    """Run `work()` for the command `program` (embed.py, search.py): its exit code, 0 when it
    went through; a known failure is one line on stderr, as train.py prints them."""
    import sys

    from .interruption import signals_held
    with signals_held() as received:   # the slow imports end whole (see signals_held)
        import torch  # noqa: F401
    if received:
        print(f"{program}: interrupted before it began; nothing was written", file=sys.stderr)
        return 128 + received[0]
    try:
        work()
    except RunError as error:
        print(f"{program}: {error.label}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{program}: interrupted; every file written is whole", file=sys.stderr)
        return 130
    except BrokenPipeError:   # the reader of its output went away (| head): no file failed
        from .progress import stdout_closed
        return stdout_closed()
    except OSError as error:   # a full disk, say
        if error.errno is None:
            raise
        print(f"{program}: error: could not write {error.filename or 'a file'} ({error.strerror})",
              file=sys.stderr)
        return 1
    return 0


class RunError(Exception):
    """A run that cannot go on; `exit_code` 2 for bad input, 1 for a failure while training.

    train.py prints it as `train.py: <label>: <message>`."""

    exit_code = 2
    label = "error"


class ConfigError(RunError):
    """Bad input (a value no run accepts, a missing file, an unusable device): exit code 2,
    and nothing is written."""


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
                         "written, and none was left half-written")
        self.failures = failures


class OutOfMemoryError(RunError):
    exit_code = 1

    def __init__(self, device, advice):
        super().__init__(f"out of memory on {device}; {advice}")


@contextlib.contextmanager
def out_of_memory_explained(device, advice):
    """Turn the device running out of memory inside the block into an OutOfMemoryError that
    gives `advice`."""
    import torch  # here: the errors themselves are raised before torch loads

    try:
        yield
    except (RuntimeError, MemoryError) as error:
        # torch.OutOfMemoryError is a RuntimeError; other back ends only say so in the message,
        # and the CPU allocator says "can't allocate memory".
        message = str(error).lower()
        if (isinstance(error, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in message
                or "can't allocate memory" in message):
            raise OutOfMemoryError(device, advice) from None
        raise
