"""What search.py searches: a gallery's embeddings, with each image's path and class, and the
exact k nearest gallery images of each query.

A gallery is a folder, a data set's test split, or an embeddings.npz written by embed.py. A
folder's or data set's embeddings are cached per user (the folder datasets/cache.py names, in
embeddings/), in a file named by the gallery and the model, holding a fingerprint of the
checkpoint's bytes and every gallery file's path, class, size and modification time: a second
search over an unchanged gallery with the same model embeds only its queries. A changed file or
model rebuilds the cache; a cache that cannot be read is rebuilt, one that cannot be written is
said in a warning line.
"""

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np
import torch

from datasets import cache
from datasets.names import canonical_dataset_name, is_path, shown
from datasets.split import DatasetError

from .files import write_atomically
from .inputs import IMAGE_FORMATS, list_inputs, read_images
from .neighbours import k_nearest
from .trained import Trained

CACHE_VERSION = 1
NPZ_KEYS = {"embeddings", "paths", "labels", "class_names", "model_sha256"}


@dataclass
class Gallery:
    embeddings: torch.Tensor   # float32 (N, D), on the CPU
    paths: list
    labels: list               # a class name or None per image
    class_names: list
    from_cache: bool = False
    warnings: list = field(default_factory=list)
    source: str = "embedded now"   # or 'embeddings from the cache', 'embeddings from <npz>'

    def __len__(self):
        return len(self.paths)

    @property
    def labelled(self) -> bool:
        return any(label is not None for label in self.labels)


def labels_of(indices, class_names) -> list:
    return [str(class_names[i]) if i >= 0 else None for i in np.asarray(indices).tolist()]


def read_npz(path: str, trained: Trained) -> Gallery:
    """A gallery written by embed.py with this model; DatasetError when it is none, or another
    model's (distances between two models' spaces mean nothing)."""
    try:
        with np.load(path, allow_pickle=False) as content:
            missing = NPZ_KEYS - set(content.files)
            if missing:
                raise DatasetError(f"{shown(path)} is not an embeddings.npz written by embed.py (it has no "
                                   f"{', '.join(sorted(missing))}); pass the folder of images instead")
            data = {key: content[key] for key in NPZ_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DatasetError(f"{shown(path)} is not an npz file numpy can read ({error})") from None
    if str(data["model_sha256"]) != trained.digest:
        raise DatasetError(f"{shown(path)} was embedded by another model than {shown(trained.path)}, and "
                           f"distances between two models' spaces mean nothing; embed the gallery with "
                           f"this model (embed.py) or pass its folder")
    embeddings = data["embeddings"]
    if (embeddings.ndim != 2 or embeddings.shape[1] != trained.latent_dims
            or len(embeddings) != len(data["paths"])):
        raise DatasetError(f"{shown(path)} holds embeddings of shape {embeddings.shape}, not (N, "
                           f"{trained.latent_dims}) with a path each")
    return Gallery(embeddings=torch.from_numpy(embeddings.astype(np.float32)), paths=data["paths"].tolist(),
                   labels=labels_of(data["labels"], data["class_names"].tolist()),
                   class_names=data["class_names"].tolist(), source=f"embeddings from {shown(path)}")


def cache_location(argument: str, data_dir: str, trained: Trained) -> str:
    """The cache file of `argument`'s embeddings by this model."""
    where = os.path.realpath(argument) if is_path(argument) else \
        f"{canonical_dataset_name(argument)}\0{os.path.realpath(data_dir)}"
    digest = hashlib.sha256(f"{where}\0{trained.digest}".encode("utf-8", "surrogateescape")).hexdigest()[:20]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(where.split("\0")[0]))[:40] or "gallery"
    return os.path.join(cache.folder(), "embeddings", f"{name}-{digest}.npz")


def _read_cache(location, key):
    try:
        with np.load(location, allow_pickle=False) as content:
            if str(content["fingerprint"]) != key or int(content["version"]) != CACHE_VERSION:
                return None
            return {name: content[name] for name in content.files}
    except Exception:  # missing, truncated, another layout: rebuilt
        return None


