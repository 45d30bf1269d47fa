"""`python -m stages.tune`: the space's units and the study's bookkeeping (an in-memory Optuna
study), then a real search on the sweep's local Ray: 6 trials at 2 at once, a Ctrl-C, a resume."""

import csv
import glob
import io
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from typing import Literal

import optuna
import pytest
import yaml

from stages import tune
from stages.errors import UserError

from .conftest import REPO, exp_rows, project_env, share

COMMITTED = yaml.safe_load((REPO / "params.yaml").read_text())


def test_the_space_is_hydras_grammar_as_optuna_distributions():
    space = tune.parse_space(
        [
            "train.lr=tag(log, interval(1e-4, 1e-2))",
            "train.dropout=interval(0, 0.3)",
            "train.epochs=int(interval(50, 300))",
            "train.k=range(2, 10, 2)",  # 2, 4, 6, 8: b left out, as Python's range
            "train.batch_size=int(tag(log, interval(16, 512)))",
            "train.hidden=choice([64, 64], [256, 256, 256])",
            "train.optimizer=adam,adamw",
            "train.model=mlp",  # fixed for every trial
        ],
        COMMITTED,
    )
    d = optuna.distributions
    assert space.distributions == {
        "train.lr": d.FloatDistribution(1e-4, 1e-2, log=True),
        "train.dropout": d.FloatDistribution(0.0, 0.3),
        "train.epochs": d.IntDistribution(50, 300),
        "train.k": d.IntDistribution(2, 8, step=2),
        "train.batch_size": d.IntDistribution(16, 512, log=True),
        "train.hidden": d.CategoricalDistribution(["[64,64]", "[256,256,256]"]),
        "train.optimizer": d.CategoricalDistribution(["adam", "adamw"]),
    }
    assert space.fixed == ("train.model=mlp",)
    assert tune.shown(
        ("train.lr=0.00123456789", "train.epochs=60", "train.hidden=[64,64]", "train.model=mlp")
    ) == ("train.lr=0.001235 train.epochs=60 train.hidden=[64,64] train.model=mlp")
    chosen = {"train.lr": 0.00123456789, "train.dropout": 0.1, "train.epochs": 60, "train.k": 4,
              "train.batch_size": 32, "train.hidden": "[64,64]", "train.optimizer": "adamw"}  # fmt: skip
    overrides = space.overrides(chosen)
    assert overrides[0] == "train.lr=0.00123456789" and overrides[-1] == "train.model=mlp"
    # each -S reads back (as YAML, the way DVC writes params.yaml) to the sampled value
    for override in overrides[:-1]:
        key, _, text = override.partition("=")
        wanted = chosen[key]
        assert yaml.safe_load(text) == (yaml.safe_load(str(wanted)) if key == "train.hidden" else wanted)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("train.lrr=interval(0.1, 1)", "unknown key train.lrr; keys of train: model, seed,"),
        ("trian.lr=interval(0.1, 1)", "no section 'trian' in params.yaml"),
        ("train.lr=interval(0, 0.1)", "train.lr = 0.0 is not allowed; train.lr must be auto or a number > 0"),
        ("train.lr=tag(log, interval(0, 0.1))", "a log scale needs a > 0"),
        ("train.lr=interval(0.1, 0.01)", "interval(a, b) needs a < b"),
        (
            "train.epochs=interval(5, 50)",
            "must be auto or an integer; write int(interval(a, b)) for an integer",
        ),
        ("train.epochs=int(interval(0, 50))", "train.epochs = 0 is not allowed; train.epochs must be >= 1"),
        ("train.k=range(4, 4)", "range(a, b) is empty"),
        ("train.optimizer=choice(adam, rmsprop)", "train.optimizer must be one of auto, adam, adamw, sgd"),
        (
            "train.hidden=choice([64, 64], [0])",
            "train.hidden must be auto or a list of layer widths, each >= 1",
        ),
        ("train.lr=interval(0.1,", "not a search space"),
        ("train.optimizer=choice(adam, adam)", "a choice is listed twice"),
        ("scale.method=robust", "no space: give at least one -S"),  # fixed values alone search nothing
    ],
)
def test_a_bad_space_is_one_line(spec, message):
    with pytest.raises(UserError, match=re.escape(message)) as error:
        tune.parse_space([spec], COMMITTED)
    assert "\n" not in str(error.value)


