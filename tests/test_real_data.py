"""Quality floor on the real MNIST; runs when $SIAMESE_DATA_DIR holds it (see conftest.py)."""

from training import Config, run


def test_siamese_contrastive_one_epoch_reaches_the_knn_floor(real_data, tmp_path):
    final = run(Config("siamese-contrastive", "MNIST", epochs=1, data_dir=real_data,
                       output=str(tmp_path)), show_progress=False)
    assert final["knn_accuracy"] >= 0.92
    assert len(list(tmp_path.iterdir())) == 3
