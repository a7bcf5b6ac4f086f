"""The training loop: epochs of batches, an evaluation after each, the files.

It knows no network by name: the run's parts come from training/setup.py, the Experiment in
them turns a batch into a loss. After every epoch the loop scores the space
(training/evaluation.py), saves the checkpoint and metrics.json; at the end it writes the
figures and embeddings.npz of the last completed epoch (training/outputs.py).

Started by torchrun, several processes run this loop together (training/distributed.py): each
trains its rows of every batch, process 0 alone evaluates, shows the log and writes the files
(`master_process`), and the others wait for it at the next collective.
"""

import os
import signal
import time

import torch

from datasets.shift import ShiftedSplit, draw_offsets
from plotting import knn_caption

from . import distributed
from .checkpoint import restore, save_checkpoint
from .config import Config
from .errors import NonFiniteLossError, WriteError, out_of_memory_explained
from .evaluation import embed, evaluate
from .interruption import Interrupted, Interruption
from .outputs import output_folder, planned_paths, remove_earlier_run, write_results
from .progress import Progress
from .record import environment, metrics_document, write_metrics
from .setup import Run, VALIDATION_SEED_OFFSET, set_up

DIVERGENCE_FACTOR = 100   # a loss this many times the untrained network's has diverged


def run(config: Config, show_progress: bool | None = None) -> tuple[dict, dict]:
    """Train `config.network` on `config.dataset` and write its files.

    Everything is checked before the output folder is created, so bad input writes nothing.
    Returns (final row, {file key: path written}); the final row is the last epoch's. A run
    that stops early (a signal, a non-finite loss) or cannot write a file still writes what
    it can of the last completed epoch, then raises a RunError that says what happened.
    `show_progress`: the progress bar (None: only when the terminal shows it). Under torchrun,
    the processes other than 0 return (None, {}).
    """
    world = distributed.init(config.device)   # torchrun's processes, or this one ALONE
    try:
        return train(config, world, show_progress)
    finally:
        world.close()


def train(config: Config, world: distributed.World, show_progress: bool | None) -> tuple[dict, dict]:
    """run()'s work, in one of the `world`'s processes."""
    with world.agreement():   # a process that cannot set up stops every one, and process 0 says why
        run = set_up(config, world)
    config = run.config   # with the defaults that depend on the network and the data filled in
    master_process = world.is_main
    paths = planned_paths(config)
    progress = Progress((config.epochs - run.first_epoch + 1) * len(run.sampler),
                        show_progress if master_process else False, lines=master_process)
    run_environment = environment(run.device, world.size)
    if run.initial_val_loss is None and run.first_epoch == 1 and master_process:
        run.initial_val_loss = validation_loss(run.model, run.experiment, run.test, run.validation_batches,
                                               config)
    saved = config.resume  # the latest checkpoint: what a stopped run falls back to
    saved_epoch = run.first_epoch - 1   # the epoch it holds
    embeddings = None      # the last epoch's (train, test) embeddings
    stopped = None         # the RunError that stopped the run early, if one did

    def record(files, **status):
        write_metrics(paths["metrics"], metrics_document(run, run_environment, files, **status))

    smaller_batches = (f"try a smaller --batch-size (now {config.batch_size}; for online-contrastive and "
                       f"online-triplet, fewer --classes-per-batch or --images-per-class)"
                       + (", or --device cpu" if run.device.type != "cpu" else ""))
    with (Interruption(world) as interruption, out_of_memory_explained(run.device, smaller_batches),
          output_folder(config.output)):   # only now: everything above has been checked
        progress.line(start_line(run))
        for warning in run.warnings:
            progress.line(warning)
        with progress:
            try:
                for epoch in range(run.first_epoch, config.epochs + 1):
                    row, collapsed, embeddings = train_and_score(run, epoch, progress, interruption)
                    if master_process:   # the others wait for it in the check below
                        run.history.append(row)
                        for warning in alarms(run, row, collapsed):
                            progress.line(warning)
                        save_checkpoint(paths["checkpoint"], run)
                        saved, saved_epoch = paths["checkpoint"], epoch
                        if epoch == run.first_epoch:   # this run's files replace an earlier run's
                            remove_earlier_run(config, resumed_in_place=config.resume is not None and
                                               os.path.realpath(config.resume) == os.path.realpath(saved))
                        # The figures and embeddings come at the end: until then these two are all
                        # this run has written.
                        record(files={"metrics": paths["metrics"], "checkpoint": saved})
                        progress.line(epoch_line(row, config.epochs))   # after the files: it may fail
                        if progress.reader_gone and interruption.signal is None:
                            # Nobody reads the log any more: stop as on a signal, the epoch saved,
                            # the figures written, resumable (a run at its last epoch just ends).
                            interruption.signal = signal.SIGPIPE
                    if epoch < config.epochs:  # a signal during the evaluation stops here
                        interruption.check(epoch, after_last_batch=True)
            except (Interrupted, NonFiniteLossError, distributed.LostContactError) as error:
                stopped = error
            except OSError as error:   # the checkpoint or metrics.json could not be written
                # What train.py offers to resume from once files can be written again, if any
                # epoch is left to train.
                error.checkpoint = saved if saved_epoch < config.epochs else None
                raise
        lost = isinstance(stopped, distributed.LostContactError)
        if lost:
            world.close()   # (on GPUs, frees a device stream stuck in the lost collective)
        if not master_process:
            if not lost:
                world.barrier()   # until process 0 has written the files: torchrun must not stop it
            if stopped is not None:
                raise stopped
            return None, {}

        if stopped is not None and saved is not None:
            # The model has moved on since the last completed epoch (or holds NaN): show that epoch.
            run.frames = restore(torch.load(saved, map_location="cpu", weights_only=True), run.model,
                                 run.optimizer, run.generator, run.device)
            embeddings = None
        written, failures = {}, []
        # `saved` is None only for a run stopped before any epoch completed (and not resumed): it
        # has no results and writes nothing, since a record of the stop would replace an earlier
        # run's metrics.json in this folder and leave it beside that run's model and figures.
        if saved is not None:
            written = {"metrics": paths["metrics"]}
            if saved == paths["checkpoint"]:
                written["checkpoint"] = saved
            results, failures = write_results(run, embeddings)
            written.update(results)
            record(files=written, **stopped_status(stopped))
        if not lost:
            world.barrier()   # the others wait for the files
        if config.animation is not None and len(run.frames) == 1 and "animation" in written:
            progress.line("note: the GIF has a single frame (one epoch); train more epochs, or use --animation N "
                          "for a frame every N batches")
        # Raised inside the block: a run stopped before it wrote a file leaves no folder of its own.
        if stopped is not None:
            stopped.checkpoint, stopped.epochs_completed = saved, len(run.history)
            if failures:  # one line still says everything
                stopped.args = (f"{stopped}; also {WriteError(failures)}",)
            raise stopped
        if failures:
            raise WriteError(failures)
    return run.history[-1], written


