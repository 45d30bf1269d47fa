"""The README's walkthrough, section by section, on a fresh clone (what git holds at HEAD) after
its `dvc repro`: each command as printed, with the outcomes the README shows.

Host-independent: each section checks that it leaves git and the artifacts as the fresh clone's
repro left them. On x86-64 that repro leaves git clean (train.numerics portable; test_pipeline
checks it); where train's bytes differ from the lock's (another architecture, or .ci/run's
--lock-from-another-host) the walk starts from this host's run, committed.
"""

import csv
import json
import shutil
import sys

import numpy as np
import pytest

from .conftest import (
    REPO,
    Project,
    commit_this_hosts_run,
    customers_example,
    exp_rows,
    read_csv,
    stages_ran,
    write_table,
)

pytestmark = pytest.mark.slow

OUTPUTS = ("models/model.pt", "models/scaler.joblib", "data/scaled/test.npz")
RECORDED = ("dvc.lock", "metrics/train.json", "metrics/eval.json", "metrics/history.csv")


@pytest.fixture(scope="session")
def walked(fresh_built, tmp_path_factory) -> Project:
    root = tmp_path_factory.mktemp("walked") / "repo"
    shutil.copytree(fresh_built[0].root, root, symlinks=True)
    project = Project(root)
    commit_this_hosts_run(project)
    return project


@pytest.fixture
def walk(walked, tmp_path) -> Project:
    root = tmp_path / "repo"
    shutil.copytree(walked.root, root, symlinks=True)
    return Project(root)


def state(project: Project) -> dict[str, object]:
    """What a section must leave as it found it: git's view, the recorded files, the outputs."""
    return {
        "git": project.git("status", "--porcelain").stdout,
        **{name: project.path(name).read_bytes() for name in RECORDED + OUTPUTS},
    }


def test_an_experiment_and_the_way_back(walk):
    before = state(walk)
    done = walk.dvc("exp", "run", "-S", "train.epochs=20")
    assert stages_ran(done) == ["train", "evaluate"]
    assert json.loads(walk.path("metrics/train.json").read_text())["epochs_run"] == 20
    assert walk.path("metrics/train.json").read_bytes() != before["metrics/train.json"]
    shown = walk.dvc("exp", "show", "--no-pager", "--drop", ".*", "--keep", "Experiment|epochs_run")
    assert "20" in shown.stdout
    rows = list(exp_rows(json.loads(walk.dvc("exp", "show", "--json").stdout)))
    experiments = [data for name, data in rows if name and data["rev"] != "workspace"]
    assert any(
        row["params"]["params.yaml"]["data"]["train"]["epochs"] == 20
        and row["metrics"]["metrics/train.json"]["data"]["epochs_run"] == 20
        for row in experiments
    ), experiments
    # the way back, as printed: the committed params' outputs return from the cache
    walk.git("checkout", ".")
    assert walk.repro() == []
    assert state(walk) == before
    assert "up to date" in walk.dvc("status").stdout


def test_a_typo_in_a_set_param_key_is_dvcs_error_and_changes_nothing(walk):
    before = state(walk)
    params = walk.path("params.yaml").read_text()
    done = walk.dvc("exp", "run", "-S", "train.epoch=5", check=False)
    assert done.returncode != 0
    assert "train.epoch" in done.stderr and "Traceback" not in done.stderr
    assert walk.path("params.yaml").read_text() == params
    assert state(walk) == before
    # DVC's hint adds the key; the stage then refuses it with the project's own line
    done = walk.dvc("exp", "run", "-S", "+train.epoch=5", check=False)
    assert done.returncode != 0
    line = "error: params.yaml: unknown key train.epoch; allowed keys in train: model, seed, epochs"
    assert line in done.stderr


def test_a_branch_and_metrics_diff(walk):
    walk.git("checkout", "-q", "-b", "linear")
    done = walk.dvc(
        "exp", "run", "-S", "train.model=mlp", "-S", "train.activation=none", "-S", "train.hidden=[16,8]"
    )
    assert stages_ran(done) == ["train", "evaluate"]
    walk.git("add", "-A")
    walk.git("commit", "-qm", "linear stack, as the tutorial")
    diff = walk.dvc("metrics", "diff", "main", "linear").stdout
    assert "metrics/train.json  epochs_run" in diff and "metrics/train.json  best_epoch" in diff
    assert "metrics/eval.json   log_loss" in diff and "metrics/eval.json   brier" in diff
    # the evaluation views overlay the two revisions in one page, with our templates
    done = walk.dvc("plots", "diff", "main", "linear", "-o", "../plots_diff")
    page = (walk.root.parent / "plots_diff" / "index.html").read_text()
    for title in ("ROC curves", "Precision-recall curves", "Reliability", "Permutation importance"):
        assert title in page, done.stdout
    assert '"rev": "linear"' in page or '"rev":"linear"' in page
    # and back: the branch's artifacts are in the cache, so checkout restores main's
    walk.git("checkout", "-q", "main")
    assert walk.repro() == []
    assert "up to date" in walk.dvc("status").stdout