def test_the_direction_follows_the_metric_and_only_validation_metrics_are_judged():
    assert [tune.direction(m) for m in ("val_loss", "val_rmse", "val_accuracy")] == [
        "minimize",
        "minimize",
        "maximize",
    ]
    assert tune.default_metric("classification") == "val_accuracy"
    assert tune.default_metric("regression") == "val_rmse"
    tune.check_metric("val_loss", "regression")
    with pytest.raises(
        UserError, match="--metric accuracy: a classification search is judged on the validation"
    ):
        tune.check_metric("accuracy", "classification")  # the test split's: never an objective


def _study(direction: Literal["minimize", "maximize"] = "minimize") -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=0))


def test_search_csv_has_every_finished_trial_and_the_best_so_far(tmp_path):
    study = _study("maximize")
    space: dict[str, optuna.distributions.BaseDistribution] = {
        "train.lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)
    }
    for value in (0.5, None, 0.7, 0.6):
        trial = study.ask(space)
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, value)
    study.ask(space)  # running: not a row yet
    tune.write_search(tmp_path, study, "s")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "search.csv").read_text())))
    assert [(r["trial"], r["name"], r["state"], r["objective"], r["best"]) for r in rows] == [
        ("1", "s-1", "complete", "0.5", "0.5"),
        ("2", "s-2", "fail", "", "0.5"),
        ("3", "s-3", "complete", "0.7", "0.7"),
        ("4", "s-4", "complete", "0.6", "0.7"),
    ]
    assert all(1e-3 <= float(r["train.lr"]) <= 1e-1 for r in rows)


def test_an_unfinished_trial_is_failed_as_interrupted_and_its_point_asked_once_again():
    study = _study()
    space: dict[str, optuna.distributions.BaseDistribution] = {
        "train.lr": optuna.distributions.FloatDistribution(1e-3, 1e-1)
    }
    done = study.ask(space)
    study.tell(done, 1.0)
    left = study.ask(space)  # a driver killed while this one ran
    assert tune._requeue_unfinished(study) == 1
    assert study.trials[left.number].state == optuna.trial.TrialState.FAIL
    assert study.trials[left.number].user_attrs["error"] == "interrupted"
    assert study.ask(space).params == left.params  # asked again, under a new number
    assert tune._requeue_unfinished(study) == 1  # that one is running now: interrupted again
    assert tune._requeue_unfinished(study) == 0  # but nothing is asked twice
    assert tune._counted(study) == 1  # interrupted trials do not count towards --trials


