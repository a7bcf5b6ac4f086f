"""A run's parts, built from a Config: the data, the model, the optimiser and its schedule, the
sampler and its generator, the fixed evaluation samples, and what a checkpoint restores.

Everything that can be wrong with the input (names, numbers, the device, the output folder, the
data, the checkpoint) is checked here, before anything is written. Tests and benchmarks build
their runs through `set_up` too, so they train exactly what train.py trains.
"""

import dataclasses
import os
import sys
from dataclasses import dataclass, field

import torch
from torch import nn

from datasets import ClassTable, DatasetError, Split, canonical_dataset_name, load_dataset
from datasets.names import has_separator

from .checkpoint import check_same_data, check_same_epoch, load_checkpoint, named_as_first_run, restore
from .config import Config, canonical_network, unknown_name_message, validate
from .distributed import ALONE, World
from .errors import ConfigError, out_of_memory_explained
from .evaluation import RETRIEVAL_SAMPLE, SILHOUETTE_SAMPLE, fixed_sample
from .names import DATASETS
from .outputs import check_output_folder
from .registry import Experiment, Sampler, default_classes_per_batch, find_experiment, margin_of
from .usage import ignored_option_warnings

# The validation loss is the mean over the first batches of one draw of test pairs, triplets
# or images, VALIDATION_ITEMS or a little more: the same items every epoch, so that epochs
# compare, at a fraction of the cost of all 10,000.
VALIDATION_ITEMS = 4096
VALIDATION_SEED_OFFSET = 1     # validation pairs/triplets come from a generator of their own
SILHOUETTE_SEED_OFFSET = 2     # and so do the silhouette's sample
RETRIEVAL_SEED_OFFSET = 3      # and the retrieval queries of all epochs but the last


@dataclass
class Run:
    """Everything the loop needs; `history`, `frames`, `first_epoch` and `cycle_start` come
    from the checkpoint of a resumed run."""

    config: Config
    experiment: Experiment
    identity: dict               # what was learned: network, dataset (canonical), latent_dims, backbone
    device: torch.device
    train: Split
    test: Split
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    sampler: Sampler
    generator: torch.Generator   # the sampler's: the batches of every epoch
    validation_batches: list
    silhouette_sample: torch.Tensor
    retrieval_sample: torch.Tensor
    history: list = field(default_factory=list)
    frames: list = field(default_factory=list)
    first_epoch: int = 1
    cycle_start: int = 0         # the epochs trained before the learning rate's current cycle
    warnings: list = field(default_factory=list)   # lines to show once, before training
    source: dict = field(default_factory=dict)     # what the data was, for metrics.json
    held_out: list | None = None                   # a folder's files held out as its test split
    initial_val_loss: float | None = None   # the untrained network's: what "diverged" compares to
    alarms: dict = field(default_factory=dict)     # "collapsed"/"diverged" -> (epoch, warning line)
    world: World = ALONE         # the processes that train it together (training/distributed.py)
    training_model: nn.Module | None = None   # what the training loss calls: `model`, or DDP around it


def set_up(config: Config, world: World = ALONE) -> Run:
    """Check `config` and build its run; RunError (nothing written) when anything is wrong.
    `world`: the processes that train it together (training/distributed.py)."""
    validate(config)
    experiment = find_experiment(config.network)
    if canonical_dataset_name(config.dataset) is None and not os.path.exists(config.dataset) and not (
            has_separator(config.dataset)):   # a bare name that is no data set and no folder: a typo
        raise ConfigError(unknown_name_message("dataset", config.dataset, list(DATASETS))
                          + ", or a folder of images, <folder>/<class>/<image>")
    device = resolve_device(config.device)
    check_output_folder(config.output)
    data = None
    # Process 0 loads first and the others after it: a download, or a folder's first decoding
    # into the cache, happens once, and one that fails has removed what it made before another
    # process looks (several downloading at once left an empty folder behind).
    for turn in ("first", "after"):
        with world.agreement():
            if world.is_main == (turn == "first"):
                data = _load_data(config, device)
    train, test = data.train, data.test
    ignored = ignored_option_warnings(config, canonical_network(config.network), data.source)
    if config.classes_per_batch is None and "classes_per_batch" in experiment.settings:
        # Resolved here, so that a resume and metrics.json see it.
        config = dataclasses.replace(config, classes_per_batch=default_classes_per_batch(
            train.labels, canonical_network(config.network)))
    config = dataclasses.replace(config, margin=margin_of(config))
    identity = {"network": canonical_network(config.network), "dataset": data.name,
                "latent_dims": config.latent_dims, "backbone": config.backbone}
    settings = {option: getattr(config, option) for option in experiment.settings}

    seed_everything(config.seed, device)
    with out_of_memory_explained(device, f"a network with --latent-dims {config.latent_dims} does not "
                                         f"fit; try fewer"):
        try:
            model = experiment.make_model(config, train.shape, len(train.class_names)).to(device)
        except ValueError as error:   # a backbone that cannot take images this small
            raise ConfigError(f"--backbone {config.backbone}: {error}") from None
    checkpoint = (load_checkpoint(config.resume, identity, config.epochs, settings, model)
                  if config.resume is not None else None)
    if checkpoint is not None:   # before its weights are loaded into a network built for this data
        check_same_data(config.resume, checkpoint, train, test, config.dataset)
        config = named_as_first_run(config, checkpoint)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    sampler = experiment.make_sampler(train.labels, config, train.class_names)
    if checkpoint is not None:
        check_same_epoch(config.resume, checkpoint, sampler)
    run = Run(config=config, experiment=experiment, identity=identity, device=device, train=train,
              test=test, model=model, optimizer=optimizer, schedule=None, sampler=sampler,
              generator=torch.Generator().manual_seed(config.seed),
              # Drawn once, so that the validation loss of every epoch is measured on the same items.
              validation_batches=validation_batches(experiment, test, config),
              silhouette_sample=fixed_sample(len(test), SILHOUETTE_SAMPLE, config.seed + SILHOUETTE_SEED_OFFSET),
              retrieval_sample=fixed_sample(len(test), RETRIEVAL_SAMPLE, config.seed + RETRIEVAL_SEED_OFFSET),
              world=world)
    run.warnings += ignored + [f"warning: {line}" for line in data.warnings] + getattr(sampler, "warnings", [])
    run.source, run.held_out = data.source, data.held_out
    items = getattr(sampler, "items", len(train))   # a pair network's epoch: two pairs per image
    if "batch_size" in experiment.settings and config.batch_size > items:
        run.warnings.append(f"warning: --batch-size {config.batch_size} is larger than an epoch ({items} items "
                            f"from {len(train)} training images): each epoch is one batch of {items}, a single "
                            f"step; a smaller --batch-size (say {max(1, items // 8)}) takes more steps")
    if checkpoint is not None:
        run.frames = restore(checkpoint, model, optimizer, run.generator, device)
        run.history, run.first_epoch = checkpoint["history"], checkpoint["epoch"] + 1
        run.initial_val_loss = checkpoint.get("initial_val_loss")
        run.alarms = {kind: tuple(value) for kind, value in checkpoint.get("alarms", {}).items()}
        # A finished run given more epochs trains them in a cycle of their own: its cycle has
        # annealed the rate to almost zero, and a point part-way along one over all the
        # epochs would be near the peak, reached without a warm-up.
        finished = checkpoint["epoch"] == checkpoint["configuration"]["epochs"]
        run.cycle_start = checkpoint["epoch"] if finished else checkpoint.get("cycle_start", 0)
    run.schedule = one_cycle_schedule(optimizer, config.lr,
                                      total_steps=(config.epochs - run.cycle_start) * len(sampler),
                                      steps_done=(run.first_epoch - 1 - run.cycle_start) * len(sampler))
    run.training_model = world.wrap(model)   # after the checkpoint: every process holds the same weights
    return run


