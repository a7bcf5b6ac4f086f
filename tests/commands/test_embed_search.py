"""embed.py and search.py end to end, as a user runs them, on image folders the test writes:
PNG and JPEG, greyscale and colour, 20 to 40 pixels, in class folders; a model trained on them
by train.py. Embeddings are checked against training's own, neighbours against brute force,
the projector files against the npz; bad input must be one line and exit code 2."""

import importlib
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, make_images

CLASSES = 6
PER_CLASS = {"train": 14, "test": 4}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """No test writes into the user's own cache."""
    monkeypatch.setenv("SIAMESE_CACHE_DIR", str(tmp_path / "cache"))


def run_command(script, *args, env, timeout=300):
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *map(str, args)], cwd=env["HOME"],
                          env=env, capture_output=True, text=True, timeout=timeout)


def write_folder(root, seed=0):
    """root/{train,test}/class<k>/<i>.{png,jpg}: a third JPEG, the rest PNG; every other image
    colour (tinted, so the folder is RGB), the others greyscale; sizes 20 to 40 pixels."""
    rng = np.random.default_rng(seed)
    count = 0
    for split, per_class in PER_CLASS.items():
        labels = np.repeat(np.arange(CLASSES), per_class)
        for label, image in zip(labels, make_images(labels, rng)):
            folder = os.path.join(root, split, f"class{label}")
            os.makedirs(folder, exist_ok=True)
            size = 20 + (count * 7) % 21
            picture = Image.fromarray(image).resize((size, size))
            if count % 2:
                grey = np.asarray(picture, dtype=np.float64)
                picture = Image.fromarray(np.stack([grey, grey * 0.8, grey * 0.6], axis=-1).astype(np.uint8))
            extension = "jpg" if count % 3 == 0 else "png"
            picture.save(os.path.join(folder, f"{count:04d}.{extension}"), quality=95)
            count += 1
    return root


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A user's home: the folder `digits`, a model trained on it for two epochs, a cache of its own."""
    home = tmp_path_factory.mktemp("home")
    env = {**os.environ, "HOME": str(home), "SIAMESE_CACHE_DIR": str(home / "cache"), "OMP_NUM_THREADS": "1"}
    env.pop("SIAMESE_DATA_DIR", None)
    write_folder(str(home / "digits"))
    trained = run_command("train.py", "siamese-contrastive", "digits", "--epochs", 2, "--batch-size", 32,
                          "--output", "out", env=env)
    assert trained.returncode == 0, trained.stderr
    return {"home": home, "env": env, "model": home / "out" / "siamese-contrastive-digits-model.pt",
            "training_npz": home / "out" / "siamese-contrastive-digits-embeddings.npz"}


def read_pbtxt(text):
    """The fields of projector_config.pbtxt's one `embeddings { ... sprite { ... } }` block."""
    assert re.fullmatch(r"\s*embeddings \{[^{}]*sprite \{[^{}]*\}\s*\}\s*", text), text
    fields = {}
    for key, value in re.findall(r"(\w+): (\"[^\"]*\"|\d+)", text):
        fields.setdefault(key, []).append(json.loads(value))
    return fields


