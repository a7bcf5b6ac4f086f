"""The GIF of a latent space forming: frames rendered in memory on fixed axes."""

import io
import itertools
from collections.abc import Iterator, Sequence

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from PIL import Image

from .render import figure_to_rgb
from .scatter import (CLASS_COLOURS, axis_limits, class_colours, embedding_figure, figure_title,
                      move_points, to_2d)

import matplotlib.pyplot as plt  # noqa: E402  (after .render, which chooses the backend)

# A frame is 7.5 x 6 inches at 100 dpi, 750 x 600 pixels, with its legend at 10 points (14
# pixels): big enough to read every class name of a 20-class legend.
FRAME_SIZE = 6.0
FRAME_DPI = 100
LEGEND_SIZE = "medium"
SECONDS_PER_FRAME = 0.5
LAST_FRAME_SECONDS = 3.0   # the last frame, the trained space, holds before the loop restarts
# How strongly a class colour shows over white: half-transparent points (scatter.py) give 0.5
# alone, more where they pile up, less at their antialiased edges.
TINTS = (1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125)


def animation_figures(frames, labels, class_names: Sequence[str], *, network: str,
                      dataset: str) -> Iterator[Figure]:
    """The figure of each frame of `frames`, a list of (caption, (N, D) embedding of the same N
    samples), all on the same axes, so that what moves is the space, not the camera. Titles:
    '<network> on <dataset>', the frame's caption, how the points were drawn (see to_2d).

    It is one figure, laid out once, whose points and title change from frame to frame
    (scatter.move_points): use each frame before asking for the next, and close the figure
    after the last."""
    projected = [to_2d(points, labels) for _, points in frames]
    limits = axis_limits([points for points, _ in projected])
    dims = np.shape(frames[0][1])[1] if frames else 2
    if dims == 1:   # every class's row, however few its points
        limits = (limits[0], (-0.5, len(class_names) - 0.5))
    figure = None
    for (caption, _), (points, projection) in zip(frames, projected):
        frame_title = figure_title(network, dataset, caption, f"({projection})" if projection else None)
        if figure is None:
            figure = embedding_figure(points, labels, class_names, frame_title, limits=limits,
                                      size=FRAME_SIZE, dims=dims, legend_size=LEGEND_SIZE)
        else:
            move_points(figure, points, labels, len(class_names), frame_title)
        yield figure


def latent_space_gif(frames, labels, class_names: Sequence[str], *, network: str, dataset: str,
                     seconds_per_frame: float = SECONDS_PER_FRAME,
                     last_frame_seconds: float = LAST_FRAME_SECONDS) -> bytes:
    """GIF bytes of `frames` (see animation_figures), looping, rendered without frame files:
    one GIF frame per frame, each shown `seconds_per_frame`, the last `last_frame_seconds`.

    A GIF of one frame (a one-epoch run with a frame per epoch) shows nothing move; it is
    still written, and the caller tells the user when len(frames) == 1.

    Up to 10 classes, every frame is mapped to one fixed palette (gif_palette) that holds each
    class's exact colour: the adaptive palette a GIF encoder picks for itself left out the
    colours of classes with few pixels, and drew them grey. With more classes the palette
    cannot hold every tint and overlap, so each frame gets its own (mixed_palette): the greys
    and each class's colour exactly, solid and half-transparent, then colours that median cut
    picks from that frame."""
    fixed = gif_palette(CLASS_COLOURS) if len(class_names) <= len(CLASS_COLOURS) else None
    images, figure = [], None
    for figure in animation_figures(frames, labels, class_names, network=network, dataset=dataset):
        rgb = figure_to_rgb(figure, dpi=FRAME_DPI)
        if fixed is not None:   # Pillow maps to it fast, and exactly: its entries lie far apart
            images.append(Image.fromarray(rgb).quantize(palette=_palette_image(fixed),
                                                        dither=Image.Dither.NONE))
        else:
            images.append(to_palette(rgb, mixed_palette(rgb, class_colours(len(class_names)))))
    if figure is not None:
        plt.close(figure)
    durations = [int(seconds_per_frame * 1000)] * (len(images) - 1) + [int(last_frame_seconds * 1000)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=durations, loop=0)
    return buffer.getvalue()


def to_palette(rgb: np.ndarray, palette: np.ndarray) -> Image.Image:
    """An (H, W, 3) uint8 image as a Pillow "P" image of `palette` ((E, 3) uint8, E <= 256),
    each pixel given its nearest entry (no dithering). Pillow's own mapping looks colours up
    at reduced precision, and among a mixed palette's close entries it drew the white
    background as (252, 252, 252)."""
    keys = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    colours, inverse = np.unique(keys.ravel(), return_inverse=True)
    unique_rgb = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=1)
    distances = ((unique_rgb[:, None, :] - palette[None, :, :].astype(np.int32)) ** 2).sum(axis=2)
    indices = distances.argmin(axis=1).astype(np.uint8)[inverse].reshape(rgb.shape[:2])
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.ravel().tolist())
    return image


def _palette_image(entries):
    palette = Image.new("P", (1, 1))
    palette.putpalette(entries.ravel().tolist())
    return palette


def _greys():
    return [np.full(3, level) for level in np.linspace(0, 1, 24)]


def _entries(colours):
    return np.round(np.array(colours) * 255).astype(np.uint8)


def gif_palette(colours) -> np.ndarray:
    """A palette ((E, 3) uint8) of 24 greys (text, axes, background), each of `colours` at
    every strength of TINTS over white, and every two of them where their points overlap;
    194 entries for 10 colours, within a GIF's 256."""
    white = np.ones(3)
    rgb = [np.array(to_rgb(colour)) for colour in colours]
    entries = _greys() + [tint * colour + (1 - tint) * white for colour in rgb for tint in TINTS]
    entries += [mix for one, other in itertools.combinations(rgb, 2)
                for mix in ((one + other) / 2, 0.375 * (one + other) + 0.25 * white)]
    return _entries(entries)


def mixed_palette(rgb: np.ndarray, colours) -> np.ndarray:
    """A palette ((256, 3) uint8 at most) for the (H, W, 3) uint8 image `rgb`: 24 greys, each
    distinct colour of `colours` solid (as the legend draws it) and at half strength over white
    (a lone point), and the rest of a GIF's 256 entries chosen by median cut from `rgb` itself."""
    white = np.ones(3)
    distinct = [np.array(to_rgb(colour)) for colour in dict.fromkeys(colours)]
    fixed = _entries(_greys() + [tint * colour + (1 - tint) * white for colour in distinct
                                 for tint in (1.0, 0.5)])
    adaptive = Image.fromarray(rgb).quantize(colors=256 - len(fixed), method=Image.Quantize.MEDIANCUT)
    used = max(index for _, index in adaptive.getcolors()) + 1
    chosen = np.array(adaptive.getpalette()[:3 * used], dtype=np.uint8).reshape(-1, 3)
    return np.concatenate([fixed, chosen])
