"""The classic way of writing these experiments, kept only as the benchmark's point of comparison.

This is how the original project (and most tutorials) fed its networks:

- `torchvision.datasets.MNIST` with `transforms.ToTensor()`, which turns one PIL image into a
  float tensor per `__getitem__`;
- a `SiameseDataset` / `TripletDataset` wrapper that draws each partner inside `__getitem__` with
  `np.random.choice` over per-class index arrays;
- `DataLoader(shuffle=True, num_workers=1)`, and `len(list(train_loader))` to count the batches
  before training (a whole extra pass over the data);
- a loop that moves each batch `.to(device)`, calls `net(*data)`, then the loss, and reads
  `loss.cpu().detach().numpy()` after every batch to check it for NaN.

It trains the very same networks with the very same losses as this suite (taken from the
registry and `losses/`); only the data path and the loop differ. `python benchmarks/classic.py
NETWORK DATASET [options]` is a whole classic process writing the same four files as train.py,
so that whole processes can be compared too.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch
import torchvision
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from losses import binary_cross_entropy_with_logits, contrastive_loss, cross_entropy_loss  # noqa: E402
from plotting import embedding_figure, figure_to_png, latent_space_gif, stats_figure, to_2d  # noqa: E402
from training import Config, RunError, find_experiment  # noqa: E402
from training.registry import margin_of, triplet_net_loss  # noqa: E402
from training.config import default_data_dir, parse_number, positive, validate  # noqa: E402
from training.files import write_atomically  # noqa: E402
from training.metrics import knn_accuracy  # noqa: E402
from training.setup import resolve_device, seed_everything  # noqa: E402


def torchvision_split(name, root, train, size=None):
    """The torchvision data set, one PIL image -> tensor per item; the first `size` items only."""
    dataset = getattr(torchvision.datasets, name)(root, train=train, download=False,
                                                  transform=transforms.ToTensor())
    if size is not None:
        dataset.data, dataset.targets = dataset.data[:size], dataset.targets[:size]
    return dataset


class SiameseDataset(Dataset):
    """Each item: ((image, partner), same) with the partner drawn here, half of them same-class."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.labels = dataset.targets.numpy()
        self.classes = np.unique(self.labels)
        self.label_to_indices = {label: np.where(self.labels == label)[0] for label in self.classes}

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        first, label = self.dataset[index]
        same = np.random.randint(0, 2)
        if same:
            partner = index
            while partner == index and len(self.label_to_indices[label]) > 1:
                partner = np.random.choice(self.label_to_indices[label])
        else:
            other = np.random.choice(self.classes[self.classes != label])
            partner = np.random.choice(self.label_to_indices[other])
        second, _ = self.dataset[partner]
        return (first, second), same


class TripletDataset(SiameseDataset):
    """Each item: ((anchor, positive, negative), []) with both partners drawn here."""

    def __getitem__(self, index):
        anchor, label = self.dataset[index]
        positive = index
        while positive == index and len(self.label_to_indices[label]) > 1:
            positive = np.random.choice(self.label_to_indices[label])
        other = np.random.choice(self.classes[self.classes != label])
        negative = np.random.choice(self.label_to_indices[other])
        return (anchor, self.dataset[positive][0], self.dataset[negative][0]), []


class PlainDataset(Dataset):
    """Each item: ((image,), label), so that every network is called as net(*data)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        image, label = self.dataset[index]
        return (image,), label


def classic_model(config, dataset, device):
    """The registry's network for `config`, with the first weights training.setup.set_up gives
    it (the same seeding, from config.seed), for the torchvision `dataset`; numpy, which draws
    the partners, is seeded with config.seed too. The suite's copy of the data is not loaded:
    the classic pipeline's memory and seconds are its own."""
    seed_everything(config.seed, device)
    np.random.seed(config.seed)
    image, _ = dataset[0]
    model = find_experiment(config.network).make_model(config, tuple(image.shape), len(dataset.classes))
    return model.to(device)


def _embed_each(model, *images):
    """The classic siamese/triplet forward: one pass through the shared net per side."""
    return tuple(model.embed(side) for side in images)


# network name -> (item wrapper, loss of (model, data, target, config)). A network missing here
# has no classic equivalent and is skipped by the benchmark.
CLASSIC_RECIPES = {
    "embedding-classification": (
        PlainDataset, lambda model, data, target, config: cross_entropy_loss(model(*data), target)),
    "siamese-contrastive": (
        SiameseDataset, lambda model, data, target, config:
            contrastive_loss(*_embed_each(model, *data), target, margin_of(config))),
    "siamese-binary-cross-entropy": (
        SiameseDataset, lambda model, data, target, config:
            binary_cross_entropy_with_logits(model(*data), target.float())),
    "triplet-loss-net": (
        TripletDataset, lambda model, data, target, config:
            triplet_net_loss(*_embed_each(model, *data), config)),
}


