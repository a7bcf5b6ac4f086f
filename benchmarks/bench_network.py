"""How much faster a training step is with a backbone pooling before its positive PReLUs.

    python benchmarks/bench_network.py [--data-dir DIR] [--backbone original] [--networks a,b]
        [--batch-sizes 32,256] [--steps 60] [--repeats 5]

networks/layers.py runs each conv layer's PReLU-then-pool as pool-then-PReLU when that is the
same function (a positive slope, on a CPU), for every backbone. This times training steps
(forward, loss, backward, Adam) of each network on the chosen backbone in both orders: the
written order is had by replacing prelu_then_pool for the run. The two alternate, each from the
same seed and the same batches, so that a busy machine slows both alike; prints the median
milliseconds a step of each and their ratio, with the machine. The outputs are the same in both
orders (tests/networks/test_backbones.py), so only the seconds differ.
"""

import argparse
import dataclasses
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import networks.layers as layers  # noqa: E402
from datasets import DatasetError, load_split  # noqa: E402
from networks import BACKBONES  # noqa: E402
from training.config import positive  # noqa: E402
from training import Config, default_data_dir, find_experiment  # noqa: E402
from training.errors import RunError  # noqa: E402

POOL_FIRST = layers.prelu_then_pool


def written_order(x, prelu, pool):
    return pool(prelu(x))


def model_on(backbone, experiment, config):
    """The experiment's network for `config`, on `backbone`, for MNIST's images."""
    return experiment.make_model(dataclasses.replace(config, backbone=backbone), (1, 28, 28), 10)


def milliseconds_a_step(backbone, experiment, config, train, batches, steps):
    """Milliseconds a training step, over `steps` steps after 3 to warm up."""
    torch.manual_seed(config.seed)
    model = model_on(backbone, experiment, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for index in range(steps + 3):
        if index == 3:
            started = time.perf_counter()
        loss = experiment.batch_loss(model, train, batches[index % len(batches)], config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - started) / steps * 1000


def comma_list(text):
    return [item for item in text.split(",") if item]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--backbone", default="original", choices=list(BACKBONES),
                        help="the backbone every network is built on (default: original)")
    parser.add_argument("--networks", type=comma_list,
                        default=comma_list("siamese-contrastive,siamese-binary-cross-entropy,triplet-loss-net"))
    parser.add_argument("--batch-sizes", type=lambda text: [positive(int)(size) for size in comma_list(text)],
                        default=[32, 256])
    parser.add_argument("--steps", type=positive(int), default=60, help="timed steps a run")
    parser.add_argument("--repeats", type=positive(int), default=5, help="runs of each order, alternating")
    args = parser.parse_args(argv)
    try:
        experiments = {network: find_experiment(network) for network in args.networks}
        train = load_split("MNIST", args.data_dir, train=True)
    except (RunError, DatasetError) as error:
        parser.error(str(error))
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; "
          f"torch {torch.__version__}; medians of {args.repeats} runs of {args.steps} steps")
    print("| backbone | network | batch | written order, ms a step | pool first, ms a step | ratio |")
    print("|---|---|---|---|---|---|")
    for network in args.networks:
        experiment = experiments[network]
        for batch_size in args.batch_sizes:
            config = Config(network, "MNIST", data_dir=args.data_dir, batch_size=batch_size)
            batches = experiment.make_sampler(train.labels, config).epoch(torch.Generator().manual_seed(0))
            times = {"written": [], "pool first": []}
            for _ in range(args.repeats):
                for order, function in (("written", written_order), ("pool first", POOL_FIRST)):
                    layers.prelu_then_pool = function
                    times[order].append(milliseconds_a_step(args.backbone, experiment, config, train, batches,
                                                            args.steps))
            layers.prelu_then_pool = POOL_FIRST
            written, first = statistics.median(times["written"]), statistics.median(times["pool first"])
            print(f"| {args.backbone} | {network} | {batch_size} | {written:.1f} | {first:.1f} "
                  f"| {written / first:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
