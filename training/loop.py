"""The training loop: epochs of batches, an evaluation after each, the files.

It knows no network by name: the Experiment from the registry builds the model, draws the
batches and turns a batch into a loss. After every epoch it scores the space
(training/evaluation.py), writes metrics.json and the checkpoint model.pt; at the end it
writes the figures and embeddings.npz from the last epoch's embeddings.
"""

import dataclasses
import io
import os
import time

import numpy as np
import torch
from tqdm import tqdm

from datasets import DatasetError, canonical_dataset_name, load_split, DATASET_NAMES
from plotting import embedding_figure, figure_to_png, latent_space_gif, stats_figure, to_2d

from .checkpoint import load_checkpoint, restore, save_checkpoint
from .errors import NonFiniteLossError, RunError
from .evaluation import METRICS, embed, evaluate, silhouette_sample
from .files import write_atomically
from .record import environment, metrics_document, write_metrics
from .registry import ALIASES, find_experiment, unknown_name_message

VALIDATION_SEED_OFFSET = 1     # validation pairs/triplets come from a generator of their own
SILHOUETTE_SEED_OFFSET = 2     # and so does the silhouette's sample

FILES = {  # what a run writes, after `<output>/<network>-<dataset>-`
    "metrics": "metrics.json",
    "checkpoint": "model.pt",
    "embeddings": "embeddings.npz",
    "training_figure": "training-set-embedding.png",
    "testing_figure": "testing-set-embedding.png",
    "stats": "stats.png",
    "animation": "latent-space-development.gif",
}


def run(config, show_progress=True):
    """Train `config.network` on `config.dataset` and write its files.

    Returns (final row, {file key: path written}); the final row is the last epoch's.
    """
    experiment = find_experiment(config.network)
    dataset = canonical_dataset_name(config.dataset)
    if dataset is None:
        raise RunError(unknown_name_message("dataset", config.dataset, list(DATASET_NAMES)))
    identity = {"network": ALIASES.get(config.network, config.network), "dataset": dataset,
                "latent_dims": config.latent_dims}
    checkpoint = load_checkpoint(config.resume, identity, config.epochs) if config.resume else None
    device = resolve_device(config.device)
    prepare_output_folder(config.output)
    paths = {key: config.prefix + name for key, name in FILES.items()
             if key != "animation" or config.animation is not None}

    try:
        train = load_split(dataset, config.data_dir, train=True, device=device)
        test = load_split(dataset, config.data_dir, train=False, device=device)
    except DatasetError as error:
        raise RunError(str(error)) from None

    configure_threads()
    torch.manual_seed(config.seed)
    model = experiment.make_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    sampler = experiment.make_sampler(train.labels, config)
    generator = torch.Generator().manual_seed(config.seed)
    # Drawn once, so that the validation loss of every epoch is measured on the same items.
    validation_batches = experiment.make_sampler(test.labels, config).epoch(
        torch.Generator().manual_seed(config.seed + VALIDATION_SEED_OFFSET))
    sample = silhouette_sample(len(test), config.seed + SILHOUETTE_SEED_OFFSET)

    history, frames, first_epoch = [], [], 1
    if checkpoint is not None:
        frames = restore(checkpoint, model, optimizer, generator)
        history, first_epoch = checkpoint["history"], checkpoint["epoch"] + 1
    schedule = one_cycle_schedule(optimizer, config.lr, total_steps=config.epochs * len(sampler),
                                  steps_done=(first_epoch - 1) * len(sampler))
    title = f"{config.network} on {dataset}"
    run_environment = environment(device)
    collapse_reported = False

    def after_batch(epoch, index):
        if config.animation and index % config.animation == 0:
            frames.append((f"epoch {epoch}, batch {index}", embed(model, test).cpu().numpy()))
            model.train()

    with Progress((config.epochs - first_epoch + 1) * len(sampler), enabled=show_progress) as progress:
        for epoch in range(first_epoch, config.epochs + 1):
            started = time.perf_counter()
            progress.show(epoch=epoch)
            train_loss = train_epoch(model, experiment, train, sampler.epoch(generator), optimizer,
                                     schedule, config, epoch, progress, after_batch)
            trained = time.perf_counter()
            row = {"epoch": epoch, "train_loss": train_loss,
                   "val_loss": validation_loss(model, experiment, test, validation_batches, config)}
            train_embedding, test_embedding = embed(model, train), embed(model, test)
            scores = evaluate(train_embedding, train.labels, test_embedding, test.labels, sample)
            if scores.pop("collapsed") and not collapse_reported:
                progress.warn(f"warning: epoch {epoch}: the test-set embeddings have collapsed "
                              f"(spread {scores['test_spread']:.2e}): the loss has mapped every "
                              f"image to nearly the same point; try another --lr or --margin")
                collapse_reported = True
            finished = time.perf_counter()
            row.update(scores, train_seconds=trained - started, evaluation_seconds=finished - trained,
                       seconds=finished - started,
                       samples_per_second=len(train) / (trained - started))
            history.append(row)
            progress.show(loss=train_loss, val_loss=row["val_loss"], knn=row["knn_accuracy"])
            if config.animation is not None:
                frames.append((f"epoch {epoch}, 5-NN accuracy {row['knn_accuracy']:.3f}",
                               test_embedding.cpu().numpy()))
            write_metrics(paths["metrics"], metrics_document(config, identity, run_environment,
                                                             history, config.resume, paths))
            save_checkpoint(paths["checkpoint"], model=model, optimizer=optimizer, epoch=epoch,
                            generator=generator, history=history, frames=frames,
                            configuration=dataclasses.asdict(config), identity=identity)

    write_embeddings(paths["embeddings"], train, test, train_embedding, test_embedding)
    write_figures(config, paths, title, train, test, train_embedding, test_embedding, history, frames)
    if experiment.extra_figures:
        for suffix, png in experiment.extra_figures(model, test).items():
            paths[suffix] = f"{config.prefix}{suffix}"
            write_atomically(paths[suffix], png)
    return history[-1], paths


