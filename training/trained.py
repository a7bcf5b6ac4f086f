"""A trained model.pt, ready to embed images: the network rebuilt, its weights loaded, and the
preprocessing it was trained with (channels, size, per-channel mean and std, class names).

Checkpoints carry `model_kind`, `hyperparameters` and `preprocessing`, from which
`networks.build` makes the network again. Checkpoints written before those keys existed (same
format version, MNIST or FashionMNIST only) are rebuilt through the registry from their
identity, with that data set's normalisation. A checkpoint written before its network gained a
hyperparameter is rebuilt with the value it had then (`networks.EARLIER_HYPERPARAMETERS`).
Images are normalised by `Split.inputs` and embedded by `model.embed` in eval mode, exactly as
training evaluated its test split.
"""

import hashlib
import io
import os
from dataclasses import dataclass, field

import torch
from torch import nn

import networks
from datasets.mnist import NORMALISATION
from datasets.names import CLASS_NAMES
from datasets.split import Split

from .checkpoint import FORMAT, FORMAT_VERSION
from .config import Config
from .errors import ConfigError, first_line, unreadable_checkpoint

BATCH_SIZE = 256
WRAPPER_PREFIXES = ("module.", "_orig_mod.")   # DistributedDataParallel's and torch.compile's


@dataclass
class Trained:
    """A model in eval mode on `device`, and what its inputs must look like.

    identity: {network, dataset, latent_dims[, backbone]} of the run that trained it.
    digest: sha256 of the checkpoint file's bytes: what a cache of its embeddings is keyed by.
    """

    model: nn.Module
    device: torch.device
    channels: int
    image_size: int
    mean: tuple
    std: tuple
    class_names: list
    identity: dict
    epoch: int
    digest: str
    path: str = ""
    hyperparameters: dict = field(default_factory=dict)

    @property
    def latent_dims(self) -> int:
        return int(self.hyperparameters.get("latent_dims", self.identity.get("latent_dims", 2)))

    @property
    def description(self) -> str:
        """'siamese-contrastive trained on MNIST for 2 epochs', for printed lines."""
        return (f"{self.identity.get('network', 'a network')} trained on {self.identity.get('dataset', '?')} "
                f"for {self.epoch} epoch{'s' if self.epoch != 1 else ''}")

    @torch.inference_mode()
    def embed(self, images: torch.Tensor, batch_size: int = BATCH_SIZE) -> torch.Tensor:
        """uint8 images (N, channels, image_size, image_size) -> float32 embeddings (N, D) on the CPU,
        normalised as in training (`Split.inputs`) and embedded in batches."""
        if tuple(images.shape[1:]) != (self.channels, self.image_size, self.image_size):
            raise ValueError(f"images of shape {tuple(images.shape[1:])}; this model takes "
                             f"{(self.channels, self.image_size, self.image_size)}")
        if len(images) == 0:
            return torch.empty(0, self.latent_dims)
        split = Split(images=images, labels=torch.zeros(len(images), dtype=torch.int64),
                      class_names=self.class_names, mean=self.mean, std=self.std)
        parts = []
        for start in range(0, len(split), batch_size):
            batch = split.inputs(slice(start, start + batch_size)).to(self.device)
            parts.append(self.model.embed(batch).float().cpu())
        return torch.cat(parts)


