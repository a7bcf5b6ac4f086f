"""Training speed of this suite against the classic pipeline, side by side; not a test.

    python benchmarks/bench_train.py --data-dir ../shared/datasets

1. Throughput: for every network of the registry that the classic pipeline can train (see
   benchmarks/classic.py) and every batch size, one epoch with this suite's data path and loop,
   then one with the classic pipeline's, alternately, `--repeats` times each. Each run is a fresh
   process, so that peak resident memory is its own. Prints median samples per second of both,
   their ratio and the peak resident memory; writes the same figures as JSON.
2. Threads: the suite's epoch of the whole-process network (below) at every batch size with
   each of `--thread-counts` torch threads, alternately: what a second core buys, and what
   OMP_NUM_THREADS=1 costs.
3. Whole process: `train.py NETWORK MNIST --epochs 1 --animation` against `classic.py` with the
   same arguments, alternately, wall clock and peak memory; and where train.py's seconds go
   (start-up and imports, data loading, the rest of the run's setup, training, evaluation,
   plotting, GIF, file writing), from an instrumented run of the same command (PROFILED).
4. Time to quality: the test-set 5-NN accuracy of whole `train.py` runs of each
   `--time-to-quality` network against wall-clock seconds, under each `--quality-settings`:
   by default train.py's defaults and the original's learning rate and batch size; `all` adds
   the alternatives to the defaults (QUALITY_SETTINGS), to show which reaches `--target` first.

Runs are timed on whatever else the machine is doing: take medians, and compare only figures
from one run of this script.
"""

import argparse
import collections
import contextlib
import functools
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from training.config import default_data_dir, parse_number, positive  # noqa: E402  (torch-free)

