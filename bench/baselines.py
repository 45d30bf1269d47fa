"""This pipeline against scikit-learn baselines on every bundled dataset, same split and scaling.

    python -m bench.baselines                 # prints the table
    python -m bench.baselines --readme        # also rewrites the table in README.md

For each dataset the real pipeline runs (`dvc repro` in a temp copy of the repo with
prepare.source set, every other param as committed), and so does it for examples/customers.csv,
a table with text columns and empty cells (the test suite's mixed table). LogisticRegression,
MLPClassifier and HistGradientBoostingClassifier (scikit-learn defaults, seed 0) are then fit
on the same scaled train split the pipeline trained on and scored on the same test split. Text
columns reach them as the pipeline's codes: one-hot encoded for the first two, as native
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
from bench.repro_time import _env, fresh_copy
from stages import artifacts
from stages.metrics import classification_report
from stages.params import BUNDLED_SOURCES

TABLES = {  # name -> (file under examples/, prepare params)
    "customers.csv": {"target": "status", "drop": "[customer_id]", "missing_target": "drop"},
}


def set_source(root: Path, source: str) -> None:
    params = root / "params.yaml"
    text = params.read_text()
    if source in TABLES:
        shutil.copy(root / "examples" / source, root / "data/raw" / source)
        for key, value in {"source": f"data/raw/{source}", **TABLES[source]}.items():
            text = re.sub(rf"(?m)^(  {key}: )\S+", rf"\g<1>{value}", text, count=1)
    else:
        text = re.sub(r"(?m)^(  source: )\S+", rf"\g<1>{source}", text, count=1)
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
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    train = artifacts.read_npz(root / artifacts.SCALED["train"])
    test = artifacts.read_npz(root / artifacts.SCALED["test"])
    names = test["class_names"].tolist()
    one_hot, coded, categorical = inputs(train, test)
    scores = {}
    for name, model, (x_train, x_test) in (
        ("LogisticRegression", LogisticRegression(max_iter=5000, random_state=0), one_hot),
        ("MLPClassifier", MLPClassifier(max_iter=1000, random_state=0), one_hot),
        (
            "HistGradientBoosting",
            HistGradientBoostingClassifier(random_state=0, categorical_features=categorical or None),
            coded,
        ),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x_train, train["labels"])
        scores[name] = classification_report(test["labels"], model.predict(x_test), names)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args()
    lines = [
        "| dataset | rows | classes | test rows | this pipeline acc / macro F1 "
        "| LogisticRegression | MLPClassifier | HistGradientBoosting | no worse than the best? |",
        "|---|---:|---:|---:|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as parent:
        for source in (*BUNDLED_SOURCES, *TABLES):
            root = fresh_copy(Path(parent))
            set_source(root, source)
            subprocess.run(["dvc", "repro"], cwd=root, env=_env(), check=True, capture_output=True)
            ours = json.loads((root / artifacts.EVAL_METRICS).read_text())
            theirs = baseline_scores(root)
            best = max(theirs.values(), key=lambda r: (r["accuracy"], r["macro_f1"]))
            ok = ours["accuracy"] >= best["accuracy"] and ours["macro_f1"] >= best["macro_f1"]
            test_rows = sum(c["support"] for c in ours["per_class"].values())
            prepared = artifacts.read_npz(root / artifacts.PREPARED)
            cells = [f"{r['accuracy']:.3f} / {r['macro_f1']:.3f}" for r in (ours, *theirs.values())]
            lines.append(f"| {source} | {len(prepared['labels'])} | {len(ours['per_class'])} | {test_rows} | "
                         + " | ".join(cells) + f" | {'yes' if ok else 'no'} |")  # fmt: skip
            print(lines[-1], flush=True)
            shutil.rmtree(root)
    table = "\n".join(lines)
    print("\n" + table)
    if args.readme:
        rewrite_readme_block("baselines", table)


if __name__ == "__main__":
    main()
