"""Reverse image search with a trained model: each query image's nearest gallery images.

    python search.py tmp/siamese-contrastive-pets-model.pt photo.jpg --gallery data/pets -k 8

writes <output>/search.png (a query a row, its k nearest gallery images in order, with distance
and class; where both have a class, a green or red frame says whether it matches the query's)
and <output>/search.json (paths, classes, distances, precision@k where the classes are known).
The search is exact, in the model's latent space, by Euclidean distance. A query's class is its
folder's name when the gallery has a class of that name. A folder's or data set's embeddings are
cached, so a second search over the same gallery embeds only the queries.
"""

import json
import os
import sys

from datasets.names import shown
from embed import add_common_options, load_model, positive_int
from train import HelpFormatter, OneLineParser
from training.config import DATA_DIR_VARIABLE
from training.errors import RunError, run_command

FILES = {"figure": "search.png", "results": "search.json"}
EXAMPLE = "python search.py tmp/siamese-contrastive-pets-model.pt photo.jpg --gallery data/pets -k 8"


def parse_args(argv=None):
    parser = OneLineParser(
        prog="search.py", formatter_class=HelpFormatter,
        description="Reverse image search: the k gallery images nearest each query in a trained "
                    "model's latent space, as a PNG grid and a JSON file.",
        epilog=f"Example: {EXAMPLE}\n\nExit codes: 0 done, 1 a file could not be written, 2 bad input "
               f"(nothing is written).")
    parser.add_argument("model", metavar="MODEL.pt", help="a model.pt written by train.py")
    parser.add_argument("queries", metavar="QUERY", nargs="+",
                        help="image files or folders of images (a query in a class folder named like a "
                             "gallery class has that class)")
    parser.add_argument("--gallery", required=True, metavar="FOLDER_OR_DATA_SET_OR_NPZ",
                        help="what to search: a folder of images (class folders give classes), MNIST or "
                             "FashionMNIST (the test split), or an embeddings.npz that embed.py wrote "
                             "with this model")
    parser.add_argument("-k", type=positive_int, default=8, help="neighbours per query")
    parser.add_argument("--output", default="./tmp/search", help="output folder")
    parser.add_argument("--no-cache", action="store_true",
                        help="embed the gallery afresh, neither reading nor writing the cache")
    add_common_options(parser)
    return parser.parse_args(argv)


def precision(query_label, neighbour_labels):
    """The share of the neighbours of the query's class; None when either side has no class."""
    if query_label is None or not neighbour_labels or any(label is None for label in neighbour_labels):
        return None
    return sum(label == query_label for label in neighbour_labels) / len(neighbour_labels)


def not_found(path, data_dir, every=False):
    """Where the gallery image recorded as `path` (an embed.py npz records MNIST's images as
    'MNIST:test/<index>', files by the path it was given) was looked for, and what finds it;
    `every`: none of the neighbours' images was found, not only this one."""
    from training.inputs import dataset_item

    item = dataset_item(path)
    if item is not None:
        return (f"{path} was looked for in {shown(os.path.join(data_dir, item[0], 'raw'))}; pass --data-dir "
                f"with the folder embed.py read {item[0]} from, or set ${DATA_DIR_VARIABLE}")
    where = f"{shown(path)} does not exist" + ("" if os.path.isabs(path) else f" in {shown(os.getcwd())}")
    if every:
        return (f"{where}; run search.py in the folder embed.py ran in (it records the paths it was "
                f"given), or embed the gallery again")
    return f"{where}; the gallery changed since it was embedded: embed it again (embed.py) to search it as it is"


