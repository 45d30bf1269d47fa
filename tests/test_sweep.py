"""`python -m stages.sweep`: the grid's units, then a real sweep on a local 2-CPU Ray cluster with
a bare git repository as the git remote and a folder as the DVC remote (all made here)."""

import json
import socket
import sys

import pytest
import yaml

from stages import sweep
from stages.errors import UserError

from .conftest import REPO, exp_rows, share


def test_the_grid_is_the_product_of_the_values_in_order():
    grid = sweep.parse_grid(["train.lr=0.01,0.001", "scale.method=standard,minmax", "train.hidden=[32,32]"])
    assert [p.overrides for p in sweep.points(grid, "g")] == [
        ("train.lr=0.01", "scale.method=standard", "train.hidden=[32,32]"),
        ("train.lr=0.01", "scale.method=minmax", "train.hidden=[32,32]"),
        ("train.lr=0.001", "scale.method=standard", "train.hidden=[32,32]"),
        ("train.lr=0.001", "scale.method=minmax", "train.hidden=[32,32]"),
    ]
    assert [p.name for p in sweep.points(grid, "g")] == ["g-1", "g-2", "g-3", "g-4"]


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (["train.epoch=5"], "unknown key train.epoch; keys of train: model, seed, epochs,"),
        (["trian.epochs=5"], "no section 'trian' in params.yaml"),
        (["epochs=5"], "give section.key=value"),
        (["train.epochs="], "give section.key=value"),
        (["train.lr=0.1", "train.lr=0.2"], "train.lr is given twice"),
        ([], "no grid"),
    ],
)
def test_a_bad_grid_is_one_line(specs, message):
    with pytest.raises(UserError, match=message) as error:
        sweep.parse_grid(specs)
    assert "\n" not in str(error.value)


def test_every_point_asks_ray_for_its_threads():
    point = sweep.Point("p-1", ("train.lr=0.1",))
    assert sweep.with_threads(point, 0) == (sweep.Point("p-1", ("train.lr=0.1", "train.threads=1")), 1)
    assert sweep.with_threads(point, 2) == (point, 2)
    three = sweep.Point("p-2", ("train.threads=3",))
    assert sweep.with_threads(three, 0) == (three, 3)


def test_a_point_pulls_the_outputs_of_the_stages_its_params_do_not_reach():
    dvc_yaml = yaml.safe_load((REPO / "dvc.yaml").read_text())
    assert sweep.stages_to_pull(dvc_yaml, ["train.epochs"]) == ["prepare", "split", "scale"]
    assert sweep.stages_to_pull(dvc_yaml, ["scale.method", "train.lr"]) == ["prepare", "split"]
    assert sweep.stages_to_pull(dvc_yaml, ["evaluate.batch_size"]) == ["prepare", "split", "scale", "train"]
    # evaluate declares train.numerics: a grid over it reruns train and evaluate only
    assert sweep.stages_to_pull(dvc_yaml, ["train.numerics"]) == ["prepare", "split", "scale"]
    assert sweep.stages_to_pull(dvc_yaml, ["prepare.source"]) == []


def _metrics(rows: list[tuple[str, dict]], name: str) -> dict:
    (data,) = [data for row_name, data in rows if row_name == name]
    return {path: value["data"] for path, value in data["metrics"].items()}


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one Ray start for the sweep's and the search's tests
def test_a_grid_on_ray_lands_as_experiments_equal_to_local_runs(project, tmp_path, ray_address):
    share(project, tmp_path)
    before = (project.git("status", "--porcelain").stdout, project.path("params.yaml").read_bytes())

    done = project.run(sys.executable, "-m", "stages.sweep", "-S", "train.epochs=0,3,5,8", "--name", "ep",
                       "--address", ray_address, check=False)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    refused = "error: params.yaml: train.epochs = 0 is not allowed; train.epochs must be >= 1"
    assert f"sweep: failed ep-1 (train.epochs=0 train.threads=1): {refused}" in lines, done.stderr
    assert sum("running or queued" in line for line in lines) == 4  # a progress line per point
    assert (project.git("status", "--porcelain").stdout, project.path("params.yaml").read_bytes()) == before

    swept = list(exp_rows(json.loads(project.dvc("exp", "show", "--json").stdout)))
    assert sorted(name for name, _ in swept if name and name.startswith("ep-")) == ["ep-2", "ep-3", "ep-4"]
    for name, epochs in (("ep-2", 3), ("ep-3", 5), ("ep-4", 8)):
        (data,) = [data for row_name, data in swept if row_name == name]
        assert data["params"]["params.yaml"]["data"]["train"]["epochs"] == epochs
        # the same point run here with `dvc exp run`: the same metrics, to the last digit
        project.dvc(
            "exp", "run", "-n", f"local-{epochs}", "-S", f"train.epochs={epochs}", "-S", "train.threads=1"
        )
        here = list(exp_rows(json.loads(project.dvc("exp", "show", "--json").stdout)))
        assert _metrics(swept, name) == _metrics(here, f"local-{epochs}")
        assert _metrics(swept, name)["metrics/train.json"]["epochs_run"] == epochs

    # what stops a sweep before it starts: one line each, nothing changed
    sweep_cmd = (sys.executable, "-m", "stages.sweep", "-S", "train.epochs=3")
    project.git("checkout", ".")  # the local runs above applied their results
    project.path("params.yaml").write_text(project.path("params.yaml").read_text() + "\n")
    dirty = project.run(*sweep_cmd, check=False)
    assert dirty.returncode == 1, dirty.stderr
    assert dirty.stderr.startswith("error: uncommitted changes to params.yaml: a sweep runs commit ")
    project.git("checkout", "params.yaml")
    with socket.socket() as closed:  # a port where nothing listens
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    down = project.run(*sweep_cmd, "--address", f"127.0.0.1:{port}", check=False)
    assert down.returncode == 1
    refused = f"error: cannot reach a Ray cluster at 127.0.0.1:{port} (Connection refused)"
    assert down.stderr.splitlines() == [f"{refused}; is `ray start --head` running?"]
