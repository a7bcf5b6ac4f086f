"""Train one network/loss pair on MNIST or FashionMNIST and draw its latent space.

    python train.py siamese-contrastive MNIST --epochs 10 --animation

writes <output>/<network>-<dataset>-training-set-embedding.png, -testing-set-embedding.png,
-stats.png and, with --animation, -latent-space-development.gif.
"""

import argparse
import sys

from datasets import DATASET_NAMES
from training import ALIASES, DATA_DIR_VARIABLE, EXPERIMENTS, Config, RunError, default_data_dir, run


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is reported in one line rather than the whole usage text."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text} is not positive")
        return value
    return parse


def non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def parse_args(argv=None):
    networks = ", ".join(EXPERIMENTS)
    aliases = ", ".join(f"{old} = {new}" for old, new in ALIASES.items())
    parser = OneLineParser(
        prog="train.py",
        description="Train a network/loss pair and plot the latent space it learns.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("network", help=f"one of: {networks} (also accepted: {aliases})")
    parser.add_argument("dataset", help=f"one of: {', '.join(DATASET_NAMES)} (any case)")
    parser.add_argument("--lr", type=positive(float), default=1e-2,
                        help="peak learning rate of Adam's one-cycle schedule: it warms up to this "
                             "over the first 30%% of the run, then anneals towards zero")
    parser.add_argument("--epochs", type=positive(int), default=10, help="number of epochs")
    parser.add_argument("--batch-size", type=positive(int), default=256,
                        help="images (classification), pairs or triplets per batch")
    parser.add_argument("--output", default="./tmp", help="output folder")
    parser.add_argument("--log-interval", type=positive(int), default=50,
                        help="batches between updates of the training loss on the progress bar")
    parser.add_argument("--animation", type=positive(int), nargs="?", const=0, default=None,
                        metavar="N",
                        help="write a GIF of the test set's latent space, one frame per epoch; "
                             "with N, also a frame every N batches")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed: the same seed on the same machine gives the same numbers")
    parser.add_argument("--data-dir", default=default_data_dir(),
                        help=f"folder holding <dataset>/raw/*-ubyte in torchvision's layout; "
                             f"downloaded there when missing (default from ${DATA_DIR_VARIABLE})")
    parser.add_argument("--latent-dims", type=positive(int), default=2,
                        help="dimensions of the embedding (more than 2 are plotted through PCA)")
    parser.add_argument("--margin", type=non_negative_float, default=1.0,
                        help="margin of the contrastive and triplet losses")
    return parser.parse_args(argv)


def main(argv=None):
    config = Config(**vars(parse_args(argv)))
    try:
        final = run(config)
    except RunError as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return error.exit_code
    print(f"epoch {final['epoch']}: training loss {final['train_loss']:.4f}, validation loss "
          f"{final['val_loss']:.4f}, test-set 5-NN accuracy {final['knn_accuracy']:.4f}; "
          f"figures in {config.prefix}*")
    return 0


if __name__ == "__main__":
    sys.exit(main())
