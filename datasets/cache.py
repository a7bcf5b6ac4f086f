"""The per-user cache of decoded image folders: one file per folder and image size.

Where: `$SIAMESE_CACHE_DIR`, else `$XDG_CACHE_HOME/siamese-networks`, else
`~/.cache/siamese-networks`. A folder's file is named by its real path and the image size asked
for (None: the default size), and holds a fingerprint of what was decoded: every file's path
relative to the folder, its class and split, size in bytes and modification time, the size asked
for and the decoding rules' version. The channels and the default size follow from the files, so
the fingerprint covers them. When the folder changes, the fingerprint no longer matches and the
file is rebuilt in place; so is a file that cannot be read back. Files are written to a temporary
name in the same folder and renamed over the old one (`os.replace`), so a run that stops while
writing leaves either the old file or the new one, never half of one.
"""

import hashlib
import os
import re
import tempfile

import torch

# Raise when decode.py or folder.py change what an image decodes to: older files then no longer match.
VERSION = 1
VARIABLE = "SIAMESE_CACHE_DIR"


def folder() -> str:
    """The cache folder (not created here)."""
    if os.environ.get(VARIABLE):
        return os.environ[VARIABLE]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "siamese-networks")


def location(root: str, image_size: int | None) -> str:
    """The cache file of the image folder `root` decoded at `image_size`."""
    real = os.path.realpath(root)
    digest = hashlib.sha256(f"{real}\0{image_size}".encode("utf-8", "surrogateescape")).hexdigest()[:20]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(real))[:40] or "folder"
    return os.path.join(folder(), f"{name}-{digest}.pt")


def fingerprint(paths, labels, in_test, stats, image_size) -> str:
    """A digest of everything that decides the decoded images."""
    digest = hashlib.sha256(f"version {VERSION}\0size {image_size}\0".encode())
    for i, path in enumerate(paths):
        part = "" if in_test is None else int(in_test[i])
        digest.update(f"{path}\0{labels[i]}\0{part}\0{stats[i][0]}\0{stats[i][1]}\n"
                      .encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def read(path: str, key: str) -> dict | None:
    """The stored content when `path` holds one with fingerprint `key`; None when it is
    missing, stale or unreadable (a corrupt file is simply rebuilt)."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # missing, truncated, not a torch file, another version's layout
        return None
    if not isinstance(content, dict) or content.get("fingerprint") != key or content.get("version") != VERSION:
        return None
    images, labels = content.get("images"), content.get("labels")
    if (not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4
            or not isinstance(labels, torch.Tensor) or len(labels) != len(images)
            or len(content.get("paths", ())) != len(images)):
        return None
    return content


def write(path: str, content: dict) -> str | None:
    """Store `content` (plus the version) at `path` atomically; None on success, else a few
    words on why it could not be written (the caller warns and goes on)."""
    temporary = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".writing-", suffix=".pt", dir=os.path.dirname(path))
        with os.fdopen(handle, "wb") as file:
            torch.save({**content, "version": VERSION}, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        return None
    except (OSError, RuntimeError) as error:  # torch reports a full disk as a RuntimeError
        if temporary is not None:
            try:
                os.remove(temporary)
            except OSError:
                pass
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error).splitlines()[0]
        return f"{reason} in {os.path.dirname(path)}"
