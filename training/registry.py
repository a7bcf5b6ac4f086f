"""Every network/loss pair the suite trains, by name: the only place that knows them.

An Experiment says how to build the network, which sampler draws its batches, and how a
batch of indices becomes a loss. The training loop uses nothing else, so adding a network
is: a module in networks/, a loss in losses/, one entry in EXPERIMENTS, and tests.

Every `batch_loss(model, split, batch, config)` looks its images up with `split.inputs`,
and a siamese or triplet step embeds all its images in one forward pass. Under torchrun the
model is DistributedDataParallel, and `world_of(model)` the processes sharing each batch: a
loss that is a mean over items is wrapped in `mean_over_items`, which hands it this process's
rows; one that needs the whole batch (online mining, the vae's noise) shares it out itself
(training/distributed.py).
"""

import dataclasses
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import torch
from torch import nn

from datasets import BalancedBatchSampler, ClassTable, IndexSampler, PairSampler, Split, TripletSampler
from losses import (binary_cross_entropy_with_logits, contrastive_loss, cross_entropy_loss,
                    negative_elbo, online_contrastive_loss, online_triplet_loss, triplet_loss)
from networks import ClassificationNet, EmbeddingNet, KochSiameseNet, VariationalAutoencoder

from .config import Config, canonical_network
from .distributed import world_of
from .errors import ConfigError
from .names import ALIASES  # noqa: F401  (for importers)
from .vae_figures import vae_figures

Batch = Sequence[torch.Tensor]   # a tuple of index tensors: (indices,), (first, second, same), ...


class Sampler(Protocol):
    """Draws an epoch's batches: `epoch(generator)` returns a list of Batch, len() their number."""

    def __len__(self) -> int: ...
    def epoch(self, generator: torch.Generator) -> list: ...


class ModelFactory(Protocol):
    def __call__(self, config: Config, input_shape: tuple, num_classes: int) -> nn.Module: ...


class SamplerFactory(Protocol):
    def __call__(self, labels: torch.Tensor, config: Config, class_names: list | None = None) -> Sampler: ...


class BatchLoss(Protocol):
    """The mean loss of one batch; it reaches the network through `model(...)` (its forward),
    so that a wrapper (DistributedDataParallel, hooks) sees every call. When several processes
    train `model` (`world_of(model)`, training/distributed.py), each returns its share of the
    whole batch's loss, computed from its rows of the batch: the shares add up to that loss."""

    def __call__(self, model: nn.Module, split: Split, batch: Batch, config: Config) -> torch.Tensor: ...


# Every network uses these; the others are listed per experiment (Experiment.settings).
COMMON_SETTINGS = ("lr", "seed", "shift")
PAIR_SETTINGS = (*COMMON_SETTINGS, "batch_size")
ALL_SETTINGS = (*PAIR_SETTINGS, "margin", "classes_per_batch", "images_per_class", "mining")


@dataclass(frozen=True)
class Experiment:
    summary: str
    make_model: ModelFactory     # an nn.Module whose forward the loss calls, with .embed(images)
    make_sampler: SamplerFactory
    batch_loss: BatchLoss
    # The Config options that shape what this experiment learns: a resumed run must keep them,
    # and metrics.json records the others as null.
    settings: tuple = PAIR_SETTINGS
    margin: float | None = None  # --margin when not given (None: the loss has no margin)
    remedy: str = "try a lower --lr or another --margin"   # said when the space collapses
    extra_figures: Callable | None = None  # (model, test split, *, network, dataset) -> {key: PNG bytes}


def mean_over_items(batch_loss):
    """`batch_loss`, a mean over the batch's items, shared by rows: each process takes the
    mean over its rows of every column of the batch, weighed by its share of the items."""
    def shared(model, split, batch, config):
        world = world_of(model)
        mine = [world.rows(column) for column in batch]
        return world.weigh(batch_loss(model, split, mine, config), len(batch[0]))
    return shared


def _classification_loss(model, split, batch, config):
    (indices,) = batch
    return cross_entropy_loss(model(split.inputs(indices)), split.labels[indices])


def _contrastive_loss(model, split, batch, config):
    first, second, same = batch
    z1, z2 = model(split.inputs(torch.cat([first, second]))).chunk(2)
    return contrastive_loss(z1, z2, same, margin_of(config))


