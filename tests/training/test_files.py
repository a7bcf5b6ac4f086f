import errno
import os

import pytest

from training.files import write_atomically


def test_write_atomically_replaces_the_file(tmp_path):
    path = tmp_path / "a.png"
    write_atomically(path, b"old")
    write_atomically(path, b"new")
    assert path.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["a.png"]
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_behind(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    write_atomically(path, b"old")

    def full_disk(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as error:
        write_atomically(path, b"new")
    assert error.value.filename == str(path)  # the file meant, for the message
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.png"]


def test_a_folder_that_became_unwritable_is_reported_with_the_file_meant(tmp_path, monkeypatch):
    """The temporary file cannot be created (os.open names it), as in a folder made read-only
    between two epochs: the error names the file meant, not a `.xxxxxxxx.partial`."""
    path = tmp_path / "a-metrics.json"
    write_atomically(path, b"old")

    def read_only(file, *args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted", file)
    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(OSError) as error:
        write_atomically(path, b"new")
    assert (error.value.filename, error.value.strerror) == (str(path), "Operation not permitted")
    assert path.read_bytes() == b"old"


def test_a_temporary_file_that_cannot_be_removed_does_not_hide_the_failure(tmp_path, monkeypatch):
    """The folder became read-only while the file was written: the rename fails, and so does the
    removal of the temporary file. The error is the rename's, naming the file meant."""
    path = tmp_path / "a-metrics.json"
    write_atomically(path, b"old")

    def refused(source, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", source)
    monkeypatch.setattr(os, "replace", refused)
    monkeypatch.setattr(os, "unlink", refused)
    with pytest.raises(OSError) as error:
        write_atomically(path, b"new")
    assert (error.value.filename, error.value.strerror) == (str(path), "Permission denied")
    assert path.read_bytes() == b"old"
