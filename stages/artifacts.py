"""Where every artifact lives (dvc.yaml mirrors these paths) and how each kind is written.

Writes are atomic (temp file, then rename) and byte-reproducible: no timestamps, no paths.
"""

import csv
import io
import json
import os
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from stages.errors import UserError

SPLITS = ("train", "val", "test")

PREPARED = Path("data/prepared/dataset.npz")
SPLIT = {name: Path(f"data/split/{name}.npz") for name in SPLITS}
SCALED = {name: Path(f"data/scaled/{name}.npz") for name in SPLITS}
SCALER = Path("models/scaler.joblib")
MODEL = Path("models/model.pt")
TRAIN_METRICS = Path("metrics/train.json")
HISTORY = Path("metrics/history.csv")
EVAL_METRICS = Path("metrics/eval.json")
CONFUSION = Path("metrics/confusion.csv")
ROC = Path("metrics/roc.csv")
PRECISION_RECALL = Path("metrics/precision_recall.csv")
CALIBRATION = Path("metrics/calibration.csv")
IMPORTANCE = Path("metrics/importance.csv")
PREDICTED_ACTUAL = Path("metrics/predicted_actual.csv")
RESIDUALS = Path("metrics/residuals.csv")
# evaluate's images: one folder output, since each task draws its own set
PLOTS = Path("metrics/plots")
CURVES_PNG = PLOTS / "training.png"
CONFUSION_PNG = PLOTS / "confusion.png"
ROC_PNG = PLOTS / "roc.png"
PRECISION_RECALL_PNG = PLOTS / "precision_recall.png"
CALIBRATION_PNG = PLOTS / "calibration.png"
IMPORTANCE_PNG = PLOTS / "importance.png"
PREDICTED_ACTUAL_PNG = PLOTS / "predicted_actual.png"
RESIDUALS_PNG = PLOTS / "residuals.png"

# A fixed member date keeps .npz files byte-identical; np.savez stamps the current time.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            with archive.open(member, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asarray(array), allow_pickle=False)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except OSError as error:  # a stage's input gone or unreadable: `dvc repro` makes it again
        reason = error.strerror or str(error)
        raise UserError(f"cannot read {path}: {reason}; `dvc repro` rebuilds it") from None


def write_json(path: Path, payload: object) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def read_csv_columns(path: Path) -> dict[str, np.ndarray]:
    """A numeric CSV written by write_csv, as one float array per column."""
    header, body = path.read_text().split("\n", 1)
    table = np.loadtxt(io.StringIO(body), delimiter=",", ndmin=2)
    return {name: table[:, i] for i, name in enumerate(header.split(","))}


def write_joblib(path: Path, obj: object) -> None:
    import joblib

    with atomic_path(path) as tmp:
        joblib.dump(obj, tmp)


def read_joblib(path: Path) -> object:
    import joblib

    return joblib.load(path)


def write_torch(path: Path, payload: dict) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_torch(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
