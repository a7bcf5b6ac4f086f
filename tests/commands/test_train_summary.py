"""train.py's closing lines: the test set's numbers, and a reason instead of NaN."""

import json

import train


def final_row(precision, map_at_r):
    return {"epoch": 1, "train_loss": 0.5, "val_loss": 0.25, "knn_accuracy": 0.5,
            "precision_at_1": precision, "map_at_r": map_at_r, "silhouette": 0.125}


def test_the_summary_shows_retrieval_scores(tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"warnings": []}))
    text = train.summary(final_row(0.75, 0.5), {"metrics": str(metrics)})
    assert "test set: 5-NN accuracy 0.5000, precision@1 0.7500, MAP@R 0.5000, silhouette 0.1250" in text


def test_no_image_to_retrieve_is_said_instead_of_nan(tmp_path):
    # A test split of two images of two classes: no query has an image of its class to find.
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"warnings": []}))
    text = train.summary(final_row(float("nan"), float("nan")), {"metrics": str(metrics)})
    assert ("test set: 5-NN accuracy 0.5000, precision@1 and MAP@R n/a (no test image has another of its "
            "class to retrieve), silhouette 0.1250") in text
    assert "nan" not in text
