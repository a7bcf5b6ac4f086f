"""metrics.json: what a run was asked to do, where it ran, and what it measured each epoch.

The schema (SCHEMA_VERSION 1; README.md describes it) only grows: a key keeps its name and
meaning, so a grading script written today still reads tomorrow's files.
"""

import dataclasses
import importlib.metadata
import json
import math
import platform

import torch

from .files import write_atomically

SCHEMA_VERSION = 1


def environment(device):
    """Versions and the device, for telling apart numbers from different machines."""
    try:  # the installed version, without importing torchvision (1.6 s)
        torchvision = importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        torchvision = None
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()}


def metrics_document(config, identity, environment, history, resumed_from, files):
    """The whole metrics.json as a dict; `history` is the list of per-epoch rows so far."""
    return {
        "schema_version": SCHEMA_VERSION,
        "configuration": {**dataclasses.asdict(config), **{f"{key}_resolved": value
                                                         for key, value in identity.items()
                                                         if key != "latent_dims"}},
        "environment": environment,
        "resumed_from": resumed_from,
        "epochs_completed": history[-1]["epoch"] if history else 0,
        "complete": bool(history) and history[-1]["epoch"] == config.epochs,
        "epochs": history,
        "final": history[-1] if history else None,
        "files": files,
    }


def write_metrics(path, document):
    """Write `document` as JSON; NaN (a metric with nothing to measure) becomes null."""
    write_atomically(path, (json.dumps(_without_nan(document), indent=2) + "\n").encode())


def _without_nan(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _without_nan(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nan(item) for item in value]
    return value
