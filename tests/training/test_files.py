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
