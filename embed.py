"""Embed images with a trained model and write them for TensorBoard's embedding projector.

    python embed.py tmp/siamese-contrastive-pets-model.pt data/pets --output tmp/pets-embeddings
    tensorboard --logdir tmp/pets-embeddings

writes <output>/embeddings.npz (embeddings, paths, labels, class_names, model_sha256) and the
projector's tensors.tsv, metadata.tsv, sprite.png and projector_config.pbtxt. The images are
read at the model's own size, channels, mean and standard deviation, from the checkpoint.
"""

import argparse
import io
import os
import sys

from train import HelpFormatter, OneLineParser
from training.config import DATA_DIR_VARIABLE, default_data_dir, parse_number
from training.errors import RunError, run_command

NPZ = "embeddings.npz"
EXAMPLE = "python embed.py tmp/siamese-contrastive-pets-model.pt data/pets --output tmp/pets-embeddings"
INPUTS_HELP = ("image files, folders of images (in class folders, <folder>/<class>/<image>, whose names "
               "become the labels, or all in one folder, unlabelled), or MNIST / FashionMNIST (their "
               "test split)")


def positive_int(text):
    value = parse_number(int)(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def add_common_options(parser):
    """The options embed.py and search.py share."""
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="images embedded at a time")
    parser.add_argument("--data-dir", default=default_data_dir(),
                        help=f"where MNIST and FashionMNIST lie, <dir>/<name>/raw/*-ubyte "
                             f"(default: ${DATA_DIR_VARIABLE}, else ./data)")


def parse_args(argv=None):
    parser = OneLineParser(
        prog="embed.py", formatter_class=HelpFormatter,
        description="Embed images with a trained model.pt; write embeddings.npz and the files of "
                    "TensorBoard's embedding projector (tensorboard --logdir OUTPUT shows them).",
        epilog=f"Example: {EXAMPLE}\n\nExit codes: 0 done, 1 a file could not be written, 2 bad input "
               f"(nothing is written).")
    parser.add_argument("model", metavar="MODEL.pt", help="a model.pt written by train.py")
    parser.add_argument("inputs", metavar="INPUT", nargs="+", help=INPUTS_HELP)
    parser.add_argument("--output", default="./tmp/embeddings", help="output folder")
    add_common_options(parser)
    return parser.parse_args(argv)


def embed_listing(trained, listing, batch_size):
    """(embeddings (N, D) float32 numpy, pixels (N, C, S, S) uint8 numpy, kept listing indices, warnings)."""
    from training.inputs import read_images

    images = read_images(listing, trained.channels, trained.image_size)
    embeddings = trained.embed(images.pixels, batch_size)
    return embeddings.numpy(), images.pixels.numpy(), images.kept, images.warnings


def npz_bytes(trained, embeddings, paths, labels, class_names) -> bytes:
    """embeddings.npz: what search.py takes as a gallery, and what a user loads with numpy."""
    import numpy as np

    index = {name: i for i, name in enumerate(class_names)}
    buffer = io.BytesIO()
    np.savez(buffer, embeddings=embeddings.astype(np.float32), paths=np.array(paths, dtype=str),
             labels=np.array([index[label] if label is not None else -1 for label in labels], dtype=np.int64),
             class_names=np.array(class_names, dtype=str), model_sha256=np.array(trained.digest),
             image_size=np.array(trained.image_size), channels=np.array(trained.channels))
    return buffer.getvalue()


def load_model(args):
    """(device, Trained) for the command's MODEL.pt and --device; RunError when either is wrong."""
    from training.setup import resolve_device
    from training.trained import load_trained

    device = resolve_device(args.device)
    return device, load_trained(args.model, device)


def projector_hint(folder: str, latent_dims: int) -> str:
    """The closing line. The projector's PCA view opens in 3-D, and a model of fewer than three
    latent dimensions has no third component to fill it: its points are seen in 2-D."""
    if latent_dims >= 3:
        return f"see them in 3-D: tensorboard --logdir {folder}"
    plane = " in 2-D" if latent_dims == 2 else ""
    return (f"see them{plane}: tensorboard --logdir {folder} (untick the 3-D box of the projector's PCA "
            f"view: a {latent_dims}-D model has no third component)")


def run(args):
    from datasets.split import DatasetError
    from training.files import write_atomically
    from training.inputs import list_inputs
    from training.outputs import check_output_folder, make_output_folder
    from training.projector import write_projector

    check_output_folder(args.output)
    _, trained = load_model(args)
    try:
        listing = list_inputs(args.inputs, args.data_dir, trained.class_names)
        embeddings, pixels, kept, warnings = embed_listing(trained, listing, args.batch_size)
    except DatasetError as error:
        raise RunError(str(error)) from None
    for line in listing.warnings + warnings:
        print(f"embed.py: warning: {line}", file=sys.stderr)
    paths = [listing.paths[i] for i in kept]
    labels = [listing.labels[i] for i in kept]
    class_names = listing.class_names if any(label is not None for label in labels) else []
    make_output_folder(args.output)
    npz = os.path.join(args.output, NPZ)
    write_atomically(npz, npz_bytes(trained, embeddings, paths, labels, class_names))
    written = {"embeddings": npz, **write_projector(args.output, embeddings, paths, labels, pixels)}
    labelled = sum(label is not None for label in labels)
    lines = [f"embedded {len(paths):,} image{'' if len(paths) == 1 else 's'} ({labelled:,} with a class) "
             f"with {trained.description} ({trained.latent_dims}-D)", "wrote:",
             *(f"  {path}" for path in written.values())]
    if "sprite" not in written:
        lines.append("(too many images for one sprite: the projector shows points without thumbnails)")
    lines.append(projector_hint(args.output, trained.latent_dims))
    print("\n".join(lines))


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_command("embed.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
