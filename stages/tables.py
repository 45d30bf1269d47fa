"""Table sources (CSV, Parquet): read, validate, and turn into a Dataset.

Every check runs before the prepare stage writes anything; each failure is one line naming
the file, the column or the class. pandas is imported only here, for table sources.
"""

import csv
import logging
from pathlib import Path

import numpy as np

from stages import params
from stages.datasets import Dataset
from stages.errors import UserError

log = logging.getLogger("prepare")

MIN_ROWS_PER_CLASS = 3  # one each in train, val and test


def read_header(path: Path) -> list[str]:
    """Column names as the file has them (pandas would rename duplicates to `a.1`)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    with path.open(newline="") as handle:
        return next(csv.reader(handle), [])


def read_frame(path: Path):
    """The table at `path`, missing cells as NA; a clear UserError for what cannot be read."""
    import pandas as pd

    if not path.is_file():
        raise UserError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")
    try:
        header = read_header(path)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{path}: cannot read the header ({error})") from None
    if not header:
        raise UserError(f"{path}: file has no header row")
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise UserError(f"{path}: duplicate column name {name!r}; column names must be unique")
        seen.add(name)
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(
                path, na_values=["NA", "N/A", "NaN", "nan", "null", "?"], keep_default_na=True
            )
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path}: cannot be parsed as {path.suffix[1:]} ({reason})") from None
    if frame.empty:
        raise UserError(f"{path}: no data rows below the header")
    return frame


def is_numeric(column) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def column_features(
    frame, numeric: list[str], categorical: list[str], where: str
) -> tuple[np.ndarray, np.ndarray]:
    """float32 matrix of `numeric` (NaN missing) and str matrix of `categorical` ("" missing)."""
    import pandas as pd

    for name in numeric:
        if not is_numeric(frame[name]):
            converted = pd.to_numeric(frame[name], errors="coerce")
            bad = frame[name][converted.isna() & frame[name].notna()]
            if len(bad):
                raise UserError(
                    f"{where}: column {name!r} must be numeric, as in training; "
                    f"found {str(bad.iloc[0])!r} in row {bad.index[0] + 1}"
                )
    values = frame[numeric].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(values).any():
        column = numeric[int(np.flatnonzero(np.isinf(values).any(axis=0))[0])]
        raise UserError(
            f"{where}: column {column!r} holds infinite values; use a finite number or leave it empty"
        )
    features = values.astype(np.float32)
    if np.isinf(features).any():
        column = numeric[int(np.flatnonzero(np.isinf(features).any(axis=0))[0])]
        raise UserError(f"{where}: column {column!r} holds values too large for float32 (about 3.4e38)")
    strings = frame[categorical].astype("string").fillna("").to_numpy(dtype=str)
    return features, strings.reshape(len(frame), len(categorical))


def load_table(p: params.PrepareParams) -> Dataset:
    path = Path(p.source)
    frame = read_frame(path)
    where = str(path)
    columns = list(frame.columns)
    unknown = [name for name in (p.target, *p.drop) if name not in columns]
    if unknown:
        key = "prepare.target" if unknown[0] == p.target else "prepare.drop"
        raise UserError(
            f"params.yaml: {key} names column {unknown[0]!r}, which {where} does not have; "
            f"its columns: {', '.join(columns)}"
        )
    target = frame[p.target]
    missing_target = int(target.isna().sum() + (target.astype("string").str.strip() == "").sum())
    if missing_target:
        if p.missing_target == "fail":
            raise UserError(
                f"{where}: target column {p.target!r} is empty in {missing_target} of {len(frame)} rows; "
                "fill them in, or set prepare.missing_target: drop"
            )
        keep = target.notna() & (target.astype("string").str.strip() != "")
        log.info("dropping %d rows whose target %r is empty", missing_target, p.target)
        frame, target = frame[keep].reset_index(drop=True), target[keep].reset_index(drop=True)
    features = [name for name in columns if name != p.target and name not in p.drop]
    if not features:
        raise UserError(f"{where}: no feature columns left after the target and prepare.drop")
    empty = [name for name in features if frame[name].isna().all()]
    if empty:
        raise UserError(f"{where}: column {empty[0]!r} is entirely empty; drop it with prepare.drop")
    labels, class_names = encode_labels(target)
    check_classes(labels, class_names, where)
    numeric = [name for name in features if is_numeric(frame[name])]
    categorical = [name for name in features if name not in numeric]
    values, strings = column_features(frame, numeric, categorical, where)
    return Dataset(
        features=values,
        feature_names=np.asarray(numeric, dtype=str),
        categorical=strings,
        categorical_names=np.asarray(categorical, dtype=str),
        labels=labels,
        class_names=class_names,
    )


def encode_labels(target) -> tuple[np.ndarray, np.ndarray]:
    """Integer labels indexing class names sorted as values (numbers numerically, so 2 < 10)."""
    if is_numeric(target):
        values = target.to_numpy(dtype=np.float64)
        if np.all(values == np.round(values)):  # an int column read as float because of NAs
            values = values.astype(np.int64)
    else:
        values = target.astype("string").str.strip().to_numpy(dtype=str)
    classes, labels = np.unique(values, return_inverse=True)
    return labels.astype(np.int64), np.asarray([str(c) for c in classes], dtype=str)


def check_classes(labels: np.ndarray, class_names: np.ndarray, where: str) -> None:
    if len(class_names) < 2:
        found = f"only {str(class_names[0])!r}" if len(class_names) else "none"
        raise UserError(f"{where}: the target needs at least two classes; found {found}")
    counts = np.bincount(labels, minlength=len(class_names))
    if counts.min() < MIN_ROWS_PER_CLASS:
        rare = int(np.argmin(counts))
        raise UserError(
            f"{where}: class {str(class_names[rare])!r} has {counts[rare]} row(s); a stratified "
            f"train/val/test split needs at least {MIN_ROWS_PER_CLASS} of every class"
        )
