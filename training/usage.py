"""Which options a run uses: the one place that decides it.

metrics.json records the options a run does not use as null (docs/metrics-json.md), and a run
given one of them on the command line says in one line that it is ignored: the original
project's command lines keep working, and their users learn what did nothing. What a network
uses is its Experiment's `settings` (training/registry.py); what the data uses depends on what
it is: MNIST and FashionMNIST are read from --data-dir, a folder is resized to --image-size, and
only a folder without train/ and test/ is split by --test-fraction.
"""

import dataclasses

from .config import Config, flag
from .registry import ALL_SETTINGS, EXPERIMENTS

KNOWN_DATA = "MNIST and FashionMNIST"
FOLDERS = "a folder of images"
HELD_OUT_FOLDERS = "a folder without train/ and test/"


def _data_options(source: dict) -> dict:
    """{data option: (whether this data uses it, what data does)}; `source` is the data set's
    record (datasets/load.py: kind "known" or "folder", a folder's layout)."""
    known = source.get("kind") == "known"
    held_out = source.get("layout") == "held out"
    return {"data_dir": (known, KNOWN_DATA),
            "image_size": (not known, FOLDERS),
            "test_fraction": (held_out, HELD_OUT_FOLDERS)}


def unused_options(network: str, source: dict) -> dict:
    """{option: who uses it} for the options a run of `network` (canonical) on the data of
    `source` does not use; every option not named here is used."""
    settings = EXPERIMENTS[network].settings
    unused = {option: _networks_using(option) for option in ALL_SETTINGS if option not in settings}
    unused.update({option: users for option, (used, users) in _data_options(source).items() if not used})
    return unused


def _networks_using(option: str) -> str:
    names = [name for name, experiment in EXPERIMENTS.items() if option in experiment.settings]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]


def ignored_option_warnings(config: Config, network: str, source: dict) -> list:
    """A line for each option the user gave (a value other than its default) that this run of
    `network` (canonical) does not use: it is ignored, not an error, so that the original's
    command lines keep working. `config` as the user gave it, before the run fills in defaults."""
    defaults = Config(config.network, config.dataset)
    data = source.get("name") if source.get("kind") == "known" else f"the folder {source.get('name')}"
    lines = []
    for option, users in unused_options(network, source).items():
        if getattr(config, option) != getattr(defaults, option):
            what = network if option in ALL_SETTINGS else data
            lines.append(f"warning: {flag(option)} is not used by {what}; it is ignored (it is for {users})")
    return lines


def configuration_record(config: Config, network: str, source: dict) -> dict:
    """The Config as metrics.json records it: the options this run does not use are null, and a
    folder's --image-size, when not given, is the size its images were resized to."""
    unused = unused_options(network, source)
    record = {key: None if key in unused else value for key, value in dataclasses.asdict(config).items()}
    if "image_size" not in unused and record["image_size"] is None and source.get("shape"):
        record["image_size"] = source["shape"][-1]
    return record
