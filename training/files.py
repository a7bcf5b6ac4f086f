"""The one way this program writes a file: whole or not at all."""

import contextlib
import os
import tempfile

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomically(path, data):
    """Write `data` (bytes) to `path` through a temporary file in the same folder and a rename.

    A reader never sees a half-written file, a failure leaves no temporary file behind (unless
    the folder has just become unwritable), and an earlier file at `path` survives until the
    new one is complete. An OSError names `path`, never the temporary file: the message a user
    reads must name the file that was not written.
    """
    folder = os.path.dirname(os.path.abspath(path))
    temporary = None
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".partial")
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes it private; give it a normal file's mode
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        if temporary is not None and os.path.exists(temporary):
            # A folder made read-only keeps it: the error to report is the first, not this one.
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        if isinstance(error, OSError):  # name the file meant, not the temporary one (or none)
            error.filename, error.filename2 = os.fspath(path), None
        raise
