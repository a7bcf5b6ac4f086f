"""Regenerate the README's figures, results table and architecture diagram with one command.

    python scripts/make_figures.py [--networks a,b] [--datasets MNIST] [--backbones original,wide,wide-gn]
                                   [--redo] [--jobs 2]

Trains every registered network on every data set with the `original` backbone and the default
options, and beside them the runs of ORIGINAL_RECIPES; and the networks of BACKBONE_NETWORKS on
each other backbone with that backbone's recipe (RECIPES); recipes are the options chosen on a
validation split. All with a fixed seed (one
`train.py` process per run, `--jobs` at a time, each with its share of the CPU cores as torch
threads: separate runs use cores better than threads within one run). `--networks` narrows
every backbone's list. Then it writes into output/:

- `<network>-<dataset>-testing-set-embedding.png` for every network and data set, from its run
  (backbone and options) that scored the highest 5-NN accuracy;
- `<network>-<dataset>-latent-space-development.gif` for the default network on each data set,
  from its run at the default options (the README's first command);
- `results.md` and `results.json`: network, data set, epochs, 5-NN accuracy, precision@1,
  MAP@R, training seconds and device of every run, with the commit and the command;

and the table into README.md between its `results` markers, and diagrams/architectures.png.

A run is skipped when its outputs are current: its metrics.json is complete and was made by
the same code (a hash of every source file the run uses) with the same options. `--redo`
trains again anyway. Everything else a run writes stays in `--work-dir` (ignored by git).
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from datasets import DATASET_NAMES  # noqa: E402
from training import DATA_DIR_VARIABLE, EXPERIMENTS, default_data_dir  # noqa: E402
from training.names import BACKBONES  # noqa: E402
from training.files import write_atomically  # noqa: E402

DEFAULT_NETWORK = "siamese-contrastive"   # the README's first command: its GIF is Fig. 1
SEED = 0
SOURCE_FOLDERS = ("training", "networks", "losses", "datasets", "plotting")
README_MARKERS = ("<!-- results:start -->", "<!-- results:end -->")
PATH_OPTIONS = ("--data-dir", "--work-dir", "--output", "--diagram")
# The networks the README's table shows with each backbone besides `original` (issue 17's rows),
# and the options a (backbone, network, data set) trains with beyond the defaults, chosen on the
# validation split of scripts/make_validation_split.py (benchmarks/results/wide-backbone.md has
# every run); the wide vae diverges on FashionMNIST at the default --lr. wide-gn trains with
# wide's recipes.
BACKBONE_NETWORKS = {"wide": ("online-contrastive", "vae"), "wide-gn": ("online-contrastive",)}
RECIPES = {(backbone, network, dataset): options
           for backbone in ("wide", "wide-gn")
           for (network, dataset), options in {
               ("online-contrastive", "MNIST"): ("--shift", "2", "--lr", "0.005"),
               ("online-contrastive", "FashionMNIST"): ("--lr", "0.005", "--images-per-class", "32"),
               ("vae", "FashionMNIST"): ("--lr", "0.003")}.items()}
# Runs of the `original` backbone with options, beside its run at the defaults (which the
# table's first rows need): the options found for the best network with `original`, on the same
# validation split (benchmarks/results/recipes-original.md).
ORIGINAL_RECIPES = {("siamese-contrastive", "MNIST"): ("--shift", "1")}
COLUMNS = [("network", "network"), ("backbone", "backbone"), ("options", "options"), ("dataset", "data set"),
           ("knn_accuracy", "5-NN accuracy"), ("precision_at_1", "precision@1"),
           ("map_at_r", "MAP@R"), ("train_seconds", "training seconds")]   # results.json has epochs and device too


def source_hash():
    """A hash of train.py and every Python file of the packages a run imports."""
    digest = hashlib.sha256()
    files = [os.path.join(ROOT, "train.py")]
    for folder in SOURCE_FOLDERS:
        for directory, _, names in os.walk(os.path.join(ROOT, folder)):
            files += [os.path.join(directory, name) for name in names if name.endswith(".py")]
    for path in sorted(files):
        digest.update(os.path.relpath(path, ROOT).encode())
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:16]


def commit():
    """The checked-out commit, marked when the working tree differs from it."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def portable_path(path):
    """`path` as the provenance line shows it, never an absolute path of this machine: the folder
    that $SIAMESE_DATA_DIR names as that variable, any other path relative to the repository
    root (where the shown command runs), so a relative path reads as it was typed there."""
    variable = os.environ.get(DATA_DIR_VARIABLE)
    if variable and os.path.isabs(path) and os.path.realpath(path) == os.path.realpath(variable):
        return "$" + DATA_DIR_VARIABLE
    return shlex.quote(os.path.relpath(os.path.abspath(path), ROOT))


