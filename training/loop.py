"""The training loop: epochs of batches, an evaluation after each, the figures at the end.

It knows no network by name: the Experiment from the registry builds the model, draws the
batches and turns a batch into a loss.
"""

import os
import time

import torch
from tqdm import tqdm

from datasets import DatasetError, canonical_dataset_name, load_split, DATASET_NAMES
from plotting import embedding_figure, figure_to_png, latent_space_gif, stats_figure, to_2d

from .errors import NonFiniteLossError, RunError
from .files import write_atomically
from .metrics import knn_accuracy
from .registry import find_experiment, unknown_name_message

EMBEDDING_BATCH_SIZE = 4096    # images per forward pass when embedding a whole split
KNN_K = 5
VALIDATION_SEED_OFFSET = 1     # validation pairs/triplets come from a generator of their own


def run(config, show_progress=True):
    """Train `config.network` on `config.dataset`, write its files; return the last epoch's row."""
    experiment = find_experiment(config.network)
    dataset = canonical_dataset_name(config.dataset)
    if dataset is None:
        raise RunError(unknown_name_message("dataset", config.dataset, list(DATASET_NAMES)))
    device = resolve_device(config.device)
    prepare_output_folder(config.output)

    try:
        train = load_split(dataset, config.data_dir, train=True, device=device)
        test = load_split(dataset, config.data_dir, train=False, device=device)
    except DatasetError as error:
        raise RunError(str(error)) from None

    configure_threads()
    torch.manual_seed(config.seed)
    model = experiment.make_model(config).to(device)
    sampler = experiment.make_sampler(train.labels, config)
    optimizer, schedule = make_optimizer(model, config, total_steps=config.epochs * len(sampler))
    generator = torch.Generator().manual_seed(config.seed)
    # Drawn once, so that the validation loss of every epoch is measured on the same items.
    validation_batches = experiment.make_sampler(test.labels, config).epoch(
        torch.Generator().manual_seed(config.seed + VALIDATION_SEED_OFFSET))

    history, frames = [], []
    title = f"{config.network} on {dataset}"

    def after_batch(epoch, index):
        if config.animation and index % config.animation == 0:
            frames.append((f"epoch {epoch}, batch {index}", embed(model, test).cpu().numpy()))
            model.train()

    with Progress(config.epochs * len(sampler), enabled=show_progress) as progress:
        for epoch in range(1, config.epochs + 1):
            started = time.perf_counter()
            progress.show(epoch=epoch)
            train_loss = train_epoch(model, experiment, train, sampler.epoch(generator), optimizer,
                                     schedule, config, epoch, progress, after_batch)
            row = {"epoch": epoch, "train_loss": train_loss,
                   "val_loss": validation_loss(model, experiment, test, validation_batches, config)}
            train_embedding, test_embedding = embed(model, train), embed(model, test)
            row["knn_accuracy"] = knn_accuracy(train_embedding, train.labels, test_embedding,
                                               test.labels, k=KNN_K)
            row["seconds"] = time.perf_counter() - started
            history.append(row)
            progress.show(loss=train_loss, val_loss=row["val_loss"], knn=row["knn_accuracy"])
            if config.animation is not None:
                frames.append((f"epoch {epoch}, 5-NN accuracy {row['knn_accuracy']:.3f}",
                               test_embedding.cpu().numpy()))

    write_figures(config, title, train, test, train_embedding, test_embedding, history, frames)
    return history[-1]