def _write_cache(location, content):
    """None when written, else a few words on why not."""
    try:
        os.makedirs(os.path.dirname(location), exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, version=np.array(CACHE_VERSION), **content)
        write_atomically(location, buffer.getvalue())
        return None
    except OSError as error:
        return f"{error.strerror or error} in {os.path.dirname(location)}"


def load_gallery(argument: str, trained: Trained, data_dir: str, batch_size: int, use_cache: bool = True,
                 embed=None) -> Gallery:
    """The gallery `argument` (a folder, a data set name or an embed.py npz) embedded by `trained`.

    `embed(pixels) -> embeddings` defaults to trained.embed; a cached gallery is not embedded."""
    if argument.lower().endswith(".npz"):
        if not os.path.isfile(argument):
            raise DatasetError(f"the gallery {shown(argument)} does not exist: expected a folder of images, "
                               f"MNIST, FashionMNIST or an embeddings.npz written by embed.py")
        return read_npz(argument, trained)
    listing = list_inputs([argument], data_dir)
    key = hashlib.sha256(f"{trained.digest}\0{listing.fingerprint()}".encode()).hexdigest()
    location = cache_location(argument, data_dir, trained) if use_cache else None
    stored = _read_cache(location, key) if location else None
    if stored is not None:
        return Gallery(embeddings=torch.from_numpy(stored["embeddings"]), paths=stored["paths"].tolist(),
                       labels=labels_of(stored["labels"], stored["class_names"].tolist()),
                       class_names=stored["class_names"].tolist(), from_cache=True,
                       source="embeddings from the cache",
                       warnings=listing.warnings + stored["warnings"].tolist())
    images = read_images(listing, trained.channels, trained.image_size,
                         accepted=f"a folder of images, an image ({IMAGE_FORMATS}), MNIST, FashionMNIST "
                                  f"or an embeddings.npz written by embed.py")
    embeddings = (embed or (lambda pixels: trained.embed(pixels, batch_size)))(images.pixels).float().cpu()
    paths = [listing.paths[i] for i in images.kept]
    labels = [listing.labels[i] for i in images.kept]
    gallery = Gallery(embeddings=embeddings, paths=paths, labels=labels, class_names=listing.class_names,
                      warnings=listing.warnings + images.warnings)
    if location:
        index = {name: i for i, name in enumerate(listing.class_names)}
        failure = _write_cache(location, {
            "fingerprint": np.array(key), "embeddings": embeddings.numpy(),
            "paths": np.array(paths, dtype=str),
            "labels": np.array([index[label] if label is not None else -1 for label in labels],
                               dtype=np.int64),
            "class_names": np.array(listing.class_names, dtype=str),
            "warnings": np.array(images.warnings, dtype=str)})
        if failure:
            gallery.warnings.append(f"could not cache the gallery's embeddings ({failure}); the next search "
                                    f"embeds {shown(argument)} again")
    return gallery


def nearest(queries: torch.Tensor, references: torch.Tensor, k: int, exclude=None) -> tuple:
    """(indices (Q, k), distances (Q, k)): each query's k nearest references, nearest first, by
    exact search (training/neighbours.py), with Euclidean distances measured pair by pair in
    float64. `exclude[q]` (a reference index, or -1) is left out of query q's neighbours: a
    query that lies in the gallery is not its own neighbour. Equal distances keep the
    references' order."""
    k = min(k, len(references) - (1 if exclude is not None and any(e >= 0 for e in exclude) else 0))
    if k <= 0 or len(queries) == 0:
        return (torch.zeros(len(queries), 0, dtype=torch.int64),
                torch.zeros(len(queries), 0, dtype=torch.float64))
    wanted = min(k + 1, len(references)) if exclude is not None else k
    found = k_nearest(queries.float(), references.float(), wanted)
    distances = (queries.double()[:, None, :] - references.double()[found]).pow(2).sum(-1).sqrt()
    indices, measured = [], []
    for q in range(len(queries)):
        order = sorted(range(found.shape[1]), key=lambda j: (float(distances[q, j]), int(found[q, j])))
        keep = [j for j in order if exclude is None or int(found[q, j]) != exclude[q]][:k]
        indices.append(found[q, keep])
        measured.append(distances[q, keep])
    return torch.stack(indices), torch.stack(measured)