@pytest.mark.slow
def test_embed_reproduces_training_and_writes_the_projector_files(user):
    result = run_command("embed.py", user["model"], "digits/test", "--output", "emb", env=user["env"])
    assert result.returncode == 0, result.stderr
    folder = user["home"] / "emb"
    npz = np.load(folder / "embeddings.npz")
    training = np.load(user["training_npz"])
    # The test split of a train/ and test/ folder, in the same order, preprocessed from the checkpoint alone.
    np.testing.assert_allclose(npz["embeddings"], training["test_embeddings"], atol=1e-5)
    assert npz["labels"].tolist() == training["test_labels"].tolist()
    assert npz["class_names"].tolist() == [f"class{k}" for k in range(CLASSES)]
    paths = npz["paths"].tolist()
    assert len(paths) == CLASSES * PER_CLASS["test"]
    assert all(os.path.isfile(user["home"] / path) for path in paths)
    assert [path.split(os.sep)[-2] for path in paths] == [f"class{k}" for k in npz["labels"]]

    tensors = np.loadtxt(folder / "tensors.tsv", delimiter="\t")
    np.testing.assert_allclose(tensors, npz["embeddings"], rtol=1e-6)
    rows = (folder / "metadata.tsv").read_text().splitlines()
    assert rows[0] == "path\tlabel"
    expected = [[path, f"class{k}"] for path, k in zip(paths, npz["labels"])]
    assert [row.split("\t") for row in rows[1:]] == expected
    config = read_pbtxt((folder / "projector_config.pbtxt").read_text())
    assert config["tensor_path"] == ["tensors.tsv"] and config["metadata_path"] == ["metadata.tsv"]
    assert config["tensor_shape"] == [len(paths), 2]
    cell = config["single_image_dim"]
    assert cell == [int(npz["image_size"])] * 2
    sprite = Image.open(folder / config["image_path"][0])
    assert sprite.size == (math.ceil(math.sqrt(len(paths))) * cell[0],) * 2
    # The first thumbnail is the first image as the model saw it: the same pixels, decoded afresh.
    from datasets.decode import decode
    first = decode(str(user["home"] / paths[0]), cell[0])
    thumbnail = np.asarray(sprite.convert("RGB"))[:cell[0], :cell[0]]
    assert np.array_equal(thumbnail[..., 0] if first.ndim == 2 else thumbnail, first)


def brute_force(queries, gallery, k, exclude):
    distances = torch.cdist(torch.from_numpy(queries).double(), torch.from_numpy(gallery).double())
    for q, e in enumerate(exclude):
        if e >= 0:
            distances[q, e] = math.inf
    order = distances.argsort(dim=1, stable=True)[:, :k]
    return order, distances.gather(1, order)


@pytest.mark.slow
def test_search_finds_what_brute_force_finds(user):
    env, home = user["env"], user["home"]
    assert run_command("embed.py", user["model"], "digits/train", "digits/test", "--output", "gallery",
                       env=env).returncode == 0
    queries = ["digits/test/class2", "digits/train/class4/0058.png", "digits/test/class5/0105.jpg"]
    result = run_command("search.py", user["model"], *queries, "--gallery", "gallery/embeddings.npz", "-k", 5,
                         "--output", "found", env=env)
    assert result.returncode == 0, result.stderr
    record = json.loads((home / "found" / "search.json").read_text())
    gallery = np.load(home / "gallery" / "embeddings.npz")
    paths = gallery["paths"].tolist()
    position = {path: i for i, path in enumerate(paths)}
    asked = [entry["path"] for entry in record["queries"]]
    assert asked == sorted(p for p in paths if p.startswith("digits/test/class2/")) + queries[1:]
    # Every query lies in the gallery: its own embedding is the query's, and it is left out.
    own = [position[path] for path in asked]
    indices, distances = brute_force(gallery["embeddings"][own], gallery["embeddings"], 5, own)
    for q, entry in enumerate(record["queries"]):
        assert [n["path"] for n in entry["neighbours"]] == [paths[i] for i in indices[q].tolist()]
        measured = [n["distance"] for n in entry["neighbours"]]
        np.testing.assert_allclose(measured, distances[q].numpy(), rtol=1e-5)
        label = entry["path"].split("/")[-2]
        assert entry["label"] == label
        neighbour_labels = [str(gallery["class_names"][gallery["labels"][i]]) for i in indices[q].tolist()]
        assert [n["label"] for n in entry["neighbours"]] == neighbour_labels
        assert entry["precision_at_k"] == sum(name == label for name in neighbour_labels) / 5
    mean = np.mean([entry["precision_at_k"] for entry in record["queries"]])
    assert record["precision_at_k"] == pytest.approx(mean)
    figure = Image.open(home / "found" / "search.png")
    assert figure.size[0] > 400 and figure.size[1] > 100 * len(asked)


