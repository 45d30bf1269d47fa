"""predict: agrees with evaluate, checks its artifacts against dvc.lock, rejects bad input."""

import csv
import sys

import numpy as np
import pytest

from stages import artifacts, predict
from stages.errors import UserError

pytestmark = pytest.mark.slow


def export_test_split(project, path: str, drop: tuple[str, ...] = (), extra: dict | None = None) -> None:
    """The raw test split as a CSV in the training table's format (target column included)."""
    split = artifacts.read_npz(project.path(str(artifacts.SPLIT["test"])))
    names = split["feature_names"].tolist()
    with project.path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        keep = [i for i, name in enumerate(names) if name not in drop]
        writer.writerow([names[i] for i in keep] + ["species", *(extra or {})])
        for row, label in zip(split["features"], split["labels"], strict=True):
            values = [repr(float(row[i])) for i in keep]  # float32 values round-trip exactly
            writer.writerow([*values, split["class_names"][label], *(extra or {}).values()])


def run_predict(project, *args: str):
    return project.run(sys.executable, "-m", "stages.predict", *args, check=False)


def test_predict_on_the_test_split_gives_exactly_what_evaluate_scored(project):
    export_test_split(project, "test_rows.csv", extra={"note": "ignored"})
    done = run_predict(project, "test_rows.csv", "-o", "out.csv")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("ignoring column(s) the model does not use: species, note") == 1
    with project.path("out.csv").open() as handle:
        predicted = list(csv.DictReader(handle))
    with project.path("metrics/confusion.csv").open() as handle:
        scored = [row["predicted"] for row in csv.DictReader(handle)]
    assert [row["predicted"] for row in predicted] == scored
    probabilities = np.array(
        [[float(row[f"p_{c}"]) for c in ("setosa", "versicolor", "virginica")] for row in predicted]
    )
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def one_error_line(done) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_missing_feature_columns_are_named(project):
    export_test_split(project, "rows.csv", drop=("petal width (cm)",))
    line = one_error_line(run_predict(project, "rows.csv", "-o", "out.csv"))
    assert "missing feature column(s) 'petal width (cm)'; the model needs: 'sepal length (cm)'" in line
    assert not project.path("out.csv").exists()


def test_a_hand_edited_model_is_refused(project):
    model = project.path("models/model.pt")
    model.chmod(0o644)
    model.write_bytes(model.read_bytes() + b"\0")
    export_test_split(project, "rows.csv")
    line = one_error_line(run_predict(project, "rows.csv", "-o", "out.csv"))
    assert "models/model.pt is not the file dvc.lock records" in line
    assert "run `dvc checkout --force models/model.pt` or `dvc repro`" in line
    # the advice works as printed: the recorded model comes back, and predict runs
    project.dvc("checkout", "--force", "models/model.pt")
    assert run_predict(project, "rows.csv", "-o", "out.csv").returncode == 0


def test_a_model_the_cache_lacks_gets_advice_that_works(project):
    """A lock made on another host names a model this cache never held: only repro helps."""
    model = project.path("models/model.pt")
    recorded = predict.file_md5(model)
    project.path(str(predict.CACHE_DIR / recorded[:2] / recorded[2:])).unlink()
    assert not predict.cached(recorded, project.path(str(predict.CACHE_DIR)))
    model.chmod(0o644)
    model.write_bytes(model.read_bytes() + b"\0")
    export_test_split(project, "rows.csv")
    line = one_error_line(run_predict(project, "rows.csv", "-o", "out.csv"))
    assert line.endswith("a stale or hand-edited artifact; run `dvc repro`"), line
    project.dvc("repro")
    assert run_predict(project, "rows.csv", "-o", "out.csv").returncode == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "rows.csv: file not found"),
        ("", "rows.csv: file is empty"),
        ("sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n1,2,x,4\n",
         "column 'petal length (cm)' must be numeric, as in training; found 'x' in row 1"),
    ],
)  # fmt: skip
def test_bad_input_files(project, content, message):
    if content is not None:
        project.path("rows.csv").write_text(content)
    line = one_error_line(run_predict(project, "rows.csv", "-o", "out.csv"))
    assert message in line


def test_bad_arguments_are_one_line(project):
    line = one_error_line(run_predict(project, "rows.csv"))
    assert line == (
        "error: the following arguments are required: -o/--output; "
        "usage: python -m stages.predict INPUT.csv -o OUT.csv"
    )
    project.path("rows.csv").write_text("a\n1\n")
    assert "rows.txt: output must be a .csv file" in one_error_line(
        run_predict(project, "rows.csv", "-o", "rows.txt")
    )


def test_lock_check_accepts_recorded_files_and_names_unrecorded_ones(tmp_path):
    good = tmp_path / "a.bin"
    good.write_bytes(b"abc")
    lock = tmp_path / "dvc.lock"
    lock.write_text(f"schema: '2.0'\nstages:\n  s:\n    outs:\n    - path: {good.as_posix()}\n"
                    f"      md5: {predict.file_md5(good)}\n")  # fmt: skip
    predict.check_artifacts_match_lock([good], lock)
    other = tmp_path / "b.bin"
    other.write_bytes(b"x")
    with pytest.raises(UserError, match="records no"):
        predict.check_artifacts_match_lock([other], lock)
    with pytest.raises(UserError, match="not found; run `dvc repro` \\(it restores"):
        predict.check_artifacts_match_lock([tmp_path / "missing.bin"], lock)
