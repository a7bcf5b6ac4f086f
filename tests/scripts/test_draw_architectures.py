import pytest
import os
import subprocess
import sys

import imageio.v3 as iio
from matplotlib.patches import FancyBboxPatch

from conftest import ROOT
from networks import BACKBONES
from training import EXPERIMENTS, Config

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import draw_architectures  # noqa: E402


def texts_of(axes):
    return " ".join(text.get_text() for text in axes.texts)


def rows_by_label(figure):
    return {axes.get_label(): axes for axes in figure.axes}


def test_each_backbone_is_drawn_once_with_its_layers_read_off_the_model():
    figure = draw_architectures.architectures_figure(latent_dims=7)
    rows = rows_by_label(figure)
    assert [axes.get_label() for axes in figure.axes] == (
        [f"backbone {name}" for name in BACKBONES] + [f"network {name}" for name in EXPERIMENTS])
    original, wide = texts_of(rows["backbone original"]), texts_of(rows["backbone wide"])
    assert "conv 1→6, 5×5 · PReLU · max-pool 2" in original and "conv 6→16, 5×5" in original
    assert "linear 256→128 · PReLU" in original and "linear 128→7" in original
    assert "conv 1→32, 5×5 · PReLU · max-pool 2" in wide and "linear 1024→256 · PReLU" in wide
    assert "linear 256→256 · PReLU" in wide and "linear 256→7" in wide
    # The VAE's decoder for each, with the latent size given.
    assert "linear 7→128 · PReLU" in original and "transposed conv 16→1, 4×4, stride 2" in original
    assert "linear 7→256 · PReLU" in wide and "transposed conv 32→1, 4×4, stride 2" in wide
    # Parameter counts: the trunk at latent 7 (35,729 at latent 2, plus 5 x 129).
    assert "trunk: 36,374 parameters" in original and "first linear: 16×4×4 = 256" in original
    assert "first linear: 64×4×4 = 1024" in wide
    # wide-gn: wide's layers, a group norm after each convolution; wide's decoder.
    wide_gn = texts_of(rows["backbone wide-gn"])
    assert "conv 1→32, 5×5 · group norm 8 · PReLU · max-pool 2" in wide_gn
    assert "conv 32→64, 5×5 · group norm 8 · PReLU · max-pool 2" in wide_gn
    assert "linear 1024→256 · PReLU" in wide_gn and "transposed conv 32→1, 4×4, stride 2" in wide_gn
    # No network row repeats a backbone's layers: the backbones are drawn once.
    for name in EXPERIMENTS:
        text = texts_of(rows[f"network {name}"])
        assert "conv" not in text and "original, wide or wide-gn (--backbone)" in text, name


def test_one_row_per_registered_network_with_its_heads_read_off_the_model():
    figure = draw_architectures.architectures_figure(latent_dims=7)
    rows = rows_by_label(figure)
    for name in EXPERIMENTS:
        text = texts_of(rows[f"network {name}"])
        assert name in text
        # The latent size given, not a drawn-in constant (the VAE's trunk gives mean and log-variance).
        assert f"image 1×28×28 → {14 if name == 'vae' else 7}" in text
    assert "linear 7→10" in texts_of(rows["network embedding-classification"])
    assert "linear 1→1" in texts_of(rows["network siamese-binary-cross-entropy"])   # on the distance
    vae = texts_of(rows["network vae"])
    assert "the backbone's VAE decoder" in vae and "7 → 1×28×28" in vae and "transposed" not in vae
    triplet = texts_of(rows["network triplet-loss-net"])
    assert all(word in triplet for word in ("anchor", "positive", "negative", "shared weights"))


@pytest.mark.slow
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
    # Every box has its title; the trunk and the loss of each network, and the trunk and the
    # decoder of each backbone, their lines too.
    assert held >= drawn + 2 * len(EXPERIMENTS) + 2 * len(BACKBONES)


def test_every_batch_caption_is_a_short_phrase():
    for name, experiment in EXPERIMENTS.items():
        images, _, caption = draw_architectures.batch_inputs(experiment, Config(name, "MNIST"))
        assert images and caption, name
        assert len(caption) <= 90 and "`" not in caption and not caption.startswith("Batches"), caption
        assert ". " not in caption and not caption.endswith("."), caption
    _, _, vae_caption = draw_architectures.batch_inputs(EXPERIMENTS["vae"], Config("vae", "MNIST"))
    assert "classification" not in vae_caption