def run(args, embed=None):
    """Search and write the files; returns {key: path}. `embed` replaces the gallery's embedding
    function (tests count what is embedded)."""
    import numpy as np

    from datasets.split import DatasetError
    from plotting.grid import neighbours_figure
    from plotting.render import figure_to_png
    from training.files import write_atomically
    from training.gallery import load_gallery, nearest
    from training.inputs import list_inputs, read_images, thumbnails
    from training.outputs import check_output_folder, make_output_folder

    check_output_folder(args.output)
    _, trained = load_model(args)
    try:
        # The queries first: a query that is no image is refused before the gallery is embedded.
        images = read_images(list_inputs(args.queries, args.data_dir), trained.channels, trained.image_size)
        gallery = load_gallery(args.gallery, trained, args.data_dir, args.batch_size,
                               use_cache=not args.no_cache, embed=embed)
        listing = list_inputs(args.queries, args.data_dir, known_classes=gallery.class_names)  # their classes
    except DatasetError as error:
        raise RunError(str(error)) from None
    if len(gallery) == 0:
        raise RunError(f"the gallery {args.gallery} holds no image")
    for line in gallery.warnings + listing.warnings + images.warnings:
        print(f"search.py: warning: {line}", file=sys.stderr)
    queries = trained.embed(images.pixels, args.batch_size)
    paths = [listing.paths[i] for i in images.kept]
    known = set(gallery.class_names)   # a query's class counts only when the gallery has it
    labels = [listing.labels[i] if listing.labels[i] in known else None for i in images.kept]
    where = {os.path.abspath(path): i for i, path in enumerate(gallery.paths)}
    exclude = [where.get(os.path.abspath(path), -1) for path in paths]
    indices, distances = nearest(queries, gallery.embeddings, args.k, exclude)
    k = indices.shape[1]

    results, scores = [], []
    for q, (path, label) in enumerate(zip(paths, labels)):
        neighbours = [{"rank": rank + 1, "path": gallery.paths[i], "label": gallery.labels[i],
                       "distance": float(distances[q, rank]),
                       "match": (None if label is None or gallery.labels[i] is None
                                 else gallery.labels[i] == label)}
                      for rank, i in enumerate(indices[q].tolist())]
        score = precision(label, [n["label"] for n in neighbours])
        if score is not None:
            scores.append(score)
        results.append({"path": path, "label": label, "precision_at_k": score, "neighbours": neighbours})
    mean = float(np.mean(scores)) if scores else None
    record = {"model": args.model, "model_sha256": trained.digest, "gallery": args.gallery,
              "gallery_images": len(gallery), "k": k, "distance": "euclidean",
              "precision_at_k": mean, "labelled_queries": len(scores), "queries": results}

    flat = [gallery.paths[i] for i in indices.flatten().tolist()]
    pixels, found = thumbnails(flat, trained.channels, trained.image_size, args.data_dir)
    missing = [path for path, ok in zip(flat, found.tolist()) if not ok]
    if missing and len(missing) == len(flat):   # a picture of nothing: say what would find them
        raise RunError(f"none of the {len(flat):,} neighbours' images can be found to draw "
                       f"{FILES['figure']}: {not_found(missing[0], args.data_dir, every=True)}")
    if missing:
        print(f"search.py: warning: {len(missing):,} of the {len(flat):,} neighbours' images could not be "
              f"found and are drawn as 'not found': {not_found(missing[0], args.data_dir)}", file=sys.stderr)
    shape = (len(paths), k, trained.channels, trained.image_size, trained.image_size)
    network, dataset = trained.identity.get("network", "model"), trained.identity.get("dataset", "?")
    title = f"{network} ({dataset}): the {k} nearest of {len(gallery):,} gallery images"
    if mean is not None:
        title += f", precision@{k} {mean:.3f}"
    figure = neighbours_figure(images.pixels.numpy(), pixels.numpy().reshape(shape), distances.numpy(),
                               labels, [[n["label"] for n in result["neighbours"]] for result in results],
                               title=title, found=found.numpy().reshape(len(paths), k))
    png = figure_to_png(figure)
    make_output_folder(args.output)
    written = {key: os.path.join(args.output, name) for key, name in FILES.items()}
    write_atomically(written["figure"], png)
    write_atomically(written["results"], (json.dumps(record, indent=1) + "\n").encode())
    lines = [f"searched {len(gallery):,} gallery images ({gallery.source}) "
             f"for {len(paths):,} quer{'y' if len(paths) == 1 else 'ies'} with {trained.description}"]
    if k < args.k:
        lines.append(f"note: -k {args.k} is more than the gallery holds besides a query: {k} neighbours each")
    if mean is not None:
        lines.append(f"precision@{k}: {mean:.4f} over {len(scores):,} quer{'y' if len(scores) == 1 else 'ies'} "
                     f"with a class")
    for result in results[:5]:
        nearest_one = result["neighbours"][0] if result["neighbours"] else None
        if nearest_one:
            lines.append(f"  {result['path']}: nearest {nearest_one['path']} "
                         f"(d = {nearest_one['distance']:.4g})")
    lines += ["wrote:", *(f"  {path}" for path in written.values())]
    print("\n".join(lines))
    return written


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return run_command("search.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
