"""Draw diagrams/architectures.png from the backbones and the registry, so the diagram cannot
drift from the code.

    python scripts/draw_architectures.py [--output diagrams/architectures.png]

First one row per backbone (networks/backbones.py): its trunk and the variational
autoencoder's decoder built for it, every layer read off the instantiated nn.Module at 1x28x28.
Then one row per registered network: the batch its sampler draws (the names and the caption
come from the first sentence of the sampler's docstring, "Batches `(anchor, positive,
negative)`: <caption>."), the backbone its inputs pass through, the heads after it (their
layers read off the model; a head that differs between backbones, the decoder, refers to the
backbone rows) and its loss (the registry's summary). A trunk that several inputs pass
through is drawn once: its weights are shared. A box's text that would spill out of it is
drawn smaller until it fits.
"""

import argparse
import os
import re
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from networks import BACKBONES, DECODERS, build  # noqa: E402
from networks.layers import CenterCrop, Trunk  # noqa: E402
from plotting import figure_to_png  # noqa: E402
from plotting.render import plt  # noqa: E402
from training import EXPERIMENTS, Config  # noqa: E402
from training.files import write_atomically  # noqa: E402

COLOURS = {"input": "#e8f1fb", "trunk": "#fdf0d5", "head": "#e6f4ea", "loss": "#fbe4e4"}
ROW_HEIGHT = 2.3  # inches
BOX_BOTTOM, BOX_HEIGHT = 0.22, 0.56  # the trunk's, the heads' and the loss's, in the row's axes


IMAGE_SHAPE = (1, 28, 28)  # the backbones are drawn for MNIST's images


def layer_line(module):
    """A short description of one leaf layer, e.g. 'conv 1→6, 5×5'."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        name = "transposed conv" if isinstance(module, nn.ConvTranspose2d) else "conv"
        stride = f", stride {module.stride[0]}" if module.stride[0] != 1 else ""
        return (f"{name} {module.in_channels}→{module.out_channels}, "
                f"{module.kernel_size[0]}×{module.kernel_size[1]}{stride}")
    if isinstance(module, nn.Linear):
        return f"linear {module.in_features}→{module.out_features}"
    if isinstance(module, nn.MaxPool2d):
        return f"max-pool {module.kernel_size}"
    if isinstance(module, nn.Unflatten):
        return f"as {'×'.join(map(str, module.unflattened_size))}"
    if isinstance(module, CenterCrop):
        return f"centre {module.size}×{module.size}"
    if isinstance(module, nn.GroupNorm):
        return f"group norm {module.num_groups}"
    return type(module).__name__


def layer_lines(module):
    """One line per layer with weights, the normalisation, activations, pooling and reshaping after
    it joined on."""
    lines = []
    for leaf in (m for m in module.modules() if not list(m.children())):
        if isinstance(leaf, nn.Flatten):
            continue
        if lines and not any(True for _ in leaf.parameters(recurse=False)) or \
                isinstance(leaf, (nn.PReLU, nn.GroupNorm)) and lines:
            lines[-1] += f" · {layer_line(leaf)}"
        else:
            lines.append(layer_line(leaf))
    return lines


def shape_text(shape):
    return "×".join(map(str, shape))


def parameter_count(module):
    return sum(parameter.numel() for parameter in module.parameters())


def image_shape(model):
    settings = model.hyperparameters
    return settings["in_channels"], settings["image_size"], settings["image_size"]


def on_backbone(model, backbone):
    """The same network built on another backbone."""
    return build(type(model).__name__, **{**model.hyperparameters, "backbone": backbone})


def formula_lines(module):
    """The indented formula block of a module's class docstring, if it has one."""
    doc = type(module).__doc__ or ""
    return [line.strip() for line in doc.splitlines() if line.startswith("        ") and "=" in line]


def batch_inputs(experiment, config):
    """(image input names, target names, caption) of one batch, read from the sampler's
    docstring: "Batches `(name, ...)`: caption." (no caption if it does not read so)."""
    labels = torch.arange(40) % 10
    sampler = experiment.make_sampler(labels, config)
    batch = sampler.epoch(torch.Generator().manual_seed(0))[0]
    doc = " ".join((type(sampler).__doc__ or "").split("\n\n")[0].split())
    match = re.search(r"`\(([^)]*)\)`", doc)
    names = [n.strip() for n in match.group(1).split(",") if n.strip()] if match else []
    names = names if len(names) == len(batch) else [f"input {i + 1}" for i in range(len(batch))]
    images = [name for name, column in zip(names, batch) if not column.is_floating_point()]
    targets = [name for name, column in zip(names, batch) if column.is_floating_point()]
    caption = re.match(r"Batches `\([^)]*\)`: (.*?)\.?$", doc)
    return images, targets, caption.group(1) if caption else ""