def train_and_score(run: Run, epoch: int, progress: Progress, interruption: Interruption) -> tuple[dict, bool, tuple]:
    """Train one epoch, then score the space: (the epoch's row for metrics.json, whether the
    space collapsed, the (train, test) embeddings)."""
    config = run.config
    started = time.perf_counter()
    progress.epoch = epoch
    frame_seconds = []   # time spent embedding the test set for the GIF's frames, not training

    def after_batch(index):
        if config.animation and index % config.animation == 0 and run.world.is_main:
            began = time.perf_counter()
            run.frames.append((f"epoch {epoch}, batch {index}", embed(run.model, run.test).cpu().numpy()))
            run.model.train()
            frame_seconds.append(time.perf_counter() - began)

    train_loss, items = train_epoch(run, epoch, progress, after_batch, interruption)
    if not run.world.is_main:   # process 0 alone evaluates
        return None, False, None
    trained = time.perf_counter()
    train_seconds = trained - started - sum(frame_seconds)
    scores, embeddings = score(run, epoch)
    collapsed = scores.pop("collapsed")
    finished = time.perf_counter()
    row = {"epoch": epoch, "train_loss": train_loss, **scores,
           "train_seconds": train_seconds, "evaluation_seconds": finished - trained,
           "seconds": finished - started, "samples_per_second": items / train_seconds}
    progress.show_score(epoch, row["knn_accuracy"])
    if config.animation is not None:
        run.frames.append((knn_caption(epoch, row["knn_accuracy"]), embeddings[1].cpu().numpy()))
    return row, collapsed, embeddings


def score(run: Run, epoch: int) -> tuple[dict, tuple]:
    """The validation loss and the metrics of the model as it is, and both splits' embeddings.
    Every test image queries in precision@1 and MAP@R after the last epoch only; the others
    use the run's fixed sample of queries."""
    scores = {"val_loss": validation_loss(run.model, run.experiment, run.test, run.validation_batches, run.config)}
    embeddings = embed(run.model, run.train), embed(run.model, run.test)
    scores.update(evaluate(embeddings[0], run.train.labels, embeddings[1], run.test.labels, run.silhouette_sample,
                           None if epoch == run.config.epochs else run.retrieval_sample))
    return scores, embeddings