def _load_data(config: Config, device: torch.device):
    try:
        with out_of_memory_explained(device, "the data sets did not fit (they are held there whole, "
                                             "as bytes); free some memory, or try a smaller --image-size" +
                                             (", or --device cpu" if device.type != "cpu" else "")):
            return load_dataset(config.dataset, config.data_dir, device, config.image_size,
                                config.test_fraction, config.seed, progress=sys.stderr.isatty())
    except DatasetError as error:
        raise ConfigError(str(error)) from None


def validation_batches(experiment: Experiment, test: Split, config: Config) -> list:
    """The test items the validation loss is measured on, drawn once, so that every epoch is
    measured on the same ones. A folder's test split may hold fewer classes of two or more
    images than a training batch: its P x K batches take as many as there are."""
    pairable = ClassTable(test.labels).num_pairable
    if config.classes_per_batch is not None and pairable < config.classes_per_batch:
        if pairable < 2:   # no batch can be mined: one plain batch of every test image
            return [(torch.arange(len(test), device=test.labels.device),)]
        config = dataclasses.replace(config, classes_per_batch=pairable)
    generator = torch.Generator().manual_seed(config.seed + VALIDATION_SEED_OFFSET)
    return first_items(experiment.make_sampler(test.labels, config, test.class_names).epoch(generator),
                       VALIDATION_ITEMS)


def seed_everything(seed: int, device: torch.device) -> None:
    """Seed torch's generators (every device's) and, on a GPU, ask cuDNN for deterministic
    algorithms: by default it may pick a convolution algorithm whose sums come in no fixed
    order, and the same seed would then not give the same numbers."""
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def one_cycle_schedule(optimizer, peak_lr: float, total_steps: int, steps_done: int = 0):
    """A one-cycle schedule over the whole run: the learning rate warms up to `peak_lr` in the
    first 30% of the steps, then anneals (cosine) to almost zero; Adam's beta1 moves the other
    way (0.95 -> 0.85 -> 0.95).

    The warm-up lets the run use a high peak rate without diverging early, and the annealing
    settles the space at the end; together they reach a given 5-NN accuracy in fewer epochs
    than a constant rate (benchmarks/README.md). The schedule is a function of the step
    alone, so a resumed run (`steps_done` > 0, optimiser state restored) goes on exactly
    where it stopped.
    """
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak_lr, total_steps=total_steps,
                                               last_epoch=steps_done - 1)


def first_items(batches: list, count: int) -> list:
    """The first of `batches` that hold at least `count` items between them (all if fewer)."""
    total = 0
    for index, batch in enumerate(batches):
        total += len(batch[0])
        if total >= count:
            return batches[:index + 1]
    return batches


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; an unavailable device is a RunError. A GPU
    comes with its number ('cuda' -> 'cuda:0'), so that metrics.json names the one trained on."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}'; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA "
                              f"device(s), numbered from 0")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    elif device.type != "cpu" or device.index is not None:   # mps, or a numbered CPU (torch has only one)
        raise ConfigError(f"--device {name} is not supported; use auto, cpu, cuda or cuda:N")
    return device