@pytest.mark.slow
def test_a_second_search_embeds_only_the_queries(user, monkeypatch, capsys):
    monkeypatch.chdir(user["home"])
    monkeypatch.setenv("SIAMESE_CACHE_DIR", user["env"]["SIAMESE_CACHE_DIR"])
    import search
    from training.trained import Trained

    embedded = []
    original = Trained.embed

    def counting(self, images, batch_size=256):
        embedded.append(len(images))
        return original(self, images, batch_size)

    monkeypatch.setattr(Trained, "embed", counting)
    argv = [str(user["model"]), "digits/test/class1/0089.png", "--gallery", "digits/train", "-k", "3",
            "--output", "cached", "--device", "cpu"]
    gallery_size = CLASSES * PER_CLASS["train"]
    outcomes, stamps = [], []
    for _ in range(2):
        embedded.clear()
        search.run(search.parse_args(argv))
        outcomes.append(json.loads((user["home"] / "cached" / "search.json").read_text()))
        cached = [os.path.join(root, name) for root, _, names in os.walk(user["env"]["SIAMESE_CACHE_DIR"])
                  for name in names if root.endswith("embeddings")]
        assert len(cached) == 1
        stamps.append(os.stat(cached[0]).st_mtime_ns)
        if len(outcomes) == 1:
            assert sorted(embedded) == [1, gallery_size]   # the query, then the gallery
    assert embedded == [1]                                 # the query only
    assert stamps[0] == stamps[1]
    assert "from the cache" in capsys.readouterr().out
    assert outcomes[0] == outcomes[1]
    # A changed gallery file is embedded afresh.
    changed = user["home"] / "digits" / "train" / "class0" / "0000.jpg"
    os.utime(changed, ns=(os.stat(changed).st_atime_ns, os.stat(changed).st_mtime_ns + 10**9))
    embedded.clear()
    search.run(search.parse_args(argv))
    assert sorted(embedded) == [1, gallery_size]


def write_checkpoint(path, latent_dims=2, **changes):
    """A checkpoint as train.py writes it (format version 1) of an untrained 1-channel 28x28
    EmbeddingNet, with `changes` (None removes a key)."""
    from networks import EmbeddingNet
    from training.checkpoint import FORMAT

    torch.manual_seed(0)
    model = EmbeddingNet(latent_dims)
    state = {"format": FORMAT, "format_version": 1, "epoch": 1, "model": model.state_dict(),
             "identity": {"network": "siamese-contrastive", "dataset": "MNIST", "latent_dims": latent_dims},
             "configuration": {"network": "siamese-contrastive", "dataset": "MNIST", "epochs": 1},
             "model_kind": "EmbeddingNet", "hyperparameters": model.hyperparameters,
             "preprocessing": {"mean": [0.5], "std": [0.25], "class_names": [str(d) for d in range(10)]}}
    for key, value in changes.items():
        if value is None:
            state.pop(key)
        else:
            state[key] = value
    torch.save(state, path)
    return model


EARLIER_NETWORKS = {   # network: (model kind, the hyperparameter it gained, its value before)
    "siamese-binary-cross-entropy": ("KochSiameseNet", "distance", "l1"),
}