# Run a command as a child and report its wall clock and peak resident memory. A fresh
# launcher per run, so RUSAGE_CHILDREN holds that run's processes only (on Linux ru_maxrss is
# the largest single process, in KiB: for the classic pipeline, its main process or its worker).
LAUNCHER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - started
print(json.dumps({"returncode": done.returncode, "wall_seconds": wall, "stdout": done.stdout,
                  "stderr": done.stderr[-2000:],
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measured(command):
    """Run `command` (a list) in a fresh launcher; its wall clock, peak memory and output."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    result = json.loads(done.stdout)
    if result["returncode"] != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result['stderr']}")
    return result


def worker_command(**job):
    return [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job)]


# ---------------------------------------------------------------- workers (one per process)

def one_epoch(pipeline, network, batch_size, data_dir, device, threads=None):
    """Train `network` one epoch on the MNIST in `data_dir`, on `threads` torch threads (None:
    torch's default); (seconds of the epoch, items trained).

    The suite's run is built by training.setup.set_up, as train.py builds it; the classic
    pipeline trains the same network from the same first weights (classic.classic_model).
    Loading the data set and building the model are not timed (both pipelines pay them once per
    process, see the whole-process figures); the epoch is: drawing its pairs or triplets,
    every batch, and (classic only) the counting pass over the loader.
    """
    from training import Config

    if threads:
        torch.set_num_threads(threads)
    config = Config(network, "MNIST", epochs=1, batch_size=batch_size, data_dir=data_dir, device=device)
    return suite_epoch(config) if pipeline == "suite" else classic_epoch(config)


def suite_epoch(config):
    from training.interruption import Interruption
    from training.loop import train_epoch
    from training.progress import Progress
    from training.setup import set_up

    run = set_up(config)
    synchronise(run.device)
    started = time.perf_counter()
    with Progress(len(run.sampler), enabled=False) as progress, Interruption() as interruption:
        _, items = train_epoch(run, 1, progress, lambda index: None, interruption)
    synchronise(run.device)
    return time.perf_counter() - started, items


def classic_epoch(config):
    from classic import classic_loader, classic_model, classic_train_epoch, torchvision_split
    from training.setup import resolve_device

    device = resolve_device(config.device)
    dataset = torchvision_split("MNIST", config.data_dir, train=True)
    model = classic_model(config, dataset, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    started = time.perf_counter()
    classic_train_epoch(model, config.network, classic_loader(config.network, dataset, config.batch_size),
                        optimizer, config, device)
    synchronise(device)
    return time.perf_counter() - started, len(dataset)


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# Where a whole train.py process spends its seconds: (module, function, phase, called by every
# run). Each function is wrapped where the run looks it up, in the module named, so these are
# the names training/loop.py, training/setup.py and training/outputs.py call. A name that is not
# there, or one marked as called by every run that was not called, stops the profile with an
# error that names it: a renamed function cannot send its seconds to "other" unnoticed.
# Besides these, every other function that training.outputs takes from plotting (the figures it
# draws) is plotting.
PROFILED = (
    ("training.loop", "set_up", "run setup", True),        # model, optimiser, samples: less the data
    ("training.setup", "load_dataset", "data loading", True),
    ("training.loop", "train_epoch", "training", True),
    ("training.loop", "validation_loss", "evaluation", True),
    ("training.loop", "score", "evaluation", True),
    ("training.loop", "embed", "evaluation", False),        # GIF frames within an epoch (--animation N)
    ("training.outputs", "embed", "evaluation", False),     # the end of a run stopped early
    ("training.loop", "save_checkpoint", "file writing", True),
    ("training.loop", "write_metrics", "file writing", True),
    ("training.loop", "remove_earlier_run", "file writing", False),   # once, after the first epoch
    ("training.loop", "write_results", "file writing", True),
    ("training.outputs", "embeddings_npz", "file writing", True),
    ("training.outputs", "write_atomically", "file writing", True),
    ("training.outputs", "figure_to_png", "plotting", True),
    ("training.outputs", "latent_space_gif", "GIF", False),  # with --animation
)
PLOTTING_CALLER = "training.outputs"


class Phases:
    """Seconds per phase, from the calls of the functions wrapped with `timed`, and the number
    of calls of each. Nested calls count exclusively: an embedding drawn inside a training
    epoch is evaluation, and the epoch's seconds exclude it."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.seconds = {}
        self.calls = collections.Counter()
        self._inner = []   # for each call under way: the seconds of the wrapped calls within it

    def timed(self, phase, function, name):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            self.calls[name] += 1
            self._inner.append(0.0)
            started = self.clock()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = self.clock() - started
                inner = self._inner.pop()
                self.seconds[phase] = self.seconds.get(phase, 0.0) + elapsed - inner
                if self._inner:
                    self._inner[-1] += elapsed
        return wrapper


def profile_table(table=PROFILED):
    """`table`, its modules imported, with the plotting functions of PLOTTING_CALLER that it
    does not name added as plotting; LookupError naming every function of `table` that is not
    in its module."""
    missing = [f"{module}.{name}" for module, name, *_ in table
               if not callable(getattr(importlib.import_module(module), name, None))]
    if missing:
        raise LookupError(f"the whole-process profile wraps {', '.join(missing)}, which no longer "
                          f"exist(s): update PROFILED in benchmarks/bench_train.py to what the run calls")
    named = {(module, name) for module, name, *_ in table}
    caller = importlib.import_module(PLOTTING_CALLER)
    plotting = [(PLOTTING_CALLER, name, "plotting", False) for name, value in sorted(vars(caller).items())
                if (PLOTTING_CALLER, name) not in named and callable(value)
                and getattr(value, "__module__", "").split(".")[0] == "plotting"]
    return [*table, *plotting]


@contextlib.contextmanager
def profiled(table=PROFILED, clock=time.perf_counter):
    """Within the block, time every function of `table` (see PROFILED); yields the Phases.
    The functions are put back after it. LookupError before the block for a function that is
    not there, and after it for one marked as called by every run that was not called."""
    entries = profile_table(table)
    phases = Phases(clock)
    originals = []
    try:
        for module_name, name, phase, _ in entries:
            module = importlib.import_module(module_name)
            originals.append((module, name, getattr(module, name)))
            setattr(module, name, phases.timed(phase, getattr(module, name), f"{module_name}.{name}"))
        yield phases
    finally:
        for module, name, original in reversed(originals):
            setattr(module, name, original)
    uncalled = [f"{module}.{name}" for module, name, _, always in entries
                if always and not phases.calls[f"{module}.{name}"]]
    if uncalled:
        raise LookupError(f"the whole-process profile wraps {', '.join(uncalled)}, which the run no longer "
                          f"calls: update PROFILED in benchmarks/bench_train.py to what the run calls")


def profiled_train(argv):
    """Run train.py's main(argv) with a timer around each phase (PROFILED); seconds per phase.
    Whatever else main() spends (parsing, the log, metrics.json's contents) is `other`."""
    import train

    with profiled() as phases:
        started = time.perf_counter()
        if train.main(argv) != 0:
            raise SystemExit("train.py failed")
        elapsed = time.perf_counter() - started
    return {**phases.seconds, "other": elapsed - sum(phases.seconds.values())}


class _OutOfTime(Exception):
    pass


def accuracy_over_time(argv, launched, budget):
    """Run train.py's main(argv), noting (seconds since `launched`, test-set 5-NN accuracy)
    after every epoch's scoring; the run is cut off at the first one past `budget` seconds."""
    import train
    import training.loop as loop

    seen = []
    score = loop.score   # an AttributeError, not silence, if the loop no longer scores through it

    @functools.wraps(score)
    def noted(*args, **kwargs):
        scores, embeddings = score(*args, **kwargs)
        seen.append((time.time() - launched, scores["knn_accuracy"]))
        if seen[-1][0] > budget:
            raise _OutOfTime
        return scores, embeddings

    loop.score = noted
    try:
        train.main(argv)
    except _OutOfTime:
        pass
    finally:
        loop.score = score
    return seen


def worker(job):
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    if job["kind"] == "epoch":
        seconds, items = one_epoch(job["pipeline"], job["network"], job["batch_size"], job["data_dir"],
                                   job["device"], job.get("threads"))
        print(json.dumps({"seconds": seconds, "items": items}))
    elif job["kind"] == "profile":
        print(json.dumps(profiled_train(job["argv"])))
    else:
        print(json.dumps(accuracy_over_time(job["argv"], job["launched"], job["budget"])))


# ---------------------------------------------------------------- the benchmark

def epoch_in_own_process(**job):
    """One worker epoch (see one_epoch) in a fresh process: (samples per second, peak MB)."""
    result = measured(worker_command(kind="epoch", **job))
    epoch = json.loads(result["stdout"].strip().splitlines()[-1])
    return epoch["items"] / epoch["seconds"], result["peak_rss_mb"]


def throughput(networks, batch_sizes, repeats, data_dir, device, log):
    rows = []
    for network in networks:
        for batch_size in batch_sizes:
            runs = {"suite": [], "classic": []}
            for repeat in range(repeats):
                for pipeline in ("suite", "classic"):  # alternately, so both see the same load
                    speed, peak = epoch_in_own_process(pipeline=pipeline, network=network, batch_size=batch_size,
                                                       data_dir=data_dir, device=device)
                    runs[pipeline].append({"samples_per_second": speed, "peak_rss_mb": peak})
                    log(f"  {network} batch {batch_size} repeat {repeat + 1} {pipeline}: "
                        f"{speed:.0f} samples/s, {peak:.0f} MB")
            rows.append(summarise(network, batch_size, runs))
    return rows


def thread_scaling(network, batch_sizes, thread_counts, repeats, data_dir, device, log):
    """The suite's epoch of `network` on each of `thread_counts` torch threads, alternately;
    median samples per second of each, and each count's speed-up over the first, the median
    of the side-by-side ratios."""
    rows = []
    for batch_size in batch_sizes:
        runs = {count: [] for count in thread_counts}
        for repeat in range(repeats):
            for count in thread_counts:
                speed, _ = epoch_in_own_process(pipeline="suite", network=network, batch_size=batch_size,
                                                data_dir=data_dir, device=device, threads=count)
                runs[count].append(speed)
                log(f"  {network} batch {batch_size} repeat {repeat + 1}, {count} thread(s): "
                    f"{runs[count][-1]:.0f} samples/s")
        first = thread_counts[0]
        rows.append({"network": network, "batch_size": batch_size,
                     "samples_per_second": {str(count): statistics.median(runs[count]) for count in thread_counts},
                     "speedup": {str(count): statistics.median(a / b for a, b in zip(runs[count], runs[first]))
                                 for count in thread_counts},
                     "runs": {str(count): runs[count] for count in thread_counts}})
    return rows


def summarise(network, batch_size, runs):
    def median(pipeline, key):
        return statistics.median(run[key] for run in runs[pipeline])

    ratios = [s["samples_per_second"] / c["samples_per_second"] for s, c in zip(runs["suite"], runs["classic"])]
    return {"network": network, "batch_size": batch_size,
            "suite_samples_per_second": median("suite", "samples_per_second"),
            "classic_samples_per_second": median("classic", "samples_per_second"),
            "ratio": statistics.median(ratios),
            "suite_peak_rss_mb": median("suite", "peak_rss_mb"),
            "classic_peak_rss_mb": median("classic", "peak_rss_mb"),
            "runs": runs}


def whole_process(network, repeats, data_dir, output, log):
    """train.py against classic.py, one epoch with --animation, alternately; then the phases."""
    common = [network, "MNIST", "--epochs", "1", "--animation", "--data-dir", data_dir]
    suite = [sys.executable, os.path.join(ROOT, "train.py"), *common, "--output", os.path.join(output, "suite")]
    classic = [sys.executable, os.path.join(ROOT, "benchmarks", "classic.py"), *common,
               "--output", os.path.join(output, "classic")]
    runs = {"suite": [], "classic": [], "phases": [], "phases_of_a_default_run": []}
    for repeat in range(repeats):
        for name, command in (("suite", suite), ("classic", classic)):
            result = measured(command)
            runs[name].append({"wall_seconds": result["wall_seconds"], "peak_rss_mb": result["peak_rss_mb"]})
            log(f"  whole process repeat {repeat + 1} {name}: {result['wall_seconds']:.1f} s, "
                f"{result['peak_rss_mb']:.0f} MB")
        # Where the seconds go in this one-epoch process, and in a run of the default epochs,
        # whose evaluation, plotting and GIF have a budget of a fifth of its training.
        for key, argv in (("phases", common), ("phases_of_a_default_run", common[:2] + common[4:])):
            argv = [*argv, "--output", os.path.join(output, "profiled")]
            result = measured(worker_command(kind="profile", argv=argv))
            phases = json.loads(result["stdout"].strip().splitlines()[-1])
            phases["start-up and imports"] = result["wall_seconds"] - sum(phases.values())
            runs[key].append(phases)
    summary = {"network": network, "runs": runs}
    for name in ("suite", "classic"):
        if runs[name]:
            summary[f"{name}_wall_seconds"] = statistics.median(r["wall_seconds"] for r in runs[name])
            summary[f"{name}_peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in runs[name])
    if runs["suite"] and runs["classic"]:
        summary["ratio"] = statistics.median(c["wall_seconds"] / s["wall_seconds"]
                                             for s, c in zip(runs["suite"], runs["classic"]))
    for key in ("phases", "phases_of_a_default_run"):
        names = runs[key][0].keys()
        summary[f"{key}_seconds"] = {name: statistics.median(p.get(name, 0.0) for p in runs[key]) for name in names}
        summary[f"{key}_after_training_share"] = statistics.median(
            sum(p.get(name, 0.0) for name in ("evaluation", "plotting", "GIF")) / p["training"] for p in runs[key])
    return summary


# train.py's options in the time-to-quality runs, by name (--quality-settings): its defaults,
# the original's learning rate and batch size, and alternatives that each change one default:
# the peak learning rate, the batch size (with a peak rate to suit it), the margin, or the
# run's length (a 7-epoch one-cycle schedule ends at about the 60 s budget).
QUALITY_SETTINGS = {
    "defaults": [],
    "original": ["--lr", "1e-4", "--batch-size", "32"],
    "lr-0.005": ["--lr", "0.005"],
    "lr-0.02": ["--lr", "0.02"],
    "batch-128": ["--batch-size", "128", "--lr", "0.005"],
    "batch-512": ["--batch-size", "512", "--lr", "0.02"],
    "margin-2": ["--margin", "2"],
    "epochs-7": ["--epochs", "7"],
    # The wide trunk with online-contrastive's MNIST recipe (scripts/make_figures.py), on
    # shorter schedules.
    "wide-6": ["--backbone", "wide", "--shift", "2", "--lr", "0.005", "--epochs", "6"],
    "wide-3": ["--backbone", "wide", "--shift", "2", "--lr", "0.005", "--epochs", "3"],
    "wide-2": ["--backbone", "wide", "--shift", "2", "--lr", "0.005", "--epochs", "2"],
}


def time_to_quality(network, settings, repeats, data_dir, output, budget, target, log):
    """5-NN accuracy against whole-process seconds under each of `settings` (names of
    QUALITY_SETTINGS), alternately; when each first reached `target`, and the best within `budget`."""
    runs = {name: [] for name in settings}
    for repeat in range(repeats):
        for name in settings:
            argv = [network, "MNIST", "--data-dir", data_dir, "--output", os.path.join(output, "quality"),
                    *QUALITY_SETTINGS[name]]
            result = measured(worker_command(kind="quality", argv=argv, launched=time.time(), budget=budget))
            seen = json.loads(result["stdout"].strip().splitlines()[-1])
            runs[name].append(seen)
            log(f"  time to quality, {network}, repeat {repeat + 1}, {name}: " +
                ", ".join(f"{accuracy:.4f} at {seconds:.0f} s" for seconds, accuracy in seen))
    summary = {"network": network, "target": target, "budget_seconds": budget,
               "settings": {name: QUALITY_SETTINGS[name] for name in settings}, "runs": runs}
    for name, seen_runs in runs.items():
        reached = [next((seconds for seconds, accuracy in seen if accuracy >= target), None) for seen in seen_runs]
        best = [max((accuracy for seconds, accuracy in seen if seconds <= budget), default=None) for seen in seen_runs]
        summary[name] = {"seconds_to_target": None if None in reached else statistics.median(reached),
                         "best_accuracy_within_budget": None if None in best else statistics.median(best)}
    return summary


def quality_table(summaries):
    """Markdown: per network and setting, the best 5-NN accuracy within the budget and when
    the target was reached (medians over the repeats)."""
    lines = ["| network | setting | train.py options | best 5-NN within budget | seconds to target |",
             "|---|---|---|---|---|"]
    for summary in summaries:
        for name, options in summary["settings"].items():
            best = summary[name]["best_accuracy_within_budget"]
            reached = summary[name]["seconds_to_target"]
            lines.append(f"| {summary['network']} | {name} | {' '.join(options) or '(none)'} | "
                         f"{'-' if best is None else f'{best:.4f}'} | "
                         f"{'not reached' if reached is None else f'{reached:.0f}'} |")
    return "\n".join(lines)


def first_images_copy(data_dir, samples, folder):
    """A copy of MNIST in `folder` whose training split is its first `samples` images (same
    IDX files, shorter), so that whole processes of both pipelines read the same smaller data."""
    from training.files import write_atomically

    raw = os.path.join(folder, "MNIST", "raw")
    os.makedirs(raw, exist_ok=True)
    for name, header, item_bytes in (("train-images-idx3-ubyte", 16, 28 * 28), ("train-labels-idx1-ubyte", 8, 1),
                                     ("t10k-images-idx3-ubyte", None, None), ("t10k-labels-idx1-ubyte", None, None)):
        with open(os.path.join(data_dir, "MNIST", "raw", name), "rb") as f:
            data = f.read()
        if header is not None:  # a training file: the count (bytes 4-8) and the first items only
            data = data[:4] + samples.to_bytes(4, "big") + data[8:header] + data[header:header + samples * item_bytes]
        write_atomically(os.path.join(raw, name), data)
    return folder


def machine():
    model = "unknown"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    return {"cpus": os.cpu_count(), "cpu_model": model, "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def table(rows, whole, threads):
    """Markdown: the throughput rows, the thread counts, the whole process; only those measured,
    one blank line between sections."""
    sections = []
    if rows:
        sections.append(["| network | batch | suite samples/s | classic samples/s | ratio | suite peak MB | classic peak MB |",
                         "|---|---|---|---|---|---|---|"]
                        + [f"| {r['network']} | {r['batch_size']} | {r['suite_samples_per_second']:.0f} | "
                           f"{r['classic_samples_per_second']:.0f} | {r['ratio']:.1f}x | {r['suite_peak_rss_mb']:.0f} | "
                           f"{r['classic_peak_rss_mb']:.0f} |" for r in rows])
    if threads:
        counts = list(threads[0]["samples_per_second"])
        sections.append(["| network | batch | " + " | ".join(f"{count} thread(s) samples/s" for count in counts)
                         + " | " + " | ".join(f"{count} vs {counts[0]}" for count in counts[1:]) + " |",
                         "|---|---|" + "---|" * (2 * len(counts) - 1)]
                        + [f"| {r['network']} | {r['batch_size']} | "
                           + " | ".join(f"{r['samples_per_second'][count]:.0f}" for count in counts) + " | "
                           + " | ".join(f"{r['speedup'][count]:.2f}x" for count in counts[1:]) + " |"
                           for r in threads])
    if whole:
        lines = []
        if "ratio" in whole:
            lines.append(f"whole process, {whole['network']} MNIST --epochs 1 --animation: train.py "
                         f"{whole['suite_wall_seconds']:.1f} s ({whole['suite_peak_rss_mb']:.0f} MB), "
                         f"classic {whole['classic_wall_seconds']:.1f} s ({whole['classic_peak_rss_mb']:.0f} MB), "
                         f"{whole['ratio']:.1f}x")
        for key, what in (("phases", "one epoch"), ("phases_of_a_default_run", "the default epochs")):
            phases = whole[f"{key}_seconds"]
            lines.append(f"train.py's seconds, {what}: " + ", ".join(
                f"{name} {seconds:.1f}" for name, seconds in sorted(phases.items(), key=lambda item: -item[1]))
                + f"; (evaluation + plotting + GIF) / training {whole[f'{key}_after_training_share']:.2f}")
        sections.append(lines)
    return "\n\n".join("\n".join(lines) for lines in sections)


def quality_settings(text):
    """'defaults,lr-0.02' -> those names of QUALITY_SETTINGS; 'all' (alone) -> every one;
    anything else is an argparse error, one line."""
    names = list(QUALITY_SETTINGS) if text == "all" else text.split(",")
    unknown = [name for name in names if name not in QUALITY_SETTINGS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown setting(s) {', '.join(map(repr, unknown))}; choose from "
                                         f"{', '.join(QUALITY_SETTINGS)}, or all alone")
    return names


def accuracy(text):
    """'0.99' -> 0.99, a fraction in (0, 1]; anything else is an argparse error, one line."""
    value = positive(float)(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text} is not an accuracy (a fraction, at most 1)")
    return value


def non_negative(text):
    """'60' -> 60.0, a finite number of 0 or more; anything else is an argparse error, one line."""
    value = parse_number(float)(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number of 0 or more")
    return value


def positive_integers(text):
    """'32,256' -> [32, 256]; 'none' -> []; anything else is an argparse error, one line."""
    if text == "none":
        return []
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        numbers = []
    if not numbers or min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of positive integers")
    return numbers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data-dir", default=default_data_dir(),
                        help="folder holding MNIST/raw/*-ubyte")
    parser.add_argument("--networks", default=None,
                        help="comma-separated networks (default: every network of the registry)")
    parser.add_argument("--batch-sizes", default="32,256", type=positive_integers, help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=positive(int), default=3, help="runs of each pipeline per case")
    parser.add_argument("--samples", type=positive(int), default=None,
                        help="train on the first N training images only (default: all): the epochs "
                             "and whole processes read a copy of MNIST cut to them, in --scratch")
    parser.add_argument("--device", default="cpu", help="device of the throughput runs")
    parser.add_argument("--thread-counts", default=f"1,{os.cpu_count()}", type=positive_integers,
                        help="comma-separated torch thread counts the suite is timed with, on the "
                             "--whole-process network; 'none' to skip")
    parser.add_argument("--whole-process", default="siamese-contrastive",
                        help="network whose whole train.py process is timed; 'none' to skip")
    parser.add_argument("--time-to-quality", default="siamese-contrastive,online-contrastive",
                        help="comma-separated networks whose test-set 5-NN accuracy is followed against "
                             "wall-clock seconds under each --quality-settings; 'none' to skip")
    parser.add_argument("--quality-settings", default="defaults,original", type=quality_settings,
                        help="comma-separated settings the time-to-quality runs use, or all: " +
                             "; ".join(f"{name} = {' '.join(options) or 'no options'}"
                                       for name, options in QUALITY_SETTINGS.items()))
    parser.add_argument("--target", type=accuracy, default=0.99, help="the 5-NN accuracy to reach")
    parser.add_argument("--budget", type=non_negative, default=60, help="seconds a quality run may take")
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results", "bench_train-cpu.json"),
                        help="where the results go")
    parser.add_argument("--scratch", default=os.path.join(ROOT, "tmp", "bench"),
                        help="folder for the figures of the whole-process runs")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(json.loads(args.worker))

    from classic import CLASSIC_RECIPES
    from datasets import DatasetError, load_split
    from training import EXPERIMENTS, RunError
    from training.files import write_atomically
    from training.setup import resolve_device

    batch_sizes = args.batch_sizes
    wanted = args.networks.split(",") if args.networks else list(EXPERIMENTS)
    quality_networks = [] if args.time_to_quality == "none" else args.time_to_quality.split(",")
    whole_process_network = [] if args.whole_process == "none" else [args.whole_process]
    unknown = [name for name in wanted + quality_networks + whole_process_network if name not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown network(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    if whole_process_network and args.whole_process not in CLASSIC_RECIPES:
        parser.error(f"--whole-process {args.whole_process}: the classic pipeline has no equivalent of it; "
                     f"choose one of {', '.join(CLASSIC_RECIPES)}, or none")
    try:
        resolve_device(args.device)
    except RunError as error:
        parser.error(str(error))
    networks = [name for name in wanted if name in CLASSIC_RECIPES]
    if networks and batch_sizes or args.whole_process != "none" or quality_networks:
        try:  # every part reads MNIST: a missing or corrupt file is one line here, not one per worker
            for training_split in (True, False):
                load_split("MNIST", args.data_dir, train=training_split)
        except DatasetError as error:
            parser.error(str(error))
    for name in wanted:
        if name not in CLASSIC_RECIPES:
            print(f"skipping {name}: the classic pipeline has no equivalent of it")
    results = {"machine": machine(), "device": args.device, "samples": args.samples or "all",
               "repeats": args.repeats}
    print(json.dumps(results["machine"]))
    speed_data = args.data_dir   # what the epochs and whole processes read
    if args.samples is not None and (networks and batch_sizes or args.whole_process != "none"):
        speed_data = first_images_copy(args.data_dir, args.samples, os.path.join(args.scratch, "data"))
    results["throughput"] = throughput(networks, batch_sizes, args.repeats, speed_data, args.device,
                                       log=lambda line: print(line, flush=True))
    results["threads"] = (None if not args.thread_counts or args.whole_process == "none" else
                          thread_scaling(args.whole_process, batch_sizes, args.thread_counts, args.repeats,
                                         speed_data, args.device, log=lambda line: print(line, flush=True)))
    results["whole_process"] = (None if args.whole_process == "none" else
                                whole_process(args.whole_process, args.repeats, speed_data, args.scratch,
                                              log=lambda line: print(line, flush=True)))
    results["time_to_quality"] = [
        time_to_quality(network, args.quality_settings, args.repeats, args.data_dir, args.scratch, args.budget,
                        args.target, log=lambda line: print(line, flush=True))
        for network in quality_networks]
    measured_speed = table(results["throughput"], results["whole_process"], results["threads"])
    if measured_speed:
        print(measured_speed)
    if results["time_to_quality"]:
        print(quality_table(results["time_to_quality"]))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    write_atomically(args.json, (json.dumps(results, indent=1) + "\n").encode())
    print(f"results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
