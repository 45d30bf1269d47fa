"""PNG images of evaluate's views and the training curves, readable with no network.

matplotlib's Agg canvas without pyplot: no GUI backend, no global state. The PNG carries no
software version or date, so the same data gives the same bytes.
"""

from pathlib import Path

import numpy as np

from stages.artifacts import atomic_path


def _save(figure, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})


def training_curves(history: dict[str, np.ndarray], best_epoch: int, metric: str, path: Path) -> None:
    """Loss and the task's metric (accuracy, rmse) per epoch, train against val, with the kept
    epoch marked."""
    from matplotlib.figure import Figure

    # fixed margins: constrained layout costs an extra draw pass (~0.1 s a figure)
    figure = Figure(figsize=(9, 3.6))
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.91, wspace=0.22)
    for axis, shown in zip(figure.subplots(1, 2), ("loss", metric), strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            axis.plot(history["epoch"], history[f"{split}_{shown}"], style, label=split)
        axis.axvline(best_epoch, color="grey", linewidth=0.8, linestyle=":", label=f"kept epoch {best_epoch}")
        axis.set(xlabel="epoch", title=shown if shown != "rmse" else "RMSE")
        axis.grid(alpha=0.3)
        axis.legend()
    _save(figure, path)


def confusion_matrix(counts: np.ndarray, class_names: list[str], path: Path) -> None:
    """Counts of test rows by actual (rows) and predicted (columns) class."""
    from matplotlib.figure import Figure

    size = max(4.0, 0.45 * len(class_names) + 2.5)
    figure = Figure(figsize=(size, size))
    figure.subplots_adjust(left=0.27, right=0.96, bottom=0.27, top=0.92)
    axis = figure.subplots()
    axis.imshow(counts, cmap="Blues")  # each cell carries its count, so no colour bar
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=45, ha="right")
    axis.set_yticks(ticks, class_names)
    axis.set(xlabel="predicted", ylabel="actual", title=f"test split, {int(counts.sum())} rows")
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        axis.text(
            col, row, str(value), ha="center", va="center", color="white" if value > threshold else "black"
        )
    _save(figure, path)


def _curves(
    curves: dict[str, tuple], labels: tuple[str, str], title: str, path: Path, diagonal: bool
) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 4.6))
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.12, top=0.91)
    axis = figure.subplots()
    if diagonal:
        axis.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":")
    for name, (x, y, area) in curves.items():
        axis.plot(x, y, label=f"{name} ({area:.3f})", drawstyle="steps-post" if not diagonal else "default")
    axis.set(xlabel=labels[0], ylabel=labels[1], title=title, xlim=(0, 1), ylim=(0, 1.02))
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right" if diagonal else "lower left", fontsize="small")
    _save(figure, path)


def roc_curves(curves: dict[str, tuple], path: Path) -> None:
    """One ROC curve per class (fpr, tpr, area), one-vs-rest; the chance diagonal dotted."""
    _curves(
        curves, ("false positive rate", "true positive rate"), "ROC, test split (AUC)", path, diagonal=True
    )


def precision_recall_curves(curves: dict[str, tuple], path: Path) -> None:
    """One precision-recall curve per class (recall, precision, average precision)."""
    _curves(curves, ("recall", "precision"), "precision-recall, test split (AP)", path, diagonal=False)


def reliability(bins: dict[str, np.ndarray], what: str, path: Path) -> None:
    """Observed frequency against mean predicted probability per bin, bin counts beneath."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 5.4))
    figure.subplots_adjust(left=0.13, right=0.97, bottom=0.1, top=0.93, hspace=0.08)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="perfectly calibrated")
    top.plot(bins["predicted"], bins["observed"], "o-", label="model")
    top.set(ylabel="observed frequency", title=f"reliability, test split: {what}", ylim=(0, 1.02))
    top.grid(alpha=0.3)
    top.legend(loc="upper left", fontsize="small")
    bottom.bar(bins["predicted"], bins["count"], width=0.06)
    bottom.set(xlabel="mean predicted probability", ylabel="rows", xlim=(0, 1))
    _save(figure, path)


def importance(rows: list[dict], metric: str, path: Path) -> None:
    """Permutation importance per input column, largest on top, with its spread."""
    from matplotlib.figure import Figure

    shown = rows[:30][::-1]
    figure = Figure(figsize=(6.4, max(2.4, 0.32 * len(shown) + 1.2)))
    figure.subplots_adjust(left=0.36, right=0.97, bottom=0.5 / (0.32 * len(shown) + 1.2) + 0.08, top=0.9)
    axis = figure.subplots()
    axis.barh([r["column"] for r in shown], [r["importance"] for r in shown], xerr=[r["std"] for r in shown])
    axis.axvline(0, color="grey", linewidth=0.8)
    axis.set(xlabel=f"drop in test {metric} when the column is shuffled", title="permutation importance")
    axis.grid(alpha=0.3, axis="x")
    _save(figure, path)


def _scatter_axes(title: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2, 4.6))
    figure.subplots_adjust(left=0.15, right=0.97, bottom=0.12, top=0.91)
    axis = figure.subplots()
    axis.set_title(title)
    axis.grid(alpha=0.3)
    return figure, axis


def _sampled(shown: int, total: int) -> str:
    return f"{total} rows" if shown == total else f"{shown} of {total} rows"


def predicted_actual(actual: np.ndarray, predicted: np.ndarray, target: str, total: int, path: Path) -> None:
    """Each shown test row's prediction against its actual value; on the dotted diagonal a
    prediction is exact."""
    figure, axis = _scatter_axes(
        f"{target}: predicted against actual, test split ({_sampled(len(actual), total)})"
    )
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    axis.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle=":")
    axis.scatter(actual, predicted, s=8, alpha=0.5, linewidths=0)
    axis.set(xlabel=f"actual {target}", ylabel=f"predicted {target}")
    _save(figure, path)


def residuals(predicted: np.ndarray, residual: np.ndarray, target: str, total: int, path: Path) -> None:
    """Residual (actual - predicted) against the prediction: a trend or a funnel is a pattern
    the model missed."""
    figure, axis = _scatter_axes(f"{target}: residuals, test split ({_sampled(len(predicted), total)})")
    axis.axhline(0, color="grey", linewidth=0.8, linestyle=":")
    axis.scatter(predicted, residual, s=8, alpha=0.5, linewidths=0)
    axis.set(xlabel=f"predicted {target}", ylabel="actual - predicted")
    _save(figure, path)
