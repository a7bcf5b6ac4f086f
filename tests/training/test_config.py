"""training/config.py and names.py: one validation for the CLI and for code, names without torch."""

import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from training.config import Config, validate
from training.errors import ConfigError


def test_the_names_for_help_match_the_registry_the_data_sets_the_miners_and_the_backbones():
    import datasets
    import losses
    import networks
    from training import names, registry
    assert names.NETWORKS == tuple(registry.EXPERIMENTS)
    assert names.ALIASES == registry.ALIASES
    assert names.DATASETS == tuple(datasets.DATASET_NAMES)
    assert names.MINING == tuple(losses.TRIPLET_MINING)
    assert names.BACKBONES == tuple(networks.BACKBONES)


def test_help_and_validation_do_not_import_torch():
    probe = ("import sys; sys.argv = ['train.py', '--help']; import train\n"
             "try:\n    train.main(['--help'])\nexcept SystemExit:\n    pass\n"
             "train.main(['vae', 'MNIST', '--epochs', '0'])\n"
             "assert 'torch' not in sys.modules, 'torch was imported'")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "--backbone" in done.stdout and "Example: python train.py" in done.stdout


def test_help_says_each_default_once_and_never_none():
    text = run_cli("--help").stdout
    assert "(default: None)" not in text
    for line in text.split("\n  -")[1:]:
        assert line.count("default") <= 1, line


@pytest.mark.parametrize("option,value,fragment", [
    ("epochs", 0, "--epochs 0 is not accepted"), ("lr", float("inf"), "--lr inf is not accepted"),
    ("lr", 1e308, "--lr 1e+308 is not accepted"), ("seed", -1, "--seed -1 is not accepted"),
    ("mining", "hardest", "--mining hardest"), ("backbone", "wid", "unknown backbone 'wid' (did you mean wide?)"),
    ("network", "siamese-contrastiv", "did you mean siamese-contrastive"), ("resume", "", "--resume ''"),
    ("shift", 9, "--shift 9 is not accepted; give a whole number of pixels from 0 to 8")])
def test_code_and_the_command_line_get_the_same_one_line_error(option, value, fragment, tmp_path):
    config = Config("siamese-contrastive", "MNIST", output=str(tmp_path))
    setattr(config, option, value)
    with pytest.raises(ConfigError) as error:
        validate(config)
    assert fragment in str(error.value)
    arguments = [value if option == "network" else "siamese-contrastive", "MNIST", "--output", tmp_path]
    if option != "network":
        arguments += [f"--{option}", value]
    result = run_cli(*arguments)
    assert result.returncode == 2 and result.stderr == f"train.py: error: {error.value}\n"


def test_run_validates_a_config_built_in_code(tmp_path):
    from training import run
    with pytest.raises(ConfigError, match="--epochs 0 is not accepted"):
        run(Config("vae", "MNIST", epochs=0, output=str(tmp_path / "out")))
    assert not (tmp_path / "out").exists()
