"""The files a run writes into its output folder, each whole or not at all.

`<output>/<network>-<dataset>-` followed by FILES' names (the original project's), plus an
experiment's own figures (the vae's manifold and reconstructions). One run owns one prefix:
a new run removes the earlier run's files of that prefix once its own first epoch is saved
(a resumed run, only those it will not write again), so a folder never mixes two runs, and an
earlier run's results survive a new run that fails before it has any of its own.
"""

import contextlib
import io
import os

import numpy as np
import torch

from datasets import Split
from plotting import figure_to_png, knn_caption, latent_space_figure, latent_space_gif, stats_figure

from .config import Config
from .errors import ConfigError
from .evaluation import METRICS, embed
from .files import write_atomically

FILES = {  # what a run writes, after `<output>/<network>-<dataset>-`
    "metrics": "metrics.json",
    "checkpoint": "model.pt",
    "embeddings": "embeddings.npz",
    "training_figure": "training-set-embedding.png",
    "testing_figure": "testing-set-embedding.png",
    "stats": "stats.png",
    "animation": "latent-space-development.gif",
}
EXTRA_FIGURES = ("manifold", "reconstructions")   # written as <key>.png by the experiments that draw them


def planned_paths(config: Config) -> dict:
    """{file key: path} of the files in FILES this run writes (the GIF only with --animation)."""
    return {key: config.prefix + name for key, name in FILES.items()
            if key != "animation" or config.animation is not None}


def remove_earlier_run(config: Config, resumed_in_place: bool = False) -> list:
    """Remove the files an earlier run left under this run's prefix that would otherwise stand
    beside this run's as if they were its own; returns the paths removed. Called once this
    run's first epoch has replaced metrics.json and model.pt.

    For a new run that is every other file: they are another run's. A run resumed in the folder
    of its checkpoint (`resumed_in_place`) keeps its own earlier files, replaced at its end, but
    loses those it will not write: the GIF, resumed without --animation, as a new run without
    it would. Only the names a run writes are touched: a user's other files in the folder stay."""
    if resumed_in_place:
        names = [name for key, name in FILES.items() if key not in planned_paths(config)]
    else:
        names = [name for key, name in FILES.items() if key not in ("metrics", "checkpoint")]
        names += [f"{key}.png" for key in EXTRA_FIGURES]
    removed = []
    for name in names:
        path = config.prefix + name
        if os.path.isfile(path):
            os.unlink(path)
            removed.append(path)
    return removed


def write_results(run, embeddings=None) -> tuple[dict, list]:
    """Write the end-of-run files of the last completed epoch of `run` (training/setup.Run):
    embeddings.npz, the figures, the GIF, the experiment's own figures; `embeddings` (train,
    test) are computed when None.

    Each file is written whole or not at all, and one that fails (a full disk) does not stop
    the others. Returns ({file key: path} of the files written, ["<path> (<reason>)"] of those
    that failed). `run.history` holds at least one epoch.
    """
    config, paths = run.config, planned_paths(run.config)
    if embeddings is None:
        embeddings = embed(run.model, run.train), embed(run.model, run.test)
    contents = {"embeddings": lambda: embeddings_npz(run.train, run.test, *embeddings),
                **figures(run, *embeddings)}
    if run.experiment.extra_figures:
        for key, png in run.experiment.extra_figures(run.model, run.test, network=run.identity["network"],
                                                     dataset=run.identity["dataset"]).items():
            key = key.removesuffix(".png")
            paths[key] = f"{config.prefix}{key}.png"
            contents[key] = lambda png=png: png
    written, failures = {}, []
    for key, content in contents.items():
        try:
            write_atomically(paths[key], content())
            written[key] = paths[key]
        except OSError as error:
            failures.append(f"{paths[key]} ({error.strerror or error})")
    return written, failures


def embeddings_npz(train: Split, test: Split, train_embedding: torch.Tensor, test_embedding: torch.Tensor) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, train_embeddings=train_embedding.cpu().numpy(),
             train_labels=train.labels.cpu().numpy(), test_embeddings=test_embedding.cpu().numpy(),
             test_labels=test.labels.cpu().numpy())
    return buffer.getvalue()


def figures(run, train_embedding, test_embedding) -> dict:
    """{file key: a function that renders its PNG or GIF bytes} for the last epoch of the run.
    Titles name the network canonically (the original's spellings stay in file names)."""
    names = {"network": run.identity["network"], "dataset": run.identity["dataset"]}
    last = run.history[-1]
    caption = knn_caption(last["epoch"], last["knn_accuracy"])

    def embedding_png(split_name, split, embedding):
        return figure_to_png(latent_space_figure(embedding.cpu().numpy(), split.labels.cpu().numpy(),
                                                 split.class_names, split=split_name, caption=caption, **names))
    contents = {"training_figure": lambda: embedding_png("training", run.train, train_embedding),
                "testing_figure": lambda: embedding_png("test", run.test, test_embedding),
                "stats": lambda: figure_to_png(stats_figure(run.history, METRICS, **names))}
    if run.frames and run.config.animation is not None:  # a run resumed without --animation writes no GIF
        contents["animation"] = lambda: latent_space_gif(run.frames, run.test.labels.cpu().numpy(),
                                                         run.test.class_names, **names)
    return contents


def check_output_folder(folder: str) -> None:
    """Make sure `folder` is a writable folder, or can be created as one, without creating it:
    a run with bad input must leave nothing behind."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigError(f"--output {folder} is a file, not a folder")
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):  # the nearest existing folder above it
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(f"--output {folder} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == os.path.abspath(folder) else f" ({existing} is not writable)"
        raise ConfigError(f"--output {folder} is not writable{where}; choose a folder you can write to")


def make_output_folder(folder: str) -> list:
    """Create `folder` and the folders above it that are missing; returns those it created,
    innermost first, for remove_empty_folders."""
    made, missing = [], os.path.abspath(folder)
    while not os.path.exists(missing):
        made.append(missing)
        missing = os.path.dirname(missing)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"--output {folder} cannot be created: {error.strerror}") from None
    return made


@contextlib.contextmanager
def output_folder(folder: str):
    """Create `folder` as make_output_folder does, for the block; if the block raises, remove the
    folders it created that are still empty: a run that fails or stops before it writes a file
    (out of memory in its first epoch, a first checkpoint that cannot be written, a Ctrl-C)
    leaves no folder of its own behind. Yields the folders created, innermost first."""
    made = make_output_folder(folder)
    try:
        yield made
    except BaseException:
        remove_empty_folders(made)
        raise


def remove_empty_folders(folders: list) -> None:
    """Remove `folders` (make_output_folder's, innermost first) while they are empty; never one
    that holds anything or that was there before the run."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:   # not empty (or gone): the folders above it hold it
            return