@pytest.mark.parametrize("described", [True, False], ids=["described", "from-identity"])
@pytest.mark.parametrize("network", EARLIER_NETWORKS)
def test_a_checkpoint_of_an_earlier_version_of_a_network_still_embeds(tiny_data, tmp_path, network, described):
    """A checkpoint written before its network gained a hyperparameter (the Koch head's
    Euclidean distance) does not name it, and is rebuilt as it was."""
    import embed
    import networks
    from datasets.mnist import NORMALISATION, load_split

    kind, key, value = EARLIER_NETWORKS[network]
    torch.manual_seed(0)
    model = networks.build(kind, latent_dims=2, **{key: value})
    hyperparameters = {name: setting for name, setting in model.hyperparameters.items() if name != key}
    mean, std = NORMALISATION["MNIST"]
    write_checkpoint(tmp_path / "old.pt", model=model.state_dict(),
                     identity={"network": network, "dataset": "MNIST", "latent_dims": 2},
                     model_kind=kind if described else None,
                     hyperparameters=hyperparameters if described else None,
                     preprocessing={"mean": list(mean), "std": list(std), "class_names": [str(d) for d in range(10)]}
                     if described else None)
    assert embed.main([str(tmp_path / "old.pt"), "mnist", "--data-dir", tiny_data, "--output",
                       str(tmp_path / "out"), "--device", "cpu"]) == 0
    split = load_split("MNIST", tiny_data, train=False)
    with torch.no_grad():
        expected = model.eval().embed((split.images.float() / 255 - mean[0]) / std[0]).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "out" / "embeddings.npz")["embeddings"], expected, atol=1e-5)


def test_an_old_checkpoint_still_embeds_with_mnist_normalisation(tiny_data, tmp_path):
    """A checkpoint from before checkpoints described their model: rebuilt from its identity,
    with MNIST's own normalisation."""
    import embed
    from datasets.mnist import NORMALISATION, load_split

    model = write_checkpoint(tmp_path / "old.pt", model_kind=None, hyperparameters=None, preprocessing=None)
    assert embed.main([str(tmp_path / "old.pt"), "mnist", "--data-dir", tiny_data, "--output",
                       str(tmp_path / "out"), "--device", "cpu"]) == 0
    npz = np.load(tmp_path / "out" / "embeddings.npz")
    split = load_split("MNIST", tiny_data, train=False)
    (mean,), (std,) = NORMALISATION["MNIST"]
    with torch.no_grad():
        expected = model.eval()((split.images.float() / 255 - mean) / std).numpy()
    np.testing.assert_allclose(npz["embeddings"], expected, atol=1e-5)
    assert npz["paths"].tolist() == [f"MNIST:test/{i}" for i in range(len(split))]
    assert npz["labels"].tolist() == split.labels.tolist()
    rows = (tmp_path / "out" / "metadata.tsv").read_text().splitlines()
    assert rows[0] == "path\tlabel" and rows[1] == f"MNIST:test/0\t{split.labels[0].item()}"


def test_a_plain_folder_embeds_without_labels(tmp_path):
    import embed

    write_checkpoint(tmp_path / "model.pt")
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((30, 40, 3), 60 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / ".DS_Store").write_bytes(b"\0")
    assert embed.main([str(tmp_path / "model.pt"), str(folder), "--output", str(tmp_path / "out"),
                       "--device", "cpu"]) == 0
    npz = np.load(tmp_path / "out" / "embeddings.npz")
    assert npz["labels"].tolist() == [-1] * 3 and npz["class_names"].tolist() == []
    rows = (tmp_path / "out" / "metadata.tsv").read_text().splitlines()
    assert rows == [str(folder / f"{i}.png") for i in range(3)]   # one column: no header


BAD_CHECKPOINTS = {
    "missing": (None, "no such file"),
    "not a checkpoint": ("text", "is not a checkpoint of this program"),
    "another program's": ({"format_version": 1, "model": {}}, "is not a checkpoint of this program"),
    "another version": ({"format_version": 2}, "format version 2, and this program reads version 1"),
    "no model": ({"model": None}, "holds no model"),
    "weights that do not fit": ({"hyperparameters": {"latent_dims": 3, "backbone": "original",
                                                      "in_channels": 1, "image_size": 28}}, "do not fit"),
}


