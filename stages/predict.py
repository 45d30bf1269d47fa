"""Predict the target of new rows with the pipeline's saved preprocessing and model.

    python -m stages.predict INPUT.csv -o OUT.csv      (or .parquet in)

INPUT has the training table's feature columns (the target may be absent; other columns are
ignored). OUT has one row per input row: for classification the predicted class name and one
probability column per class; for regression the predicted value in the target's units. The
preprocessing and model must be the ones dvc.lock records.
"""

import argparse
import csv
import hashlib
import io
import logging
from pathlib import Path

import numpy as np

from stages import artifacts, numerics, params, preprocessing, tables, tasks
from stages.errors import UserError, run

log = logging.getLogger("predict")

LOCK_FILE = Path("dvc.lock")
CACHE_DIR = Path(".dvc/cache/files/md5")


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached(md5: str, cache: Path = CACHE_DIR) -> bool:
    """Whether this checkout's DVC cache holds the file with this md5 (DVC 3 layout)."""
    return (cache / md5[:2] / md5[2:]).is_file()


def check_artifacts_match_lock(paths: list[Path], lock_file: Path = LOCK_FILE) -> dict:
    """Refuse artifacts that are not the ones the pipeline recorded: stale or hand-edited.
    Returns the parsed lock. Each message advises a command that works as printed here."""
    import yaml

    for path in paths:
        if not path.is_file():
            raise UserError(f"{path} not found; run `dvc repro` (it restores what ran before, or builds it)")
    if not lock_file.is_file():
        raise UserError(f"{lock_file} not found; run `dvc repro` so the artifacts are recorded")
    lock = yaml.safe_load(lock_file.read_text()) or {}
    recorded = {
        out["path"]: out.get("md5")
        for stage in lock.get("stages", {}).values()
        for out in stage.get("outs", [])
    }
    for path in paths:
        expected = recorded.get(path.as_posix())
        if expected is None:
            raise UserError(f"{lock_file} records no {path}; run `dvc repro`")
        actual = file_md5(path)
        if actual != expected:
            # `dvc checkout` keeps a modified file unless forced, and can restore only what the
            # cache holds: a lock made on another host or clone names files this cache lacks.
            fix = f"`dvc checkout --force {path}` or `dvc repro`" if cached(expected) else "`dvc repro`"
            raise UserError(
                f"{path} is not the file {lock_file} records (md5 {actual} != {expected}): a stale or "
                f"hand-edited artifact; run {fix}"
            )
    return lock


def recorded_numerics(lock: dict) -> tuple[str, int]:
    """The train.numerics and train.threads evaluate ran with, so predict's forward pass equals
    evaluate's (under `portable` the thread count is part of the bits: numerics.threads)."""
    recorded = lock.get("stages", {}).get("evaluate", {}).get("params", {}).get("params.yaml", {})
    setting, count = recorded.get("train.numerics"), recorded.get("train.threads")
    if setting in params.NUMERICS and isinstance(count, int) and count >= 0:
        return setting, count
    train = params.load("train")
    return train.numerics, train.threads


