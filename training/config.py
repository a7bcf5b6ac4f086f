"""The run's configuration and the one place that says what a valid one is.

`Config` holds plain values (train.py fills it from the command line; tests and benchmarks
build it directly). `validate(config)` checks every value and raises a ConfigError whose one
line names the option, the value and what is accepted, so `run(Config(epochs=0))` and
`train.py ... --epochs 0` fail alike. Nothing here imports torch: --help and these checks
answer before it loads.
"""

import difflib
import math
import os
from dataclasses import dataclass, field

from datasets.names import folder_name, is_path

from .errors import ConfigError
from .names import ALIASES, BACKBONES, MINING, NETWORKS

DATA_DIR_VARIABLE = "SIAMESE_DATA_DIR"
INT_LIMIT = 2**31 - 1   # counts beyond it overflow torch's and Python's C integers
MAX_LR = 1e6            # towards float32's limit lie tracebacks; far below it, only divergence
SEED_LIMIT = 2**63      # the run seeds generators of its own with seed + 1 to + 3


def default_data_dir() -> str:
    return os.environ.get(DATA_DIR_VARIABLE, "./data")


@dataclass
class Config:
    network: str                    # as typed: it names the output files
    dataset: str                    # as typed: it names the output files
    lr: float = 1e-2                # peak of the one-cycle schedule (see training/setup.py)
    epochs: int = 10
    batch_size: int = 256
    output: str = "./tmp"
    log_interval: int = 50
    animation: int | None = None    # None: no GIF; 0: a frame per epoch; N: also every N batches
    device: str = "auto"
    seed: int = 0
    data_dir: str = field(default_factory=default_data_dir)
    latent_dims: int = 2
    margin: float | None = None     # None: the loss's own (Experiment.margin: contrastive 2, triplet 1)
    classes_per_batch: int | None = None  # online-*: P classes x K images a batch (None: min(10, classes))
    images_per_class: int = 16
    mining: str = "all"             # online-triplet: all, batch-hard or semi-hard
    resume: str | None = None       # a model.pt to continue from; epochs is then the total
    backbone: str = "original"      # the trunk every network builds on (networks/backbones.py)
    image_size: int | None = None   # a folder's images are resized to this (None: datasets/folder.py's rule)
    test_fraction: float = 0.2      # a folder without train/ and test/: the share of each class held out
    shift: int = 0                  # training images move by up to this many pixels, anew each epoch

    @property
    def prefix(self) -> str:
        """Where a run's files go: `<output>/<network>-<dataset>-<what>`."""
        name = folder_name(self.dataset) if is_path(self.dataset) else self.dataset   # as typed, or the folder's name
        return os.path.join(self.output, f"{self.network}-{name}-")


def flag(option: str) -> str:
    """'batch_size' -> '--batch-size'."""
    return "--" + option.replace("_", "-")


# option -> (is the value acceptable?, what is accepted); the values have their types already.
def _count(value):
    return isinstance(value, int) and 1 <= value <= INT_LIMIT


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


RULES = {
    "lr": (lambda v: _finite(v) and 0 < v <= MAX_LR, f"a positive number up to {MAX_LR:g}"),
    "epochs": (_count, f"a whole number from 1 to {INT_LIMIT}"),
    "batch_size": (_count, f"a whole number from 1 to {INT_LIMIT}"),
    "log_interval": (_count, f"a whole number from 1 to {INT_LIMIT}"),
    "animation": (lambda v: v is None or (isinstance(v, int) and 0 <= v <= INT_LIMIT),
                  "a positive number of batches, True or False"),
    "seed": (lambda v: isinstance(v, int) and 0 <= v < SEED_LIMIT, "a whole number from 0 to 2**63 - 1"),
    "latent_dims": (_count, f"a whole number from 1 to {INT_LIMIT}"),
    "margin": (lambda v: v is None or (_finite(v) and v >= 0), "a finite number of 0 or more"),
    "classes_per_batch": (lambda v: v is None or _count(v), f"a whole number from 1 to {INT_LIMIT}"),
    "image_size": (lambda v: v is None or (isinstance(v, int) and 16 <= v <= 1024), "a whole number of pixels from 16 to 1024"),
    "test_fraction": (lambda v: _finite(v) and 0 < v < 1, "a number between 0 and 1"),
    "shift": (lambda v: isinstance(v, int) and 0 <= v <= 8, "a whole number of pixels from 0 to 8"),
    "images_per_class": (_count, f"a whole number from 1 to {INT_LIMIT}"),
    "mining": (lambda v: v in MINING, "one of " + ", ".join(MINING)),
    "resume": (lambda v: v is None or bool(v), "the model.pt of the run to continue"),
}


def validate(config: Config) -> None:
    """Raise ConfigError for the first value of `config` that no run accepts.

    What depends on the data or the machine (a data set's files, the device, the output
    folder, a checkpoint's contents) is checked when the run is set up (training/setup.py),
    still before anything is written."""
    canonical_network(config.network)
    if config.backbone not in BACKBONES:
        raise ConfigError(unknown_name_message("backbone", config.backbone, list(BACKBONES)))
    for option, (acceptable, accepted) in RULES.items():
        value = getattr(config, option)
        if not acceptable(value):
            shown = "''" if value == "" else value
            raise ConfigError(f"{flag(option)} {shown} is not accepted; give {accepted}")


def canonical_network(name: str) -> str:
    """The network called `name` (or one of the original's spellings of it), or ConfigError."""
    canonical = ALIASES.get(name, name)
    if canonical not in NETWORKS:
        raise ConfigError(unknown_name_message("network", name, list(NETWORKS), list(ALIASES)))
    return canonical


def unknown_name_message(kind: str, name: str, choices: list, other_spellings=()) -> str:
    """'unknown <kind> ...', the closest known name (ignoring case) and the choices."""
    return f"unknown {kind} '{name}'{did_you_mean(name, [*choices, *other_spellings])}; choose one of: {', '.join(choices)}"


def did_you_mean(name: str, choices: list) -> str:
    """' (did you mean X?)' for the choice closest to `name` ignoring case (an alias named by
    its network), or '' when none is close."""
    known = {known.lower(): known for known in choices}
    close = difflib.get_close_matches(name.lower(), known, n=1)
    return f" (did you mean {ALIASES.get(known[close[0]], known[close[0]])}?)" if close else ""


def parse_number(kind):
    """An argparse `type` that reads an int or a float, and says which when the text is neither;
    validate() then checks the range, so a script and the command line get the same errors."""
    import argparse

    def parse(text):
        try:
            return kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None
    return parse


def positive(kind):
    """An argparse `type` for a benchmark's own counts and budgets: a finite number above 0
    (an int at most INT_LIMIT)."""
    import argparse
    read = parse_number(kind)

    def parse(text):
        value = read(text)
        if not (_finite(value) and value > 0 and (kind is not int or value <= INT_LIMIT)):
            raise argparse.ArgumentTypeError(f"{text} is not a positive {'whole ' if kind is int else ''}number"
                                             + (f" up to {INT_LIMIT}" if kind is int else ""))
        return value
    return parse
