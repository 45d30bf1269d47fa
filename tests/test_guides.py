"""The guides' walkthroughs (docs/*.md), block by block, on a fresh clone (what git holds at
HEAD) after the README's `dvc repro`: each command read from its page and run through bash as
printed, with the outcomes and the lines of output the page shows, so a block that no longer
runs as printed, or prints something else, fails here.

Host-independent: each section checks that it leaves git and the artifacts as the fresh clone's
repro left them. On x86-64 that repro leaves git clean (train.numerics portable; test_pipeline
checks it); where train's bytes differ from the lock's (another architecture, or .ci/run's
--lock-from-another-host) the walk starts from this host's run, committed.
"""

import csv
import json
import re
import shutil
import sys
from collections import Counter

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
from .docs_pages import Shown, block_of

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


# the lines a page's output shows that a run must print again: the stages' own lines and DVC's
# verdict on each stage (an experiment's random name, git's chatter and timings are not compared)
_COMPARED = re.compile(
    r"^(prepare|split|scale|train|evaluate|predict|error): |^Running stage '|^Stage '|^ERROR: "
)


def _compared(lines) -> Counter:
    kept = (re.sub(r" in \d+\.\d+ s;", " in X s;", line.rstrip()) for line in lines)
    return Counter(line for line in kept if _COMPARED.match(line))


def run_as_printed(walk: Project, item: Shown, exact: bool = False, fails: bool = False):
    """Run a printed command in the walk; its output must hold the page's stage and DVC lines
    (all of them, and no others, unless the page elides with `...`), or with `exact` be the
    page's output line for line (a `dvc metrics diff`'s rows in any order: DVC lists the files
    in either order). `fails`: the page shows it failing."""
    done = walk.sh(item.command, check=not fails)
    if fails:
        assert done.returncode != 0, f"`{item.command}` succeeded; the page shows it failing"
    printed = list(item.output)
    if not printed and not exact:  # the page shows the command, not what it prints
        return done
    if exact:
        got_lines = done.stdout.rstrip("\n").splitlines()
        if item.command.startswith("dvc metrics diff"):
            got_lines, printed = got_lines[:1] + sorted(got_lines[1:]), printed[:1] + sorted(printed[1:])
        assert got_lines == printed, item.command
        return done
    shown, got = _compared(printed), _compared((done.stdout + done.stderr).splitlines())
    if "..." in printed:
        assert not shown - got, f"`{item.command}` did not print: {sorted(shown - got)}"
    else:
        assert shown == got, f"`{item.command}`: {sorted(got - shown)} printed, not {sorted(shown - got)}"
    return done


def state(project: Project) -> dict[str, object]:
    """What a section must leave as it found it: git's view, the recorded files, the outputs."""
    return {
        "git": project.git("status", "--porcelain").stdout,
        **{name: project.path(name).read_bytes() for name in RECORDED + OUTPUTS},
    }


def test_an_experiment_and_the_way_back(walk):
    before = state(walk)
    (run,) = block_of("docs/experiments.md", "dvc exp run -S train.epochs=20")
    done = run_as_printed(walk, run)
    assert stages_ran(done) == ["train", "evaluate"]
    assert json.loads(walk.path("metrics/train.json").read_text())["epochs_run"] == 20
    assert walk.path("metrics/train.json").read_bytes() != before["metrics/train.json"]
    rows = list(exp_rows(json.loads(walk.dvc("exp", "show", "--json").stdout)))
    experiments = [data for name, data in rows if name and data["rev"] != "workspace"]
    assert any(
        row["params"]["params.yaml"]["data"]["train"]["epochs"] == 20
        and row["metrics"]["metrics/train.json"]["data"]["epochs_run"] == 20
        for row in experiments
    ), experiments
    # the way back, as printed: the committed params' outputs return from the cache
    (back,) = block_of("docs/experiments.md", "git checkout . && dvc repro")
    run_as_printed(walk, back)
    assert state(walk) == before
    assert "up to date" in walk.dvc("status").stdout

    # the tutorial's linear stack as an experiment, the table of both, and back
    linear, show, back = block_of("docs/experiments.md", "dvc exp run -S train.model=mlp")
    assert stages_ran(run_as_printed(walk, linear)) == ["train", "evaluate"]
    shown = walk.sh(show.command).stdout
    header = [line.split() for line in show.output if "Experiment" in line]
    assert header and header[0] == shown.splitlines()[1].split(), shown
    for line in show.output:  # every row the page shows, but the experiments' names and commits
        if line.lstrip().startswith(("workspace", "main")):
            assert line.split() in [row.split() for row in shown.splitlines()], (line, shown)
    assert walk.sh(back.command).returncode == 0
    assert state(walk) == before