def _trials(project, prefix: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(project.path(f"tune/{prefix}/search.csv").read_text())))


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # shares the sweep test's Ray
def test_a_search_on_ray_lands_as_experiments_and_resumes_after_ctrl_c(project, tmp_path, ray_address):
    share(project, tmp_path)
    before = (project.git("status", "--porcelain").stdout, project.path("params.yaml").read_bytes())
    space = ("-S", "train.lr=tag(log, interval(1e-3, 3e-2))", "-S", "train.epochs=int(interval(2, 8))",
             "-S", "train.activation=choice(relu, none)")  # fmt: skip
    search = (sys.executable, "-m", "stages.tune", *space, "--metric", "val_loss", "--name", "s")
    done = project.run(*search, "--trials", "6", "--parallel", "2", "--address", ray_address)
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert sum("running," in line for line in lines) == 6, done.stderr  # a line as each trial ends
    assert (project.git("status", "--porcelain").stdout, project.path("params.yaml").read_bytes()) == before

    trials = _trials(project, "s")
    assert [t["name"] for t in trials] == [f"s-{n}" for n in range(1, 7)]
    # tabm refuses a linear stack: those trials fail with the stage's own line, the search goes on
    refused = "error: params.yaml: train.activation = 'none' is not allowed; train.activation must be relu"
    failed = [t for t in trials if t["state"] == "fail"]
    assert failed and all(t["train.activation"] == "none" for t in failed)
    for t in failed:
        (line,) = [line for line in lines if line.startswith(f"tune: failed {t['name']}: ")]
        assert line.startswith(f"tune: failed {t['name']}: {refused}")
    completed = [t for t in trials if t["state"] == "complete"]
    assert len(completed) >= 2 and all(t["train.activation"] == "relu" for t in completed)

    rows = dict(exp_rows(json.loads(project.dvc("exp", "show", "--json").stdout)))
    assert sorted(name for name in rows if name and name.startswith("s-")) == sorted(
        t["name"] for t in completed
    )
    for t in completed:
        data = rows[t["name"]]
        train = data["params"]["params.yaml"]["data"]["train"]
        assert 1e-3 <= train["lr"] <= 3e-2 and train["lr"] == float(t["train.lr"])  # in the space, as run
        assert 2 <= train["epochs"] <= 8 and train["epochs"] == int(t["train.epochs"])
        assert train["activation"] == "relu"
        assert float(t["objective"]) == data["metrics"]["metrics/train.json"]["data"]["val_loss"]

    best = json.loads(project.path("tune/s/best.json").read_text())
    losses = {t["name"]: float(t["objective"]) for t in completed}
    assert best["name"] == min(losses, key=losses.__getitem__) and best["value"] == min(losses.values())
    chosen = rows[best["name"]]["metrics"]["metrics/eval.json"]["data"]
    assert best["test"] == {
        "loss": chosen["loss"],
        "accuracy": chosen["accuracy"],
        "roc_auc": chosen["roc_auc"],
    }
    assert (
        f"tune: make it the workspace: dvc exp apply {best['name']} | every trial: dvc exp show"
        in done.stderr
    )
    drawn = project.dvc("plots", "show", "tune/s/search.csv", "--template", "search", "--json")
    assert "tune/s/search.csv" in drawn.stdout

    # Ctrl-C while two trials run: both stop, their scratch clones go, the study keeps them as unfinished
    resume = (sys.executable, "-m", "stages.tune", "--resume", "s", "--trials", "8", "--address", ray_address)
    process = subprocess.Popen(resume, cwd=project.root, env=project_env(), stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    first = process.stderr.readline()
    assert first.startswith("tune: s: 2 trials of "), first
    deadline = time.monotonic() + 60
    while not glob.glob(os.path.join(tempfile.gettempdir(), "sweep-s-*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=90)[1]
    assert process.returncode == 130, rest
    assert "tune: stopped 2 running trials; `python -m stages.tune --resume s` continues the search" in rest
    assert not glob.glob(os.path.join(tempfile.gettempdir(), "sweep-s-*"))

    # the resume finishes the search: the stopped points run again, no finished one does
    again = project.run(*resume)
    assert "resumed with 6 finished (2 interrupted asked again)" in again.stderr.splitlines()[0]
    after = _trials(project, "s")
    assert [t["state"] for t in after[6:8]] == ["interrupted", "interrupted"]  # s-7, s-8
    new = after[8:]
    assert [t["name"] for t in new] == ["s-9", "s-10"]
    assert {(t["train.lr"], t["train.epochs"]) for t in new} == {
        (t["train.lr"], t["train.epochs"]) for t in after[6:8]
    }
    assert not {(t["train.lr"], t["train.epochs"]) for t in new} & {
        (t["train.lr"], t["train.epochs"]) for t in trials
    }
    assert json.loads(project.path("tune/s/best.json").read_text())["trials"] == 8
    settled = project.run(sys.executable, "-m", "stages.tune", "--resume", "s")  # all 8 done: the report
    assert settled.stderr.splitlines()[0] == "tune: s has its 8 trials; --trials N (more) adds some"
    assert len(_trials(project, "s")) == 10
    assert all(math.isfinite(float(t["objective"])) for t in new if t["state"] == "complete")

    # what stops a search before it starts: one line, nothing written
    bad = project.run(
        sys.executable, "-m", "stages.tune", "-S", "train.lr=interval(0, 1)", "--name", "b", check=False
    )
    assert bad.returncode == 1
    reason = "train.lr = 0.0 is not allowed; train.lr must be auto or a number > 0"
    assert bad.stderr.splitlines() == [f"error: -S 'train.lr=interval(0, 1)': {reason}"]
    assert not project.path("tune/b").exists()