def model_parts(model):
    """(trunk, heads): the backbone every input passes through, and what comes after it."""
    if isinstance(model, Trunk):
        return model, []
    trunk = next((m for m in model.children() if isinstance(m, Trunk)), None)
    heads = [(name, child) for name, child in model.named_children() if child is not trunk]
    return trunk, heads


def head_lines(model, name, head, latent_dims):
    """A head's layers; for a head that differs between backbones (the VAE's decoder), what it
    maps to what, and that its layers are the backbone's (drawn in the backbone rows)."""
    others = [dict(on_backbone(model, backbone).named_children())[name] for backbone in BACKBONES]
    if all(layer_lines(other) == layer_lines(head) for other in others):
        return layer_lines(head)
    with torch.no_grad():
        shape = head(torch.zeros(1, latent_dims)).shape[1:]
    return ["the backbone's VAE decoder", "(drawn above)", f"{latent_dims} → {shape_text(shape)}"]


def box(axes, x, y, width, height, title, lines, colour, fontsize=7.5):
    """A rounded box, its bold title at the top and `lines` below it; returns (patch, texts)."""
    patch = axes.add_patch(FancyBboxPatch((x, y), width, height, facecolor=colour,
                                          boxstyle="round,pad=0.004,rounding_size=0.01",
                                          edgecolor="#555555", linewidth=0.8))

    def below_top(points):
        return offset_copy(axes.transData, axes.figure, y=-points, units="points")
    top = (x + width / 2, y + height)
    texts = [axes.text(*top, title, ha="center", va="top", fontsize=fontsize + 1, fontweight="bold",
                       transform=below_top(4))]
    if lines:
        texts.append(axes.text(*top, "\n".join(lines), ha="center", va="top", fontsize=fontsize,
                               linespacing=1.25, transform=below_top(8 + 2 * fontsize)))
    return patch, texts


def fit_in_boxes(figure, boxes, inset=2):
    """Shrink each text of `boxes` [(patch, texts)] until it lies `inset` pixels inside its box;
    call it once the figure is laid out."""
    renderer = figure.canvas.get_renderer()
    for patch, texts in boxes:
        bounds = patch.get_window_extent(renderer).padded(-inset)
        for text in texts:
            while text.get_fontsize() > 4 and not contains(bounds, text.get_window_extent(renderer)):
                text.set_fontsize(text.get_fontsize() * 0.95)


def contains(outer, inner):
    return (outer.x0 <= inner.x0 and inner.x1 <= outer.x1
            and outer.y0 <= inner.y0 and inner.y1 <= outer.y1)


def arrow(axes, start, end):
    axes.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, color="#444444",
                                   linewidth=0.9, shrinkA=1, shrinkB=1))


def draw_row(axes, name, experiment, config):
    """One network's row; returns its boxes [(patch, texts)]."""
    axes.set_xlim(-0.005, 1.005)
    axes.set_ylim(0, 1)
    axes.axis("off")
    model = experiment.make_model(config, (1, 28, 28), 10)
    images, targets, caption = batch_inputs(experiment, config)
    trunk, heads = model_parts(model)
    axes.set_label(f"network {name}")
    axes.text(0.0, 0.98, f"{name}  ({type(model).__name__})", fontsize=11, fontweight="bold", va="top")

    # Inputs: one box per image input, stacked.
    slot = 0.7 / max(len(images), 1)
    input_centres, boxes = [], []
    for i, image in enumerate(images):
        y = 0.8 - (i + 1) * slot + 0.02
        boxes.append(box(axes, 0.0, y, 0.12, slot - 0.04, image, [], COLOURS["input"]))
        input_centres.append((0.12, y + (slot - 0.04) / 2))
    axes.text(0.0, 0.03, "; ".join(([caption] if caption else [])
                                   + ([f"target: {', '.join(targets)}"] if targets else [])),
              fontsize=7, style="italic", va="bottom")

    # The trunk, drawn once: every input goes through the same weights. Its layers are the
    # backbone's, drawn in the backbone rows.
    shared = " (shared weights)" if len(images) > 1 else ""
    out_dims = trunk.head[-1].out_features
    *others, last = BACKBONES
    trunk_lines = [f"{', '.join(others)} or {last} (--backbone)",
                   f"image {shape_text(image_shape(model))} → {out_dims}"]
    if out_dims != config.latent_dims:
        trunk_lines.append(f"({out_dims // config.latent_dims} × latent: mean, log-variance)")
    boxes.append(box(axes, 0.2, BOX_BOTTOM, 0.26, BOX_HEIGHT, f"backbone{shared}", trunk_lines,
                     COLOURS["trunk"]))
    for centre in input_centres:
        arrow(axes, centre, (0.2, 0.49))

    # Heads after the trunk, each with its own layers.
    previous = (0.46, 0.49)
    if heads:
        height = (BOX_HEIGHT + 0.04) / len(heads)
        for i, (head_name, head) in enumerate(heads):
            y = BOX_BOTTOM + BOX_HEIGHT - (i + 1) * height + 0.04
            boxes.append(box(axes, 0.53, y, 0.22, height - 0.04, head_name,
                             head_lines(model, head_name, head, config.latent_dims), COLOURS["head"]))
            arrow(axes, (0.46, 0.49), (0.53, y + (height - 0.04) / 2))
        previous = (0.75, 0.49)
    formulas = formula_lines(model)
    if formulas:
        axes.text(0.64, 0.06, "\n".join(formulas), ha="center", va="bottom", fontsize=8, family="monospace")
    latent = f"latent: {config.latent_dims} dims"
    axes.text(0.495, 0.9, latent, ha="center", fontsize=7)

    boxes.append(box(axes, 0.81, BOX_BOTTOM, 0.19, BOX_HEIGHT, "loss", _wrap(experiment.summary, 30),
                     COLOURS["loss"]))
    arrow(axes, previous, (0.81, 0.49))
    return boxes


