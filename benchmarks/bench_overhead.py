"""What the suite's data path and loop add to a network's own training steps; not a test.

    python benchmarks/bench_overhead.py --data-dir ../shared/datasets [--backbone wide]
        [--networks siamese-contrastive,online-contrastive,embedding-classification]
        [--batch-size 256] [--shift 0] [--batches 40] [--repeats 5] [--threads N] [--device cpu]

The budget: a training epoch costs at most 10% more than the network's forward and backward
passes and optimiser steps over the same batches, so that the data path and the loop stay
negligible when the network grows. For each network two things are timed over the same batches:

(a) the loop: the run built by training.setup.set_up, as train.py builds it, trained by the
    loop's own train_epoch over the first --batches batches of an epoch. That is everything an
    epoch does: drawing the epoch's pairs, triplets or P x K batches, looking the images up
    (Split.inputs), the experiment's batch_loss, zero_grad, backward, the Adam step, the
    schedule's step, keeping the losses on the device and reading them, the progress and
    interruption checks.
(b) the network alone: the same model and optimiser on the same batches, their input tensors
    (normalised images, labels, same/different flags) built beforehand and not timed; timed
    is the forward pass, the same loss function (COMPUTE), backward and the Adam step.
    With --shift, (a) moves its images as train.py's --shift does and (b) trains them unmoved:
    the moves are the data path's cost, and the network's work is the same either way.

They alternate batch by batch: after each batch of (a), in the hook the loop calls after every
batch, (b) trains the same batch, timed on its own, and its seconds are taken out of the
epoch's. A shared machine's load changes within seconds, and a whole epoch of each, one after
the other, was slowed unevenly by it (ratios from 0.4 to 2.8 for the same code); batch by
batch both see the same load. --repeats such rounds of --batches batches, after one to warm
up, in one process on --threads torch threads; prints and writes (--json) the medians of
seconds per batch of both and the overhead, the median of the rounds' (a) / (b) - 1, with the
machine and its load average before and after. On a GPU each (b) step first waits for (a)'s
queued work (off both clocks), so (a) cannot overlap its Python with the device's work there:
an upper bound too.

(a) draws a whole epoch's batches each time and trains the first --batches of them, so it
pays the draw (and, with --shift, the epoch's moves) once per --batches batches where a real
epoch pays it once per epoch: the overhead reported is an upper bound. The draw's own seconds are reported beside it.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from bench_evaluation import FirstBatches  # noqa: E402
from bench_train import machine  # noqa: E402
from losses import (binary_cross_entropy_with_logits, contrastive_loss, cross_entropy_loss,  # noqa: E402
                    negative_elbo, online_contrastive_loss, online_triplet_loss)
from networks import BACKBONES  # noqa: E402
from training import Config, RunError, default_data_dir  # noqa: E402
from training.config import canonical_network, positive, validate  # noqa: E402
from training.registry import triplet_net_loss  # noqa: E402
from training.files import write_atomically  # noqa: E402
from training.interruption import Interruption  # noqa: E402
from training.loop import train_epoch  # noqa: E402
from training.progress import Progress  # noqa: E402
from training.setup import set_up  # noqa: E402

BUDGET_PERCENT = 10
DEFAULT_NETWORKS = "siamese-contrastive,online-contrastive,embedding-classification"

# For each network of the registry: (prepare, compute). prepare(split, batch) builds a batch's
# tensors, as the experiment's batch_loss would look them up (untimed); compute(model, tensors,
# config) is the rest of that batch_loss: the forward pass and the loss. Together they are the
# registry's batch_loss in one process (tests/benchmarks/test_bench_overhead.py checks the losses
# are equal for every network).
COMPUTE = {
    "embedding-classification": (
        lambda split, batch: (split.inputs(batch[0]), split.labels[batch[0]]),
        lambda model, t, config: cross_entropy_loss(model(t[0]), t[1])),
    "siamese-contrastive": (
        lambda split, batch: (split.inputs(torch.cat([batch[0], batch[1]])), batch[2]),
        lambda model, t, config: contrastive_loss(*model(t[0]).chunk(2), t[1], config.margin)),
    "siamese-binary-cross-entropy": (
        lambda split, batch: (split.inputs(batch[0]), split.inputs(batch[1]), batch[2]),
        lambda model, t, config: binary_cross_entropy_with_logits(model(t[0], t[1]), t[2])),
    "triplet-loss-net": (
        lambda split, batch: (split.inputs(torch.cat(list(batch))),),
        lambda model, t, config: triplet_net_loss(*model(t[0]).chunk(3), config)),
    "online-contrastive": (
        lambda split, batch: (split.inputs(batch[0]), split.labels[batch[0]]),
        lambda model, t, config: online_contrastive_loss(model(t[0]), t[1], config.margin)),
    "online-triplet": (
        lambda split, batch: (split.inputs(batch[0]), split.labels[batch[0]]),
        lambda model, t, config: online_triplet_loss(model(t[0]), t[1], config.margin, config.mining)),
    "vae": (
        lambda split, batch: (split.inputs(batch[0]), split.pixels(batch[0])),
        lambda model, t, config: _vae_loss(model, *t, config)),
}


def _vae_loss(model, inputs, pixels, config):
    """The vae's loss, its noise drawn in the step as the registry's draws it."""
    noise = torch.randn(len(inputs), config.latent_dims, device=inputs.device)
    logits, mean, log_variance = model(inputs, noise)
    return negative_elbo(logits, pixels, mean, log_variance)


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def loop_seconds(run, epoch: int, after_batch) -> tuple[float, int]:
    """(a): the loop's own train_epoch over the run's (shortened) sampler, calling
    `after_batch(index)` after each batch as it does; (seconds, items)."""
    synchronise(run.device)
    started = time.perf_counter()
    with Progress(len(run.sampler), enabled=False) as progress, Interruption() as interruption:
        _, items = train_epoch(run, epoch, progress, after_batch, interruption)
    synchronise(run.device)
    return time.perf_counter() - started, items


def step_seconds(run, compute, tensors: tuple) -> float:
    """(b): forward, loss, backward and the Adam step of the run's model on one batch's
    prepared tensors; seconds. Work (a) left queued on a GPU is waited for first, off the clock."""
    synchronise(run.device)
    started = time.perf_counter()
    loss = compute(run.model, tensors, run.config)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    synchronise(run.device)
    return time.perf_counter() - started


def next_batches(run) -> tuple[list, float]:
    """The batches the loop's next epoch will train (drawn from a copy of the run's generator,
    which is left as it is) and the seconds a whole epoch's draw took."""
    generator = torch.Generator().set_state(run.generator.get_state())
    started = time.perf_counter()
    batches = run.sampler.sampler.epoch(generator)
    drawn = time.perf_counter() - started
    return batches[:len(run.sampler)], drawn


