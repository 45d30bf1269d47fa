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
    figures.training_curves(history(), 7, tmp_path / "a.png")
    figures.training_curves(history(), 7, tmp_path / "b.png")
    data = (tmp_path / "a.png").read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data == (tmp_path / "b.png").read_bytes()
    assert b"matplotlib" not in data and b"Software" not in data
    figures.training_curves(history(), 8, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes() != data  # the kept-epoch marker moved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png", "c.png"]  # no temp left


def test_confusion_matrix_image_for_many_classes(tmp_path):
    counts = np.diag(np.arange(1, 11))
    figures.confusion_matrix(counts, [f"class {i}" for i in range(10)], tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")
