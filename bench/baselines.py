"""This pipeline against scikit-learn baselines on every bundled dataset, same split and scaling.

    python -m bench.baselines                 # prints the tables
    python -m bench.baselines --readme        # also rewrites them in docs/speed.md
    python -m bench.baselines --smoke         # iris and diabetes only, in seconds (the tests run it)

For each dataset the real pipeline runs (`dvc repro` in a temp copy of the repo with
prepare.source set, every other param as committed), and so does it for examples/customers.csv,
a table with text columns and empty cells (the test suite's mixed table). Classification:
LogisticRegression, MLPClassifier and HistGradientBoostingClassifier (scikit-learn defaults,
seed 0) are then fit on the same scaled train split the pipeline trained on and scored on the
same test split. Regression (diabetes, and customers.csv's numeric column `spend` as the
target): Ridge, MLPRegressor and HistGradientBoostingRegressor, fit on the same split with the
target standardised as the pipeline's, scored in the target's units. Text columns reach them as
the pipeline's codes: one-hot encoded for the linear models and the MLPs, as native
categorical features for the gradient boosting (empty and rare values are codes of their own).
"""

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from bench import rewrite_readme_block
from bench.repro_time import bench_env, fresh_copy
from stages import artifacts, tasks
from stages.metrics import classification_report, regression_report
from stages.params import BUNDLED_TASKS

CUSTOMERS = {"source": "data/raw/customers.csv", "drop": "[customer_id]", "missing_target": "drop"}
CLASSIFICATION = {  # row name -> prepare params other than the committed ones
    **{name: {"source": name} for name, task in BUNDLED_TASKS.items() if task == "classification"},
    "customers.csv": {**CUSTOMERS, "target": "status"},
}
REGRESSION = {
    **{
        name: {"source": name, "task": "regression"}
        for name, task in BUNDLED_TASKS.items()
        if task == "regression"
    },
    "customers.csv (spend)": {**CUSTOMERS, "target": "spend", "task": "regression"},
}


def set_prepare(root: Path, settings: dict[str, str]) -> None:
    params = root / "params.yaml"
    text = params.read_text()
    if settings["source"].startswith("data/raw/"):
        shutil.copy(root / "examples" / Path(settings["source"]).name, root / settings["source"])
    for key, value in settings.items():
        text = re.sub(rf"(?m)^(  {key}: )\S+", rf"\g<1>{value}", text, count=1)
    params.write_text(text)


def inputs(train: dict, test: dict) -> tuple[tuple, tuple, list[bool]]:
    """(one-hot train, one-hot test) matrices, (codes train, codes test), and which columns of
    the second pair are categorical."""
    import numpy as np
    from sklearn.preprocessing import OneHotEncoder

    n_text = train["codes"].shape[1]
    if not n_text:
        return (train["features"], test["features"]), (train["features"], test["features"]), []
    encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(train["codes"])
    one_hot = tuple(np.hstack([part["features"], encoder.transform(part["codes"])]) for part in (train, test))
    coded = tuple(np.hstack([part["features"], part["codes"]]) for part in (train, test))
    categorical = [False] * train["features"].shape[1] + [True] * n_text
    return one_hot, coded, categorical


def baseline_scores(root: Path) -> dict[str, dict]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    train = artifacts.read_npz(root / artifacts.SCALED["train"])
    test = artifacts.read_npz(root / artifacts.SCALED["test"])
    names = test["class_names"].tolist()
    one_hot, coded, categorical = inputs(train, test)
    candidates = (
        ("LogisticRegression", LogisticRegression(max_iter=5000, random_state=0), one_hot),
        ("MLPClassifier", MLPClassifier(max_iter=1000, random_state=0), one_hot),
        (
            "HistGradientBoosting",
            HistGradientBoostingClassifier(random_state=0, categorical_features=categorical or None),
            coded,
        ),
    )
    return {
        name: classification_report(test["labels"], predicted, names)
        for name, predicted in fit_and_predict(candidates, train["labels"]).items()
    }


def fit_and_predict(candidates, labels) -> dict:
    """Each (name, model, (x_train, x_test)) fit on x_train and `labels`: its test predictions."""
    from sklearn.exceptions import ConvergenceWarning

    predictions = {}
    for name, model, (x_train, x_test) in candidates:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, labels)
        predictions[name] = model.predict(x_test)
    return predictions


