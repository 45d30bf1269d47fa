"""Fixtures: a temp copy of the repo (git + DVC inside) driven through the real `dvc` CLI."""

import csv
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv running pytest has dvc and python


def project_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    env.pop("PYTHONPATH", None)
    return env


def stages_ran(done: subprocess.CompletedProcess) -> list[str]:
    """The stages a `dvc repro` or `dvc exp run` ran (not those skipped or restored from cache)."""
    return re.findall(r"Running stage '(\w+)'", done.stdout)


def stage_error_line(done: subprocess.CompletedProcess) -> str:
    """The one `error: ...` line of a `dvc repro` whose stage refused its input (no traceback)."""
    assert done.returncode != 0 and "Traceback" not in done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    return line


def exp_rows(node):
    """Every revision record in `dvc exp show --json` output, however deeply nested."""
    if isinstance(node, dict):
        if isinstance(node.get("data"), dict) and "params" in node["data"]:
            yield node.get("name"), node["data"]
        for value in node.values():
            yield from exp_rows(value)
    elif isinstance(node, list):
        for value in node:
            yield from exp_rows(value)


class Project:
    """A throwaway copy of the repository with its own git history and DVC cache."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        environment = project_env() | (env or {})
        done = subprocess.run(args, cwd=self.root, env=environment, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done

    def dvc(self, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, check=check, env=env)

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        """A command as a page prints it, through bash: its quotes, `&&`, pipes and `# comment`."""
        return self.run("bash", "-c", command, check=check)

    def git(self, *args: str) -> subprocess.CompletedProcess:
        return self.run("git", *args)

    def repro(self, *args: str) -> list[str]:
        """Run `dvc repro` and return the names of the stages that actually ran."""
        return stages_ran(self.dvc("repro", *args))

    def path(self, relative: str) -> Path:
        return self.root / relative

    def set_param(self, section: str, key: str, value: str) -> None:
        """Rewrite one `key: value` line inside `section` of params.yaml, keeping the rest."""
        lines = self.path("params.yaml").read_text().splitlines()
        current = None
        for i, line in enumerate(lines):
            if line and not line.startswith(" ") and line.endswith(":"):
                current = line[:-1]
            elif current == section and line.strip().startswith(f"{key}:"):
                indent = line[: len(line) - len(line.lstrip())]
                lines[i] = f"{indent}{key}: {value}"
                break
        else:
            raise KeyError(f"{section}.{key}")
        self.path("params.yaml").write_text("\n".join(lines) + "\n")

    def lock_md5s(self) -> dict[str, str]:
        import yaml

        lock = yaml.safe_load(self.path("dvc.lock").read_text())
        return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [name for name in listed.stdout.splitlines() if (REPO / name).is_file()]


def _new_repo(root: Path) -> Project:
    """git init and one commit of what `root` holds."""
    project = Project(root)
    project.git("init", "-q", "-b", "main")
    # DVC's own git backend makes the experiment commits and reads identity from the repo
    project.git("config", "user.name", "pipeline tests")
    project.git("config", "user.email", "tests@localhost")
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "copy of the repo")
    return project


@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> Project:
    """The working tree's files (edits not yet committed included) in a new git repo, pipeline
    not yet run: what most tests exercise, so they test the code as it is being changed."""
    root = tmp_path_factory.mktemp("pristine")
    for name in _tracked_files():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    return _new_repo(root)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--lock-from-another-host",
        action="store_true",
        help="the fresh clone's committed dvc.lock and metrics as a host whose kernels give other "
        "train bytes recorded them (.ci/run runs the walkthroughs this way too)",
    )


# Kernels no x86-64 host of this project runs under train.numerics portable (ATen's generic
# build, no AVX2): train makes other last bits, as an ARM Mac or a GPU does (README, Reproducible).
ANOTHER_HOSTS_KERNELS = (
    "from stages import numerics;"
    "numerics.SETTINGS['portable'] = {**numerics.SETTINGS['portable'], 'ATEN_CPU_CAPABILITY': 'default'};"
    "from stages import {stage}; {stage}.main()"
)


def _extract_head(source: Path, root: Path) -> Project:
    """What git holds at HEAD of `source`, as a `git clone` gets it, in a new repo at `root`."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=source, capture_output=True, check=True)
    root.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return _new_repo(root)


def _record_lock_on_another_host(project: Project) -> None:
    """Rewrite the committed lock and metrics as another host would commit them: same params,
    prepare/split/scale's portable bytes, train and evaluate's bytes from other kernels."""
    project.dvc("repro", "scale")
    for stage in ("train", "evaluate"):
        project.run(sys.executable, "-c", ANOTHER_HOSTS_KERNELS.replace("{stage}", stage))
    project.dvc("commit", "-f", "train", "evaluate")
    project.git("add", "-A")
    project.git("commit", "-q", "-m", "the pipeline as another host recorded it")