def classic_loader(network, dataset, batch_size, shuffle=True):
    wrapper, _ = CLASSIC_RECIPES[network]
    return DataLoader(wrapper(dataset), batch_size=batch_size, shuffle=shuffle, num_workers=1)


def classic_train_epoch(model, network, loader, optimizer, config, device):
    """The classic loop: count the batches, then move, forward, step and read back every batch."""
    _, loss_of = CLASSIC_RECIPES[network]
    num_batches = len(list(loader))
    model.train()
    total = 0.0
    for batch_index, (data, target) in enumerate(loader):
        data = tuple(d.to(device) for d in data)
        if len(target) > 0:
            target = target.to(device)
        optimizer.zero_grad()
        loss = loss_of(model, data, target, config)
        loss.backward()
        optimizer.step()
        loss_value = loss.cpu().detach().numpy()
        if np.isnan(loss_value):
            raise RuntimeError(f"loss is NaN at batch {batch_index + 1} of {num_batches}")
        total += float(loss_value)
    return total / num_batches


@torch.no_grad()
def classic_validation_loss(model, network, loader, config, device):
    _, loss_of = CLASSIC_RECIPES[network]
    model.eval()
    losses = [loss_of(model, tuple(d.to(device) for d in data),
                      target.to(device) if len(target) else target, config).item()
              for data, target in loader]
    return float(np.mean(losses))


@torch.no_grad()
def classic_embed(model, dataset, device, batch_size=1000):
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=1)
    return torch.cat([model.embed(images.to(device)).cpu() for images, _ in loader])


def main(argv=None):
    parser = argparse.ArgumentParser(description="The classic pipeline, for comparison only.")
    parser.add_argument("network", choices=sorted(CLASSIC_RECIPES))
    parser.add_argument("dataset", choices=["MNIST", "FashionMNIST"])
    parser.add_argument("--lr", type=parse_number(float), default=1e-4)
    parser.add_argument("--epochs", type=parse_number(int), default=10)
    parser.add_argument("--batch-size", type=parse_number(int), default=32)
    parser.add_argument("--seed", type=parse_number(int), default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", default="./tmp")
    parser.add_argument("--animation", action="store_true")
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--samples", type=positive(int), default=None,
                        help="train on the first N images only")
    args = parser.parse_args(argv)

    config = Config(args.network, args.dataset, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                    seed=args.seed, device=args.device, output=args.output, data_dir=args.data_dir)
    try:
        validate(config)
        device = resolve_device(config.device)
    except RunError as error:
        parser.error(str(error))
    os.makedirs(args.output, exist_ok=True)
    train = torchvision_split(args.dataset, args.data_dir, train=True, size=args.samples)
    test = torchvision_split(args.dataset, args.data_dir, train=False)
    model = classic_model(config, train, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    train_loader = classic_loader(args.network, train, args.batch_size)
    test_loader = classic_loader(args.network, test, args.batch_size, shuffle=False)

    history, frames = [], []
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        row = {"epoch": epoch,
               "train_loss": classic_train_epoch(model, args.network, train_loader, optimizer, config, device),
               "val_loss": classic_validation_loss(model, args.network, test_loader, config, device)}
        train_embedding, test_embedding = classic_embed(model, train, device), classic_embed(model, test, device)
        row["knn_accuracy"] = knn_accuracy(train_embedding, train.targets, test_embedding, test.targets)
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        print(row, flush=True)
        if args.animation:
            frames.append((f"epoch {epoch}", test_embedding.numpy()))

    prefix = os.path.join(args.output, f"{args.network}-{args.dataset}-")
    title = f"{args.network} on {args.dataset}"
    for name, split, embedding in (("training", train, train_embedding), ("testing", test, test_embedding)):
        labels = split.targets.numpy()
        figure = embedding_figure(to_2d(embedding.numpy(), labels)[0], labels, split.classes,
                                  f"{name} set, {title}")
        write_atomically(f"{prefix}{name}-set-embedding.png", figure_to_png(figure))
    write_atomically(f"{prefix}stats.png",
                     figure_to_png(stats_figure(history, {"knn_accuracy": "5-NN accuracy"},
                                               network=args.network, dataset=args.dataset)))
    if frames:
        write_atomically(f"{prefix}latent-space-development.gif",
                         latent_space_gif(frames, test.targets.numpy(), test.classes,
                                          network=args.network, dataset=args.dataset))


if __name__ == "__main__":
    main()
