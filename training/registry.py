"""Every network/loss pair the suite trains, by name: the only place that knows them.

An Experiment says how to build the network, which sampler draws its batches, and how a
batch of indices becomes a loss. The training loop uses nothing else, so adding a network
is: a module in networks/, a loss in losses/, one entry in EXPERIMENTS, and tests.

Every `batch_loss(model, split, batch, config)` looks its images up with `split.inputs`,
and a siamese or triplet step embeds all its images in one forward pass.
"""

import difflib
from dataclasses import dataclass
from typing import Callable

import torch

from datasets import BalancedBatchSampler, IndexSampler, PairSampler, TripletSampler
from losses import (binary_cross_entropy_with_logits, contrastive_loss, cross_entropy_loss,
                    negative_elbo, online_contrastive_loss, online_triplet_loss, triplet_loss)
from networks import ClassificationNet, EmbeddingNet, KochSiameseNet, VariationalAutoencoder

from .errors import RunError
from .vae_figures import vae_figures


@dataclass(frozen=True)
class Experiment:
    summary: str
    make_model: Callable     # config -> nn.Module with .embed(images)
    make_sampler: Callable   # (labels, config) -> sampler with len() and .epoch(generator)
    batch_loss: Callable     # (model, split, batch, config) -> scalar loss tensor
    extra_figures: Callable | None = None  # (model, test split) -> {file suffix: PNG bytes}


def _classification_loss(model, split, batch, config):
    (indices,) = batch
    return cross_entropy_loss(model(split.inputs(indices)), split.labels[indices])


def _contrastive_loss(model, split, batch, config):
    first, second, same = batch
    z1, z2 = model.embed(split.inputs(torch.cat([first, second]))).chunk(2)
    return contrastive_loss(z1, z2, same, config.margin)


def _koch_loss(model, split, batch, config):
    first, second, same = batch
    return binary_cross_entropy_with_logits(model(split.inputs(first), split.inputs(second)), same)


def _triplet_loss(model, split, batch, config):
    anchor, positive, negative = batch
    za, zp, zn = model.embed(split.inputs(torch.cat([anchor, positive, negative]))).chunk(3)
    return triplet_loss(za, zp, zn, config.margin)


def _online_contrastive_loss(model, split, batch, config):
    (indices,) = batch
    return online_contrastive_loss(model.embed(split.inputs(indices)), split.labels[indices],
                                   config.margin)


def _online_triplet_loss(model, split, batch, config):
    (indices,) = batch
    return online_triplet_loss(model.embed(split.inputs(indices)), split.labels[indices],
                               config.margin, config.mining)


def _vae_loss(model, split, batch, config):
    # The encoder sees normalised images like every other network; the Bernoulli
    # reconstruction targets are the pixel intensities in [0, 1].
    (indices,) = batch
    logits, mean, log_variance = model(split.inputs(indices))
    return negative_elbo(logits, split.pixels(indices), mean, log_variance)


def _batches_of(sampler_class):
    return lambda labels, config: sampler_class(labels, config.batch_size)


def _balanced_batches(labels, config):
    try:
        return BalancedBatchSampler(labels, config.classes_per_batch, config.images_per_class)
    except ValueError as error:
        raise RunError(f"--classes-per-batch {config.classes_per_batch}: {error}") from None


EXPERIMENTS = {
    "embedding-classification": Experiment(
        summary="EmbeddingNet + linear classifier, cross-entropy",
        make_model=lambda config: ClassificationNet(config.latent_dims),
        make_sampler=_batches_of(IndexSampler),
        batch_loss=_classification_loss),
    "siamese-contrastive": Experiment(
        summary="siamese EmbeddingNet, contrastive loss (Hadsell et al. 2006)",
        make_model=lambda config: EmbeddingNet(config.latent_dims),
        make_sampler=_batches_of(PairSampler),
        batch_loss=_contrastive_loss),
    "siamese-binary-cross-entropy": Experiment(
        summary="Koch et al. (2015) siamese network, binary cross-entropy",
        make_model=lambda config: KochSiameseNet(config.latent_dims),
        make_sampler=_batches_of(PairSampler),
        batch_loss=_koch_loss),
    "triplet-loss-net": Experiment(
        summary="EmbeddingNet on triplets, triplet loss (Schroff et al. 2015)",
        make_model=lambda config: EmbeddingNet(config.latent_dims),
        make_sampler=_batches_of(TripletSampler),
        batch_loss=_triplet_loss),
    "online-contrastive": Experiment(
        summary="EmbeddingNet on P x K balanced batches, contrastive loss over every positive "
                "pair and as many hardest negative pairs",
        make_model=lambda config: EmbeddingNet(config.latent_dims),
        make_sampler=_balanced_batches,
        batch_loss=_online_contrastive_loss),
    "online-triplet": Experiment(
        summary="EmbeddingNet on P x K balanced batches, triplet loss over triplets mined in "
                "the batch (--mining)",
        make_model=lambda config: EmbeddingNet(config.latent_dims),
        make_sampler=_balanced_batches,
        batch_loss=_online_triplet_loss),
    "vae": Experiment(
        summary="variational autoencoder, negative ELBO; embedding = posterior mean",
        make_model=lambda config: VariationalAutoencoder(config.latent_dims),
        make_sampler=_batches_of(IndexSampler),
        batch_loss=_vae_loss,
        extra_figures=vae_figures),
}

# The original project's spellings: its users' scripts still run.
ALIASES = {"siamese-constrastive": "siamese-contrastive", "tripet-loss-net": "triplet-loss-net"}


def find_experiment(name):
    """The Experiment called `name` (or one of its aliases); RunError naming the choices otherwise."""
    canonical = ALIASES.get(name, name)
    if canonical in EXPERIMENTS:
        return EXPERIMENTS[canonical]
    raise RunError(unknown_name_message("network", name, list(EXPERIMENTS), list(ALIASES)))


def unknown_name_message(kind, name, choices, other_spellings=()):
    close = difflib.get_close_matches(name, [*choices, *other_spellings], n=1)
    hint = f" (did you mean {ALIASES.get(close[0], close[0])}?)" if close else ""
    return f"unknown {kind} '{name}'{hint}; choose one of: {', '.join(choices)}"