def regression_scores(root: Path) -> dict[str, dict]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.neural_network import MLPRegressor

    train = artifacts.read_npz(root / artifacts.SCALED["train"])
    test = artifacts.read_npz(root / artifacts.SCALED["test"])
    task = tasks.from_arrays(test)
    assert isinstance(task, tasks.Regression), "the REGRESSION datasets are regressions"
    one_hot, coded, categorical = inputs(train, test)
    candidates = (
        ("Ridge", Ridge(), one_hot),
        ("MLPRegressor", MLPRegressor(max_iter=1000, random_state=0), one_hot),
        (
            "HistGradientBoosting",
            HistGradientBoostingRegressor(random_state=0, categorical_features=categorical or None),
            coded,
        ),
    )
    actual = task.to_units(test["labels"])
    return {
        name: regression_report(actual, task.to_units(predicted))
        for name, predicted in fit_and_predict(candidates, train["labels"]).items()
    }


def run_pipeline(parent: Path, settings: dict[str, str]) -> tuple[Path, dict]:
    root = fresh_copy(parent)
    set_prepare(root, settings)
    subprocess.run(["dvc", "repro"], cwd=root, env=bench_env(), check=True, capture_output=True)
    return root, json.loads((root / artifacts.EVAL_METRICS).read_text())


def classification_table(parent: Path, datasets: dict[str, dict]) -> str:
    lines = [
        "| dataset | rows | classes | test rows | this pipeline acc / macro F1 "
        "| LogisticRegression | MLPClassifier | HistGradientBoosting | no worse than the best? |",
        "|---|---:|---:|---:|---|---|---|---|---|",
    ]
    for name, settings in datasets.items():
        root, ours = run_pipeline(parent, settings)
        theirs = baseline_scores(root)
        best = max(theirs.values(), key=lambda r: (r["accuracy"], r["macro_f1"]))
        ok = ours["accuracy"] >= best["accuracy"] and ours["macro_f1"] >= best["macro_f1"]
        test_rows = sum(c["support"] for c in ours["per_class"].values())
        prepared = artifacts.read_npz(root / artifacts.PREPARED)
        cells = [f"{r['accuracy']:.3f} / {r['macro_f1']:.3f}" for r in (ours, *theirs.values())]
        lines.append(f"| {name} | {len(prepared['labels'])} | {len(ours['per_class'])} | {test_rows} | "
                     + " | ".join(cells) + f" | {'yes' if ok else 'no'} |")  # fmt: skip
        print(lines[-1], flush=True)
        shutil.rmtree(root)
    return "\n".join(lines)


R2_SLACK = 0.02  # the goal: test R² at or above the best baseline's, or within this


def regression_table(parent: Path, datasets: dict[str, dict]) -> str:
    lines = [
        "| dataset | rows | test rows | this pipeline R² / RMSE | Ridge | MLPRegressor "
        "| HistGradientBoosting | R² within 0.02 of the best? |",
        "|---|---:|---:|---|---|---|---|---|",
    ]
    for name, settings in datasets.items():
        root, ours = run_pipeline(parent, settings)
        theirs = regression_scores(root)
        best = max(r["r2"] for r in theirs.values())
        gap = best - ours["r2"]
        verdict = "yes, above" if gap <= 0 else f"{'yes' if gap <= R2_SLACK else 'no'}, {gap:.3f} below"
        prepared = artifacts.read_npz(root / artifacts.PREPARED)
        test_rows = len(artifacts.read_npz(root / artifacts.SCALED["test"])["labels"])
        cells = [f"{r['r2']:.3f} / {r['rmse']:.2f}" for r in (ours, *theirs.values())]
        lines.append(
            f"| {name} | {len(prepared['labels'])} | {test_rows} | " + " | ".join(cells) + f" | {verdict} |"
        )
        print(lines[-1], flush=True)
        shutil.rmtree(root)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="rewrite the tables in docs/speed.md")
    parser.add_argument("--task", choices=("classification", "regression"), help="only this task's table")
    parser.add_argument(
        "--smoke", action="store_true", help="one small dataset per task (seconds; the tests)"
    )
    args = parser.parse_args()
    if args.smoke and args.readme:
        parser.error("--smoke figures are not the README's: leave out --readme")
    classification, regression = CLASSIFICATION, REGRESSION
    if args.smoke:  # the first dataset of each task
        classification, regression = (
            dict(list(CLASSIFICATION.items())[:1]),
            dict(list(REGRESSION.items())[:1]),
        )
    with tempfile.TemporaryDirectory() as parent:
        if args.task != "regression":
            table = classification_table(Path(parent), classification)
            print("\n" + table)
            if args.readme:
                rewrite_readme_block("baselines", table)
        if args.task != "classification":
            table = regression_table(Path(parent), regression)
            print("\n" + table)
            if args.readme:
                rewrite_readme_block("baselines_regression", table)


if __name__ == "__main__":
    main()
