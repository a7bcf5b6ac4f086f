"""metrics.json: what a run was asked to do, where it ran, and what it measured each epoch.

docs/metrics-json.md describes the schema (SCHEMA_VERSION 2). Within a schema version a key
keeps its name and meaning, so a grading script keeps reading newer files; a change of
meaning raises the version, and the docs say what changed.
"""

import importlib.metadata
import json
import math
import os
import platform
import subprocess

import torch

from .files import write_atomically
from .setup import Run
from .usage import configuration_record

SCHEMA_VERSION = 2
VERSION = "2.0.0"   # the suite's own version; metrics.json adds the git commit when there is one
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def environment(device: torch.device, world_size: int = 1) -> dict:
    """Versions, the code's own and the device, for telling apart numbers from different machines;
    `world_size`: the processes that trained together (torchrun's WORLD_SIZE, 1 without it)."""
    try:  # the installed version, without importing torchvision
        torchvision = importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        torchvision = None
    return {"code_version": VERSION, "code_commit": code_commit(), "python": platform.python_version(),
            "torch": torch.__version__, "torchvision": torchvision, "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
            "threads": torch.get_num_threads(), "world_size": world_size}


def code_commit() -> str | None:
    """The git commit the code was checked out at (with '+changes' when the files differ from
    it), or None outside a git checkout."""
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5)
        changed = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                                 capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("+changes" if changed.stdout.strip() else "")


def cpu_name() -> str:
    """The processor's marketing name ('AMD EPYC 7B13'), where the system tells it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        name = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                              timeout=5).stdout.strip()
        if name:
            return name
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def animation_record(animation: int | None):
    """--animation as metrics.json says it: false (no GIF), or how often a frame was drawn."""
    if animation is None:
        return False
    return {"every_epoch": True, "every_batches": animation or None}


def metrics_document(run: Run, environment: dict, files: dict, interrupted: str | None = None,
                     failed: str | None = None) -> dict:
    """The whole metrics.json as a dict for `run` (training/setup.Run) as it stands.

    `interrupted`: the signal that stopped the run ("SIGINT", "SIGTERM"); `failed`: the
    message of the failure that stopped it (a non-finite loss). Both None for a run that
    went on to its last epoch."""
    config, history = run.config, run.history
    configuration = configuration_record(config, run.identity["network"], run.source)
    configuration["animation"] = animation_record(config.animation)
    configuration.update({f"{key}_resolved": value for key, value in run.identity.items() if key != "latent_dims"})
    return {
        "schema_version": SCHEMA_VERSION,
        "configuration": configuration,
        "environment": environment,
        "resumed_from": config.resume,
        "epochs_completed": history[-1]["epoch"] if history else 0,
        "complete": bool(history) and history[-1]["epoch"] == config.epochs,
        "interrupted": interrupted,
        "failed": failed,
        "collapsed": run.alarms["collapsed"][0] if "collapsed" in run.alarms else None,
        "diverged": run.alarms["diverged"][0] if "diverged" in run.alarms else None,
        "initial_val_loss": run.initial_val_loss,
        "warnings": [message for _, message in run.alarms.values()],
        "data": run.source,
        "held_out": run.held_out,
        "epochs": history,
        "final": history[-1] if history else None,
        "files": files,
    }


def write_metrics(path: str, document: dict) -> None:
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