def test_plots_show_leaves_nothing_for_git(walk):
    before = state(walk)
    done = walk.dvc("plots", "show")
    assert done.stdout.strip().endswith("dvc_plots/index.html")
    assert sorted(p.name for p in walk.path("dvc_plots/static").iterdir()) == [
        f"workspace_metrics_plots_{name}.png"
        for name in ("calibration", "confusion", "importance", "precision_recall", "roc", "training")
    ]
    assert state(walk) == before


def test_predictions_on_the_shipped_rows(walk):
    before = state(walk)
    rows_in, rows_out = "examples/iris_new_rows.csv", "predictions/iris.csv"
    done = walk.run(sys.executable, "-m", "stages.predict", rows_in, "-o", rows_out)
    assert done.stderr.strip() == "predict: 4 rows -> predictions/iris.csv"
    with walk.path("predictions/iris.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["predicted"] for row in rows] == ["setosa", "setosa", "virginica", "setosa"]
    assert list(rows[0]) == ["predicted", "p_setosa", "p_versicolor", "p_virginica"]
    assert state(walk) == before


def test_the_shipped_example_table_is_the_fixture(tmp_path):
    write_table(customers_example(), tmp_path / "customers.csv")
    assert (REPO / "examples/customers.csv").read_bytes() == (tmp_path / "customers.csv").read_bytes()


def test_your_own_table_on_a_branch_and_back_to_iris(walk):
    before = state(walk)
    walk.git("checkout", "-q", "-b", "customers")
    shutil.copy(walk.path("examples/customers.csv"), walk.path("data/raw/customers.csv"))
    done = walk.dvc("add", "data/raw/customers.csv")
    (hint,) = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("git add")]
    assert sorted(hint[2:]) == ["data/raw/.gitignore", "data/raw/customers.csv.dvc"]  # in either order
    walk.git("add", "data/raw/.gitignore", "data/raw/customers.csv.dvc")
    use = ["-S", "prepare.source=data/raw/customers.csv", "-S", "prepare.target=status"]
    use += ["-S", "prepare.drop=[customer_id]"]
    done = walk.dvc("exp", "run", *use, check=False)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: data/raw/customers.csv: target column 'status' is empty in 1 of 400 rows; "
        "fill them in, or set prepare.missing_target: drop"
    ]
    done = walk.dvc("exp", "run", *use, "-S", "prepare.missing_target=drop")
    assert stages_ran(done) == ["prepare", "split", "scale", "train", "evaluate"]
    report = json.loads(walk.path("metrics/eval.json").read_text())
    assert set(report["per_class"]) == {"at risk", "churned", "loyal"}
    walk.git("add", "-A")
    walk.git("commit", "-qm", "customers table")
    assert walk.git("status", "--porcelain").stdout == ""
    # back to Iris, as printed: the table stays behind (DVC leaves another branch's data), so
    # it is removed; the rest returns from the run-cache
    walk.git("checkout", "-q", "main")
    walk.path("data/raw/customers.csv").unlink()
    assert walk.repro() == []
    assert state(walk) == before


def test_a_team_shares_the_recorded_artifacts_through_a_remote(walk, tmp_path):
    store = tmp_path / "dvc-store"  # a shared folder; the README's /srv/dvc-store
    walk.dvc("remote", "add", "-d", "team", str(store))
    walk.dvc("push")
    walk.git("commit", "-qam", "team remote")
    teammate = Project(tmp_path / "teammate")
    walk.run("git", "clone", "-q", str(walk.root), str(teammate.root))
    teammate.dvc("pull")
    for name in OUTPUTS:
        assert teammate.path(name).read_bytes() == walk.path(name).read_bytes(), name
    assert "up to date" in teammate.dvc("status").stdout
    assert teammate.repro() == []
    done = teammate.run(sys.executable, "-m", "stages.predict", "examples/iris_new_rows.csv", "-o", "p.csv")
    assert done.returncode == 0, done.stderr