@pytest.fixture(scope="session")
def fresh_clone(request, tmp_path_factory) -> Project:
    """Exactly what git holds at HEAD, as a new user's `git clone` gets it: not the working
    tree, whose dvc.lock and metrics a local `make repro` may have rewritten. With
    --lock-from-another-host, HEAD as another host's commit of the pipeline would leave it."""
    if not request.config.getoption("--lock-from-another-host"):
        return _extract_head(REPO, tmp_path_factory.mktemp("clone") / "repo")
    elsewhere = _extract_head(REPO, tmp_path_factory.mktemp("elsewhere") / "repo")
    _record_lock_on_another_host(elsewhere)
    return _extract_head(elsewhere.root, tmp_path_factory.mktemp("clone") / "repo")


@pytest.fixture(scope="session")
def fresh_built(fresh_clone, tmp_path_factory) -> tuple[Project, list[str]]:
    """A fresh clone after the README's `dvc repro`, with the stages that ran; its git status
    is whatever the run left (clean on any x86-64 host: test_pipeline checks it)."""
    root = tmp_path_factory.mktemp("fresh_built") / "repo"
    shutil.copytree(fresh_clone.root, root, symlinks=True)
    project = Project(root)
    return project, project.repro()


def commit_this_hosts_run(project: Project) -> None:
    """What the run rewrote, committed, so main holds this host's baseline: on a host whose
    kernels differ from the lock's (not x86-64, or --lock-from-another-host), train's bytes
    differ in the last bits, and "nothing reruns" must compare this host with itself."""
    if project.git("status", "--porcelain").stdout:
        project.git("commit", "-q", "-am", "the pipeline as this host reproduces it")


@pytest.fixture(scope="session")
def built(pristine, tmp_path_factory) -> tuple[Project, list[str]]:
    """A copy on which a full `dvc repro` has run once, with the stages that ran, and this
    host's baseline committed (the working tree's lock may come from an edit in progress)."""
    root = tmp_path_factory.mktemp("built") / "repo"
    shutil.copytree(pristine.root, root, symlinks=True)
    project = Project(root)
    ran = project.repro()
    commit_this_hosts_run(project)
    return project, ran


@pytest.fixture
def project(built, tmp_path) -> Project:
    """A private copy of the built repo (outputs, cache, run-cache) to change freely."""
    root = tmp_path / "repo"
    shutil.copytree(built[0].root, root, symlinks=True)
    return Project(root)


def mixed_table(rows: int = 150, seed: int = 0) -> dict[str, list]:
    """A small messy table, column -> values (None = empty cell): an id, numeric and
    categorical features with missing cells, and a string label that depends on the features
    (so a model can learn it)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    tenure = rng.uniform(0, 60, rows).round(1)
    spend = (rng.normal(50, 15, rows) + (plan == "pro") * 40).round(2)
    city = rng.choice(["Oslo", "Lima", "Pune", "Kyiv"], rows)
    score = tenure / 20 + (plan == "pro") * 2 - (plan == "basic") + rng.normal(0, 0.3, rows)
    label = np.where(score > 2, "loyal", np.where(score > 0.5, "at risk", "churned"))
    table = {
        "customer_id": list(range(1000, 1000 + rows)),
        "tenure": tenure.tolist(),
        "spend": spend.tolist(),
        "city": city.tolist(),
        "plan": plan.tolist(),
        "status": label.tolist(),
    }
    for column, count in (("spend", 10), ("city", 8)):
        for row in rng.choice(rows, min(count, rows), replace=False):
            table[column][row] = None
    return table


def customers_example() -> dict[str, list]:
    """examples/customers.csv, the README's own-table walkthrough: 400 rows of mixed_table
    with one label left empty (what prepare.missing_target is for)."""
    table = mixed_table(rows=400)
    table["status"][7] = None
    return table


def read_csv(path: Path) -> list[dict[str, str]]:
    """A CSV's rows, each as column -> text."""
    with path.open() as handle:
        return list(csv.DictReader(handle))


def write_table(table: dict[str, list], path: Path) -> None:
    """Write column -> values as CSV (None as an empty cell) or, by suffix, as Parquet."""
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(table), path)
        return
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(table)
        writer.writerows(
            zip(*(["" if v is None else v for v in values] for values in table.values()), strict=True)
        )


def share(project: Project, tmp_path: Path) -> None:
    """What a sweep or a search clones and pulls from: a bare git repository as origin (HEAD
    pushed) and a folder as the DVC remote (the built outputs pushed)."""
    origin, store = tmp_path / "origin.git", tmp_path / "dvc-store"
    project.run("git", "init", "-q", "--bare", str(origin))
    project.dvc("remote", "add", "-d", "team", str(store))
    project.git("commit", "-qam", "the team's remote")
    project.git("remote", "add", "origin", str(origin))
    project.git("push", "-q", "-u", "origin", "main")
    project.dvc("push")


@pytest.fixture(scope="session")
def ray_address():
    """A local Ray cluster of 2 CPUs on 127.0.0.1, stopped after the session; the tests that use it
    share one xdist group ("ray"), so it starts once."""
    import ray
    from ray._private.worker import RayContext

    context = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                       logging_level=logging.ERROR)  # fmt: skip
    assert isinstance(context, RayContext)  # a local cluster's, not a client connection's
    try:
        yield context.address_info["address"]
    finally:
        ray.shutdown()
