"""model.pt: everything a run needs to go on after an epoch, written whole or not at all.

A checkpoint holds the model's and the optimiser's state, the epoch and the epoch at which the
learning rate's current one-cycle began, the random generators (the sampler's torch.Generator,
torch's global generator and, for a run on a GPU, that GPU's), the history of per-epoch rows,
the GIF frames so far, the configuration and what the data were (classes, normalisation,
image counts). A run resumed from it, on the same data, draws the same batches and ends with
the same numbers as one that was never interrupted.
"""

import dataclasses
import io
import math
import os

import torch

from datasets.names import is_path
from networks import EARLIER_HYPERPARAMETERS, as_written

from .errors import RunError, unreadable_checkpoint
from .files import write_atomically

FORMAT = "siamese-net-and-friends checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str, run) -> None:
    """Save `run` (training/setup.Run) after its latest epoch. Its `identity` ({network,
    dataset, latent_dims}, names canonical) says what was learned: a checkpoint only continues
    a run of the same identity."""
    device = run.device
    state = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "epoch": run.history[-1]["epoch"],
        "cycle_start": run.cycle_start,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "sampler_generator": run.generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        # Only the training device's: a run resumed on a machine with fewer GPUs must not
        # have to restore the others.
        "cuda_rng": [torch.cuda.get_rng_state(device)] if device.type == "cuda" else [],
        "history": run.history,
        "frames": [(caption, torch.from_numpy(points)) for caption, points in run.frames],
        "configuration": dataclasses.asdict(run.config),
        "identity": run.identity,
        # What rebuilds the model without the training options (embed.py, search.py).
        "model_kind": type(run.model).__name__,
        "hyperparameters": run.model.hyperparameters,
        "preprocessing": {"mean": list(run.train.mean), "std": list(run.train.std),
                          "class_names": list(run.train.class_names)},
        # With the preprocessing, what says a resumed run sees the same data (check_same_data).
        "images": {"train": len(run.train), "test": len(run.test)},
        "initial_val_loss": run.initial_val_loss,
        "alarms": run.alarms,
        # Pairs or triplets per image an epoch (datasets/samplers.py): one before there was a choice.
        "items_per_image": getattr(run.sampler, "per_image", 1),
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomically(path, buffer.getvalue())


