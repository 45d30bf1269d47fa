"""PNG images of the training curves and the confusion matrix, readable with no network.

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


def training_curves(history: dict[str, np.ndarray], best_epoch: int, path: Path) -> None:
    """Loss and accuracy per epoch, train against val, with the kept epoch marked."""
    from matplotlib.figure import Figure

    # fixed margins: constrained layout costs an extra draw pass (~0.1 s a figure)
    figure = Figure(figsize=(9, 3.6))
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.91, wspace=0.22)
    for axis, metric in zip(figure.subplots(1, 2), ("loss", "accuracy"), strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            axis.plot(history["epoch"], history[f"{split}_{metric}"], style, label=split)
        axis.axvline(best_epoch, color="grey", linewidth=0.8, linestyle=":", label=f"kept epoch {best_epoch}")
        axis.set(xlabel="epoch", title=metric)
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