def load_trained(path: str, device: torch.device | str = "cpu") -> Trained:
    """The model saved in the checkpoint at `path`, on `device`, in eval mode.

    A missing file, a file that is no checkpoint of this program, one of another format
    version, and one that holds no model that can be rebuilt are ConfigErrors (exit code 2)
    whose one line says which.
    """
    device = torch.device(device)
    if not path:
        raise ConfigError("the model was given as an empty path; give the model.pt a training run wrote")
    if not os.path.exists(path):
        raise ConfigError(f"{path}: no such file; give the model.pt a training run wrote")
    if os.path.isdir(path):
        raise ConfigError(f"{path} is a folder; give the model.pt a training run wrote")
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as error:
        raise ConfigError(f"cannot read {path} ({error.strerror or first_line(error)})") from None
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:  # UnpicklingError, RuntimeError, EOFError, ...
        raise ConfigError(f"{path} is not a checkpoint of this program "
                          f"({unreadable_checkpoint(path, error)})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a checkpoint of this program (no '{FORMAT}' marker)")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise ConfigError(f"{path} is a checkpoint of format version {version}, and this program reads "
                          f"version {FORMAT_VERSION}; use the version of the program that wrote it")
    weights = state.get("model")
    if not isinstance(weights, dict) or not weights:
        raise ConfigError(f"{path} holds no model (no weights in it)")
    identity = state.get("identity") if isinstance(state.get("identity"), dict) else {}
    if "model_kind" in state:
        model, hyperparameters, preprocessing = _from_description(path, state)
    else:
        model, hyperparameters, preprocessing = _from_identity(path, identity)
    try:
        model.load_state_dict(_unwrapped(weights))
    except (RuntimeError, KeyError, ValueError) as error:
        raise ConfigError(f"{path} holds no model this program can rebuild: its weights do not fit "
                          f"{type(model).__name__} ({first_line(error, 80)})") from None
    model.to(device).eval()
    return Trained(model=model, device=device, channels=int(hyperparameters["in_channels"]),
                   image_size=int(hyperparameters["image_size"]), mean=tuple(preprocessing["mean"]),
                   std=tuple(preprocessing["std"]), class_names=list(preprocessing["class_names"]),
                   identity=dict(identity), epoch=int(state.get("epoch", 0)),
                   digest=hashlib.sha256(data).hexdigest(), path=path, hyperparameters=dict(hyperparameters))


def _from_description(path, state):
    """(model, hyperparameters, preprocessing) from the checkpoint's own description."""
    kind, hyperparameters = state["model_kind"], state.get("hyperparameters")
    preprocessing = state.get("preprocessing")
    if kind not in networks.NETWORKS or not isinstance(hyperparameters, dict):
        raise ConfigError(f"{path} holds no model this program can rebuild (model kind {kind!r}; "
                          f"known: {', '.join(networks.NETWORKS)})")
    if (not isinstance(preprocessing, dict) or not {"mean", "std", "class_names"} <= set(preprocessing)
            or not {"in_channels", "image_size"} <= set(hyperparameters)):
        raise ConfigError(f"{path} does not say how its images were preprocessed (channels, size, mean "
                          f"and std); it cannot embed images")
    hyperparameters = networks.as_written(kind, hyperparameters)
    try:
        model = networks.build(kind, **hyperparameters)
    except (TypeError, ValueError, KeyError) as error:
        raise ConfigError(f"{path} holds no model this program can rebuild "
                          f"({first_line(error, 80)})") from None
    return model, hyperparameters, preprocessing


def _from_identity(path, identity):
    """(model, hyperparameters, preprocessing) of a checkpoint written before checkpoints described
    their model: MNIST or FashionMNIST, 28x28 greyscale, built through the registry."""
    from .registry import find_experiment

    dataset, network = identity.get("dataset"), identity.get("network")
    if dataset not in NORMALISATION or not network or "latent_dims" not in identity:
        raise ConfigError(f"{path} holds no model this program can rebuild (it names neither the "
                          f"model's kind nor a network trained on MNIST or FashionMNIST)")
    config = Config(network=network, dataset=dataset, latent_dims=int(identity["latent_dims"]),
                    backbone=identity.get("backbone", "original"))
    try:
        model = find_experiment(network).make_model(config, (1, 28, 28), len(CLASS_NAMES[dataset]))
        earlier = networks.EARLIER_HYPERPARAMETERS.get(type(model).__name__)
        if earlier:   # written before every hyperparameter of the table
            model = networks.build(type(model).__name__, **{**model.hyperparameters, **earlier})
    except (ConfigError, KeyError, ValueError) as error:
        raise ConfigError(f"{path} holds no model this program can rebuild "
                          f"({first_line(error, 80)})") from None
    mean, std = NORMALISATION[dataset]
    hyperparameters = model.hyperparameters
    return model, hyperparameters, {"mean": mean, "std": std, "class_names": CLASS_NAMES[dataset]}


def _unwrapped(weights):
    """The state dict with a wrapper's key prefix removed from every key that has it."""
    for prefix in WRAPPER_PREFIXES:
        if all(key.startswith(prefix) for key in weights):
            weights = {key[len(prefix):]: value for key, value in weights.items()}
    return weights