def train_epoch(run: Run, epoch: int, progress: Progress, after_batch, interruption: Interruption) -> tuple[float, int]:
    """One pass over an epoch of the run's batches: (mean training loss per item, items trained).

    Raises Interrupted at the end of the batch during which a signal came (see
    training/interruption.py), NonFiniteLossError when a loss is NaN or infinite.
    """
    model, optimizer, schedule, config = run.training_model, run.optimizer, run.schedule, run.config
    world = run.world   # the processes training together, or ALONE
    batches = run.sampler.epoch(run.generator)
    train = run.train
    if config.shift:   # drawn after the batches, from the same generator: the same in every process
        train = ShiftedSplit(train, draw_offsets(len(train), config.shift, run.generator), config.shift)
    model.train()
    # Batch losses stay on the device and are read every --log-interval batches, so the
    # loop does not wait for the device after each step just to print a number.
    losses = torch.zeros(len(batches), device=run.train.labels.device)
    sizes = torch.tensor([len(batch[0]) for batch in batches], device=losses.device)
    checked = 0
    for index, batch in enumerate(batches, start=1):
        with world.contact():   # another process died or stalled: LostContactError
            loss = run.experiment.batch_loss(model, train, batch, config)   # this process's share
            optimizer.zero_grad(set_to_none=True)
            # DDP averages the processes' gradients, and their shares add up to the batch's loss.
            (loss * world.size).backward()
        optimizer.step()
        schedule.step()
        losses[index - 1] = loss.detach()
        progress.update()
        if index % config.log_interval == 0 or index == len(batches):
            world.sum(losses[checked:index])   # the whole batches' losses, in every process
            check_finite(losses[checked:index], epoch, first_batch=checked + 1)
            progress.show_loss(losses[checked:index].mean().item())
            checked = index
        after_batch(index)
        interruption.check(epoch)
    return ((losses * sizes).sum() / sizes.sum()).item(), int(sizes.sum())


def check_finite(losses: torch.Tensor, epoch: int, first_batch: int) -> None:
    bad = (~torch.isfinite(losses)).nonzero()
    if len(bad):
        raise NonFiniteLossError(epoch, first_batch + bad[0].item())


@torch.inference_mode()
def validation_loss(model, experiment, split, batches, config) -> float:
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


def alarms(run: Run, row: dict, collapsed: bool) -> list:
    """Warnings that the space collapsed or the loss diverged after the epoch of `row`, each with
    its likely cause and remedy: the new ones, recorded in `run.alarms` (metrics.json keeps them,
    and train.py repeats them as the run's last lines)."""
    new = []
    epoch = row["epoch"]
    if collapsed and "collapsed" not in run.alarms:
        new.append(("collapsed", f"warning: epoch {epoch}: the test-set embeddings have collapsed (spread "
                                 f"{row['test_spread']:.2e}): the loss has mapped every image to nearly the "
                                 f"same point; {run.experiment.remedy}"))
    reference = run.initial_val_loss
    worst = max(row["train_loss"], row["val_loss"])
    if reference and worst > DIVERGENCE_FACTOR * reference and "diverged" not in run.alarms:
        new.append(("diverged", f"warning: epoch {epoch}: the loss ({worst:.3g}) is over {DIVERGENCE_FACTOR} "
                                f"times the untrained network's ({reference:.3g}): training has diverged; "
                                f"try a lower --lr (now {run.config.lr:g})"))
    for kind, message in new:
        run.alarms[kind] = (epoch, message)
    return [message for _, message in new]


def stopped_status(error) -> dict:
    """What metrics.json says about a run that stopped early (`error`), or did not (None)."""
    if error is None:
        return {}
    if isinstance(error, Interrupted):
        return {"interrupted": error.signal.name}
    return {"failed": str(error)}


def start_line(run: Run) -> str:
    config = run.config
    count = torch.get_num_threads()
    threads = f" ({count} thread{'s' if count > 1 else ''})" if run.device.type == "cpu" else ""
    if run.world.ddp:   # torchrun's processes, each on its own GPU or threads
        threads = f" x {run.world.size} processes{threads.replace('(', '(each ')}"
    resumed = f", resuming after epoch {run.first_epoch - 1}" if run.first_epoch > 1 else ""
    images = "x".join(str(size) for size in run.train.shape)
    return (f"{run.identity['network']} on {run.identity['dataset']} ({len(run.train)} training images of "
            f"{images}), backbone {config.backbone}, {run.device}{threads}, {config.epochs} "
            f"epoch{'s' if config.epochs > 1 else ''}{resumed} -> {config.prefix}*")


def loss_text(value: float) -> str:
    """A loss as the log shows it: 4 decimals, or in powers of ten when it has grown huge."""
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.3e}"


def epoch_line(row: dict, epochs: int) -> str:
    return (f"epoch {row['epoch']}/{epochs}: loss {loss_text(row['train_loss'])}, validation loss "
            f"{loss_text(row['val_loss'])}, 5-NN {row['knn_accuracy']:.4f}, {row['seconds']:.1f} s")
