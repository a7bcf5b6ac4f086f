"""Training: the configuration, the registry of experiments, the run's setup, the loop, the
metrics and the files.

The names below load on first use, so that `from training.config import Config` (train.py's
--help and its checks) does not import torch.
"""

import importlib

_EXPORTS = {
    "Config": "config", "ConfigError": "errors", "DATA_DIR_VARIABLE": "config",
    "default_data_dir": "config", "validate": "config",
    "NonFiniteLossError": "errors", "RunError": "errors",
    "Interrupted": "interruption", "StopNow": "interruption",
    "run": "loop",
    "ALIASES": "registry", "EXPERIMENTS": "registry", "find_experiment": "registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'training' has no attribute '{name}'")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