def model_inputs(
    table: tables.Table, preprocessor, config: dict, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """The model's two inputs for every row: scaled numeric features and text codes, each text
    value mapped through the train vocabulary (unseen or rare: OTHER, empty: EMPTY)."""
    numeric, text = config["input_numeric"], config["input_categorical"]
    needed = numeric + text
    missing = [name for name in needed if name not in table.column_names]
    if missing:
        raise UserError(
            f"{where}: missing feature column(s) {', '.join(map(repr, missing))}; "
            f"the model needs: {', '.join(map(repr, needed))}"
        )
    extra = [name for name in table.column_names if name not in needed]
    if extra:
        log.info("ignoring column(s) the model does not use: %s", ", ".join(map(str, extra)))
    features = tables.numeric_matrix(table, numeric, where)
    preprocessor.transform_numeric(features, out=features)
    codes = np.empty((table.num_rows, len(text)), dtype=np.int32)
    for j, name in enumerate(text):
        table.check_text(name, where)
        codes[:, j] = preprocessing.encode_values(preprocessor, j, tables.text_values(table.column(name)))
    return features, codes


def predict_table(
    table: tables.Table, preprocessor, model, config: dict, batch_size: int, where: str
) -> np.ndarray:
    """Classification: class probabilities, float32 (rows, classes). Regression: the predicted
    values in the target's units, float32 (rows,)."""
    import torch

    from stages import engine

    features, codes = model_inputs(table, preprocessor, config, where)
    outputs = engine.predict_logits(model, (torch.from_numpy(features), torch.from_numpy(codes)), batch_size)
    task = tasks.from_config(config)
    if isinstance(task, tasks.Regression):
        return task.to_units(outputs[:, 0].numpy()).astype(np.float32)
    return torch.softmax(outputs, dim=1).numpy()


def fixed_decimals(values: np.ndarray):
    """Probabilities in [0, 1] as text with six decimals ("0.042000"), for every row at once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    micro = np.rint(values.astype(np.float64) * 1e6).astype(np.int64)
    whole = pc.cast(pa.array(micro // 1_000_000), pa.string())
    fraction = pc.utf8_lpad(pc.cast(pa.array(micro % 1_000_000), pa.string()), 6, "0")
    return pc.binary_join_element_wise(whole, fraction, ".")


def csv_line(fields: list[str]) -> str:
    """One CSV line as the csv module writes it (quoted only where a field needs it)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def write_predictions(path: Path, class_names: list[str], probabilities: np.ndarray) -> None:
    """predicted,p_<class>... as CSV: each line joined by Arrow's kernels, and the file written
    from the lines' one buffer, so no Python loop runs over rows (10^6 rows: well under 1 s)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = pa.array([csv_line([name])[:-1] for name in class_names], type=pa.string())
    columns = [names.take(pa.array(probabilities.argmax(axis=1)))]
    columns += [fixed_decimals(probabilities[:, k]) for k in range(len(class_names))]
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*columns, ","), "", "\n")
    body, _ = tables.string_buffers(lines)
    with artifacts.atomic_path(path) as tmp, tmp.open("wb") as handle:
        handle.write(csv_line(["predicted", *(f"p_{name}" for name in class_names)]).encode())
        handle.write(body.data)


def write_values(path: Path, values: np.ndarray) -> None:
    """One `predicted` column: each float32 value as its shortest text that reads back to it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lines = pc.binary_join_element_wise(pc.cast(pa.array(values), pa.string()), "", "\n")
    body, _ = tables.string_buffers(lines)
    with artifacts.atomic_path(path) as tmp, tmp.open("wb") as handle:
        handle.write(b"predicted\n")
        handle.write(body.data)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other mistake, instead of usage + error
        raise UserError(f"{message}; usage: {self.prog} INPUT.csv -o OUT.csv")


def main() -> None:
    parser = _Parser(prog="python -m stages.predict", description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="rows to predict: .csv or .parquet")
    parser.add_argument(
        "-o", "--output", type=Path, required=True, help="where to write the .csv of predictions"
    )
    args = parser.parse_args()
    if args.input.suffix not in params.TABLE_SUFFIXES:
        raise UserError(f"{args.input}: input must be a .csv or .parquet file")
    if args.output.suffix != ".csv":
        raise UserError(f"{args.output}: output must be a .csv file")
    lock = check_artifacts_match_lock([artifacts.SCALER, artifacts.MODEL])
    setting, threads = recorded_numerics(lock)
    numerics.apply(setting)  # before torch loads
    table = tables.read_table(args.input)
    numerics.set_threads(setting, threads)

    from stages.model import from_payload

    model, config = from_payload(artifacts.read_torch(artifacts.MODEL))
    preprocessor = artifacts.read_joblib(artifacts.SCALER)
    batch_size = params.load("evaluate").batch_size
    predicted = predict_table(table, preprocessor, model, config, batch_size, str(args.input))
    if predicted.ndim == 1:
        write_values(args.output, predicted)
    else:
        write_predictions(args.output, config["class_names"], predicted)
    log.info("%d rows -> %s", len(predicted), args.output)


if __name__ == "__main__":
    run(main)