@pytest.mark.parametrize("case", BAD_CHECKPOINTS, ids=list(BAD_CHECKPOINTS))
@pytest.mark.parametrize("command", ["embed", "search"])
def test_a_bad_checkpoint_is_one_line(command, case, tmp_path, capsys):
    content, message = BAD_CHECKPOINTS[case]
    path = tmp_path / "model.pt"
    if content == "text":
        path.write_text("not a model\n")
    elif case == "another program's":
        torch.save(content, path)
    elif content is not None:
        write_checkpoint(path, **content)
    image = tmp_path / "query.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(image)
    module = importlib.import_module(command)
    extra = ["--gallery", str(tmp_path)] if command == "search" else []
    argv = [str(path), str(image), *extra, "--output", str(tmp_path / "out"), "--device", "cpu"]
    assert module.main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error and error.startswith(f"{command}.py: error: ")
    assert not (tmp_path / "out").exists()


def test_a_closed_output_pipe_is_not_a_file_that_failed(monkeypatch, capsys):
    # `search.py ... | head -1`: the reader goes away, and the files were written all the same.
    import training.progress
    from training.errors import run_command as run_work
    closed = []
    monkeypatch.setattr(training.progress, "stdout_closed", lambda: closed.append(True) or 1)

    def work():
        raise BrokenPipeError(32, "Broken pipe")
    assert run_work("search.py", work) == 1
    assert closed == [True] and capsys.readouterr().err == ""


