import os
import subprocess
import sys

import imageio.v3 as iio
from matplotlib.patches import FancyBboxPatch

from conftest import ROOT
from training import EXPERIMENTS, Config

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import draw_architectures  # noqa: E402


def texts_of(axes):
    return " ".join(text.get_text() for text in axes.texts)


def test_one_row_per_registered_network_with_its_layers_read_off_the_model():
    figure = draw_architectures.architectures_figure(latent_dims=7)
    rows = figure.axes
    assert len(rows) == len(EXPERIMENTS)
    for axes, name in zip(rows, EXPERIMENTS):
        text = texts_of(axes)
        assert name in text
        assert "conv 1→6, 5×5 · PReLU · max-pool 2" in text
        # The latent size given, not a drawn-in constant (the VAE's trunk gives mean and log-variance).
        assert f"linear 128→{14 if name == 'vae' else 7}" in text
    assert "linear 7→10" in texts_of(rows[list(EXPERIMENTS).index("embedding-classification")])
    triplet = texts_of(rows[list(EXPERIMENTS).index("triplet-loss-net")])
    assert all(word in triplet for word in ("anchor", "positive", "negative", "shared weights"))


def test_the_script_writes_a_png(tmp_path):
    output = tmp_path / "architectures.png"
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "draw_architectures.py"),
                    "--output", str(output)], check=True, capture_output=True)
    image = iio.imread(output)
    assert image.shape[0] > 400 and image.shape[1] > 800


def test_every_box_holds_its_text_at_a_readable_size():
    figure = draw_architectures.architectures_figure()
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    held = drawn = 0
    for axes in figure.axes:
        boxes = [patch.get_window_extent(renderer) for patch in axes.patches
                 if isinstance(patch, FancyBboxPatch)]
        drawn += len(boxes)
        for text in axes.texts:
            extent = text.get_window_extent(renderer)
            centre = ((extent.x0 + extent.x1) / 2, (extent.y0 + extent.y1) / 2)
            for bounds in boxes:
                if bounds.contains(*centre):  # the text is in this box: all of it must be
                    assert (bounds.x0 <= extent.x0 and extent.x1 <= bounds.x1 and bounds.y0 <= extent.y0
                            and extent.y1 <= bounds.y1), (text.get_text(), extent, bounds)
                    assert text.get_fontsize() >= 6, text.get_text()
                    held += 1
    # Every box has its title; the trunk and the loss their lines too.
    assert held >= drawn + 2 * len(EXPERIMENTS)


def test_every_batch_caption_is_a_short_phrase():
    for name, experiment in EXPERIMENTS.items():
        images, _, caption = draw_architectures.batch_inputs(experiment, Config(name, "MNIST"))
        assert images and caption, name
        assert len(caption) <= 90 and "`" not in caption and not caption.startswith("Batches"), caption
        assert ". " not in caption and not caption.endswith("."), caption
    _, _, vae_caption = draw_architectures.batch_inputs(EXPERIMENTS["vae"], Config("vae", "MNIST"))
    assert "classification" not in vae_caption
