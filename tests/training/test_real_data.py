"""Quality floor on the real MNIST; runs when $SIAMESE_DATA_DIR holds it (see conftest.py)."""

import json

import numpy as np
import pytest

from training import Config, run


def brute_force_knn_accuracy(reference, reference_labels, query, query_labels, k=5):
    """Plain numpy, float64: a majority vote of the k nearest, ties to the lower sum of ranks."""
    reference = reference.astype(np.float64)
    correct = 0
    for start in range(0, len(query), 200):
        chunk = query[start:start + 200].astype(np.float64)
        distances = sum((chunk[:, [d]] - reference[:, d]) ** 2 for d in range(reference.shape[1]))
        nearest = np.argpartition(distances, k, axis=1)[:, :k]
        order = np.take_along_axis(distances, nearest, 1).argsort(axis=1, kind="stable")
        nearest_labels = reference_labels[np.take_along_axis(nearest, order, 1)]
        votes = np.zeros((len(chunk), 10))
        for rank in range(k):
            np.add.at(votes, (np.arange(len(chunk)), nearest_labels[:, rank]),
                      1 + (k - rank) / (k * (k + 1)))
        correct += (votes.argmax(1) == query_labels[start:start + 200]).sum()
    return correct / len(query)


@pytest.mark.slow
def test_siamese_contrastive_one_epoch_reaches_the_knn_floor(real_data, tmp_path):
    # The command of the core issue, at the original's batch size of 32.
    final, paths = run(Config("siamese-contrastive", "MNIST", lr=0.001, epochs=1, batch_size=32,
                              data_dir=real_data, output=str(tmp_path)), show_progress=False)
    assert final["knn_accuracy"] >= 0.92
    assert len(list(tmp_path.iterdir())) == 6
    # What metrics.json reports agrees with an independent computation from embeddings.npz.
    reported = json.loads(open(paths["metrics"]).read())["final"]["knn_accuracy"]
    arrays = np.load(paths["embeddings"])
    assert arrays["train_embeddings"].shape == (60000, 2) and arrays["test_embeddings"].shape == (10000, 2)
    independent = brute_force_knn_accuracy(arrays["train_embeddings"], arrays["train_labels"],
                                           arrays["test_embeddings"], arrays["test_labels"])
    assert abs(reported - independent) <= 2 / 10000  # float32 against float64: a near-tie may flip


def test_the_real_data_is_found_where_the_readmes_first_command_put_it(tmp_path, monkeypatch):
    import conftest
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(b"")
    monkeypatch.setattr(conftest, "ROOT", str(tmp_path))
    assert conftest.find_real_data({}) == str(tmp_path / "data")
    assert conftest.find_real_data({"SIAMESE_DATA_DIR": str(tmp_path / "elsewhere")}) == str(tmp_path / "data")
    monkeypatch.setattr(conftest, "ROOT", str(tmp_path / "empty"))
    assert conftest.find_real_data({}) is None
