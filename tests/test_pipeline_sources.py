"""Other sources through the real DVC CLI: a messy CSV tracked with `dvc add`, bundled sets."""

import csv
import json
import sys

import pytest

from .conftest import mixed_table, write_table

pytestmark = pytest.mark.slow


def use_table(project, table, name="customers.csv"):
    write_table(table, project.path(f"data/raw/{name}"))
    project.dvc("add", f"data/raw/{name}")
    project.set_param("prepare", "source", f"data/raw/{name}")
    project.set_param("prepare", "target", "status")
    project.set_param("prepare", "drop", "[customer_id]")


def test_csv_source_with_categoricals_and_missing_values_end_to_end(project):
    use_table(project, mixed_table(rows=240))
    assert project.repro() == ["prepare", "split", "scale", "train", "evaluate"]
    report = json.loads(project.path("metrics/eval.json").read_text())
    assert set(report["per_class"]) == {"at risk", "churned", "loyal"}
    assert report["accuracy"] > 0.6  # three classes; chance is about 0.33
    with project.path("metrics/confusion.csv").open() as handle:
        assert {row["actual"] for row in csv.DictReader(handle)} == {"at risk", "churned", "loyal"}

    # New rows: no target, an unseen city, a missing plan, an id column to ignore.
    new = mixed_table(rows=5, seed=9)
    del new["status"]
    new["city"][0] = "Quito"
    new["plan"][1] = None
    write_table(new, project.path("new.csv"))
    done = project.run(sys.executable, "-m", "stages.predict", "new.csv", "-o", "pred.csv")
    assert "ignoring column(s) the model does not use: customer_id" in done.stderr
    with project.path("pred.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and set(rows[0]) == {"predicted", "p_at risk", "p_churned", "p_loyal"}

    # Editing the tracked table reruns prepare.
    use_table(project, mixed_table(rows=240, seed=1))
    assert project.repro()[0] == "prepare"


def test_a_bad_table_stops_prepare_with_one_line(project):
    table = mixed_table()
    table["status"][3] = None
    use_table(project, table)
    done = project.dvc("repro", check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert line == (
        "error: data/raw/customers.csv: target column 'status' is empty in 1 of 150 rows; "
        "fill them in, or set prepare.missing_target: drop"
    )
    project.set_param("prepare", "missing_target", "drop")
    assert project.repro() == ["prepare", "split", "scale", "train", "evaluate"]


@pytest.mark.parametrize(("source", "n_classes"), [("wine", 3), ("breast_cancer", 2), ("digits", 10)])
def test_each_bundled_source_runs(project, source, n_classes):
    project.set_param("prepare", "source", source)
    assert project.repro() == ["prepare", "split", "scale", "train", "evaluate"]
    report = json.loads(project.path("metrics/eval.json").read_text())
    assert len(report["per_class"]) == n_classes
    assert report["accuracy"] > 0.85


def test_parquet_source_end_to_end(project):
    use_table(project, mixed_table(rows=240), name="customers.parquet")
    assert project.repro() == ["prepare", "split", "scale", "train", "evaluate"]
    report = json.loads(project.path("metrics/eval.json").read_text())
    assert set(report["per_class"]) == {"at risk", "churned", "loyal"}
