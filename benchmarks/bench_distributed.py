"""Several processes against one, side by side: what torchrun buys on this machine; not a test.

    python benchmarks/bench_distributed.py --data-dir ../shared/datasets

On the CPU it trains each of `--networks` for one epoch of MNIST as whole `train.py` runs, in
three ways, alternately, `--repeats` times each (N = --processes, the cores shared out):

    1 process x N threads     OMP_NUM_THREADS=N python train.py NETWORK MNIST --epochs 1
    N processes x 1 thread    OMP_NUM_THREADS=1 torchrun --nproc-per-node N train.py ...
    1 process x 1 thread      OMP_NUM_THREADS=1 python train.py ...   (what either is measured against)

and reports the medians of the epoch's training seconds (metrics.json's train_seconds), its
samples per second, the evaluation's seconds (under torchrun process 0 alone evaluates, on its
one thread) and the whole command's wall clock (torchrun starts a launcher and N Pythons). With --device cuda
on a machine with GPUs it compares one GPU with the CPU instead, and, when the machine has
several, all of them (torchrun, one process per GPU) with one.

It also times the collectives a distributed batch adds (`collectives`): the all_reduce of the
network's gradients that DistributedDataParallel makes, and the one-number all_reduce with which
the processes agree, each batch, whether to stop.

Runs are timed on whatever else the machine is doing: take medians, and compare only figures
from one run of this script. Results: benchmarks/results/bench_distributed-<device>.json.
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETWORKS = ("siamese-contrastive", "online-triplet")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launcher(processes):
    """python for one process; torchrun, on a free port, for several."""
    if processes == 1:
        return [sys.executable]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(processes),
            "--master-port", str(free_port())]


def layouts(device, cpus):
    """{name: (processes, environment, --device)} of the ways to train that are compared; the
    first is the one the others are measured against."""
    if device == "cpu":
        return {"1 process x 1 thread": (1, {"OMP_NUM_THREADS": "1"}, "cpu"),
                f"1 process x {cpus} threads": (1, {"OMP_NUM_THREADS": str(cpus)}, "cpu"),
                f"{cpus} processes x 1 thread": (cpus, {"OMP_NUM_THREADS": "1"}, "cpu")}
    import torch
    compared = {f"CPU, {cpus} threads": (1, {"OMP_NUM_THREADS": str(cpus)}, "cpu"), "1 GPU": (1, {}, "cuda")}
    if torch.cuda.device_count() > 1:
        gpus = torch.cuda.device_count()
        compared[f"{gpus} GPUs (torchrun)"] = (gpus, {}, "cuda")
    return compared


def one_epoch(processes, variables, device, network, options, output):
    """One whole train.py run of one epoch; its figures from metrics.json and its wall clock."""
    command = [*launcher(processes), os.path.join(ROOT, "train.py"), network, "MNIST", "--epochs", "1",
               "--device", device, "--output", output, *options]
    env = {**os.environ, **variables}
    env.pop("RANK", None)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    with open(os.path.join(output, f"{network}-MNIST-metrics.json")) as f:
        document = json.load(f)
    row = document["final"]
    return {"train_seconds": row["train_seconds"], "samples_per_second": row["samples_per_second"],
            "evaluation_seconds": row["evaluation_seconds"], "wall_seconds": wall,
            "world_size": document["environment"].get("world_size"),
            "knn_accuracy": row["knn_accuracy"]}


def collectives(network, repeats=200):
    """In each of torchrun's processes: median seconds of the gradient all_reduce and of the
    one-number all_reduce, over `repeats` of each (run through torchrun: --collectives)."""
    import torch
    import torch.distributed as dist

    sys.path.insert(0, ROOT)
    from training.config import Config
    from training.registry import find_experiment

    dist.init_process_group("gloo")
    config = Config(network, "MNIST")
    model = find_experiment(network).make_model(config, (1, 28, 28), 10)
    gradients = torch.cat([parameter.detach().flatten() for parameter in model.parameters()])
    flag = torch.zeros(1, dtype=torch.long)
    timings = {}
    for name, tensor in (("gradients", gradients), ("stop decision", flag)):
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            dist.all_reduce(tensor)
            seconds.append(time.perf_counter() - started)
        timings[name] = statistics.median(seconds)
    if dist.get_rank() == 0:
        print(json.dumps({"parameters": gradients.numel(), **timings}))
    dist.destroy_process_group()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("SIAMESE_DATA_DIR", "./data"))
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--processes", type=int, default=2, help="CPU: the cores shared out")
    parser.add_argument("--json", default=None, help="default: benchmarks/results/bench_distributed-<device>.json")
    parser.add_argument("--scratch", default=os.path.join(ROOT, "tmp", "bench_distributed"))
    parser.add_argument("--collectives", metavar="NETWORK", help=argparse.SUPPRESS)   # in torchrun's processes
    args = parser.parse_args(argv)
    if args.collectives:
        return collectives(args.collectives)

    networks = args.networks.split(",")
    compared = layouts(args.device, args.processes)
    options = ["--batch-size", str(args.batch_size), "--data-dir", args.data_dir, "--seed", "0"]
    runs = {network: {name: [] for name in compared} for network in networks}
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    for repeat in range(args.repeats):
        for network in networks:
            for name, (processes, variables, device) in compared.items():
                output = os.path.join(args.scratch, network, name.replace(" ", "-").replace(",", ""))
                runs[network][name].append(one_epoch(processes, variables, device, network, options, output))
                print(f"{network}, {name}, run {repeat + 1}: {runs[network][name][-1]}", file=sys.stderr)

    def median(network, name, key):
        return statistics.median(run[key] for run in runs[network][name])

    baseline = next(iter(compared))
    rows = [{"network": network, "layout": name,
             **{key: median(network, name, key) for key in
                ("train_seconds", "samples_per_second", "evaluation_seconds", "wall_seconds")},
             "training_speedup": median(network, baseline, "train_seconds") / median(network, name, "train_seconds")}
            for network in networks for name in compared]
    measured = {}
    if args.device == "cpu":
        for network in networks:
            done = subprocess.run([*launcher(args.processes), os.path.abspath(__file__), "--collectives", network],
                                  cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                                  text=True, check=True)
            measured[network] = json.loads(done.stdout.strip().splitlines()[-1])
    report = {"machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "python": platform.python_version(),
                          # 1-, 5- and 15-minute load averages before and after: what else ran
                          "load_average_before": load_before,
                          "load_average_after": os.getloadavg() if hasattr(os, "getloadavg") else None},
              "device": args.device, "batch_size": args.batch_size, "repeats": args.repeats,
              "medians": rows, "collectives_seconds": measured, "runs": runs}
    import torch
    report["machine"]["torch"] = torch.__version__
    path = args.json or os.path.join(ROOT, "benchmarks", "results", f"bench_distributed-{args.device}.json")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=1)

    print(f"one epoch of MNIST, --batch-size {args.batch_size}, medians of {args.repeats}")
    print(f"| network | layout | training s | samples/s | training speed-up (vs {baseline}) | evaluation s "
          f"| whole command s |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['network']} | {row['layout']} | {row['train_seconds']:.1f} | "
              f"{row['samples_per_second']:.0f} | {row['training_speedup']:.2f} | {row['evaluation_seconds']:.1f} | "
              f"{row['wall_seconds']:.1f} |")
    for network, timings in measured.items():
        print(f"{network}: all_reduce of {timings['parameters']} gradients {timings['gradients'] * 1e3:.2f} ms, "
              f"of the stop decision {timings['stop decision'] * 1e3:.2f} ms, once a batch")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
