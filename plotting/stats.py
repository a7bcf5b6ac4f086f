"""Training curves: loss per epoch beside the retrieval metrics per epoch."""

import matplotlib.pyplot as plt


def stats_figure(history, title):
    """`history` is a list of per-epoch dicts with `epoch`, `train_loss`, `val_loss` and
    metric values; every key other than those three and `seconds` becomes a metric curve."""
    epochs = [row["epoch"] for row in history]
    figure, (loss_axes, metric_axes) = plt.subplots(1, 2, figsize=(11, 4.2))
    loss_axes.plot(epochs, [row["train_loss"] for row in history], "o-", label="training")
    loss_axes.plot(epochs, [row["val_loss"] for row in history], "s--", label="validation")
    loss_axes.set(xlabel="epoch", ylabel="loss", title="Loss")
    loss_axes.legend()
    metric_names = [key for key in history[0] if key not in {"epoch", "train_loss", "val_loss", "seconds"}]
    for name in metric_names:
        metric_axes.plot(epochs, [row[name] for row in history], "o-", label=name.replace("_", " "))
    metric_axes.set(xlabel="epoch", ylabel="score", title="Test-set metrics", ylim=(0, 1.02))
    if metric_names:
        metric_axes.legend(loc="lower right")
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
        if len(epochs) <= 20:
            axes.set_xticks(epochs)
    figure.suptitle(title)
    figure.tight_layout()
    return figure