def _koch_loss(model, split, batch, config):
    first, second, same = batch
    return binary_cross_entropy_with_logits(model(split.inputs(first), split.inputs(second)), same)


def triplet_net_loss(anchor, positive, negative, config):
    """triplet-loss-net's loss of three batches of embeddings: the triplet loss with the
    distance swap, which keeps more of its random triplets teaching (docs/networks.md). The
    benchmarks' own pipelines call it too, so that they train the same loss."""
    return triplet_loss(anchor, positive, negative, margin_of(config), swap=True)


def _triplet_loss(model, split, batch, config):
    anchor, positive, negative = batch
    return triplet_net_loss(*model(split.inputs(torch.cat([anchor, positive, negative]))).chunk(3), config)


# The online losses mine the whole batch: each process embeds its rows and gathers the others'
# embeddings, with their gradients; every process computes the same loss and takes its share.

def _online_contrastive_loss(model, split, batch, config):
    (indices,), world = batch, world_of(model)
    embeddings = world.gather(model(split.inputs(world.rows(indices))), len(indices))
    return world.divide(online_contrastive_loss(embeddings, split.labels[indices], margin_of(config)))


def _online_triplet_loss(model, split, batch, config):
    (indices,), world = batch, world_of(model)
    embeddings = world.gather(model(split.inputs(world.rows(indices))), len(indices))
    return world.divide(online_triplet_loss(embeddings, split.labels[indices], margin_of(config),
                                            config.mining))


def _vae_loss(model, split, batch, config):
    # The encoder sees normalised images like every other network; the Bernoulli
    # reconstruction targets are the pixel intensities in [0, 1]. The noise of z is drawn for
    # the whole batch, the same in every process, and each process takes its rows.
    (indices,), world = batch, world_of(model)
    noise = torch.randn(len(indices), config.latent_dims, device=split.labels.device)
    mine = world.rows(indices)
    logits, mean, log_variance = model(split.inputs(mine), world.rows(noise))
    return world.weigh(negative_elbo(logits, split.pixels(mine), mean, log_variance), len(indices))


def _trunk(config, shape):
    """The backbone's arguments for images of `shape` (channels, height, width)."""
    channels, height, width = shape
    if height != width:
        raise ConfigError(f"the images are {height}x{width}; the backbones take square images")
    return {"backbone": config.backbone, "in_channels": channels, "image_size": height}


def _batches_of(sampler_class, **options):
    def make(labels, config, class_names=None):
        try:
            return sampler_class(labels, config.batch_size, class_names=class_names, **options)
        except ValueError as error:   # a single class: no pair of different classes
            raise ConfigError(f"{config.network}: {error}") from None
    return make


def default_classes_per_batch(labels: torch.Tensor, network: str) -> int:
    """--classes-per-batch when not given: as many classes as a batch can mine, up to 10. A
    training split without two such classes is refused here, naming the split: there is no
    option the user gave to blame."""
    pairable = ClassTable(labels).num_pairable
    if pairable < 2:
        raise ConfigError(f"the training split is too small for {network}'s batches: they mine among two "
                          f"classes of two images or more, and it has {pairable}")
    return min(10, pairable)


def _balanced_batches(labels, config, class_names=None):
    if config.classes_per_batch is None:
        config = dataclasses.replace(config, classes_per_batch=default_classes_per_batch(labels, config.network))
    for option, what in (("classes_per_batch", "classes (a batch of one class has no negatives)"),
                         ("images_per_class", "images of each class (one image has no positive)")):
        if getattr(config, option) < 2:
            raise ConfigError(f"--{option.replace('_', '-')} {getattr(config, option)} is too few for "
                              f"{config.network}: it mines within a batch and needs at least 2 {what}")
    try:
        return BalancedBatchSampler(labels, config.classes_per_batch, config.images_per_class,
                                    class_names=class_names)
    except ValueError as error:
        raise ConfigError(f"--classes-per-batch {config.classes_per_batch}: {error}") from None


