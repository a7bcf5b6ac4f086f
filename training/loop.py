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
from plotting import (embedding_figure, embedding_title, figure_to_png, latent_space_gif, stats_figure,
                      to_2d)

from .checkpoint import load_checkpoint, restore, save_checkpoint
from .config import TRAINING_SETTINGS
from .errors import NonFiniteLossError, RunError, WriteError, out_of_memory_explained
from .evaluation import METRICS, RETRIEVAL_SAMPLE, SILHOUETTE_SAMPLE, embed, evaluate, fixed_sample
from .files import write_atomically
from .interruption import Interrupted, Interruption
from .record import environment, metrics_document, write_metrics
from .registry import ALIASES, find_experiment, unknown_name_message

# The validation loss is the mean over the first batches of one draw of test pairs, triplets
# or images, VALIDATION_ITEMS or a little more: the same items every epoch, so that epochs
# compare, and 0.1 s rather than 0.4 s for all 10,000 (the evaluation's budget is a fifth of
# a training epoch).
VALIDATION_ITEMS = 4096
VALIDATION_SEED_OFFSET = 1     # validation pairs/triplets come from a generator of their own
SILHOUETTE_SEED_OFFSET = 2     # and so do the silhouette's sample
RETRIEVAL_SEED_OFFSET = 3      # and the retrieval queries of all epochs but the last

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

    Everything is checked (names, numbers, device, output folder, data, checkpoint) before the
    output folder is created, so bad input writes nothing. Returns (final row, {file key: path
    written}); the final row is the last epoch's. A run that stops early (a signal, a
    non-finite loss) or cannot write a file still writes what it can of the last completed
    epoch, then raises a RunError that says what happened.
    """
    experiment = find_experiment(config.network)
    dataset = canonical_dataset_name(config.dataset)
    if dataset is None:
        raise RunError(unknown_name_message("dataset", config.dataset, list(DATASET_NAMES)))
    identity = {"network": ALIASES.get(config.network, config.network), "dataset": dataset,
                "latent_dims": config.latent_dims}
    settings = {option: getattr(config, option) for option in TRAINING_SETTINGS}
    checkpoint = (load_checkpoint(config.resume, identity, config.epochs, settings)
                  if config.resume is not None else None)
    device = resolve_device(config.device)
    check_output_folder(config.output)
    try:
        with out_of_memory_explained(device, "the data sets did not fit (they are held there whole, "
                                             "as bytes); free some memory" +
                                             (", or try --device cpu" if device.type != "cpu" else "")):
            train = load_split(dataset, config.data_dir, train=True, device=device)
            test = load_split(dataset, config.data_dir, train=False, device=device)
    except DatasetError as error:
        raise RunError(str(error)) from None

    seed_everything(config.seed, device)
    with out_of_memory_explained(device, f"a network with --latent-dims {config.latent_dims} does not "
                                         f"fit; try fewer"):
        model = experiment.make_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    sampler = experiment.make_sampler(train.labels, config)
    generator = torch.Generator().manual_seed(config.seed)
    # Drawn once, so that the validation loss of every epoch is measured on the same items.
    validation_batches = first_items(experiment.make_sampler(test.labels, config).epoch(
        torch.Generator().manual_seed(config.seed + VALIDATION_SEED_OFFSET)), VALIDATION_ITEMS)
    silhouette_sample = fixed_sample(len(test), SILHOUETTE_SAMPLE, config.seed + SILHOUETTE_SEED_OFFSET)
    retrieval_sample = fixed_sample(len(test), RETRIEVAL_SAMPLE, config.seed + RETRIEVAL_SEED_OFFSET)

    paths = {key: config.prefix + name for key, name in FILES.items()
             if key != "animation" or config.animation is not None}
    history, frames, first_epoch = [], [], 1
    cycle_start = 0  # the epochs trained before the learning rate's current cycle began
    if checkpoint is not None:
        frames = restore(checkpoint, model, optimizer, generator, device)
        history, first_epoch = checkpoint["history"], checkpoint["epoch"] + 1
        # A finished run given more epochs trains them in a cycle of their own: its cycle has
        # annealed the rate to almost zero, and a point part-way along one over all the
        # epochs would be near the peak, reached without a warm-up.
        finished = checkpoint["epoch"] == checkpoint["configuration"]["epochs"]
        cycle_start = checkpoint["epoch"] if finished else checkpoint.get("cycle_start", 0)
    saved = config.resume  # the latest checkpoint: what a stopped run falls back to
    schedule = one_cycle_schedule(optimizer, config.lr,
                                  total_steps=(config.epochs - cycle_start) * len(sampler),
                                  steps_done=(first_epoch - 1 - cycle_start) * len(sampler))
    run_environment = environment(device)
    collapse_reported = False
    embeddings = None  # the last epoch's (train, test) embeddings
    stopped = None     # the RunError that stopped the run early, if one did

    def after_batch(epoch, index):
        if config.animation and index % config.animation == 0:
            frames.append((f"epoch {epoch}, batch {index}", embed(model, test).cpu().numpy()))
            model.train()

    def record(files, **status):
        write_metrics(paths["metrics"], metrics_document(config, identity, run_environment,
                                                         history, config.resume, files, **status))

    smaller_batches = (f"try a smaller --batch-size (now {config.batch_size}; for online-contrastive and "
                       f"online-triplet, fewer --classes-per-batch or --images-per-class)"
                       + (", or --device cpu" if device.type != "cpu" else ""))
    with Interruption() as interruption, out_of_memory_explained(device, smaller_batches):
        make_output_folder(config.output)  # only now: everything above has been checked
        with Progress((config.epochs - first_epoch + 1) * len(sampler), enabled=show_progress) as progress:
            try:
                for epoch in range(first_epoch, config.epochs + 1):
                    started = time.perf_counter()
                    progress.show(epoch=epoch)
                    train_loss = train_epoch(model, experiment, train, sampler.epoch(generator),
                                             optimizer, schedule, config, epoch, progress,
                                             after_batch, interruption)
                    trained = time.perf_counter()
                    # Every test image queries in precision@1 and MAP@R after the last epoch only.
                    scores, embeddings = score(model, experiment, train, test, validation_batches, config,
                                               silhouette_sample,
                                               None if epoch == config.epochs else retrieval_sample)
                    if scores.pop("collapsed") and not collapse_reported:
                        progress.warn(f"warning: epoch {epoch}: the test-set embeddings have collapsed "
                                      f"(spread {scores['test_spread']:.2e}): the loss has mapped every "
                                      f"image to nearly the same point; try another --lr or --margin")
                        collapse_reported = True
                    finished = time.perf_counter()
                    row = {"epoch": epoch, "train_loss": train_loss, **scores,
                           "train_seconds": trained - started, "evaluation_seconds": finished - trained,
                           "seconds": finished - started,
                           "samples_per_second": len(train) / (trained - started)}
                    history.append(row)
                    progress.show(loss=train_loss, val_loss=row["val_loss"], knn=row["knn_accuracy"])
                    if config.animation is not None:
                        frames.append((f"epoch {epoch}, 5-NN accuracy {row['knn_accuracy']:.3f}",
                                       embeddings[1].cpu().numpy()))
                    save_checkpoint(paths["checkpoint"], model=model, optimizer=optimizer, epoch=epoch,
                                    generator=generator, device=device, cycle_start=cycle_start,
                                    history=history, frames=frames,
                                    configuration=dataclasses.asdict(config), identity=identity)
                    saved = paths["checkpoint"]
                    # The figures and embeddings come at the end: until then these two are all
                    # this run has written.
                    record(files={"metrics": paths["metrics"], "checkpoint": saved})
                    if epoch < config.epochs:  # a signal during the evaluation stops here
                        interruption.check(epoch, after_last_batch=True)
            except (Interrupted, NonFiniteLossError) as error:
                stopped = error

        if stopped is not None and saved is not None:
            # The model has moved on since the last completed epoch (or holds NaN): show that epoch.
            frames = restore(torch.load(saved, map_location="cpu", weights_only=True), model,
                             optimizer, generator, device)
            embeddings = None
        failures = []
        # `saved` is None only for a run stopped before any epoch completed (and not resumed): it
        # has no results and writes nothing, since a record of the stop would replace an earlier
        # run's metrics.json in this folder and leave it beside that run's model and figures.
        if saved is not None:
            written = {"metrics": paths["metrics"]}
            if saved == paths["checkpoint"]:
                written["checkpoint"] = saved
            results, failures = write_results(config, experiment, paths, model, train, test, history,
                                              frames, embeddings)
            written.update(results)
            record(files=written, **stopped_status(stopped))
    if stopped is not None:
        stopped.checkpoint, stopped.epochs_completed = saved, len(history)
        if failures:  # one line still says everything
            stopped.args = (f"{stopped}; also {WriteError(failures)}",)
        raise stopped
    if failures:
        raise WriteError(failures)
    return history[-1], written


def score(model, experiment, train, test, validation_batches, config, silhouette_sample, retrieval_queries):
    """The validation loss and the metrics of the model as it is, and both splits' embeddings
    (see evaluation.evaluate for the samples; `retrieval_queries` None: every test image)."""
    scores = {"val_loss": validation_loss(model, experiment, test, validation_batches, config)}
    embeddings = embed(model, train), embed(model, test)
    scores.update(evaluate(embeddings[0], train.labels, embeddings[1], test.labels, silhouette_sample,
                           retrieval_queries))
    return scores, embeddings


def stopped_status(error):
    """What metrics.json says about a run that stopped early (`error`), or did not (None)."""
    if error is None:
        return {}
    if isinstance(error, Interrupted):
        return {"interrupted": error.signal.name}
    return {"failed": str(error)}


def write_results(config, experiment, paths, model, train, test, history, frames, embeddings):
    """Write the end-of-run files of the last completed epoch: embeddings.npz, the figures,
    the GIF, the experiment's own figures; `embeddings` (train, test) are computed when None.

    Each file is written whole or not at all, and one that fails (a full disk) does not stop
    the others. Returns ({file key: path} of the files written, ["<path> (<reason>)"] of those
    that failed). `history` holds at least one epoch (run() calls it only then).
    """
    written = {}
    if embeddings is None:
        embeddings = embed(model, train), embed(model, test)
    contents = {"embeddings": lambda: embeddings_npz(train, test, *embeddings),
                **figures(config, train, test, *embeddings, history, frames)}
    if experiment.extra_figures:
        for suffix, png in experiment.extra_figures(model, test).items():
            paths[suffix] = f"{config.prefix}{suffix}"
            contents[suffix] = lambda png=png: png
    failures = []
    for key, content in contents.items():
        try:
            write_atomically(paths[key], content())
            written[key] = paths[key]
        except OSError as error:
            failures.append(f"{paths[key]} ({error.strerror or error})")
    return written, failures


def seed_everything(seed, device):
    """Seed torch's generators (every device's) and, on a GPU, ask cuDNN for deterministic
    algorithms: by default it may pick a convolution algorithm whose sums come in no fixed
    order, and the same seed would then not give the same numbers."""
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


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
                after_batch, interruption):
    """One pass over `batches`; returns the mean training loss per item.

    Raises Interrupted at the end of the batch during which a signal came (see
    training/interruption.py), NonFiniteLossError when a loss is NaN or infinite.
    """
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
        interruption.check(epoch)
    return ((losses * sizes).sum() / sizes.sum()).item()


def check_finite(losses, epoch, first_batch):
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        raise NonFiniteLossError(epoch, first_batch + bad[0].item())


def first_items(batches, count):
    """The first of `batches` that hold at least `count` items between them (all if fewer)."""
    total = 0
    for index, batch in enumerate(batches):
        total += len(batch[0])
        if total >= count:
            return batches[:index + 1]
    return batches


@torch.inference_mode()
def validation_loss(model, experiment, split, batches, config):
    """Mean loss per item over the fixed validation batches, in eval mode.

    A loss that draws random numbers (the vae samples z) draws them from torch's generator
    forked and seeded for the purpose: the same draws every epoch, and the training's random
    stream untouched, so that how much is validated cannot change how the model trains.
    """
    model.eval()
    # manual_seed reseeds every CUDA device, so every one is forked and restored.
    cuda_devices = range(torch.cuda.device_count()) if split.labels.is_cuda else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(config.seed + VALIDATION_SEED_OFFSET)
        total = sum(experiment.batch_loss(model, split, batch, config) * len(batch[0]) for batch in batches)
    return (total / sum(len(batch[0]) for batch in batches)).item()


def embeddings_npz(train, test, train_embedding, test_embedding):
    buffer = io.BytesIO()
    np.savez(buffer, train_embeddings=train_embedding.cpu().numpy(),
             train_labels=train.labels.cpu().numpy(), test_embeddings=test_embedding.cpu().numpy(),
             test_labels=test.labels.cpu().numpy())
    return buffer.getvalue()


def figures(config, train, test, train_embedding, test_embedding, history, frames):
    """{file key: a function that renders its PNG or GIF bytes} for the last epoch of `history`."""
    title = f"{config.network} on {canonical_dataset_name(config.dataset)}"
    last = history[-1]
    caption = f"epoch {last['epoch']}, 5-NN accuracy {last['knn_accuracy']:.3f}"

    def embedding_png(name, split, embedding):
        labels = split.labels.cpu().numpy()
        points, projection = to_2d(embedding.cpu().numpy(), labels)
        return figure_to_png(embedding_figure(points, labels, split.class_names,
                                              embedding_title(title, f"{name.capitalize()} set, {caption}",
                                                              projection)))
    contents = {"training_figure": lambda: embedding_png("training", train, train_embedding),
                "testing_figure": lambda: embedding_png("testing", test, test_embedding),
                "stats": lambda: figure_to_png(stats_figure(history, title, METRICS))}
    if frames and config.animation is not None:  # a run resumed without --animation writes no GIF
        contents["animation"] = lambda: latent_space_gif(frames, test.labels.cpu().numpy(),
                                                         test.class_names, title)
    return contents


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
    """'auto' -> CUDA when available, else CPU; an unavailable device is a RunError. A GPU
    comes with its number ('cuda' -> 'cuda:0'), so that metrics.json names the one trained on."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
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
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    elif device.type != "cpu":
        raise RunError(f"--device {name} is not supported; use auto, cpu, cuda or cuda:N")
    return device


def check_output_folder(folder):
    """Make sure `folder` is a writable folder, or can be created as one, without creating it:
    a run with bad input must leave nothing behind."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RunError(f"--output {folder} is a file, not a folder")
    existing = os.path.abspath(folder)
    while not os.path.exists(existing):  # the nearest existing folder above it
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise RunError(f"--output {folder} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == os.path.abspath(folder) else f" ({existing} is not writable)"
        raise RunError(f"--output {folder} is not writable{where}; choose a folder you can write to")


def make_output_folder(folder):
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise RunError(f"--output {folder} cannot be created: {error.strerror}") from None
