"""Training: the configuration, the registry of experiments, the loop, metrics and files."""

from .config import Config, default_data_dir, DATA_DIR_VARIABLE
from .errors import NonFiniteLossError, RunError
from .interruption import Interrupted, StopNow
from .loop import run
from .registry import ALIASES, EXPERIMENTS, find_experiment

__all__ = ["ALIASES", "Config", "DATA_DIR_VARIABLE", "EXPERIMENTS", "Interrupted",
           "NonFiniteLossError", "RunError", "StopNow", "default_data_dir", "find_experiment", "run"]
