"""The contract every entry of the registry keeps, run for each: a network added to
EXPERIMENTS is tested by being added. On tiny IDX data, in-process."""

import dataclasses
import json
import os

import pytest

from training import EXPERIMENTS, Config, RunError, run
from training.outputs import FILES
from training.registry import ALL_SETTINGS

pytestmark = pytest.mark.slow   # runs train.py end to end: left out of the fast loop (-m "not slow")

# A value other than the default for each setting a network may use.
CHANGED = {"lr": 0.02, "seed": 5, "batch_size": 32, "margin": 3.0, "classes_per_batch": 5,
           "images_per_class": 4, "mining": "semi-hard", "shift": 1}


def config_for(name, tiny_data, output, **changes):
    return Config(name, "MNIST", epochs=1, batch_size=16, classes_per_batch=4, images_per_class=3,
                  data_dir=tiny_data, output=str(output), animation=0, **changes)


@pytest.fixture(scope="module", params=list(EXPERIMENTS))
def trained(request, tiny_data, tmp_path_factory):
    """(network name, its config, its output folder) after one epoch."""
    output = tmp_path_factory.mktemp(request.param)
    config = config_for(request.param, tiny_data, output)
    run(config, show_progress=False)
    return request.param, config, output


def test_each_network_trains_an_epoch_and_writes_every_file(trained):
    name, config, output = trained
    extra = [f"{key}.png" for key in ("manifold", "reconstructions")] if EXPERIMENTS[name].extra_figures else []
    assert sorted(os.listdir(output)) == sorted(config.prefix.rsplit("/", 1)[1] + file
                                                for file in [*FILES.values(), *extra])
    document = json.loads(open(config.prefix + "metrics.json").read())
    assert document["complete"] and set(document["files"]) == {*FILES, *(f.removesuffix(".png") for f in extra)}


def test_each_network_resumes_from_its_checkpoint(trained, tmp_path):
    name, config, output = trained
    more = dataclasses.replace(config, epochs=2, resume=config.prefix + "model.pt", output=str(tmp_path))
    final, _ = run(more, show_progress=False)
    assert final["epoch"] == 2


def test_each_network_refuses_a_resume_with_another_backbone(trained, tmp_path):
    name, config, output = trained
    other = dataclasses.replace(config, epochs=2, resume=config.prefix + "model.pt", output=str(tmp_path / "out"),
                                backbone="wide")
    with pytest.raises(RunError, match="holds a backbone of 'original', not 'wide'"):
        run(other, show_progress=False)
    assert not (tmp_path / "out").exists()


def test_each_network_refuses_only_the_changed_settings_it_uses(trained, tmp_path):
    name, config, output = trained
    used = EXPERIMENTS[name].settings
    for option in ALL_SETTINGS:
        changed = dataclasses.replace(config, epochs=2, resume=config.prefix + "model.pt",
                                      output=str(tmp_path / option), **{option: CHANGED[option]})
        if option in used:
            with pytest.raises(RunError, match=f"was trained with --{option.replace('_', '-')} "):
                run(changed, show_progress=False)
        else:   # an option the network ignores does not matter
            run(changed, show_progress=False)
