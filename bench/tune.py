"""A tuned model against the committed default and against LightGBM tuned by the same budget.

    python -m bench.tune                          # churn, loans, birthdays: 30 trials at 2 at once each
    python -m bench.tune --tables churn --trials 10
    python -m bench.tune --readme                 # also rewrites the table in docs/tuning.md
    python -m bench.tune --smoke                  # one small table, 2 trials, a few epochs (the tests)
    python -m bench.tune --tables birthdays --lightgbm-only --readme   # LightGBM's cells of a row

For each table (bench.quality's, on the pipeline's own split): a temp copy of the repo with a
bare git repository as origin and a folder as the DVC remote, `dvc repro` with the committed
params ("default"), then `python -m stages.tune` over SPACE below, `--trials 30 --parallel 2`
on a local Ray of this machine's cores (each trial a DVC experiment on 1 thread). The objective
is the validation split's log loss (classification) or RMSE (regression); the chosen trial's
test metric is read after the search, as stages.tune reports it. LightGBM is tuned by the same
budget: Optuna's TPE (seed 0), 30 trials, each fit on the train split with up to 2,000 rounds and
early stopping on the same validation split and metric, 2 threads; its chosen trial's model is
scored on the test rows by evaluate's functions. Seconds are wall time: the whole search for
ours, the 30 fits for LightGBM, one after the other on the same cores. `--lightgbm-only` reruns
LightGBM's side of a table's row and keeps ours' cells as the block has them (ours' search is
hours on the largest table; LightGBM's, minutes), noting both dates in the row.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from bench import quality, read_readme_block, rewrite_readme_block
from bench.repro_time import bench_env, fresh_copy
from stages import artifacts
from stages.metrics import classification_report, ranking_report, regression_report

TABLES = (
    "churn",
    "loans",
    "birthdays",
)  # binary and imbalanced; regression with a 4,741-value column; the largest
SPACE = (  # train's keys that TabM's paper tunes, in ranges two CPU cores can afford on 3x10^5 rows
    "train.lr=tag(log, interval(3e-4, 3e-3))",
    "train.weight_decay=tag(log, interval(1e-5, 1e-2))",
    "train.dropout=interval(0, 0.4)",
    "train.hidden=choice([128, 128], [256, 256], [128, 128, 128])",
)
TRIALS, PARALLEL = 30, 2
ROUNDS, PATIENCE = 2000, 100  # LightGBM: a cap on boosting rounds, and early stopping on val


def setup(parent: Path, table: quality.Table, train: dict) -> Path:
    """A copy of the repo holding the table, committed and pushed (git and DVC) after `dvc repro`."""
    root = fresh_copy(parent)
    quality.write_table(table, root)
    quality.set_params(root, table, train)
    origin, store = root.parent / f"{root.name}-origin.git", root.parent / f"{root.name}-store"
    for args in (
        ["git", "init", "-q", "--bare", str(origin)],
        ["dvc", "remote", "add", "-d", "bench", str(store)],
        ["dvc", "add", "-q", f"data/raw/{table.name}.parquet"],
        ["dvc", "repro", "-q"],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "the table, reproduced"],
        ["git", "remote", "add", "origin", str(origin)],
        ["git", "push", "-q", "-u", "origin", "HEAD"],
        ["dvc", "push", "-q"],
    ):
        done = subprocess.run(args, cwd=root, env=bench_env(), capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(args)} failed in {root}:\n{done.stdout}\n{done.stderr}")
    return root


def search(root: Path, task: str, trials: int, fixed: tuple[str, ...]) -> tuple[dict, float]:
    """stages.tune in the copy: its best.json and the search's wall seconds."""
    metric = "val_loss" if task == "classification" else "val_rmse"
    args = [sys.executable, "-m", "stages.tune", "--name", "bench", "--metric", metric,
            "--trials", str(trials), "--parallel", str(PARALLEL), "--seed", "0"]  # fmt: skip
    for spec in (*SPACE, *fixed):
        args += ["-S", spec]
    started = time.perf_counter()
    done = subprocess.run(args, cwd=root, env=bench_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"stages.tune failed in {root}:\n{done.stderr}")
    return json.loads((root / "tune" / "bench" / "best.json").read_text()), seconds


