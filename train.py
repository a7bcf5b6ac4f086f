"""Train one network/loss pair on MNIST or FashionMNIST and draw its latent space.

    python train.py siamese-contrastive MNIST --epochs 10 --animation

writes <output>/<network>-<dataset>-metrics.json, -model.pt, -embeddings.npz,
-training-set-embedding.png, -testing-set-embedding.png, -stats.png, with --animation
-latent-space-development.gif, and for vae -manifold.png and -reconstructions.png
(README.md describes each).
"""

import argparse
import difflib
import os
import shlex
import sys
import textwrap

from training.config import DATA_DIR_VARIABLE, Config, default_data_dir, parse_number, validate
from training.errors import RunError
from training.names import ALIASES, BACKBONES, DATASETS, MINING, NETWORKS

BEFORE_TRAINING = "train.py: interrupted before training began; nothing was trained"
EXAMPLE = "python train.py siamese-contrastive MNIST --epochs 10 --animation"


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is reported in one line rather than the whole usage text, and a
    mistyped option before a missing argument: argparse checks required arguments first, so
    `--galery shapes` was reported as `--gallery` missing. A first parse with nothing required
    finds the unknown arguments (named with the closest option); the second is argparse's own."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n" if process_zero() else None)

    relaxed = ()   # the required arguments while the first parse runs

    def parse_args(self, args=None, namespace=None):
        self.relaxed = [action for action in self._actions if action.required]
        for action in self.relaxed:
            action.required = False
        try:
            _, extras = self.parse_known_args(args)
        finally:
            self.restore_required()
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}{self.closest_option(extras)}")
        return super().parse_args(args, namespace)

    def restore_required(self):
        for action in self.relaxed:
            action.required = True
        self.relaxed = ()

    def format_usage(self):
        self.restore_required()   # --help during the first parse shows the real usage
        return super().format_usage()

    def format_help(self):
        self.restore_required()
        return super().format_help()

    def closest_option(self, extras):
        """' (did you mean --X?)' for the first unknown option like a known one, else ''."""
        # Compared without their dashes, which every option shares; an exact name (one given
        # after `--`) is no typo.
        known = {option.lstrip("-"): option for action in self._actions for option in action.option_strings}
        for extra in extras:
            name = extra.split("=", 1)[0].lstrip("-")
            if extra.startswith("--") and name not in known:
                close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
                if close:
                    return f" (did you mean {known[close[0]]}?)"
        return ""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Says an option's default once, and only where it has one."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not (action.default is None or action.default is False or action.default is argparse.SUPPRESS
                or "default" in text):
            text += " (default: %(default)s)"
        return text


def frames_every(text):
    """--animation's N (a number of batches), or the original's True / False: its help showed
    `--animation False`, so its users may write either (True: one frame per epoch)."""
    word = text.strip().lower()
    if word in ("true", "false"):
        return 0 if word == "true" else None
    try:
        batches = parse_number(int)(text)
    except argparse.ArgumentTypeError as error:
        raise argparse.ArgumentTypeError(f"{error}: give a number of batches, True or False") from None
    if batches < 1:   # 0 would mean "once an epoch" inside: that is True's
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of batches; give one, True or False")
    return batches


