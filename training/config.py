"""The run's configuration: plain values, filled from the command line by train.py."""

import os
from dataclasses import dataclass, field

DATA_DIR_VARIABLE = "SIAMESE_DATA_DIR"
# The options that shape what a run learns, beyond its network, data set and latent size: a run
# resumed from a checkpoint must keep the checkpoint's (training/checkpoint.py).
TRAINING_SETTINGS = ("lr", "batch_size", "seed", "margin", "classes_per_batch", "images_per_class", "mining")


def default_data_dir():
    return os.environ.get(DATA_DIR_VARIABLE, "./data")


@dataclass
class Config:
    network: str                    # as typed: it names the output files
    dataset: str                    # as typed: it names the output files
    lr: float = 1e-2                # peak of the one-cycle schedule (see training/loop.py)
    epochs: int = 10
    batch_size: int = 256
    output: str = "./tmp"
    log_interval: int = 50
    animation: int | None = None    # None: no GIF; 0: a frame per epoch; N: also every N batches
    device: str = "auto"
    seed: int = 0
    data_dir: str = field(default_factory=default_data_dir)
    latent_dims: int = 2
    margin: float = 1.0
    classes_per_batch: int = 10     # online-contrastive, online-triplet: P classes x K images a batch
    images_per_class: int = 16
    mining: str = "all"             # online-triplet: all, batch-hard or semi-hard
    resume: str | None = None       # a model.pt to continue from; epochs is then the total

    @property
    def prefix(self):
        """Where a run's files go: `<output>/<network>-<dataset>-<what>`."""
        return os.path.join(self.output, f"{self.network}-{self.dataset}-")