def configure_threads():
    """One intra-op thread, unless OMP_NUM_THREADS says otherwise.

    These networks are small: splitting a batch's arithmetic across threads gains little, and
    on a busy machine OpenMP threads spinning on each other made steps several times slower
    (README.md, Speed).
    """
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def make_optimizer(model, config, total_steps):
    """Adam under a one-cycle schedule over the whole run: the learning rate warms up to
    `config.lr` in the first 30% of the steps, then anneals (cosine) to almost zero.

    The warm-up lets the run use a high peak rate without diverging early, and the annealing
    settles the space at the end; together they reach a given 5-NN accuracy in fewer epochs
    than a constant rate (README.md, Speed, has the measurements).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)


def train_epoch(model, experiment, split, batches, optimizer, schedule, config, epoch, progress,
                after_batch):
    """One pass over `batches`; returns the mean training loss per item."""
    model.train()
    # Batch losses stay on the device and are read every --log-interval batches, so the
    # loop does not wait for the device after each step just to print a number.
    losses = torch.zeros(len(batches), device=split.labels.device)
    sizes = torch.tensor([len(batch[0]) for batch in batches], device=losses.device)
    checked = 0
    for index, batch in enumerate(batches, start=1):
        loss = experiment.batch_loss(model, split, batch, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        losses[index - 1] = loss.detach()
        progress.update()
        if index % config.log_interval == 0 or index == len(batches):
            check_finite(losses[checked:index], epoch, first_batch=checked + 1)
            progress.show(loss=losses[checked:index].mean().item())
            checked = index
        after_batch(epoch, index)
    return ((losses * sizes).sum() / sizes.sum()).item()


def check_finite(losses, epoch, first_batch):
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        raise NonFiniteLossError(epoch, first_batch + bad[0].item())


@torch.no_grad()
def validation_loss(model, experiment, split, batches, config):
    """Mean loss per item over the fixed validation batches, in eval mode."""
    model.eval()
    total = sum(experiment.batch_loss(model, split, batch, config) * len(batch[0]) for batch in batches)
    return (total / sum(len(batch[0]) for batch in batches)).item()


@torch.no_grad()
def embed(model, split):
    """The embeddings of every image of `split`, in eval mode, in large batches."""
    model.eval()
    indices = torch.arange(len(split), device=split.labels.device)
    return torch.cat([model.embed(split.inputs(chunk)) for chunk in indices.split(EMBEDDING_BATCH_SIZE)])


def write_figures(config, title, train, test, train_embedding, test_embedding, history, frames):
    last = history[-1]
    caption = f"{title}, epoch {last['epoch']}, 5-NN accuracy {last['knn_accuracy']:.3f}"
    for name, split, embedding in (("training", train, train_embedding), ("testing", test, test_embedding)):
        points, projection = to_2d(embedding.cpu().numpy())
        figure = embedding_figure(points, split.labels.cpu().numpy(), split.class_names,
                                  f"{name.capitalize()} set: {caption}"
                                  + (f"\n({projection})" if projection else ""))
        write_atomically(f"{config.prefix}{name}-set-embedding.png", figure_to_png(figure))
    write_atomically(f"{config.prefix}stats.png", figure_to_png(stats_figure(history, title)))
    if frames:
        gif = latent_space_gif(frames, test.labels.cpu().numpy(), test.class_names, title)
        write_atomically(f"{config.prefix}latent-space-development.gif", gif)


class Progress:
    """A tqdm bar over every batch of the run, with the latest values beside it."""

    def __init__(self, total, enabled=True):
        self.bar = tqdm(total=total, disable=not enabled, unit="batch", dynamic_ncols=True)
        self.values = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def update(self):
        self.bar.update()

    def show(self, **values):
        self.values.update({key: f"{value:.4f}" if isinstance(value, float) else value
                            for key, value in values.items()})
        self.bar.set_postfix(self.values, refresh=False)


def resolve_device(name):
    """'auto' -> CUDA when available, else CPU; an unavailable device is a RunError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RunError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RunError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RunError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA "
                           f"device(s), numbered from 0")
    elif device.type != "cpu":
        raise RunError(f"--device {name} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def prepare_output_folder(folder):
    """Create `folder` if needed and make sure files can be written there, before any training."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RunError(f"--output {folder} is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise RunError(f"--output {folder} cannot be created: {error.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunError(f"--output {folder} is not writable")
