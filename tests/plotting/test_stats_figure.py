"""Training curves: the loss and metric panels over epochs."""

from plotting import stats_figure
from plotting.render import plt


def test_stats_figure_has_loss_and_metric_panels_over_epochs():
    history = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e, "knn_accuracy": 0.5 + e / 10,
                "silhouette": -0.2 + e / 10} for e in (1, 2, 3)]
    figure = stats_figure(history, {"knn_accuracy": "5-NN accuracy", "silhouette": "silhouette"},
                          network="siamese-contrastive", dataset="FashionMNIST")
    assert figure._suptitle.get_text() == "siamese-contrastive on FashionMNIST"
    loss_axes, metric_axes = figure.axes
    assert [line.get_label() for line in loss_axes.get_lines()] == ["training", "validation"]
    assert [line.get_label() for line in metric_axes.get_lines()][:2] == ["5-NN accuracy", "silhouette"]
    assert list(metric_axes.get_lines()[1].get_xdata()) == [1, 2, 3]
    assert metric_axes.get_ylim()[0] < -0.1  # room for a negative silhouette
    assert (loss_axes.get_xlabel(), metric_axes.get_xlabel()) == ("epoch", "epoch")
    plt.close(figure)