def draw_backbone_row(axes, name, latent_dims):
    """One backbone's row: its trunk and the VAE's decoder for it; returns its boxes."""
    axes.set_xlim(-0.005, 1.005)
    axes.set_ylim(0, 1)
    axes.axis("off")
    axes.set_label(f"backbone {name}")
    channels, size, _ = IMAGE_SHAPE
    trunk = BACKBONES[name](latent_dims, channels, size)
    decoder = DECODERS[name](latent_dims, channels, size)
    axes.text(0.0, 0.98, f"backbone {name}  (--backbone {name})", fontsize=11, fontweight="bold", va="top")
    description = " ".join(BACKBONES[name].__doc__.split("\n\n")[0].split()).rstrip(":.")
    axes.text(0.0, 0.03, description, fontsize=7, style="italic", va="bottom")

    first_linear = trunk.head[0]
    conv_channels = [layer.out_channels for layer in trunk.features if isinstance(layer, nn.Conv2d)][-1]
    side = round((first_linear.in_features / conv_channels) ** 0.5)
    notes = [f"trunk: {parameter_count(trunk):,} parameters",
             f"decoder: {parameter_count(decoder):,} parameters",
             f"(at {shape_text(IMAGE_SHAPE)}, latent {latent_dims})",
             "",
             f"first linear: {conv_channels}×{side}×{side} = {first_linear.in_features}",
             "inputs, from the image's",
             "channels and size",
             "",
             "the VAE's encoder: this trunk",
             "with 2 × latent outputs"]
    boxes = [box(axes, 0.0, BOX_BOTTOM, 0.12, BOX_HEIGHT, f"image {shape_text(IMAGE_SHAPE)}", [],
                 COLOURS["input"])]
    boxes.append(box(axes, 0.2, BOX_BOTTOM, 0.26, BOX_HEIGHT, f"trunk → {latent_dims}", layer_lines(trunk),
                     COLOURS["trunk"]))
    arrow(axes, (0.12, 0.49), (0.2, 0.49))
    boxes.append(box(axes, 0.53, BOX_BOTTOM, 0.22, BOX_HEIGHT,
                     f"VAE decoder: {latent_dims} → {shape_text(IMAGE_SHAPE)}", layer_lines(decoder),
                     COLOURS["head"]))
    axes.text(0.81, BOX_BOTTOM + BOX_HEIGHT, "\n".join(notes), fontsize=7.5, va="top", linespacing=1.25)
    return boxes


def _wrap(text, width):
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line] if line else lines


def architectures_figure(latent_dims=2):
    backbones, names = list(BACKBONES), list(EXPERIMENTS)
    figure, rows = plt.subplots(len(backbones) + len(names), 1,
                                figsize=(12, ROW_HEIGHT * (len(backbones) + len(names))))
    boxes = []
    for axes, name in zip(rows, backbones):
        boxes += draw_backbone_row(axes, name, latent_dims)
    for axes, name in zip(rows[len(backbones):], names):
        boxes += draw_row(axes, name, EXPERIMENTS[name], Config(name, "MNIST", latent_dims=latent_dims))
    figure.suptitle("Architectures (generated from networks/backbones.py and training/registry.py "
                    "by scripts/draw_architectures.py)", fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.985))
    fit_in_boxes(figure, boxes)
    return figure


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=os.path.join("diagrams", "architectures.png"))
    args = parser.parse_args(argv)
    write_atomically(args.output, figure_to_png(architectures_figure(), dpi=110))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
