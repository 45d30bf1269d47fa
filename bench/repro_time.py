"""Wall time of a whole `dvc repro` from scratch, in units of `python -c "import torch"`.

    python -m bench.repro_time [--runs 3]
    python -m bench.repro_time --smoke     # one run of each (the tests run it)

Copies the repo's tracked files to temp dirs (git + DVC inside, no cache, no run-cache) and
times there `dvc repro` as a fresh clone runs it, `dvc repro --force` (all five stages from
scratch), then a no-op `dvc repro`; and `import torch`, all in the same run.
Each figure is the median of --runs fresh copies. Timings go to stdout, never to metrics.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def bench_env() -> dict[str, str]:
    """This venv's dvc and python first on PATH, no analytics, a git identity (also bench.sweep_cost)."""
    env = dict(os.environ, DVC_NO_ANALYTICS="1", PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    return env


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        args, cwd=cwd, env=bench_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - started


def fresh_copy(parent: Path) -> Path:
    root = Path(tempfile.mkdtemp(dir=parent))
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in listed.stdout.splitlines():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    for git_args in (
        ["init", "-q"],
        ["config", "user.name", "bench"],
        ["config", "user.email", "bench@localhost"],
        ["add", "-A"],
        ["commit", "-q", "-m", "copy"],
    ):
        subprocess.run(["git", *git_args], cwd=root, env=bench_env(), check=True, capture_output=True)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="--runs 1")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 1
    python, dvc = str(BIN / "python"), str(BIN / "dvc")
    torch_s, full_s, forced_s, noop_s = [], [], [], []
    with tempfile.TemporaryDirectory() as parent:
        for _ in range(args.runs):
            torch_s.append(timed([python, "-c", "import torch"], REPO))
            full_s.append(timed([dvc, "repro"], fresh_copy(Path(parent))))
            root = fresh_copy(Path(parent))
            forced_s.append(timed([dvc, "repro", "--force"], root))
            noop_s.append(timed([dvc, "repro"], root))
    torch_m, full_m, forced_m, noop_m = (statistics.median(v) for v in (torch_s, full_s, forced_s, noop_s))
    print(f"median of {args.runs} runs, {os.cpu_count()} cores")
    print("| what | seconds | x import torch | target |")
    print("|---|---:|---:|---|")
    print(f"| python -c 'import torch' | {torch_m:.2f} | 1.0 | |")
    print(f"| dvc repro, fresh clone: 4 stages run, evaluate's committed outputs match | {full_m:.2f} "
          f"| {full_m / torch_m:.1f} | |")  # fmt: skip
    print(f"| dvc repro --force, fresh clone: all five stages from scratch | {forced_m:.2f} "
          f"| {forced_m / torch_m:.1f} | <= 5.5x |")  # fmt: skip
    print(f"| dvc repro, nothing changed | {noop_m:.2f} | {noop_m / torch_m:.1f} | <= 1.5 s |")


if __name__ == "__main__":
    main()
