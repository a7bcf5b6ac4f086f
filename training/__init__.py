"""Training: the configuration, the registry of experiments, the loop, metrics and files."""

from .config import Config, default_data_dir, DATA_DIR_VARIABLE
from .errors import NonFiniteLossError, RunError
from .loop import run
from .registry import ALIASES, EXPERIMENTS, find_experiment

__all__ = ["ALIASES", "Config", "DATA_DIR_VARIABLE", "EXPERIMENTS", "NonFiniteLossError",
           "RunError", "default_data_dir", "find_experiment", "run"]