def portable_command(argv):
    """The command line that made the results, with its paths made portable (portable_path)."""
    words, path_follows = [], False
    for word in argv:
        option, equals, value = word.partition("=")
        if path_follows:
            words.append(portable_path(word))
        elif equals and option in PATH_OPTIONS:
            words.append(f"{option}={portable_path(value)}")
        else:
            words.append(shlex.quote(word))
        path_follows = not path_follows and word in PATH_OPTIONS
    return " ".join(["python", "scripts/make_figures.py", *words])


def train_options(network, dataset, backbone="original", options=()):
    """The options of a run, apart from where its files go; the default network's run at the
    default options draws the GIF."""
    animation = network == DEFAULT_NETWORK and backbone == "original" and not options
    return ([network, dataset, "--seed", str(SEED)] + (["--animation"] if animation else [])
            + (["--backbone", backbone] if backbone != "original" else []) + list(options))


def planned_runs(networks, datasets, backbones):
    """(network, data set, backbone, options) of every run: every network with `original` at the
    defaults and with its ORIGINAL_RECIPES, the networks of BACKBONE_NETWORKS with the others and
    their RECIPES."""
    runs = []
    for backbone in backbones:
        for dataset in datasets:
            for network in networks:
                if backbone == "original":
                    runs.append((network, dataset, backbone, ()))
                    if (network, dataset) in ORIGINAL_RECIPES:
                        runs.append((network, dataset, backbone, ORIGINAL_RECIPES[network, dataset]))
                elif network in BACKBONE_NETWORKS.get(backbone, networks):
                    runs.append((network, dataset, backbone, RECIPES.get((backbone, network, dataset), ())))
    return runs


def run_one(network, dataset, backbone, options, work_dir, data_dir, stamp, redo, threads):
    """Train one network on one data set, backbone and options unless its outputs are current;
    its results row."""
    name = "-".join([network, dataset] + ([backbone] if backbone != "original" else [])
                    + [option.lstrip("-") for option in options])
    folder = os.path.join(work_dir, name)
    metrics_path = os.path.join(folder, f"{network}-{dataset}-metrics.json")
    stamp_path = os.path.join(folder, "stamp.json")
    # The thread count is part of what made the numbers: float sums split across threads
    # round differently.
    wanted = {"source": stamp, "options": train_options(network, dataset, backbone, options), "threads": threads}
    if not redo and os.path.isfile(stamp_path) and os.path.isfile(metrics_path):
        with open(stamp_path) as f:
            if json.load(f) == wanted:
                return results_row(metrics_path, options), folder, True
    os.makedirs(folder, exist_ok=True)
    command = [sys.executable, os.path.join(ROOT, "train.py"), *wanted["options"],
               "--output", folder, "--data-dir", data_dir]
    with open(os.path.join(folder, "train.log"), "w") as log:
        finished = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if finished.returncode != 0:
        raise RuntimeError(f"{network} on {dataset} failed (exit {finished.returncode}); "
                           f"see {os.path.join(folder, 'train.log')}")
    write_atomically(stamp_path, json.dumps(wanted).encode())
    return results_row(metrics_path, options), folder, False