def load_checkpoint(path: str, identity: dict, epochs: int, settings: dict, model: torch.nn.Module) -> dict:
    """The checkpoint at `path`, checked against the run's `identity`, its `model` as built,
    total `epochs` and training `settings` ({option: value}: the options its network uses,
    Experiment.settings).

    A missing or unreadable file, a file that is no checkpoint of this program, one of another
    network, data set or latent size, one stopped before its last epoch and given another
    total, or one trained with other settings is a RunError that says so: a resumed run goes
    on with the checkpoint's optimiser and schedule, so a changed --lr, --batch-size or
    (before the last epoch) --epochs would otherwise be ignored or bend the schedule, silently.
    """
    if not path:  # an unset shell variable, say: not a reason to start afresh over the old files
        raise RunError("--resume was given an empty path; give the model.pt of the run to continue")
    if os.path.isdir(path):
        raise RunError(f"--resume {path} is a folder; give the model.pt of the run to continue")
    if not os.path.isfile(path):
        raise RunError(f"--resume {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise RunError(f"--resume {path} is not a checkpoint of this program "
                       f"({unreadable_checkpoint(path, error)})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise RunError(f"--resume {path} is not a checkpoint of this program (no '{FORMAT}' marker)")
    # Checkpoints from before backbones could be chosen hold the original's.
    for what, value in {"backbone": "original", **state["identity"]}.items():
        if identity[what] != value:
            raise RunError(f"--resume {path} holds a {what} of {value!r}, not {identity[what]!r}; "
                           f"resume with the same network, data set, --latent-dims and --backbone")
    check_same_network(path, state, model, identity["network"])
    if state["epoch"] >= epochs:
        raise RunError(f"--resume {path} has already trained {state['epoch']} epochs; with --resume, "
                       f"--epochs is the total, so pass more than {state['epoch']}")
    planned = state["configuration"]["epochs"]
    if state["epoch"] < planned and epochs != planned:
        # Its learning-rate schedule was laid out over `planned` epochs: finish that first.
        raise RunError(f"--resume {path} stopped after epoch {state['epoch']} of {planned}; pass "
                       f"--epochs {planned} to finish it (a finished run can then go on with more)")
    trained_with = state["configuration"]
    for option, value in settings.items():
        if option in trained_with and trained_with[option] != value:
            flag = "--" + option.replace("_", "-")
            raise RunError(f"--resume {path} was trained with {flag} {trained_with[option]}, not {value}; "
                           f"a resumed run keeps its settings, so pass {flag} {trained_with[option]}")
    return state


def check_same_network(path: str, state: dict, model: torch.nn.Module, network: str) -> None:
    """A RunError if the checkpoint `state` at `path` holds an earlier version of `model`'s
    `network`: one built before a hyperparameter of networks.EARLIER_HYPERPARAMETERS existed
    (the checkpoint lacks it), or with another value of it. Training would go on with another
    function than the one it trained; embed.py and search.py still read it."""
    kind = type(model).__name__
    held = as_written(kind, state.get("hyperparameters") or {})
    for key in EARLIER_HYPERPARAMETERS.get(kind, {}):
        if held[key] != model.hyperparameters[key]:
            raise RunError(f"--resume {path} holds a {network} of an earlier version "
                           f"({key} {held[key]}), and this version trains {key} {model.hyperparameters[key]}; "
                           f"train it again (embed.py and search.py still read it)")


def check_same_epoch(path: str, state: dict, sampler) -> None:
    """A RunError if the checkpoint `state` at `path` drew another number of pairs or triplets
    per image an epoch than `sampler` does (a checkpoint from before the choice drew one): its
    epochs and schedule were laid out over other batches, and a resumed run would be neither
    the old run nor the new one."""
    held, now = state.get("items_per_image", 1), getattr(sampler, "per_image", 1)
    if held != now:
        raise RunError(f"--resume {path} was trained on {held} pair(s) or triplet(s) of every image an epoch, "
                       f"and this version draws {now}; train it again (embed.py and search.py still read it)")


def check_same_data(path: str, state: dict, train, test, dataset: str) -> None:
    """A RunError if the `train` and `test` splits this run read from `dataset` (as given) are
    not the data the checkpoint `state` at `path` was trained on: other classes, channels or
    image size (its weights would not fit the network built for them), or other images (other
    counts, or other normalisation statistics). The restored weights would otherwise go on
    training on other data, normalised otherwise, and metrics.json would mix epochs of two
    data sets. Only what the checkpoint records is compared: older ones lack the counts, and
    the oldest (MNIST and FashionMNIST, which do not change) the preprocessing too."""
    then = state.get("preprocessing")
    if then is None:
        return

    def refused(was, now):
        return RunError(f"--resume {path} was trained on {was}; {dataset} now {now}: a resumed run must "
                        f"see the same data, so restore it or train afresh without --resume")
    classes, names = then["class_names"], list(train.class_names)
    if classes != names:
        added, gone = [n for n in names if n not in classes], [n for n in classes if n not in names]
        change = ", ".join([f"{_few(added)} added"] * bool(added) + [f"{_few(gone)} gone"] * bool(gone))
        raise refused(f"{len(classes)} classes", f"has {len(names)} ({change or 'in another order'})")
    channels = len(then["mean"])
    size = (state.get("hyperparameters") or {}).get("image_size", train.shape[-1])   # older: 28, MNIST's
    if (channels, size) != (train.shape[0], train.shape[-1]):
        raise refused(_images(channels, size), f"gives {_images(train.shape[0], train.shape[-1])}")
    counts = state.get("images")
    if counts is not None and (counts["train"], counts["test"]) != (len(train), len(test)):
        raise refused(f"{counts['train']} training and {counts['test']} test images of {len(classes)} classes",
                      f"has {len(train)} and {len(test)} of {len(names)}")
    statistics = {"mean": (then["mean"], train.mean), "std": (then["std"], train.std)}
    for name, (was, now) in statistics.items():
        if not all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(was, now)):
            raise refused(f"images of pixel {name} {_values(was)}",
                          f"has images of pixel {name} {_values(now)}, as many but not the same")


def _few(names: list, shown: int = 3) -> str:
    """Up to `shown` of `names`, and how many more."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _images(channels: int, size: int) -> str:
    return f"{channels}-channel images of {size}x{size} pixels"


def _values(values) -> str:
    return ", ".join(f"{value:.6g}" for value in values)


def named_as_first_run(config, state: dict):
    """`config` with the network and data set spelt as the checkpoint's run first typed them:
    the names its files carry (`Config.prefix`), so that a run resumed as `triplet-loss-net
    MNIST` from `tripet-loss-net-mnist-model.pt` goes on writing `tripet-loss-net-mnist-*`
    rather than a second set of files beside them. The identity check has made sure both
    spellings name the same network and data set; a folder keeps the path given now, where
    its images are read from (its files are named after the folder's name, the same)."""
    first = state["configuration"]
    renamed = {"network": first["network"]}
    if not is_path(config.dataset) and not is_path(first["dataset"]):
        renamed["dataset"] = first["dataset"]
    return dataclasses.replace(config, **renamed)


def restore(state: dict, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
            generator: torch.Generator, device: torch.device) -> list:
    """Put the checkpoint's model, optimiser and random generators back; returns its frames.

    The GPU's generator is restored only for a run on a GPU (`device`), and only from a
    checkpoint written by one: a run resumed on the CPU leaves CUDA alone."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["sampler_generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"][0], device)
    return [(caption, points.numpy()) for caption, points in state["frames"]]
