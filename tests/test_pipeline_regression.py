"""Regression through the real DVC CLI: the bundled diabetes set, a table's numeric column."""

import csv
import json
import sys

import numpy as np
import pytest

from stages import artifacts

from .conftest import mixed_table, write_table

pytestmark = pytest.mark.slow

REGRESSION_VIEWS = ("predicted_actual", "residuals")
CLASSIFICATION_VIEWS = ("calibration", "confusion", "precision_recall", "roc")


def read_csv(path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_diabetes_end_to_end_reproducible_predictable_and_diffable_against_classification(project):
    assert project.git("status", "--porcelain").stdout == ""  # HEAD: Iris, classification
    project.set_param("prepare", "task", "regression")
    project.set_param("prepare", "source", "diabetes")
    assert project.repro() == ["prepare", "split", "scale", "train", "evaluate"]
    report = json.loads(project.path("metrics/eval.json").read_text())
    assert list(report) == ["rmse", "mae", "r2", "loss"]
    assert report["r2"] > 0.35 and report["rmse"] < 65  # the target spans 25-346; its std is 77
    history = read_csv(project.path("metrics/history.csv"))
    assert list(history[0]) == ["epoch", "train_loss", "train_rmse", "val_loss", "val_rmse"]
    assert set(json.loads(project.path("metrics/train.json").read_text())) >= {"train_rmse", "val_rmse"}

    # the views: this task's filled (every test row: 44 of 442), the other task's header only
    scatter = read_csv(project.path("metrics/predicted_actual.csv"))
    assert len(scatter) == 44
    residuals = read_csv(project.path("metrics/residuals.csv"))
    for point, residual in zip(scatter, residuals, strict=True):
        assert float(residual["residual"]) == pytest.approx(
            float(point["actual"]) - float(point["predicted"]), abs=2e-6
        )
    for name in CLASSIFICATION_VIEWS:
        assert project.path(f"metrics/{name}.csv").read_text().count("\n") == 1
    pngs = sorted(p.stem for p in project.path("metrics/plots").iterdir())
    assert pngs == ["importance", "predicted_actual", "residuals", "training"]
    shown = json.loads(project.dvc("plots", "show", "--json").stdout)
    assert not shown.get("errors")
    drawn = {name for name, plots in shown["data"].items() if plots}
    assert drawn == {f"metrics/{v}.csv" for v in (*REGRESSION_VIEWS, "importance", "history")} | {
        f"metrics/plots/{p}.png" for p in pngs
    }
    (curves,) = shown["data"]["metrics/history.csv"]
    assert {"train_rmse", "val_rmse"} <= set(curves["content"]["data"]["values"][0])

    # predict on the raw test rows gives evaluate's predictions, in the target's units
    split = artifacts.read_npz(project.path(str(artifacts.SPLIT["test"])))
    with project.path("rows.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(split["feature_names"].tolist())
        writer.writerows([[repr(float(v)) for v in row] for row in split["features"]])
    project.run(sys.executable, "-m", "stages.predict", "rows.csv", "-o", "out.csv")
    predicted = read_csv(project.path("out.csv"))
    assert list(predicted[0]) == ["predicted"]
    np.testing.assert_allclose(
        [float(r["predicted"]) for r in predicted], [float(r["predicted"]) for r in scatter], rtol=1e-6
    )
    np.testing.assert_array_equal([float(r["actual"]) for r in scatter], split["labels"])

    # byte-identical on a forced rerun
    before = project.lock_md5s()
    assert project.repro("-f") == ["prepare", "split", "scale", "train", "evaluate"]
    assert project.lock_md5s() == before

    # dvc metrics diff between the classification commit and this one
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "diabetes regression")
    diff = json.loads(project.dvc("metrics", "diff", "HEAD~1", "HEAD", "--json").stdout)["metrics/eval.json"]
    assert diff["accuracy"]["new"] is None and diff["accuracy"]["old"] > 0.9
    assert diff["r2"]["old"] is None and diff["r2"]["new"] == report["r2"]
    assert diff["rmse"]["new"] == report["rmse"]


def test_exp_run_turns_a_table_source_into_a_regression(project):
    write_table(mixed_table(rows=300), project.path("data/raw/customers.csv"))
    project.dvc("add", "data/raw/customers.csv")
    project.set_param("prepare", "source", "data/raw/customers.csv")
    project.set_param("prepare", "target", "status")
    project.set_param("prepare", "drop", "[customer_id]")
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "customers: classify status")
    done = project.dvc(
        "exp", "run", "-n", "spend", "-S", "prepare.task=regression", "-S", "prepare.target=spend",
        "-S", "prepare.missing_target=drop",
    )  # fmt: skip
    assert "Running stage 'evaluate'" in done.stdout
    shown = project.dvc("exp", "show", "--json").stdout
    assert '"r2"' in shown and '"spend"' in shown
    report = json.loads(project.path("metrics/eval.json").read_text())
    assert report["r2"] > 0.3  # spend is 40 higher for the pro plan, with noise of std 15
    config = json.loads(json.dumps(artifacts.read_torch(project.path("models/model.pt"))["config"]))
    assert config["task"] == "regression" and config["target_name"] == "spend" and config["n_outputs"] == 1
    assert config["input_categorical"] == ["city", "plan", "status"]

    # a classification loss on a regression task: one line, nothing half-written (DVC deletes a
    # stage's outs before running it: model.pt is gone or whole, and `dvc checkout` restores it)
    before = project.lock_md5s()
    model = project.path("models/model.pt").read_bytes()
    project.set_param("train", "loss", "cross_entropy")
    done = project.dvc("repro", check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert line == (
        "error: params.yaml: train.loss = cross_entropy is not a regression loss, and the data is a "
        "regression task (prepare.task); train.loss must be one of auto, mse, huber"
    )
    path = project.path("models/model.pt")
    assert (not path.exists() or path.read_bytes() == model) and project.lock_md5s() == before
    assert not list(project.root.rglob(".*.tmp"))
    project.set_param("train", "loss", "huber")
    assert project.repro() == ["train", "evaluate"]
    assert json.loads(project.path("metrics/eval.json").read_text())["r2"] > 0.3