def results_row(metrics_path, options):
    with open(metrics_path) as f:
        document = json.load(f)
    if not document["complete"]:
        raise RuntimeError(f"{metrics_path} records an incomplete run")
    final, configuration = document["final"], document["configuration"]
    return {"network": configuration["network"], "backbone": configuration.get("backbone", "original"),
            "options": " ".join(options),
            "dataset": configuration["dataset"],
            "epochs": document["epochs_completed"],
            **{key: final[key] for key in ("knn_accuracy", "precision_at_1", "map_at_r")},
            "train_seconds": round(sum(row["train_seconds"] for row in document["epochs"]), 1),
            "device": document["environment"]["device"]}


def copy_figure(network, dataset, name, folder, output):
    source = os.path.join(folder, f"{network}-{dataset}-{name}")
    with open(source, "rb") as f:
        write_atomically(os.path.join(output, os.path.basename(source)), f.read())


def run_key(row):
    """A results row's run: (network, data set, backbone, options)."""
    return row["network"], row["dataset"], row.get("backbone", "original"), row.get("options", "")


def table_order(key):
    """Network, backbone, then a backbone's usual runs before the runs of ORIGINAL_RECIPES."""
    network, dataset, backbone, options = key
    networks, datasets, backbones = list(EXPERIMENTS), list(DATASET_NAMES), list(BACKBONES)
    beside = options != " ".join(RECIPES.get((backbone, network, dataset), ()))
    return (networks.index(network) if network in networks else len(networks),
            backbones.index(backbone) if backbone in backbones else len(backbones), beside,
            datasets.index(dataset) if dataset in datasets else len(datasets))


def best_runs(rows):
    """{(network, dataset): the run (run_key) that scored the highest 5-NN accuracy}."""
    best = {}
    for row in rows:
        key = row["network"], row["dataset"]
        if key not in best or row["knn_accuracy"] > best[key]["knn_accuracy"]:
            best[key] = row
    return {key: run_key(row) for key, row in best.items()}