def test_regression_on_a_branch_and_back(walk):
    """The Regression section, with what it says of the views, predict and reproducibility."""
    before = state(walk)
    walk.git("checkout", "-q", "-b", "diabetes")
    done = walk.dvc("exp", "run", "-S", "prepare.task=regression", "-S", "prepare.source=diabetes")
    assert stages_ran(done) == ["prepare", "split", "scale", "train", "evaluate"]
    assert "split: stratified on 10 quantile bin(s) of the target" in done.stdout + done.stderr
    report = json.loads(walk.path("metrics/eval.json").read_text())
    assert list(report) == ["rmse", "mae", "r2", "loss"]
    assert report["r2"] > 0.35 and report["rmse"] < 65  # the target spans 25-346, std 77
    history = read_csv(walk.path("metrics/history.csv"))
    assert list(history[0]) == ["epoch", "train_loss", "train_rmse", "val_loss", "val_rmse"]

    # the views: this task's filled (every test row: 44 of 442), the other task's header only
    scatter = read_csv(walk.path("metrics/predicted_actual.csv"))
    residuals = read_csv(walk.path("metrics/residuals.csv"))
    assert len(scatter) == len(residuals) == 44
    for point, residual in zip(scatter, residuals, strict=True):
        error = float(point["actual"]) - float(point["predicted"])
        assert float(residual["residual"]) == pytest.approx(error, abs=2e-6)
    for name in ("calibration", "confusion", "precision_recall", "roc"):
        assert walk.path(f"metrics/{name}.csv").read_text().count("\n") == 1
    pngs = sorted(p.stem for p in walk.path("metrics/plots").iterdir())
    assert pngs == ["importance", "predicted_actual", "residuals", "training"]
    shown = json.loads(walk.dvc("plots", "show", "--json").stdout)
    assert not shown.get("errors")
    drawn = {name for name, plots in shown["data"].items() if plots}
    csvs = ("predicted_actual", "residuals", "importance", "history")
    assert drawn == {f"metrics/{v}.csv" for v in csvs} | {f"metrics/plots/{p}.png" for p in pngs}

    # byte-identical on a forced rerun
    recorded = walk.lock_md5s()
    assert walk.repro("-f") == ["prepare", "split", "scale", "train", "evaluate"]
    assert walk.lock_md5s() == recorded

    walk.git("add", "-A")
    walk.git("commit", "-qm", "diabetes: a regression")
    diff = walk.dvc("metrics", "diff", "main", "diabetes").stdout
    for line in ("metrics/eval.json   accuracy", "metrics/eval.json   r2", "metrics/train.json  val_rmse"):
        assert line in diff
    as_json = json.loads(walk.dvc("metrics", "diff", "main", "diabetes", "--json").stdout)[
        "metrics/eval.json"
    ]
    assert as_json["accuracy"]["new"] is None and as_json["r2"]["old"] is None
    assert as_json["r2"]["new"] == report["r2"] and as_json["rmse"]["new"] == report["rmse"]

    # experiments on the branch; [] after [16,8]: params.yaml stays valid YAML (see its comment)
    for value in ("train.hidden=[16,8]", "train.hidden=[]"):
        assert stages_ran(walk.dvc("exp", "run", "-S", "train.model=mlp", "-S", value)) == [
            "train",
            "evaluate",
        ]
    walk.git("checkout", ".")
    assert walk.repro() == []
    shown = walk.dvc(
        "exp", "show", "--no-pager", "--drop", ".*", "--keep", "Experiment|^r2$|train.hidden"
    ).stdout
    assert "[16, 8]" in shown and "[]" in shown

    # predict writes the predicted value, in the target's units, as evaluate scored it
    rows_in, rows_out = "examples/diabetes_new_rows.csv", "predictions/diabetes.csv"
    done = walk.run(sys.executable, "-m", "stages.predict", rows_in, "-o", rows_out)
    assert done.stderr.strip() == "predict: 4 rows -> predictions/diabetes.csv"
    predicted = [float(row["predicted"]) for row in read_csv(walk.path(rows_out))]
    assert list(read_csv(walk.path(rows_out))[0]) == ["predicted"]
    # the file holds the test split's first four rows, whose targets the README quotes
    assert [float(r["actual"]) for r in scatter[:4]] == [225.0, 263.0, 283.0, 156.0]
    np.testing.assert_allclose(predicted, [float(r["predicted"]) for r in scatter[:4]], rtol=1e-6)
    walk.path(rows_out).unlink()

    # and back to Iris, as printed
    walk.git("checkout", "-q", "main")
    assert walk.repro() == []
    assert state(walk) == before
