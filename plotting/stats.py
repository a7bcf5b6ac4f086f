"""Training curves: loss per epoch beside the test-set metrics per epoch."""

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from .scatter import figure_title


STYLES = ["o-", "s--", "^-.", "D:", "v-", "x--"]  # distinct, so that equal curves stay visible


def stats_figure(history: list[dict], metrics: dict[str, str], *, network: str, dataset: str) -> Figure:
    """Loss curves (left) and metric curves (right) over epochs, titled '<network> on <dataset>'.

    `history` is a list of per-epoch dicts with `epoch`, `train_loss`, `val_loss` and the keys
    of `metrics`, a dict of key -> label; a metric that is None or NaN leaves a gap there.
    """
    metric_names = list(metrics)
    epochs = [row["epoch"] for row in history]
    figure, (loss_axes, metric_axes) = plt.subplots(1, 2, figsize=(12, 4.5))
    loss_axes.plot(epochs, [row["train_loss"] for row in history], "o-", label="training")
    loss_axes.plot(epochs, [row["val_loss"] for row in history], "s--", label="validation")
    loss_axes.set(xlabel="epoch", ylabel="loss per item", title="Loss")
    loss_axes.legend()
    for name, style in zip(metric_names, STYLES):
        values = [float("nan") if row.get(name) is None else row[name] for row in history]
        metric_axes.plot(epochs, values, style, label=metrics[name], alpha=0.85)
    # The silhouette can be negative (down to -1); the others lie in [0, 1].
    lowest = min([0.0] + [row[name] for row in history for name in metric_names
                          if row.get(name) is not None and row[name] == row[name]])
    metric_axes.set(xlabel="epoch", ylabel="score", title="Test-set metrics",
                    ylim=(max(-1.02, lowest - 0.05), 1.02))
    metric_axes.axhline(0, color="grey", linewidth=0.6)
    metric_axes.legend(loc="lower right", fontsize="small")
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
        if len(epochs) <= 20:
            axes.set_xticks(epochs)
    figure.suptitle(figure_title(network, dataset))
    figure.tight_layout()
    return figure
