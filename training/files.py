"""The one way this program writes a file: whole or not at all."""

import os
import tempfile

_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomically(path, data):
    """Write `data` (bytes) to `path` through a temporary file in the same folder and a rename.

    A reader never sees a half-written file, a failure leaves no temporary file behind, and
    an earlier file at `path` survives until the new one is complete.
    """
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".partial")
    try:
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes it private; give it a normal file's mode
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(error, OSError):  # name the file meant, not the temporary one (or none)
            error.filename = os.fspath(path)
        raise
