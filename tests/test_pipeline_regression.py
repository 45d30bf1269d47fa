"""Regression through the real DVC CLI on a table's numeric column (the bundled diabetes set:
test_readme's walkthrough of the README's Regression section)."""

import json

import pytest

from stages import artifacts

from .conftest import mixed_table, write_table

pytestmark = pytest.mark.slow


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
