"""What the registry promises about the networks it adds beyond the original's four."""

from types import SimpleNamespace

import pytest
import torch

from training import EXPERIMENTS, Config, find_experiment
from training.registry import margin_of


def test_online_networks_batch_p_classes_of_k_images_whatever_the_batch_size():
    labels = torch.arange(10).repeat(30)
    for network in ("online-contrastive", "online-triplet"):
        for batch_size in (7, 500):
            config = Config(network, "MNIST", batch_size=batch_size, classes_per_batch=5,
                            images_per_class=6)
            batches = find_experiment(network).make_sampler(labels, config).epoch(
                torch.Generator().manual_seed(0))
            assert len(batches) == 300 // 30 and all(len(indices) == 30 for (indices,) in batches)


def test_the_pair_and_triplet_networks_draw_two_items_of_every_image_an_epoch():
    labels = torch.arange(10).repeat(30)
    for network in ("siamese-contrastive", "siamese-binary-cross-entropy", "triplet-loss-net"):
        config = Config(network, "MNIST", batch_size=64)
        sampler = find_experiment(network).make_sampler(labels, config)
        batches = sampler.epoch(torch.Generator().manual_seed(0))
        first = torch.cat([batch[0] for batch in batches])
        assert len(batches) == len(sampler) == 10   # 600 items in batches of 64
        assert torch.equal(torch.bincount(first, minlength=300), torch.full((300,), 2))


def test_vae_trains_on_plain_image_batches_and_adds_two_figures():
    experiment = find_experiment("vae")
    config = Config("vae", "MNIST", batch_size=64)
    batches = experiment.make_sampler(torch.arange(10).repeat(20), config).epoch(torch.Generator())
    assert [len(indices) for (indices,) in batches] == [64, 64, 64, 8]
    assert experiment.extra_figures is not None
    assert all(find_experiment(name).extra_figures is None
               for name in ("siamese-contrastive", "online-triplet"))


def test_validation_neither_draws_from_nor_disturbs_the_training_random_stream(tiny_data):
    # The vae samples z in its loss, also when validating. Those draws must not come from the
    # stream training uses, else how much is validated would change how the model trains.
    from datasets import load_split
    from training.loop import validation_loss
    from training.setup import first_items
    split = load_split("MNIST", tiny_data, train=False, device=torch.device("cpu"))
    config = Config("vae", "MNIST", data_dir=tiny_data)
    experiment = find_experiment("vae")
    torch.manual_seed(0)
    model = experiment.make_model(config, (1, 28, 28), 10)
    batches = first_items(experiment.make_sampler(split.labels, config).epoch(torch.Generator().manual_seed(1)), 32)
    state = torch.get_rng_state()
    first = validation_loss(model, experiment, split, batches, config)
    assert torch.equal(torch.get_rng_state(), state)
    assert validation_loss(model, experiment, split, batches, config) == first  # the same draws of z


def test_every_loss_with_a_margin_has_its_own_default_and_a_given_margin_wins():
    for name, experiment in EXPERIMENTS.items():
        assert ("margin" in experiment.settings) == (experiment.margin is not None), name
    assert margin_of(Config("siamese-contrastive", "MNIST")) == 2.0
    assert margin_of(Config("online-contrastive", "MNIST")) == 2.0
    assert margin_of(Config("triplet-loss-net", "MNIST")) == 1.0
    assert margin_of(Config("online-triplet", "MNIST")) == 1.0
    assert margin_of(Config("vae", "MNIST")) is None
    assert margin_of(Config("siamese-contrastive", "MNIST", margin=0.5)) == 0.5


def test_triplet_loss_net_trains_with_the_distance_swap():
    # anchor (0, 0), positive (1, 0), negative (1.5, 0): d(a, p) = 1, d(a, n) = 1.5, d(p, n) = 0.5.
    # Margin 1: the plain triplet loss is max(0, 1 - 1.5 + 1) = 0.5; with the swap,
    # max(0, 1 - min(1.5, 0.5) + 1) = 1.5.
    points = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.5, 0.0]])
    split = SimpleNamespace(inputs=lambda indices: points[indices])
    batch = (torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
    loss = find_experiment("triplet-loss-net").batch_loss(
        torch.nn.Identity(), split, batch, Config("triplet-loss-net", "MNIST"))
    assert loss.item() == pytest.approx(1.5)