def lightgbm(root: Path, trials: int, rounds: int) -> dict:
    """LightGBM on the copy's split: at its defaults (as bench.quality fits it), then tuned by
    Optuna's TPE; test scores of both, the search's seconds and its chosen params."""
    import lightgbm
    import optuna

    split = {name: artifacts.read_npz(root / artifacts.SPLIT[name]) for name in ("train", "val", "test")}
    regression = str(split["train"]["task"]) == "regression"
    n_numeric = split["train"]["features"].shape[1]
    text = list(range(n_numeric, n_numeric + split["train"]["categorical"].shape[1]))
    x = {name: quality.booster_inputs(part) for name, part in split.items()}
    y = {name: part["labels"] for name, part in split.items()}
    model_class = lightgbm.LGBMRegressor if regression else lightgbm.LGBMClassifier
    class_names = split["train"]["class_names"].tolist()

    def fit(params: dict, stop_early: bool = True):
        model = model_class(random_state=0, n_jobs=quality.THREADS, verbose=-1, **params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if stop_early:
                model.fit(x["train"], y["train"], eval_set=[(x["val"], y["val"])], categorical_feature=text,
                          callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False)])  # fmt: skip
            else:
                model.fit(x["train"], y["train"], categorical_feature=text)
        return model

    def tested(model) -> dict[str, float]:
        if regression:
            return quality.headline(regression_report(y["test"].astype(np.float64), model.predict(x["test"])))
        probabilities = model.predict_proba(x["test"])
        report = classification_report(y["test"], probabilities.argmax(axis=1), class_names)
        report.update(ranking_report(y["test"], probabilities, class_names)[0])
        return quality.headline(report)

    def objective(trial: optuna.Trial) -> float:
        model = fit({
            "n_estimators": rounds,
            "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.3, log=True),
            "num_leaves": trial.suggest_int("num_leaves", 4, 512, log=True),
            "min_child_samples": trial.suggest_int("min_child_samples", 2, 100, log=True),
            "min_child_weight": trial.suggest_float("min_child_weight", 1e-5, 100, log=True),
            "subsample": trial.suggest_float("subsample", 0.5, 1.0),
            "subsample_freq": 1,
            "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-5, 100, log=True),
        })  # fmt: skip
        (score,) = model.best_score_["valid_0"].values()  # l2 or (multi_)logloss on val
        return float(np.sqrt(score)) if regression else float(score)

    default = tested(fit({}, stop_early=False))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    started = time.perf_counter()
    study.optimize(objective, n_trials=trials)
    chosen = fit({**study.best_params, "n_estimators": rounds, "subsample_freq": 1})
    seconds = time.perf_counter() - started
    return {"default": default, "tuned": tested(chosen), "seconds": seconds, "params": study.best_params}


def measure(parent: Path, table: quality.Table, trials: int, smoke: bool, lightgbm_only: bool) -> dict:
    train = dict(quality.SMOKE_TRAIN) if smoke else {}
    root = setup(parent, table, train)
    rounds = 50 if smoke else ROUNDS
    if lightgbm_only:
        return {"table": table, "lightgbm": lightgbm(root, trials, rounds)}
    default = quality.scores(root)
    fixed = tuple(f"train.{key}={value}" for key, value in train.items())
    best, seconds = search(root, table.task, trials, fixed)
    return {"table": table, "default": default, "best": best, "seconds": seconds,
            "lightgbm": lightgbm(root, trials, rounds)}  # fmt: skip


HEADER = (
    "| table | run | metric | ours, committed params | ours, tuned | LightGBM, defaults | LightGBM, tuned "
    "| tuned ours >= tuned LightGBM | chosen trial (of) | seconds: ours' search, LightGBM's |\n"
    "|---|---|---|---:|---:|---:|---:|---|---|---|"
)


