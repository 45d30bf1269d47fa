"""Table sources (CSV, Parquet): read, validate, and turn into a Dataset.

Every check runs before the prepare stage writes anything; each failure is one line naming
the file, the column or the class. Tables are read with pyarrow, imported only here: pandas
would do as well, but once installed scikit-learn imports it in every process (+0.35 s for
split and scale alike).
"""

import csv
import logging
from pathlib import Path

import numpy as np

from stages import params
from stages.datasets import Dataset, check_classes
from stages.errors import UserError

log = logging.getLogger("prepare")


def read_header(path: Path) -> list[str]:
    """Column names as the file has them, duplicates included."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    with path.open(newline="") as handle:
        return next(csv.reader(handle), [])


def read_table(path: Path):
    """The table at `path` as a pyarrow Table, empty cells and NA-like tokens as nulls."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise UserError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")
    try:
        header = read_header(path)
    except (OSError, UnicodeDecodeError, ValueError, pa.ArrowException) as error:
        raise UserError(f"{path}: cannot read the header ({error})") from None
    if not header:
        raise UserError(f"{path}: file has no header row")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise UserError(f"{path}: duplicate column name {duplicates[0]!r}; column names must be unique")
    try:
        if path.suffix == ".parquet":
            table = pq.read_table(path)
        else:
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(strings_can_be_null=True))
    except (OSError, UnicodeDecodeError, pa.ArrowException) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UserError(f"{path}: cannot be parsed as {path.suffix[1:]} ({reason})") from None
    if table.num_rows == 0:
        raise UserError(f"{path}: no data rows below the header")
    return table


def is_numeric(column) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(column.type) or pa.types.is_floating(column.type)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_float(table, name: str, where: str) -> np.ndarray:
    """Column `name` as float64 with NaN for missing; text that is not a number is an error."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table.column(name)
    if not is_numeric(column):
        text = pc.utf8_trim_whitespace(column.cast(pa.string()))
        try:
            column = pc.cast(text, pa.float64())
        except pa.ArrowInvalid:
            row, value = next(
                ((row, value) for row, value in enumerate(text.to_pylist(), start=1)
                 if value is not None and not _is_number(value)),
                (None, None),
            )  # fmt: skip
            found = f"; found {value!r} in row {row}" if row else ""
            raise UserError(f"{where}: column {name!r} must be numeric, as in training{found}") from None
    return column.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


def _as_strings(table, name: str) -> np.ndarray:
    import pyarrow as pa

    values = table.column(name).cast(pa.string()).fill_null("").to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=str)


def column_features(
    table, numeric: list[str], categorical: list[str], where: str
) -> tuple[np.ndarray, np.ndarray]:
    """float32 matrix of `numeric` (NaN missing) and str matrix of `categorical` ("" missing)."""
    values = np.empty((table.num_rows, len(numeric)), dtype=np.float64)
    for i, name in enumerate(numeric):
        values[:, i] = _as_float(table, name, where)
        if np.isinf(values[:, i]).any():
            raise UserError(
                f"{where}: column {name!r} holds infinite values; use a finite number or leave it empty"
            )
        if np.isinf(values[:, i].astype(np.float32)).any():
            raise UserError(f"{where}: column {name!r} holds values too large for float32 (about 3.4e38)")
    strings = np.empty((table.num_rows, len(categorical)), dtype=object)
    for i, name in enumerate(categorical):
        strings[:, i] = _as_strings(table, name)
    return values.astype(np.float32), strings.astype(str)


def load_table(p: params.PrepareParams) -> Dataset:
    import pyarrow.compute as pc

    path = Path(p.source)
    table = read_table(path)
    where = str(path)
    columns = list(table.column_names)
    unknown = [name for name in (p.target, *p.drop) if name not in columns]
    if unknown:
        key = "prepare.target" if unknown[0] == p.target else "prepare.drop"
        raise UserError(
            f"params.yaml: {key} names column {unknown[0]!r}, which {where} does not have; "
            f"its columns: {', '.join(columns)}"
        )
    present = pc.is_valid(table.column(p.target))
    missing_target = table.num_rows - pc.sum(present).as_py()
    if missing_target:
        if p.missing_target == "fail":
            raise UserError(
                f"{where}: target column {p.target!r} is empty in {missing_target} of {table.num_rows} rows; "
                "fill them in, or set prepare.missing_target: drop"
            )
        log.info("dropping %d row(s) whose target %r is empty", missing_target, p.target)
        table = table.filter(present)
    features = [name for name in columns if name != p.target and name not in p.drop]
    if not features:
        raise UserError(f"{where}: no feature columns left after the target and prepare.drop")
    empty = [name for name in features if table.column(name).null_count == table.num_rows]
    if empty:
        raise UserError(f"{where}: column {empty[0]!r} is entirely empty; drop it with prepare.drop")
    labels, class_names = encode_labels(table.column(p.target))
    check_classes(labels, class_names, where)
    numeric = [name for name in features if is_numeric(table.column(name))]
    categorical = [name for name in features if name not in numeric]
    values, strings = column_features(table, numeric, categorical, where)
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
    import pyarrow as pa
    import pyarrow.compute as pc

    if is_numeric(target):
        values = target.cast(pa.float64()).to_numpy(zero_copy_only=False)
        if np.all(values == np.round(values)):
            values = values.astype(np.int64)
    else:
        values = np.asarray(pc.utf8_trim_whitespace(target.cast(pa.string())).to_pylist(), dtype=str)
    classes, labels = np.unique(values, return_inverse=True)
    return labels.astype(np.int64), np.asarray([str(c) for c in classes], dtype=str)
