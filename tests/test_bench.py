"""Every benchmark runs, as `make bench` runs it (`python -m bench.<name>`), at its --smoke size:
a renamed helper, a changed signature or a broken table writer fails here, not in a user's
`make bench`. The figures are not checked: a smoke run measures nothing worth a number."""

import subprocess
import sys

import pytest

from .conftest import REPO, project_env

pytestmark = pytest.mark.slow

# What each benchmark's table writer prints at the end of a good run. A new bench/*.py must
# accept --smoke and join this table.
LAST_WORDS = {
    "baselines": ["| iris | 150 | 3 | 15 |", "| diabetes | 442 | 44 |"],
    "data_scale": ["**2,000 rows**", "| evaluate |", "predict, 1,000 new rows from Parquet"],
    "distributed_throughput": ["batch   256: world_size 1", "| launch + set-up of 2 ranks"],
    "quality": ["| churn | 600 | 2 classes |", "| gss_wages | 3", "of 2 tables; >= CatBoost on"],
    "repro_time": ["| dvc repro, nothing changed |"],
    "sweep_cost": ["sweep / queue: "],
    "tune": ["| churn | 20", "| test ROC AUC |", "bench-"],
    "train_throughput": [
        "numerics portable / native at batch 256",
        "default model (TabM) / MLP at batch 256",
        "peak memory growth for 2,000 x 54",
    ],
}
HELPERS = {"__init__", "meter"}  # meter wraps each stage inside data_scale's runs


def test_every_benchmark_has_a_smoke_check():
    modules = {path.stem for path in (REPO / "bench").glob("*.py")} - HELPERS
    assert modules == set(LAST_WORDS)


@pytest.mark.parametrize("name", sorted(LAST_WORDS))
def test_benchmark_runs_at_its_smoke_size(name):
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--smoke"],
        cwd=REPO, env=project_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr
    for words in LAST_WORDS[name]:
        assert words in done.stdout, done.stdout


def test_smoke_figures_never_reach_the_readme():
    done = subprocess.run(
        [sys.executable, "-m", "bench.baselines", "--smoke", "--readme"],
        cwd=REPO, env=project_env(), capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2 and "leave out --readme" in done.stderr


def test_the_tune_table_keeps_the_rows_of_tables_not_rerun():
    from bench import quality, tune

    loans = next(table for table in quality.TABLES if table.name == "loans")
    earlier = "\n".join([
        "heading", "", tune.HEADER,
        "| loans | 2026-12-03 | test R² | 0.38 | 0.38 | 0.37 | 0.38 | no | bench-10 (30) | 266, 10 |",
        "| churn | 2026-12-03 | test ROC AUC | 0.91 | 0.92 | 0.92 | 0.89 | yes | bench-24 (30) | 9, 1 |",
    ])  # fmt: skip
    rerun = {
        "table": loans, "default": {"r2": 0.38}, "seconds": 2600.4,
        "best": {"name": "bench-7", "trials": 30, "params": {"train.lr": 0.00123456}, "test": {"r2": 0.39}},
        "lightgbm": {"default": {"r2": 0.37}, "tuned": {"r2": 0.4}, "seconds": 100.0},
    }  # fmt: skip
    lines = tune.markdown([rerun], "2026-12-04", earlier).splitlines()
    assert lines[:2] == tune.HEADER.splitlines()
    assert lines[2] == earlier.splitlines()[-1]  # churn kept as it was, in bench.quality's order
    assert lines[3] == (
        "| loans | 2026-12-04 | test R² | 0.3800 | 0.3900 | 0.3700 | 0.4000 | no | "
        "bench-7 (30): lr 0.00123 | 2600, 100 |"
    )
    assert len(lines) == 4


def test_lightgbm_only_replaces_lightgbm_cells_and_keeps_ours():
    from bench import quality, tune

    loans = next(table for table in quality.TABLES if table.name == "loans")
    earlier = "\n".join([
        "heading", "", tune.HEADER,
        "| loans | 2026-12-03 | test R² | 0.38 | 0.3813 | 0.37 | not finished | - | bench-10 (30): lr 0.001 "
        "| 2663, - |",
    ])  # fmt: skip
    lgbm = {"default": {"r2": 0.3722}, "tuned": {"r2": 0.3816}, "seconds": 109.4}
    rerun = {"table": loans, "lightgbm": lgbm}
    lines = tune.markdown([rerun], "2026-12-04", earlier).splitlines()
    assert lines[2] == (
        "| loans | 2026-12-03; LightGBM 2026-12-04 | test R² | 0.38 | 0.3813 | 0.3722 | 0.3816 | no | "
        "bench-10 (30): lr 0.001 | 2663, 109 |"
    )
    assert tune.markdown([rerun], "2026-12-03", earlier).splitlines()[2].startswith("| loans | 2026-12-03 | ")
    with pytest.raises(SystemExit, match="no row for loans"):
        tune.markdown([rerun], "2026-12-04", "\n".join(["heading", "", tune.HEADER]))
