"""training/loop.py's timing fields mean what docs/metrics-json.md says."""

import inspect
import time

import pytest
import torch

import training.loop
from training import EXPERIMENTS, Config, run


@pytest.mark.slow
def test_train_seconds_leave_out_the_gifs_frames_and_items_are_those_trained(tiny_data, tmp_path, monkeypatch):
    real_embed = training.loop.embed

    def slow_frame(model, split):
        if inspect.stack()[1].function == "after_batch":   # a GIF frame, not the evaluation
            time.sleep(2.0)
        return real_embed(model, split)
    monkeypatch.setattr(training.loop, "embed", slow_frame)
    config = Config("online-contrastive", "MNIST", epochs=1, classes_per_batch=5, images_per_class=5,
                    animation=2, data_dir=tiny_data, output=str(tmp_path))
    final, _ = run(config, show_progress=False)
    # 10 classes of 12 images in groups of 5: 4 batches of 5 x 5 = 100 of the 120 images;
    # frames after batches 2 and 4.
    batches = EXPERIMENTS["online-contrastive"].make_sampler(torch.arange(120) % 10, config).epoch(
        torch.Generator().manual_seed(0))
    items = sum(len(batch[0]) for batch in batches)
    assert items == 100
    assert final["samples_per_second"] * final["train_seconds"] == pytest.approx(items)
    assert final["seconds"] - final["train_seconds"] >= 4.0   # both frames' 2 s are outside training
    assert final["train_seconds"] < 4.0



@pytest.mark.slow
def test_shifts_reach_the_batches_the_loss_sees(tiny_data, tmp_path):
    config = Config("siamese-contrastive", "MNIST", epochs=1, batch_size=16, data_dir=tiny_data)
    rows = [run(Config(**{**vars(config), "shift": shift, "output": str(tmp_path / str(shift))}),
                show_progress=False)[0] for shift in (0, 2, 2)]
    assert rows[0]["train_loss"] != rows[1]["train_loss"] and rows[1]["train_loss"] == rows[2]["train_loss"]