def markdown(results: list[dict], day: str, earlier: str = "") -> str:
    """The table: a row per table measured now, dated `day`, and the rows of `earlier` (the
    block as it was) for tables not measured now, in TABLES' order. A result without "best"
    (`--lightgbm-only`) replaces the LightGBM cells of its table's earlier row."""
    rows = {}
    for line in earlier.splitlines():
        cells = line.split("|")
        if len(cells) > 2 and cells[1].strip() in {t.name for t in quality.TABLES}:
            rows[cells[1].strip()] = line
    for r in results:
        key, label = quality.metric_of({"table": r["table"]})
        lgbm, name = r["lightgbm"], r["table"].name
        if "best" not in r:
            rows[name] = _lightgbm_cells(rows.get(name), name, lgbm, key, day)
            continue
        best = r["best"]
        tuned = best["test"][key]
        point = ", ".join(f"{k.removeprefix('train.')} {_short(v)}" for k, v in best["params"].items())
        rows[name] = (
            f"| {name} | {day} | test {label} | {r['default'][key]:.4f} | {tuned:.4f} | "
            f"{lgbm['default'][key]:.4f} | {lgbm['tuned'][key]:.4f} | "
            f"{'yes' if tuned >= lgbm['tuned'][key] else 'no'} | "
            f"{best['name']} ({best['trials']}): {point} | "
            f"{r['seconds']:.0f}, {lgbm['seconds']:.0f} |"
        )
    order = [t.name for t in quality.TABLES]
    return "\n".join([HEADER, *(rows[name] for name in sorted(rows, key=order.index))])


def _lightgbm_cells(row: str | None, name: str, lgbm: dict, key: str, day: str) -> str:
    """`row` (a table's earlier row) with LightGBM's cells, and the verdict, from `lgbm`."""
    if row is None:
        raise SystemExit(f"--lightgbm-only: docs/tuning.md has no row for {name} to keep ours' cells from")
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    ours_date = cells[1].split(";")[0]
    cells[1] = ours_date if ours_date == day else f"{ours_date}; LightGBM {day}"
    cells[5], cells[6] = f"{lgbm['default'][key]:.4f}", f"{lgbm['tuned'][key]:.4f}"
    cells[7] = "yes" if float(cells[4]) >= lgbm["tuned"][key] else "no"
    cells[9] = f"{cells[9].split(',')[0]}, {lgbm['seconds']:.0f}"
    return "| " + " | ".join(cells) + " |"


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tables", default=",".join(TABLES), help="comma-separated names of bench.quality's tables"
    )
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--readme", action="store_true", help="rewrite the tune block of docs/tuning.md")
    parser.add_argument("--smoke", action="store_true", help="one small table, 2 trials, 3 epochs")
    parser.add_argument(
        "--lightgbm-only", action="store_true",
        help="rerun LightGBM's side only, keeping ours' cells of each table's row (needs --readme)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.smoke and args.readme:
        parser.error("--smoke figures never go to the README")
    if args.lightgbm_only and not args.readme:
        parser.error("--lightgbm-only fills LightGBM's cells of docs/tuning.md's rows: add --readme")
    known = {t.name: t for t in quality.TABLES}
    names = args.tables.split(",")
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown table {unknown[0]}; tables: " + ", ".join(known))
    chosen = [quality.SMOKE[0]] if args.smoke else [known[name] for name in names]
    trials = 2 if args.smoke else args.trials
    results = []
    with tempfile.TemporaryDirectory() as parent:
        for table in chosen:
            result = measure(Path(parent), table, trials, args.smoke, args.lightgbm_only)
            print(
                f"{table.name}: {json.dumps({k: v for k, v in result.items() if k != 'table'})}", flush=True
            )
            results.append(result)
    heading = (
        f"{quality.machine()}; {trials} trials each, {PARALLEL} at once; test rows of the "
        "pipeline's split; each row from the run of its date (`--tables` reruns some, keeping the others)"
    )
    earlier = read_readme_block("tune") if args.readme else ""
    body = f"{heading}\n\n{markdown(results, time.strftime('%Y-%m-%d'), earlier)}"
    print(body)
    if args.readme:
        rewrite_readme_block("tune", body)


if __name__ == "__main__":
    main()