def test_params_mistakes_are_one_line_and_change_nothing(walk):
    before = state(walk)
    params = walk.path("params.yaml").read_text()
    (typo,) = block_of("docs/params.md", "dvc exp run -S train.epoch=5")
    done = walk.sh(typo.command, check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == list(typo.output)
    assert walk.path("params.yaml").read_text() == params
    assert state(walk) == before
    (bad,) = block_of("docs/params.md", "dvc exp run -S train.epochs=-5")
    run_as_printed(walk, bad, fails=True)
    walk.git("checkout", ".")
    assert walk.repro() == []
    assert state(walk) == before
    # DVC's hint adds the key; the stage then refuses it with the project's own line
    done = walk.dvc("exp", "run", "-S", "+train.epoch=5", check=False)
    assert done.returncode != 0
    line = "error: params.yaml: unknown key train.epoch; allowed keys in train: model, seed, epochs"
    assert line in done.stderr
    assert line in " ".join((REPO / "docs/params.md").read_text().split())


def test_a_branch_and_metrics_diff(walk):
    steps = block_of("docs/experiments.md", "git checkout -b linear")
    assert [s.command.split()[:3] for s in steps] == [
        ["git", "checkout", "-b"], ["dvc", "exp", "run"], ["git", "add", "-A"], ["dvc", "metrics", "diff"],
        ["git", "checkout", "main"],
    ]  # fmt: skip
    branch, linear, commit, diff, back = steps
    # the reader ran this experiment in the section before (so the page shows it cached)
    before, _, way_back = block_of("docs/experiments.md", "dvc exp run -S train.model=mlp")
    assert before.command == linear.command.split("#")[0].strip() or before.command.startswith(linear.command)
    walk.sh(before.command)
    walk.sh(way_back.command)
    walk.sh(branch.command)
    run_as_printed(walk, linear)
    walk.sh(commit.command)
    run_as_printed(walk, diff, exact=True)
    # the evaluation views overlay the two revisions in one page, with our templates
    done = walk.dvc("plots", "diff", "main", "linear", "-o", "../plots_diff")
    page = (walk.root.parent / "plots_diff" / "index.html").read_text()
    for title in ("ROC curves", "Precision-recall curves", "Reliability", "Permutation importance"):
        assert title in page, done.stdout
    assert '"rev": "linear"' in page or '"rev":"linear"' in page
    # and back: the branch's artifacts are in the cache, so checkout restores main's
    run_as_printed(walk, back)
    assert "up to date" in walk.dvc("status").stdout


def test_plots_show_leaves_nothing_for_git(walk):
    before = state(walk)
    show, listing = block_of("docs/evaluation.md", "dvc plots show")
    done = walk.sh(show.command)
    assert done.stdout.strip().endswith("dvc_plots/index.html")
    run_as_printed(walk, listing, exact=True)
    assert state(walk) == before


def test_the_recipe_a_run_records(walk):
    (recipe,) = block_of("docs/model.md", "python -c")
    run_as_printed(walk, recipe, exact=True)


def test_predictions_on_the_shipped_rows(walk):
    before = state(walk)
    rows_in, predict, rows_out = block_of("docs/predictions.md", "cat examples/iris_new_rows.csv")
    run_as_printed(walk, rows_in, exact=True)
    done = run_as_printed(walk, predict)
    assert done.stderr.strip() == "predict: 4 rows -> predictions/iris.csv"
    run_as_printed(walk, rows_out, exact=True)
    with walk.path("predictions/iris.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["predicted"] for row in rows] == ["setosa", "setosa", "virginica", "setosa"]
    assert state(walk) == before


def test_the_shipped_example_table_is_the_fixture(tmp_path):
    write_table(customers_example(), tmp_path / "customers.csv")
    assert (REPO / "examples/customers.csv").read_bytes() == (tmp_path / "customers.csv").read_bytes()


def test_your_own_table_on_a_branch_and_back_to_iris(walk):
    before = state(walk)
    steps = block_of("docs/your-own-table.md", "git checkout -b customers")
    branch, copy, head, add, stage, refused, run, commit = steps
    for step in (branch, copy):
        walk.sh(step.command)
    run_as_printed(walk, head, exact=True)
    done = walk.sh(add.command)
    (hint,) = [line.split() for line in done.stdout.splitlines() if line.strip().startswith("git add")]
    assert sorted(hint[2:]) == sorted(stage.command.split()[2:])  # in either order
    walk.sh(stage.command)
    done = run_as_printed(walk, refused, fails=True)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: data/raw/customers.csv: target column 'status' is empty in 1 of 400 rows; "
        "fill them in, or set prepare.missing_target: drop"
    ]
    done = run_as_printed(walk, run)
    assert stages_ran(done) == ["prepare", "split", "scale", "train", "evaluate"]
    report = json.loads(walk.path("metrics/eval.json").read_text())
    assert set(report["per_class"]) == {"at risk", "churned", "loyal"}
    walk.sh(commit.command)
    assert walk.git("status", "--porcelain").stdout == ""
    # back to Iris, as printed: the table stays behind (DVC leaves another branch's data), so
    # it is removed; the rest returns from the run-cache
    steps = block_of("docs/your-own-table.md", "git checkout main && rm data/raw/customers.csv")
    back, status, dvc_status = steps
    done = run_as_printed(walk, back)
    assert stages_ran(done) == []
    run_as_printed(walk, status, exact=True)
    run_as_printed(walk, dvc_status, exact=True)
    assert state(walk) == before


def test_a_team_shares_the_recorded_artifacts_through_a_remote(walk, tmp_path):
    store = tmp_path / "dvc-store"  # the page's /srv/dvc-store
    add, push, commit = block_of("docs/remote.md", "dvc remote add -d team /srv/dvc-store")
    walk.sh(add.command.replace("/srv/dvc-store", str(store)))
    walk.sh(push.command)
    walk.sh(commit.command.split(" && git push")[0])  # the walk's repo has no git remote to push to
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
    """The Regression guide, with what it says of the views, predict and reproducibility."""
    before = state(walk)
    branch, run, report_file, commit, diff = block_of("docs/regression.md", "git checkout -b diabetes")
    walk.sh(branch.command)
    done = run_as_printed(walk, run)
    assert stages_ran(done) == ["prepare", "split", "scale", "train", "evaluate"]
    assert "split: stratified on 10 quantile bin(s) of the target" in done.stdout + done.stderr
    run_as_printed(walk, report_file, exact=True)
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

    walk.sh(commit.command)
    done = run_as_printed(walk, diff, exact="..." not in diff.output)
    missing = {line for line in diff.output if line != "..."} - set(done.stdout.splitlines())
    assert not missing, sorted(missing)
    as_json = json.loads(walk.dvc("metrics", "diff", "main", "diabetes", "--json").stdout)[
        "metrics/eval.json"
    ]
    assert as_json["accuracy"]["new"] is None and as_json["r2"]["old"] is None
    assert as_json["r2"]["new"] == report["r2"] and as_json["rmse"]["new"] == report["rmse"]

    # experiments on the branch; [] after [16,8]: params.yaml stays valid YAML
    steps = block_of("docs/regression.md", "dvc exp run -S train.loss=huber")
    *experiments, back, show, rows_in, predict, rows_out, to_main = steps
    for step in experiments:
        assert stages_ran(walk.sh(step.command)) == ["train", "evaluate"], step.command
    assert walk.sh(back.command).returncode == 0
    shown = walk.sh(show.command).stdout
    assert "[16, 8]" in shown and "[]" in shown and "huber" in shown
    for line in show.output:  # the workspace's and the branch's rows, as printed
        if line.lstrip().startswith(("workspace", "diabetes")):
            assert line.split() in [row.split() for row in shown.splitlines()], (line, shown)

    # predict writes the predicted value, in the target's units, as evaluate scored it
    run_as_printed(walk, rows_in, exact=True)
    done = run_as_printed(walk, predict)
    assert done.stderr.strip() == "predict: 4 rows -> predictions/diabetes.csv"
    run_as_printed(walk, rows_out, exact=True)
    predicted = [float(row["predicted"]) for row in read_csv(walk.path("predictions/diabetes.csv"))]
    # the file holds the test split's first four rows, whose targets the guide quotes
    assert [float(r["actual"]) for r in scatter[:4]] == [225.0, 263.0, 283.0, 156.0]
    np.testing.assert_allclose(predicted, [float(r["predicted"]) for r in scatter[:4]], rtol=1e-6)
    walk.path("predictions/diabetes.csv").unlink()

    # and back to Iris, as printed
    run_as_printed(walk, to_main)
    assert state(walk) == before