def parse_args(argv=None):
    networks = ", ".join(NETWORKS)
    aliases = ", ".join(f"{old} = {new}" for old, new in ALIASES.items())
    parser = OneLineParser(
        prog="train.py",
        description="Train a network/loss pair and plot the latent space it learns.",
        formatter_class=HelpFormatter,
        epilog=f"Example: {EXAMPLE}\n\n" + textwrap.fill(
            "Exit codes: 0 done, 1 a failure while training or writing (non-finite loss, out of "
            "memory, a file that could not be written), 2 bad input (nothing is written), 130/143 "
            "stopped by Ctrl-C/SIGTERM at the end of a batch: the files show the last completed "
            "epoch, and the run prints the --resume command that continues it.", 78))
    parser.add_argument("network", help=f"one of: {networks} (also accepted: {aliases})")
    parser.add_argument("dataset", help=f"{' or '.join(DATASETS)} (any case), or a folder of your images, "
                                        f"<folder>/<class>/<image>, with train/ and test/ or split by "
                                        f"--test-fraction")
    parser.add_argument("--lr", type=parse_number(float), default=1e-2,
                        help="peak learning rate of Adam's one-cycle schedule: it warms up to this "
                             "over the first 30%% of the run, then anneals towards zero")
    parser.add_argument("--epochs", type=parse_number(int), default=10, help="number of epochs")
    parser.add_argument("--batch-size", type=parse_number(int), default=256,
                        help="images (embedding-classification, vae), pairs or triplets per "
                             "batch; online-contrastive and online-triplet ignore it (their batch "
                             "is --classes-per-batch x --images-per-class images)")
    parser.add_argument("--output", default="./tmp", help="output folder")
    parser.add_argument("--log-interval", type=parse_number(int), default=50,
                        help="batches between updates of the training loss on the progress bar")
    parser.add_argument("--animation", type=frames_every, nargs="?", const=0, default=None,
                        metavar="N",
                        help="write a GIF of the test set's latent space, one frame per epoch; "
                             "with N, also a frame every N batches (the original's --animation "
                             "True and False are accepted too; default: off)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu, cuda or cuda:N; a device this "
                             "machine does not have is an error")
    parser.add_argument("--seed", type=parse_number(int), default=0,
                        help="random seed, 0 to 2**63 - 1: the same seed on the same machine gives the same "
                             "numbers")
    parser.add_argument("--data-dir", default=default_data_dir(),
                        help=f"folder holding <dataset>/raw/*-ubyte in torchvision's layout; "
                             f"downloaded there when missing (default: ${DATA_DIR_VARIABLE}, else ./data)")
    parser.add_argument("--latent-dims", type=parse_number(int), default=2,
                        help="dimensions of the embedding (more than 2 are plotted through PCA, "
                             "1 against the class)")
    parser.add_argument("--margin", type=parse_number(float), default=None,
                        help="margin of the contrastive and the triplet losses (default: 2 for "
                             "siamese-contrastive and online-contrastive, 1 for triplet-loss-net and "
                             "online-triplet)")
    parser.add_argument("--classes-per-batch", type=parse_number(int), default=None, metavar="P",
                        help="online-contrastive, online-triplet: classes in each batch (default: 10, "
                             "or the number of classes if fewer)")
    parser.add_argument("--images-per-class", type=parse_number(int), default=16, metavar="K",
                        help="online-contrastive, online-triplet: images of each of those classes")
    parser.add_argument("--mining", metavar="{" + ",".join(MINING) + "}", default="all",
                        help="online-triplet: every triplet with a positive loss (all), the "
                             "hardest positive and negative per anchor (batch-hard), or the "
                             "nearest semi-hard negative per positive pair (semi-hard); "
                             "batch-hard collapses a 2-D space, see README")
    parser.add_argument("--backbone", default="original", metavar="NAME",
                        help=f"the trunk every network builds on: {', '.join(BACKBONES)} (original: the "
                             f"original project's small convolutional net; wide: 32/64 filters and "
                             f"256-unit layers, about 10 times the parameters and time, a better space; "
                             f"wide-gn: wide with a group norm after each convolution, about 1.4 times "
                             f"wide's time)")
    parser.add_argument("--image-size", type=parse_number(int), default=None, metavar="PIXELS",
                        help="a folder's images are resized (shorter side) and centre-cropped to this "
                             "(default: their own size when all share one square size from 16 to 64, "
                             "else 16 or 64, whichever is nearer)")
    parser.add_argument("--test-fraction", type=parse_number(float), default=0.2,
                        help="a folder without train/ and test/: the share of each class held out as "
                             "the test split, drawn with --seed")
    parser.add_argument("--shift", type=parse_number(int), default=0, metavar="PIXELS",
                        help="move each training image by up to PIXELS pixels, anew every epoch (augmentation)")
    parser.add_argument("--resume", metavar="PATH", default=None,
                        help="continue the run saved in PATH (a model.pt written by an earlier run "
                             "of the same network, data set, --latent-dims and --backbone, finished or "
                             "interrupted, with the same --lr, --batch-size, --seed and other "
                             "training options); --epochs is then the total number of epochs: "
                             "the same as before for a stopped run, more for a finished one (the "
                             "added epochs get a learning-rate cycle of their own)")
    return parser.parse_args(argv)


