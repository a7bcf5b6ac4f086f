"""How much faster a training step is with each of the backbones' CPU speed tricks.

    python benchmarks/bench_network.py [--data-dir DIR] [--backbone original] [--networks a,b]
        [--trick pool-first] [--batch-sizes 32,256] [--steps 60] [--repeats 5]

networks/layers.py gives every backbone two tricks that this times, one at a time (--trick):
`pool-first` runs each conv layer's PReLU-then-pool as pool-then-PReLU when that is the same
function (a positive slope, on a CPU); `channels-last` lays the images out channels-last before
the first layer, so that every conv and pooling layer runs on channels-last kernels. This times
training steps (forward, loss, backward, Adam) of each network on the chosen backbone with and
without the trick: without it is had by replacing the trick's function in networks/layers.py for
the run. The two alternate, each from the same seed and the same batches, so that a busy
machine slows both alike; prints the median milliseconds a step of each and their ratio, with
the machine. The outputs are the same either way (tests/networks/test_backbones.py: to the bit
for pool-first, up to rounding for channels-last), so only the seconds differ.
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

def written_order(x, prelu, pool):
    return pool(prelu(x))


def layout_as_given(images):
    return images


# --trick: (its function in networks/layers.py, what runs without it, the two columns' names)
TRICKS = {
    "pool-first": ("prelu_then_pool", written_order, "written order", "pool first"),
    "channels-last": ("channels_last", layout_as_given, "layout as given", "channels last"),
}


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
    parser.add_argument("--trick", choices=list(TRICKS), default="pool-first",
                        help="the speed trick timed with and without (default: pool-first)")
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
    name, without, off, on = TRICKS[args.trick]
    with_trick = getattr(layers, name)
    print(f"| backbone | network | batch | {off}, ms a step | {on}, ms a step | ratio |")
    print("|---|---|---|---|---|---|")
    for network in args.networks:
        experiment = experiments[network]
        for batch_size in args.batch_sizes:
            config = Config(network, "MNIST", data_dir=args.data_dir, batch_size=batch_size)
            batches = experiment.make_sampler(train.labels, config).epoch(torch.Generator().manual_seed(0))
            times = {off: [], on: []}
            for _ in range(args.repeats):
                for column, function in ((off, without), (on, with_trick)):
                    setattr(layers, name, function)
                    times[column].append(milliseconds_a_step(args.backbone, experiment, config, train, batches,
                                                             args.steps))
            setattr(layers, name, with_trick)
            slow, fast = statistics.median(times[off]), statistics.median(times[on])
            print(f"| {args.backbone} | {network} | {batch_size} | {slow:.1f} | {fast:.1f} "
                  f"| {slow / fast:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
