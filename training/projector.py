"""The files TensorBoard's embedding projector reads, written without TensorBoard.

`tensorboard --logdir DIR` finds DIR/projector_config.pbtxt (a text-format ProjectorConfig,
tensorboard/plugins/projector/projector_config.proto) and reads the files it names, relative to
itself:

- tensors.tsv: one row per point, its coordinates separated by tabs, no header;
- metadata.tsv: one row per point; with several columns the first line is their header (the
  projector takes a first line holding a tab for a header), with one column there is none;
- sprite.png: the points' thumbnails in a square grid, row by row from the top left, every cell
  `single_image_dim` pixels; the projector takes sprites of at most 8192 x 8192 pixels, so the
  thumbnails shrink when there are many.
"""

import io
import math
import os

import numpy as np
from PIL import Image

from datasets.names import shown

from .files import write_atomically

MAX_SPRITE_SIDE = 8192
FILES = {"tensors": "tensors.tsv", "metadata": "metadata.tsv", "sprite": "sprite.png",
         "config": "projector_config.pbtxt"}


def sprite_cell(count: int, image_size: int) -> int:
    """The side of one thumbnail in the sprite of `count` images of `image_size` pixels: their own
    size, or less so that the grid (ceil(sqrt(count)) cells a side) stays within 8192 pixels."""
    side = max(1, math.ceil(math.sqrt(count)))
    return min(image_size, MAX_SPRITE_SIDE // side)


def sprite(pixels: np.ndarray) -> Image.Image | None:
    """uint8 images (N, C, S, S), C = 1 or 3 -> the square sprite, white where no image lies;
    None when even 1-pixel cells would not fit."""
    count, channels, size, _ = pixels.shape
    side = max(1, math.ceil(math.sqrt(count)))
    cell = sprite_cell(count, size)
    if cell < 1:
        return None
    images = pixels[:, 0] if channels == 1 else pixels.transpose(0, 2, 3, 1)
    if cell != size:
        mode = "L" if channels == 1 else "RGB"
        images = np.stack([np.asarray(Image.fromarray(image, mode).resize((cell, cell), Image.Resampling.BOX))
                           for image in images])
    canvas = np.full((side * cell, side * cell) + images.shape[3:], 255, dtype=np.uint8)
    for i, image in enumerate(images):
        row, column = divmod(i, side)
        canvas[row * cell:(row + 1) * cell, column * cell:(column + 1) * cell] = image
    return Image.fromarray(canvas)


def _cell(text: str) -> str:
    """A TSV cell: tabs and line breaks would split it, so they become spaces."""
    return " ".join(shown(str(text)).replace("\t", " ").splitlines())


def metadata_tsv(paths: list, labels: list) -> str:
    """'path\\tlabel' rows under a header when any image has a class, else the paths alone."""
    if all(label is None for label in labels):
        return "".join(f"{_cell(path)}\n" for path in paths)
    rows = ["path\tlabel"] + [f"{_cell(path)}\t{_cell('' if label is None else label)}"
                              for path, label in zip(paths, labels)]
    return "\n".join(rows) + "\n"


def tensors_tsv(embeddings: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savetxt(buffer, np.asarray(embeddings, dtype=np.float32), fmt="%.9g", delimiter="\t")
    return buffer.getvalue()


def config_pbtxt(count: int, dims: int, cell: int | None) -> str:
    lines = ["embeddings {", '  tensor_name: "embeddings"', f'  tensor_path: "{FILES["tensors"]}"',
             f'  metadata_path: "{FILES["metadata"]}"', f"  tensor_shape: {count}", f"  tensor_shape: {dims}"]
    if cell is not None:
        lines += ["  sprite {", f'    image_path: "{FILES["sprite"]}"', f"    single_image_dim: {cell}",
                  f"    single_image_dim: {cell}", "  }"]
    return "\n".join(lines + ["}"]) + "\n"


def write_projector(folder: str, embeddings: np.ndarray, paths: list, labels: list,
                    pixels: np.ndarray) -> dict:
    """Write the four projector files into `folder` (which exists), each atomically; returns
    {key: path} of the files written (no sprite when the images are too many for one)."""
    written = {}
    image = sprite(pixels)
    cell = sprite_cell(len(pixels), pixels.shape[2]) if image is not None else None
    contents = {"tensors": tensors_tsv(embeddings), "metadata": metadata_tsv(paths, labels).encode()}
    if image is not None:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        contents["sprite"] = buffer.getvalue()
    contents["config"] = config_pbtxt(len(embeddings), embeddings.shape[1], cell).encode()
    for key, data in contents.items():
        path = os.path.join(folder, FILES[key])
        write_atomically(path, data)
        written[key] = path
    return written