def test_bad_inputs_are_one_line(tmp_path, capsys):
    import embed
    import search

    model = tmp_path / "model.pt"
    write_checkpoint(model)
    gallery = tmp_path / "gallery" / "3"
    gallery.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.full((28, 28), 40 * i, dtype=np.uint8)).save(gallery / f"{i}.png")
    text = tmp_path / "notes.txt"
    text.write_text("not an image\n")
    other = tmp_path / "other.pt"
    write_checkpoint(other, epoch=2)
    assert embed.main([str(other), str(gallery), "--output", str(tmp_path / "other"), "--device", "cpu"]) == 0
    capsys.readouterr()
    cases = [
        (embed, [str(model), str(text)],
         "notes.txt is not an image this program can read: expected PNG, JPEG, BMP, GIF or WebP\n"),
        (search, [str(model), str(text), "--gallery", str(gallery)],
         "notes.txt is not an image this program can read: expected PNG, JPEG, BMP, GIF or WebP\n"),
        (search, [str(model), str(gallery / "0.png"), "--gallery", str(text)],
         "notes.txt is not an image this program can read: expected a folder of images, an image (PNG, "
         "JPEG, BMP, GIF or WebP), MNIST, FashionMNIST or an embeddings.npz written by embed.py\n"),
        (embed, [str(model), str(tmp_path / "nowhere")], "nowhere does not exist: expected"),
        (embed, [str(model), "MNSIT"], "MNSIT does not exist (did you mean MNIST?)"),
        (search, [str(model), str(gallery / "0.png"), "--gallery", "FashionMNSIT"],
         "FashionMNSIT does not exist (did you mean FashionMNIST?)"),
        (search, [str(model), str(gallery / "0.png"), "--gallery",
                  str(tmp_path / "other" / "embeddings.npz")],
         "was embedded by another model"),
        (embed, [str(model), str(gallery), "--device", "tpu"], "tpu"),
    ]
    for module, argv, message in cases:
        assert module.main([*argv, "--output", str(tmp_path / "out")]) == 2, message
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and message in error, error
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script", ["embed.py", "search.py"])
def test_help_answers_before_torch_loads(script):
    code = (f"import sys; sys.argv = [{script!r}, '--help']\n"
            f"import {script[:-3]}\n"
            f"try:\n    {script[:-3]}.parse_args()\nexcept SystemExit:\n    pass\n"
            f"print('torch loaded' if 'torch' in sys.modules else 'no torch')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--device" in result.stdout and result.stdout.strip().endswith("no torch")


def test_a_query_folder_of_one_class_folder_is_searched_with_that_class(tmp_path, capsys):
    """Two classes or more is training's rule: a query folder holding one class folder is the
    same queries as that class folder, each with its class when the gallery has it."""
    import search

    write_checkpoint(tmp_path / "model.pt")
    for name, value in [("circle", 30), ("triangle", 220)]:
        (tmp_path / "shapes" / name).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((28, 28), value + 10 * i, dtype=np.uint8)).save(
                tmp_path / "shapes" / name / f"{i}.png")
    (tmp_path / "q" / "triangle").mkdir(parents=True)
    Image.fromarray(np.full((28, 28), 225, dtype=np.uint8)).save(tmp_path / "q" / "triangle" / "mine.png")
    outcomes = []
    for query in ["q", "q/triangle"]:
        assert search.main([str(tmp_path / "model.pt"), str(tmp_path / query), "--gallery",
                            str(tmp_path / "shapes"), "-k", "2", "--output", str(tmp_path / "out"),
                            "--device", "cpu"]) == 0, capsys.readouterr().err
        record = json.loads((tmp_path / "out" / "search.json").read_text())
        outcomes.append([(entry["label"], [n["path"] for n in entry["neighbours"]])
                         for entry in record["queries"]])
    assert [label for label, _ in outcomes[0]] == ["triangle"]
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("latent_dims", [2, 3])
def test_embed_says_what_it_did_and_where_to_see_it(latent_dims, tmp_path, capsys):
    """One image is 'an image'; 3-D is promised only to a model with a third dimension."""
    import embed

    write_checkpoint(tmp_path / "model.pt", latent_dims=latent_dims)
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(tmp_path / "one.png")
    assert embed.main([str(tmp_path / "model.pt"), str(tmp_path / "one.png"), "--output",
                       str(tmp_path / "out"), "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("embedded 1 image (0 with a class) with ")
    assert np.load(tmp_path / "out" / "embeddings.npz")["embeddings"].shape == (1, latent_dims)
    if latent_dims == 3:
        assert lines[-1] == f"see them in 3-D: tensorboard --logdir {tmp_path / 'out'}"
    else:
        assert lines[-1].startswith(f"see them in 2-D: tensorboard --logdir {tmp_path / 'out'} (untick")


MISTAKES = {
    "a mistyped option": ("search", ["m.pt", "q.png", "--galery", "shapes"],
                          "unrecognized arguments: --galery shapes (did you mean --gallery?)"),
    "a mistyped option with its value": ("search", ["m.pt", "q.png", "--gallery", "g", "--outptu=o"],
                                         "unrecognized arguments: --outptu=o (did you mean --output?)"),
    "an unknown option and no input": ("embed", ["--versoin"], "unrecognized arguments: --versoin"),
    "a missing option": ("search", ["m.pt", "q.png"], "the following arguments are required: --gallery"),
    "a missing input": ("embed", ["m.pt"], "the following arguments are required: INPUT"),
    "train.py, an unknown option and no network": ("train", ["--version"], "unrecognized arguments: --version"),
    "train.py, a mistyped option": ("train", ["siamese-contrastive", "MNIST", "--epohcs", "3"],
                                    "unrecognized arguments: --epohcs 3 (did you mean --epochs?)"),
    "train.py, an option after --": ("train", ["siamese-contrastive", "MNIST", "--", "--epochs"],
                                     "unrecognized arguments: --epochs"),
    "an option like none": ("search", ["m.pt", "q.png", "--gallery", "g", "--top", "x"],
                            "unrecognized arguments: --top x"),
    "train.py, a missing data set": ("train", ["siamese-contrastive"],
                                     "the following arguments are required: dataset"),
}


@pytest.mark.parametrize("case", MISTAKES, ids=list(MISTAKES))
def test_an_unknown_option_is_named_before_a_missing_one(case, capsys):
    """argparse checks required arguments before unknown ones: a typo read as a missing option."""
    command, argv, message = MISTAKES[case]
    module = importlib.import_module(command)
    with pytest.raises(SystemExit) as exit:
        module.main(argv)
    assert exit.value.code == 2
    assert capsys.readouterr().err == f"{command}.py: error: {message} (see --help)\n"


def test_help_still_shows_gallery_as_required(capsys):
    import search

    with pytest.raises(SystemExit):
        search.parse_args(["--help"])
    usage = capsys.readouterr().out
    assert " --gallery FOLDER_OR_DATA_SET_OR_NPZ" in usage and "[--gallery" not in usage


def test_a_gallery_whose_images_cannot_be_found_is_refused_naming_the_remedy(tiny_data, tmp_path, monkeypatch,
                                                                             capsys):
    """An npz records MNIST's images as 'MNIST:test/<index>' and files by the path embed.py was
    given: without the folder that holds them, search.png would be a picture of nothing."""
    import embed
    import search

    model = tmp_path / "model.pt"
    write_checkpoint(model)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    for i in range(3):
        Image.fromarray(np.full((28, 28), 80 * i, dtype=np.uint8)).save(tmp_path / "photos" / f"{i}.png")
    for source, output in [("mnist", "digits"), ("photos", "mine")]:
        assert embed.main([str(model), source, "--data-dir", tiny_data, "--output", output, "--device", "cpu"]) == 0
    query = tmp_path / "query.png"
    Image.fromarray(np.zeros((28, 28), dtype=np.uint8)).save(query)
    capsys.readouterr()
    import datasets.mnist
    downloads = []
    monkeypatch.setattr(datasets.mnist, "_download", lambda *args: downloads.append(args) or 1 / 0)
    search_digits = [str(model), str(query), "--gallery", str(tmp_path / "digits" / "embeddings.npz"), "-k", "4",
                     "--output", str(tmp_path / "out"), "--device", "cpu"]
    assert search.main([*search_digits, "--data-dir", str(tmp_path / "nowhere")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("search.py: error: none of the 4 neighbours' images "), error
    assert f"{tmp_path / 'nowhere' / 'MNIST' / 'raw'}; pass --data-dir" in error and "$SIAMESE_DATA_DIR" in error
    assert not (tmp_path / "out").exists() and downloads == []   # a thumbnail is no reason to download MNIST

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")   # the npz's paths are relative to where embed.py ran
    assert search.main([str(model), str(query), "--gallery", str(tmp_path / "mine" / "embeddings.npz"), "-k", "2",
                        "--output", str(tmp_path / "out"), "--device", "cpu"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"does not exist in {tmp_path / 'elsewhere'}" in error, error
    assert "run search.py in the folder embed.py ran in" in error and not (tmp_path / "out").exists()

    assert search.main([*search_digits, "--data-dir", tiny_data]) == 0
    assert capsys.readouterr().err == ""


def test_gallery_images_gone_since_embedding_are_counted_in_a_warning(tmp_path, monkeypatch, capsys):
    """Some neighbours' files deleted since embed.py read them: their tiles say 'not found', one
    warning line counts them, and the neighbours listed are the same as before."""
    import embed
    import search

    model = tmp_path / "model.pt"
    write_checkpoint(model)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    for i in range(5):
        Image.fromarray(np.full((28, 28), 50 * i, dtype=np.uint8)).save(tmp_path / "photos" / f"{i}.png")
    assert embed.main([str(model), "photos", "--output", "gallery", "--device", "cpu"]) == 0
    query = tmp_path / "query.png"
    Image.fromarray(np.full((28, 28), 60, dtype=np.uint8)).save(query)
    argv = [str(model), str(query), "--gallery", "gallery/embeddings.npz", "-k", "5", "--output", "out",
            "--device", "cpu"]
    records = []
    for deleted in ([], ["1.png", "3.png"]):
        for name in deleted:
            (tmp_path / "photos" / name).unlink()
        capsys.readouterr()
        assert search.main(argv) == 0
        records.append(json.loads((tmp_path / "out" / "search.json").read_text()))
        error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith(
        "search.py: warning: 2 of the 5 neighbours' images could not be found and are drawn as 'not found': "), error
    assert "embed it again" in error
    assert records[0] == records[1]
    assert (tmp_path / "out" / "search.png").stat().st_size > 0