# The default --margin of each loss, chosen on a validation split held out from the training
# set (benchmarks/results/recipes-original.md): the contrastive losses did better with 2 than
# with 1 on every run but one, the triplet losses worse.
CONTRASTIVE_MARGIN = 2.0
TRIPLET_MARGIN = 1.0
# Pairs (or triplets) an epoch of the siamese and triplet networks draws for each image, chosen on
# the same split: with one, the original's, these networks ended 10 epochs short of the space
# they reach with more comparisons (FashionMNIST validation 5-NN +0.003 to +0.019 with two; 20
# epochs of one did as well for siamese-contrastive), at about twice an epoch's time. The P x K
# networks compare every pair of a batch already.
ITEMS_PER_IMAGE = 2

EXPERIMENTS = {
    "embedding-classification": Experiment(
        summary="EmbeddingNet + linear classifier, cross-entropy",
        make_model=lambda config, shape, classes: ClassificationNet(config.latent_dims, classes, **_trunk(config, shape)),
        make_sampler=_batches_of(IndexSampler),
        batch_loss=mean_over_items(_classification_loss)),
    "siamese-contrastive": Experiment(
        summary="siamese EmbeddingNet, contrastive loss (Hadsell et al. 2006)",
        make_model=lambda config, shape, classes: EmbeddingNet(config.latent_dims, **_trunk(config, shape)),
        make_sampler=_batches_of(PairSampler, per_image=ITEMS_PER_IMAGE),
        batch_loss=mean_over_items(_contrastive_loss),
        settings=(*PAIR_SETTINGS, "margin"),
        margin=CONTRASTIVE_MARGIN),
    "siamese-binary-cross-entropy": Experiment(
        summary="Koch et al. (2015) siamese network, binary cross-entropy",
        make_model=lambda config, shape, classes: KochSiameseNet(config.latent_dims, **_trunk(config, shape)),
        make_sampler=_batches_of(PairSampler, per_image=ITEMS_PER_IMAGE),
        batch_loss=mean_over_items(_koch_loss)),
    "triplet-loss-net": Experiment(
        summary="EmbeddingNet on triplets, triplet loss (Schroff et al. 2015) with the distance swap",
        make_model=lambda config, shape, classes: EmbeddingNet(config.latent_dims, **_trunk(config, shape)),
        make_sampler=_batches_of(TripletSampler, per_image=ITEMS_PER_IMAGE),
        batch_loss=mean_over_items(_triplet_loss),
        settings=(*PAIR_SETTINGS, "margin"),
        margin=TRIPLET_MARGIN),
    "online-contrastive": Experiment(
        summary="EmbeddingNet on P x K balanced batches, contrastive loss over every positive "
                "pair and as many hardest negative pairs",
        make_model=lambda config, shape, classes: EmbeddingNet(config.latent_dims, **_trunk(config, shape)),
        make_sampler=_balanced_batches,
        batch_loss=_online_contrastive_loss,
        settings=(*COMMON_SETTINGS, "margin", "classes_per_batch", "images_per_class"),
        margin=CONTRASTIVE_MARGIN),
    "online-triplet": Experiment(
        summary="EmbeddingNet on P x K balanced batches, triplet loss over triplets mined in "
                "the batch (--mining)",
        make_model=lambda config, shape, classes: EmbeddingNet(config.latent_dims, **_trunk(config, shape)),
        make_sampler=_balanced_batches,
        batch_loss=_online_triplet_loss,
        settings=(*COMMON_SETTINGS, "margin", "classes_per_batch", "images_per_class", "mining"),
        margin=TRIPLET_MARGIN,
        remedy="with --mining batch-hard a 2-D space collapses at every --lr tried: use --mining all "
               "(the default) or --mining semi-hard; otherwise try a lower --lr"),
    "vae": Experiment(
        summary="variational autoencoder, negative ELBO; embedding = posterior mean",
        make_model=lambda config, shape, classes: VariationalAutoencoder(config.latent_dims, **_trunk(config, shape)),
        make_sampler=_batches_of(IndexSampler),
        batch_loss=_vae_loss,
        extra_figures=vae_figures),
}



def margin_of(config: Config) -> float | None:
    """--margin as given, else the network's loss's default (None for a loss without one)."""
    return config.margin if config.margin is not None else find_experiment(config.network).margin


def find_experiment(name: str) -> Experiment:
    """The Experiment called `name` (or one of the original's spellings); ConfigError naming
    the choices otherwise."""
    return EXPERIMENTS[canonical_network(name)]