def main(argv=None):
    """Exit codes: 0 done, 1 a failure while training or writing, 2 bad input, 130 / 143 stopped
    by SIGINT / SIGTERM, 141 when the log's reader went away. Known failures are one line on
    stderr; anything else is a bug and keeps its traceback."""
    argv = sys.argv[1:] if argv is None else argv
    config = Config(**vars(parse_args(argv)))
    try:
        validate(config)   # before torch loads: a mistyped value is answered at once
        from training.interruption import signals_held
        with signals_held() as received:   # torch takes a second or two to load
            from training.distributed import announced_elsewhere
            from training.interruption import StopNow
            from training.loop import run
            from training.progress import stdout_closed
    except RunError as error:
        if process_zero():
            print(f"train.py: {error.label}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return stopped_before_training(130)
    if received:
        return stopped_before_training(128 + received[0])
    try:
        final, paths = run(config)
    except RunError as error:
        if not announced_elsewhere(error):
            print(f"train.py: {error.label}: {error}{after_stop(error, argv)}", file=sys.stderr)
        return error.exit_code
    except StopNow as stop:
        if not announced_elsewhere(stop):
            print(f"train.py: stopped at once by a second {stop.signal.name}; every file written is "
                  f"whole, and the checkpoint holds the last completed epoch", file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:  # Ctrl-C before training began
        return stopped_before_training(130)
    except BrokenPipeError:   # the log's reader went away (| head): not a file that failed
        return stdout_closed()
    except OSError as error:  # writing metrics.json or the checkpoint failed (a full disk, say)
        if error.errno is None:
            raise
        checkpoint = getattr(error, "checkpoint", None)   # the last one, set by the loop
        resume = f"\nresume with: {resume_command(argv, checkpoint)}" if checkpoint else ""
        print(f"train.py: error: could not write {error.filename or 'a file'} "
              f"({error.strerror}); the run stopped, and earlier files of that name are unchanged{resume}",
              file=sys.stderr)
        return 1
    if final is not None:   # None in torchrun's processes other than 0: process 0 says it
        try:
            print(summary(final, paths), flush=True)
        except BrokenPipeError:
            return stdout_closed()
    return 0


def stopped_before_training(exit_code):
    """Say that a signal stopped the run before its first batch; returns `exit_code`."""
    if process_zero():
        print(BEFORE_TRAINING, file=sys.stderr)
    return exit_code


def process_zero():
    """Whether this process speaks for the run: always, but of torchrun's processes, which all
    meet the same bad input and the same signals, only process 0 (RANK 0)."""
    return os.environ.get("RANK", "0") == "0"


def after_stop(error, argv):
    """What a run that stopped early kept, and how to go on from it."""
    if not hasattr(error, "checkpoint"):  # bad input: nothing was started
        return ""
    if error.checkpoint is None:
        return "; no epoch was completed, so there is nothing to plot or resume, and no file was written"
    kept = (f"; the figures and metrics.json show epoch {error.epochs_completed}, the last completed, "
            f"and {error.checkpoint} holds it")
    if error.label != "interrupted":   # only an interrupted run resumes
        return kept
    return f"{kept}\nresume with: {resume_command(argv, error.checkpoint)}"


def resume_command(argv, checkpoint):
    """The command line that continues this run from `checkpoint`: the same options, with
    --resume pointing at it (the interrupted epoch is trained again from its start), launched
    as this run was (python, or torchrun with as many processes)."""
    kept, skip = [], False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--resume":
            skip = True
        elif not argument.startswith("--resume="):
            kept.append(argument)
    script = [sys.argv[0] or "train.py", *kept, "--resume", str(checkpoint)]
    if "LOCAL_WORLD_SIZE" not in os.environ:
        return shlex.join(["python", *script])
    if os.environ["LOCAL_WORLD_SIZE"] != os.environ.get("WORLD_SIZE"):   # torchrun on several machines
        return f"torchrun <the same options, on every machine> {shlex.join(script)}"
    return shlex.join(["torchrun", "--nproc-per-node", os.environ["LOCAL_WORLD_SIZE"], *script])


def summary(final, paths):
    """The end of the run in a few lines: the last epoch's test-set metrics (its losses are on its
    epoch line just above, not repeated), the files written and, last,
    what went wrong if something did (the space collapsed, the loss diverged)."""
    import json
    with open(paths["metrics"]) as f:
        warnings = json.load(f)["warnings"]
    lines = [f"test set: 5-NN accuracy {final['knn_accuracy']:.4f}, {retrieval_text(final)}, silhouette "
             f"{final['silhouette']:.4f}",
             "wrote:"]
    return "\n".join(lines + [f"  {path}" for path in paths.values()] + warnings)


def retrieval_text(final):
    """'precision@1 0.9812, MAP@R 0.9431'; when no test image has another of its class to
    retrieve, both are NaN (null in metrics.json, docs/metrics.md) and the line says why."""
    precision, map_at_r = final["precision_at_1"], final["map_at_r"]
    if precision != precision and map_at_r != map_at_r:   # NaN
        return "precision@1 and MAP@R n/a (no test image has another of its class to retrieve)"
    return f"precision@1 {precision:.4f}, MAP@R {map_at_r:.4f}"


if __name__ == "__main__":
    sys.exit(main())