def one_round(run, prepare, compute, epoch: int) -> dict:
    """(a) and (b) over the same batches, batch by batch: after each batch of the loop's epoch,
    in the hook the loop calls then, (b) trains the same batch from its prepared tensors, and
    its seconds are taken out of the epoch's."""
    batches, drawn = next_batches(run)
    prepared = [prepare(run.train, batch) for batch in batches]
    alone, items = [], []   # (b)'s seconds and items, batch by batch

    def network_alone(index):
        alone.append(step_seconds(run, compute, prepared[index - 1]))
        items.append(len(batches[index - 1][0]))

    total, loop_items = loop_seconds(run, epoch, network_alone)
    return {"loop": total - sum(alone), "network": sum(alone), "loop_items": loop_items,
            "network_items": sum(items), "draw": drawn}


def measure(network: str, args) -> dict:
    """Set up `network`'s run and time (a) and (b) alternately; the row of the results."""
    prepare, compute = COMPUTE[canonical_network(network)]
    # Enough epochs in the one-cycle schedule for every round's shortened epoch.
    config = Config(network, "MNIST", data_dir=args.data_dir, device=args.device, backbone=args.backbone,
                    batch_size=args.batch_size, shift=args.shift, epochs=args.repeats + 2)
    run = set_up(config)
    epoch_batches = len(run.sampler)
    run.sampler = FirstBatches(run.sampler, args.batches)
    one_round(run, prepare, compute, epoch=1)   # to warm up, not counted
    rounds = [one_round(run, prepare, compute, epoch=repeat + 2) for repeat in range(args.repeats)]
    batches = len(run.sampler)
    loop = statistics.median(r["loop"] for r in rounds) / batches
    alone = statistics.median(r["network"] for r in rounds) / batches
    overhead = 100 * statistics.median(r["loop"] / r["network"] - 1 for r in rounds)
    draw = statistics.median(r["draw"] for r in rounds)
    return {"network": network, "batches": batches, "epoch_batches": epoch_batches,
            "items": rounds[0]["loop_items"], "network_items": rounds[0]["network_items"],
            "items_per_batch": rounds[0]["loop_items"] / batches,
            "loop_seconds_per_batch": loop, "network_seconds_per_batch": alone,
            "overhead_percent": overhead, "within_budget": overhead <= BUDGET_PERCENT,
            "epoch_draw_seconds": draw, "epoch_draw_share_of_an_epoch": draw / (loop * epoch_batches),
            "rounds": rounds}