def configure_threads():
    """One intra-op thread, unless OMP_NUM_THREADS says otherwise.

    These networks are small: splitting a batch's arithmetic across threads gains little, and
    on a busy machine OpenMP threads spinning on each other made steps several times slower
    (README.md, Speed).
    """
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def one_cycle_schedule(optimizer, peak_lr, total_steps, steps_done=0):
    """A one-cycle schedule over the whole run: the learning rate warms up to `peak_lr` in the
    first 30% of the steps, then anneals (cosine) to almost zero; Adam's beta1 moves the other
    way (0.95 -> 0.85 -> 0.95).

    The warm-up lets the run use a high peak rate without diverging early, and the annealing
    settles the space at the end; together they reach a given 5-NN accuracy in fewer epochs
    than a constant rate (README.md, Speed, has the measurements). The schedule is a function
    of the step alone, so a resumed run (`steps_done` > 0, optimiser state restored) goes on
    exactly where it stopped.
    """
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak_lr, total_steps=total_steps,
                                               last_epoch=steps_done - 1)


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


@torch.inference_mode()
def validation_loss(model, experiment, split, batches, config):
    """Mean loss per item over the fixed validation batches, in eval mode."""
    model.eval()
    total = sum(experiment.batch_loss(model, split, batch, config) * len(batch[0]) for batch in batches)
    return (total / sum(len(batch[0]) for batch in batches)).item()


def write_embeddings(path, train, test, train_embedding, test_embedding):
    buffer = io.BytesIO()
    np.savez(buffer, train_embeddings=train_embedding.cpu().numpy(),
             train_labels=train.labels.cpu().numpy(), test_embeddings=test_embedding.cpu().numpy(),
             test_labels=test.labels.cpu().numpy())
    write_atomically(path, buffer.getvalue())


def write_figures(config, paths, title, train, test, train_embedding, test_embedding, history, frames):
    last = history[-1]
    caption = f"{title}, epoch {last['epoch']}, 5-NN accuracy {last['knn_accuracy']:.3f}"
    for name, split, embedding in (("training", train, train_embedding), ("testing", test, test_embedding)):
        points, projection = to_2d(embedding.cpu().numpy())
        figure = embedding_figure(points, split.labels.cpu().numpy(), split.class_names,
                                  f"{name.capitalize()} set: {caption}"
                                  + (f"\n({projection})" if projection else ""))
        write_atomically(paths[f"{name}_figure"], figure_to_png(figure))
    write_atomically(paths["stats"], figure_to_png(stats_figure(history, title, METRICS)))
    if frames:
        gif = latent_space_gif(frames, test.labels.cpu().numpy(), test.class_names, title)
        write_atomically(paths["animation"], gif)


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

    def warn(self, message):
        """A line in the log above the bar (shown with or without the bar)."""
        tqdm.write(message)

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
