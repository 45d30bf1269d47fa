"""This pipeline against scikit-learn baselines on every bundled dataset, same split and scaling.

    python -m bench.baselines                 # prints the table
    python -m bench.baselines --readme        # also rewrites the table in README.md

For each dataset the real pipeline runs (`dvc repro` in a temp copy of the repo with
prepare.source set, every other param as committed); LogisticRegression and MLPClassifier
(scikit-learn defaults, seed 0) are then fit on the same scaled train split the pipeline
trained on and scored on the same test split.
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


def set_source(root: Path, source: str) -> None:
    params = root / "params.yaml"
    params.write_text(re.sub(r"(?m)^(  source: )\S+", rf"\g<1>{source}", params.read_text(), count=1))


def baseline_scores(root: Path) -> dict[str, dict]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    train = artifacts.read_npz(root / artifacts.SCALED["train"])
    test = artifacts.read_npz(root / artifacts.SCALED["test"])
    names = test["class_names"].tolist()
    scores = {}
    for name, model in (
        ("LogisticRegression", LogisticRegression(max_iter=5000, random_state=0)),
        ("MLPClassifier", MLPClassifier(max_iter=1000, random_state=0)),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(train["features"], train["labels"])
        scores[name] = classification_report(test["labels"], model.predict(test["features"]), names)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args()
    lines = [
        "| dataset | rows | classes | test rows | this pipeline acc / macro F1 "
        "| LogisticRegression | MLPClassifier | no worse than the better? |",
        "|---|---:|---:|---:|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as parent:
        for source in BUNDLED_SOURCES:
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