def table(rows: list) -> str:
    lines = ["| network | items a batch | loop, ms a batch | network alone, ms a batch | overhead | "
             "epoch's draw, ms |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['network']} | {r['items_per_batch']:.0f} | {1000 * r['loop_seconds_per_batch']:.1f} | "
              f"{1000 * r['network_seconds_per_batch']:.1f} | {r['overhead_percent']:+.1f}% | "
              f"{1000 * r['epoch_draw_seconds']:.1f} |" for r in rows]
    return "\n".join(lines)


def comma_list(text: str) -> list:
    return [item for item in text.split(",") if item]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir(), help="folder holding MNIST/raw/*-ubyte")
    parser.add_argument("--networks", type=comma_list, default=comma_list(DEFAULT_NETWORKS),
                        help=f"comma-separated (default: {DEFAULT_NETWORKS})")
    parser.add_argument("--backbone", default="wide", choices=list(BACKBONES), help="default: wide")
    parser.add_argument("--batch-size", type=positive(int), default=256,
                        help="of the networks that take one; online-* train P x K batches (default: 256)")
    parser.add_argument("--shift", type=int, default=0, metavar="PIXELS",
                        help="as train.py's --shift (default: 0)")
    parser.add_argument("--batches", type=positive(int), default=40, help="batches timed a round (default: 40)")
    parser.add_argument("--repeats", type=positive(int), default=5, help="rounds of (a) and (b) (default: 5)")
    parser.add_argument("--threads", type=positive(int), default=os.cpu_count(),
                        help="torch threads (default: every core)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--json", default=os.path.join(ROOT, "benchmarks", "results", "bench_overhead-cpu.json"),
                        help="where the results go")
    args = parser.parse_args(argv)
    try:
        for network in args.networks:   # train.py's own checks and messages
            validate(Config(network, "MNIST", shift=args.shift))
    except RunError as error:
        parser.error(str(error))
    torch.set_num_threads(args.threads)

    results = {"machine": machine(), "device": args.device, "backbone": args.backbone,
               "batch_size": args.batch_size, "shift": args.shift, "batches": args.batches, "repeats": args.repeats,
               "budget_percent": BUDGET_PERCENT, "load_average_before": os.getloadavg()}
    print(f"{results['machine']['cpu_model']}, {results['machine']['cpus']} cores, {torch.get_num_threads()} "
          f"torch threads, device {args.device}; torch {torch.__version__}; backbone {args.backbone}, --shift {args.shift}; medians "
          f"of {args.repeats} rounds of {args.batches} batches; load average {results['load_average_before'][0]:.2f}",
          flush=True)
    rows = []
    for network in args.networks:
        try:
            rows.append(measure(network, args))
        except RunError as error:
            parser.error(str(error))
        row = rows[-1]
        print(f"  {network}: loop {1000 * row['loop_seconds_per_batch']:.1f} ms a batch, network alone "
              f"{1000 * row['network_seconds_per_batch']:.1f} ms, overhead {row['overhead_percent']:+.1f}%",
              flush=True)
    results["load_average_after"] = os.getloadavg()
    results["networks"] = rows
    print(table(rows))
    print(f"load average before {results['load_average_before'][0]:.2f}, after "
          f"{results['load_average_after'][0]:.2f}")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    write_atomically(args.json, (json.dumps(results, indent=1) + "\n").encode())
    print(f"results in {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
