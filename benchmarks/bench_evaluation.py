"""How long the evaluation after each epoch takes, against a training epoch at the defaults.

    SIAMESE_DATA_DIR=/path/to/datasets python benchmarks/bench_evaluation.py [--device cpu] [--repeats 5]
        [--model output/siamese-contrastive-MNIST-model.pt]

The issue's budget: a full evaluation of MNIST (validation loss, embedding both splits, k-NN
accuracy, precision@1, MAP@R, silhouette) must cost less than a fifth of a training epoch of
siamese-contrastive at the default settings. Every epoch but the last scores precision@1 and
MAP@R on a fixed sample of queries (training/evaluation.py); the last epoch's evaluation, with
every test image as a query, is reported beside it. The run is built by training.setup.set_up,
as train.py builds it, and trained and scored by the loop's own functions. A training epoch is
timed over its first --train-batches batches and scaled to a whole epoch; both are medians of
--repeats, measured alternately, so that a busy machine slows both alike. Prints one line per
part and the ratio, with the machine.

How long ranking every query takes depends on how well the space is trained (a trained space
has few items of other classes among a query's first R: training/metrics.py), so the last
epoch's evaluation is only representative on the model a default run ends with: pass its
model.pt as --model (`python train.py siamese-contrastive MNIST` writes it), and that model is
evaluated while a fresh one is trained. Without it the model trained is the one evaluated, and
it has seen only the benchmark's few batches.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from training import Config, RunError, default_data_dir  # noqa: E402
from training.config import positive  # noqa: E402
from training.errors import first_line  # noqa: E402
from training.evaluation import embed, evaluate  # noqa: E402
from training.interruption import Interruption  # noqa: E402
from training.loop import train_epoch, validation_loss  # noqa: E402
from training.metrics import knn_accuracy, retrieval_scores, silhouette  # noqa: E402
from training.progress import Progress  # noqa: E402
from training.setup import set_up  # noqa: E402


class FirstBatches:
    """The first `count` batches of each epoch `sampler` draws: a training epoch cut short, to
    time. Each epoch is still drawn whole, as a run draws it."""

    def __init__(self, sampler, count):
        self.sampler, self.count = sampler, count

    def __len__(self):
        return min(self.count, len(self.sampler))

    def epoch(self, generator):
        return self.sampler.epoch(generator)[:self.count]


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(function, device):
    synchronise(device)
    started = time.perf_counter()
    result = function()
    synchronise(device)
    return time.perf_counter() - started, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=positive(int), default=5)
    parser.add_argument("--train-batches", type=positive(int), default=300)
    parser.add_argument("--threads", type=positive(int), default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--model", default=None,
                        help="model.pt of a siamese-contrastive MNIST run, the model to evaluate "
                             "(default: the one being trained)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # A run as train.py sets it up, with enough epochs in its learning-rate schedule for every
    # round's shortened epoch; what it evaluates (validation batches, the silhouette's sample,
    # the retrieval queries) is drawn from the Config's seed, as in a run.
    config = Config("siamese-contrastive", "MNIST", data_dir=args.data_dir, device=args.device,
                    epochs=args.repeats + 1)
    try:
        run = set_up(config)
    except RunError as error:
        parser.error(str(error))
    device, train, test = run.device, run.train, run.test
    scored = run.model     # the model evaluated: the one --model holds, else the one being trained
    if args.model:
        scored = run.experiment.make_model(config, train.shape, len(train.class_names)).to(device)
        try:
            scored.load_state_dict(torch.load(args.model, map_location=device, weights_only=True)["model"])
        except Exception as error:  # a missing file, no checkpoint, another network's weights, ...
            parser.error(f"--model {args.model} is not the model.pt of a siamese-contrastive MNIST run "
                         f"({first_line(error)})")
    epoch_batches = len(run.sampler)
    run.sampler = FirstBatches(run.sampler, args.train_batches)
    sample, queries = run.silhouette_sample, run.retrieval_sample

    times = {name: [] for name in ("training epoch (scaled)", "validation loss", "embed training set",
                                   "embed test set", "k-NN accuracy", "precision@1 + MAP@R",
                                   "  ... every query", "silhouette", "evaluate() in all",
                                   "full evaluation", "last epoch's evaluation")}
    for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
        with Progress(len(run.sampler), enabled=False) as progress, Interruption() as interruption:
            seconds, _ = timed(lambda: train_epoch(run, repeat + 1, progress, lambda index: None,
                                                   interruption), device)
        parts = {"training epoch (scaled)": seconds * epoch_batches / len(run.sampler)}
        parts["validation loss"], _ = timed(
            lambda: validation_loss(scored, run.experiment, test, run.validation_batches, config), device)
        parts["embed training set"], train_embedding = timed(lambda: embed(scored, train), device)
        parts["embed test set"], test_embedding = timed(lambda: embed(scored, test), device)
        parts["k-NN accuracy"], _ = timed(lambda: knn_accuracy(train_embedding, train.labels,
                                                                test_embedding, test.labels), device)
        parts["precision@1 + MAP@R"], _ = timed(lambda: retrieval_scores(test_embedding, test.labels,
                                                                         queries.to(device)), device)
        parts["  ... every query"], _ = timed(lambda: retrieval_scores(test_embedding, test.labels), device)
        parts["silhouette"], _ = timed(lambda: silhouette(test_embedding[sample.to(device)],
                                                          test.labels[sample.to(device)]), device)
        parts["evaluate() in all"], _ = timed(lambda: evaluate(train_embedding, train.labels, test_embedding,
                                                               test.labels, sample, queries), device)
        parts["full evaluation"] = (parts["validation loss"] + parts["embed training set"]
                               + parts["embed test set"] + parts["evaluate() in all"])
        parts["last epoch's evaluation"] = (parts["full evaluation"] - parts["precision@1 + MAP@R"]
                                            + parts["  ... every query"])
        if repeat:
            for name, value in parts.items():
                times[name].append(value)

    machine = (torch.cuda.get_device_name(device) if device.type == "cuda"
               else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads")
    print(f"device {device} ({machine}); torch {torch.__version__}; medians of {args.repeats}; "
          f"model {args.model or 'untrained'}")
    for name, values in times.items():
        print(f"  {name:<24} {statistics.median(values):8.3f} s")
    for name in ("full evaluation", "last epoch's evaluation"):
        ratio = statistics.median(e / t for e, t in zip(times[name], times["training epoch (scaled)"]))
        print(f"{name} / training epoch: {ratio:.3f} (budget 0.2)")
    # A default run evaluates after every epoch: all but the last with sampled retrieval queries.
    epochs = Config(config.network, config.dataset).epochs
    ratio = statistics.median(((epochs - 1) * e + last) / (epochs * t) for e, last, t in
                              zip(times["full evaluation"], times["last epoch's evaluation"],
                                  times["training epoch (scaled)"]))
    print(f"a default run of {epochs} epochs, evaluation / training: {ratio:.3f} (budget 0.2)")


if __name__ == "__main__":
    main()