def markdown_table(rows):
    def cell(key, value):
        return f"{value:.4f}" if key in ("knn_accuracy", "precision_at_1", "map_at_r") else str(value)
    lines = ["| " + " | ".join(label for _, label in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(key, row.get(key, "")) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def results_markdown(rows, provenance):
    epochs = " or ".join(str(count) for count in sorted({row["epochs"] for row in rows}))
    return (f"{markdown_table(rows)}\n\nProduced by `{provenance['command']}` at commit "
            f"{provenance['commit']} ({provenance['machine']}); every run: {epochs} epochs, the default options but "
            f"those listed, `--seed {SEED}`. Test-set metrics after the last epoch; 5-NN accuracy with the "
            f"training set as reference.\n")


def gallery(rows):
    """A markdown table of the test-set figures (each the best backbone's), a row per network and
    a column per data set."""
    networks = list(dict.fromkeys(row["network"] for row in rows))
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    done = {(row["network"], row["dataset"]) for row in rows}
    lines = ["| network | " + " | ".join(datasets) + " |", "|---|" + "---|" * len(datasets)]
    for network in networks:
        cells = [f"![{network} on {dataset}](output/{network}-{dataset}-testing-set-embedding.png)"
                 if (network, dataset) in done else "" for dataset in datasets]
        lines.append(f"| `{network}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def update_readme(markdown):
    """Replace the README's table between its results markers (left alone when it has none)."""
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        text = f.read()
    start, end = README_MARKERS
    if start not in text or end not in text:
        return False
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    write_atomically(path, f"{before}{start}\n{markdown}{end}{after}".encode())
    return True


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--networks", default=",".join(EXPERIMENTS),
                        help="comma-separated networks to run")
    parser.add_argument("--datasets", default=",".join(DATASET_NAMES),
                        help="comma-separated data sets to run")
    parser.add_argument("--backbones", default=",".join(BACKBONES),
                        help="comma-separated backbones (others than original run BACKBONE_NETWORKS)")
    parser.add_argument("--redo", action="store_true", help="train again even when outputs are current")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="runs at a time (default: one per CPU core; each gets cores / jobs threads)")
    parser.add_argument("--data-dir", default=default_data_dir(), help="as train.py's --data-dir")
    parser.add_argument("--work-dir", default=os.path.join(ROOT, "tmp", "figures"),
                        help="where each run's own files go")
    parser.add_argument("--output", default=os.path.join(ROOT, "output"),
                        help="where the README's figures and results go (the README's table is "
                             "updated only for this default)")
    parser.add_argument("--diagram", default=os.path.join(ROOT, "diagrams", "architectures.png"),
                        help="where the architecture diagram goes")
    args = parser.parse_args(argv)
    for name, known, given in (("network", list(EXPERIMENTS), args.networks),
                               ("data set", list(DATASET_NAMES), args.datasets),
                               ("backbone", list(BACKBONES), args.backbones)):
        unknown = [item for item in given.split(",") if item not in known]
        if unknown:
            parser.error(f"unknown {name} {', '.join(unknown)}; choose from {', '.join(known)}")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    runs = planned_runs(args.networks.split(","), args.datasets.split(","), args.backbones.split(","))
    stamp = source_hash()
    # Before any figure lands in output/: afterwards the tree always differs from the commit.
    source = commit()
    os.makedirs(args.output, exist_ok=True)
    started = time.perf_counter()
    rows, folders = {}, {}
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_one, *run, args.work_dir, args.data_dir, stamp, args.redo, threads): run
                   for run in runs}
        print(f"{len(runs)} runs, {args.jobs} at a time; logs in {args.work_dir}", flush=True)
        for done, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            network, dataset, backbone, options = futures[future]
            row, folder, skipped = future.result()
            rows[run_key(row)] = row
            folders[run_key(row)] = folder
            print(f"[{done}/{len(runs)}] {network} on {dataset}, {' '.join([backbone, *options])}: "
                  f"{'current, skipped' if skipped else 'trained'}, 5-NN accuracy "
                  f"{row['knn_accuracy']:.4f}  ({time.perf_counter() - started:.0f} s so far)", flush=True)

    # A subset run updates its rows of the table and keeps the others.
    results_path = os.path.join(args.output, "results.json")
    if os.path.isfile(results_path):
        with open(results_path) as f:
            for row in json.load(f)["runs"]:
                rows.setdefault(run_key(row), {"backbone": "original", "options": "", **row})
    ordered = [rows[key] for key in sorted(rows, key=table_order)]
    for (network, dataset), key in best_runs(ordered).items():   # the gallery's figures
        if key in folders:
            copy_figure(network, dataset, "testing-set-embedding.png", folders[key], args.output)
    for key, folder in folders.items():   # Fig. 1, from the README's first command
        if key[0] == DEFAULT_NETWORK and key[2:] == ("original", ""):
            copy_figure(*key[:2], "latent-space-development.gif", folder, args.output)
    provenance = {"commit": source, "command": portable_command(sys.argv[1:] if argv is None else argv),
                  "machine": f"{os.cpu_count()} CPU cores, {threads} torch thread{'s' if threads > 1 else ''} "
                             f"per run, {args.jobs} run{'s' if args.jobs > 1 else ''} at a time, "
                             f"{ordered[0]['device']}",
                  "seed": SEED}
    markdown = results_markdown(ordered, provenance)
    write_atomically(os.path.join(args.output, "results.md"), markdown.encode())
    write_atomically(results_path,
                     (json.dumps({**provenance, "runs": ordered}, indent=2) + "\n").encode())
    import draw_architectures
    draw_architectures.main(["--output", args.diagram])
    readme = update_readme(f"{gallery(ordered)}\n{markdown}") if args.output == os.path.join(ROOT, "output") else False
    print(f"wrote {args.output}/results.md and results.json"
          + (", and the table in README.md" if readme else ""))


if __name__ == "__main__":
    main()
