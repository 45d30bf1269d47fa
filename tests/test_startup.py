"""Each stage imports only what it uses: start-up is most of the pipeline's wall time."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from .conftest import REPO, stage_error_line

pytestmark = pytest.mark.slow

# stage -> top-level packages it must not import
FORBIDDEN = {
    "prepare": {"torch", "sklearn", "scipy", "joblib", "pandas"},
    "split": {"torch", "sklearn", "scipy", "pandas"},
    "scale": {"torch", "sklearn", "scipy", "pandas"},
    "train": {"sklearn", "scipy", "pandas", "torch._dynamo"},
    "evaluate": {"sklearn", "scipy", "pandas", "torch._dynamo"},
}


# Runs the stage as `python -m` would and lists sys.modules as the process exits.
RUNNER = (
    "import atexit, json, runpy, sys\n"
    "atexit.register(lambda: open(sys.argv[2], 'w').write(json.dumps(sorted(sys.modules))))\n"
    "runpy.run_module(sys.argv[1], run_name='__main__', alter_sys=True)\n"
)


def imported_modules(project, stage: str) -> set[str]:
    listing = project.path("modules.json")
    project.run(sys.executable, "-c", RUNNER, f"stages.{stage}", str(listing))
    return set(json.loads(listing.read_text()))


@pytest.mark.parametrize("stage", list(FORBIDDEN))
def test_stage_imports_only_what_it_uses(project, stage):
    modules = imported_modules(project, stage)
    assert "stages.params" in modules  # the stage really ran
    top_level = {name.split(".")[0] for name in modules}
    leaked = {name for name in FORBIDDEN[stage] if name in modules or name in top_level}
    assert not leaked, f"{stage} imported {sorted(leaked)}"


@pytest.mark.parametrize("stage", list(FORBIDDEN))
def test_dvc_yaml_declares_every_module_a_stage_runs(project, stage):
    """A change to any code a stage runs must rerun it: dvc.yaml lists each stages/*.py it imports."""
    used = {f"stages/{name.split('.')[1]}.py" for name in imported_modules(project, stage)
            if name.startswith("stages.") and name != "stages.__init__"}  # fmt: skip
    used.add(f"stages/{stage}.py")  # run as __main__, so not under its own name
    deps = set(yaml.safe_load(project.path("dvc.yaml").read_text())["stages"][stage]["deps"])
    assert used <= deps, f"dvc.yaml's {stage} stage misses {sorted(used - deps)}"


def test_a_stage_under_another_python_says_which_and_the_fix(project, tmp_path):
    """DVC installed globally, or the venv not on PATH: `python` in a stage's cmd is another one."""
    bare = tmp_path / "bare"
    base_python = getattr(sys, "_base_executable", sys.executable)  # what the venv was made from
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(bare)], check=True)
    path = f"{bare / 'bin'}{os.pathsep}{os.environ['PATH']}"
    done = project.dvc("exp", "run", "-S", "prepare.source=diabetes", "-S", "prepare.task=regression",
                       check=False, env={"PATH": path})  # fmt: skip
    assert stage_error_line(done) == (
        f"error: {bare / 'bin' / 'python'} runs this stage but lacks numpy, PyYAML, scikit-learn, joblib, "
        "pyarrow, torch, tabm, rtdl_num_embeddings, matplotlib (pinned in requirements.txt): "
        "it is not the project's .venv Python; "
        "`export PATH=$PWD/.venv/bin:$PATH` and run the command again, or use `make repro`"
    )
    assert "failed to reproduce 'prepare'" in done.stderr


def imports_of(path) -> set[str]:
    """Every module a source file imports, anywhere in it (`from stages import x` as stages.x)."""
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_arrows_point_down_from_the_stage_to_its_launcher_to_training():
    """train (the stage) -> distributed (the launcher) -> training; never back up."""
    stages = REPO / "stages"
    assert not {"stages.train", "stages.distributed"} & imports_of(stages / "training.py")
    assert "stages.train" not in imports_of(stages / "distributed.py")
