"""PNG images: the same data gives the same bytes, with no software version or date inside."""

import numpy as np

from stages import figures


def history(epochs=12):
    epoch = np.arange(1, epochs + 1, dtype=float)
    return {
        "epoch": epoch,
        "train_loss": 1 / epoch,
        "val_loss": 1.2 / epoch,
        "train_accuracy": 1 - 1 / (epoch + 1),
        "val_accuracy": 1 - 1.2 / (epoch + 2),
    }


def test_training_curves_are_byte_reproducible(tmp_path):
    figures.training_curves(history(), 7, "accuracy", tmp_path / "a.png")
    figures.training_curves(history(), 7, "accuracy", tmp_path / "b.png")
    data = (tmp_path / "a.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data == (tmp_path / "b.png").read_bytes()
    assert b"matplotlib" not in data and b"Software" not in data
    figures.training_curves(history(), 8, "accuracy", tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes() != data  # the kept-epoch marker moved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]  # no temp left


def test_confusion_matrix_image_for_many_classes(tmp_path):
    counts = np.diag(np.arange(1, 11))
    figures.confusion_matrix(counts, [f"class {i}" for i in range(10)], tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")


def test_the_evaluation_views_are_byte_reproducible(tmp_path):
    x = np.linspace(0, 1, 50)
    curves = {"a": (x, np.sqrt(x), 0.66), "b": (x, x**2, 0.33)}
    bins = {
        "predicted": np.array([0.15, 0.55, 0.92]),
        "observed": np.array([0.1, 0.6, 0.95]),
        "count": np.array([3, 9, 40]),
    }
    rows = [
        {"column": "size", "importance": 0.3, "std": 0.02},
        {"column": "colour", "importance": -0.01, "std": 0.01},
    ]
    for name in ("one", "two"):
        figures.roc_curves(curves, tmp_path / f"roc-{name}.png")
        figures.precision_recall_curves(curves, tmp_path / f"pr-{name}.png")
        figures.reliability(bins, "P(b)", tmp_path / f"cal-{name}.png")
        figures.importance(rows, "accuracy", tmp_path / f"imp-{name}.png")
    for kind in ("roc", "pr", "cal", "imp"):
        data = (tmp_path / f"{kind}-one.png").read_bytes()
        assert data.startswith(b"\x89PNG") and data == (tmp_path / f"{kind}-two.png").read_bytes()
