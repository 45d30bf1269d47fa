"""What a grid costs through `python -m stages.sweep` (local Ray) against `dvc queue start -j 2`.

    python -m bench.sweep_cost                     # 3 points: train.epochs=5,10,15, 1 thread each
    python -m bench.sweep_cost --smoke             # 1 point, train.epochs=2 (the tests run it)

A temp copy of the repo (its own git history and DVC cache, the pipeline built once, a bare git
repository as origin and a folder as the DVC remote), then the same grid both ways, in one run:
the sweep on a local Ray of this machine's cores (each point a scratch clone that pulls, runs
and pushes), and DVC's queue with 2 workers on the checkout itself. Prints the wall time of each
and their ratio. Timings go to stdout only.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.repro_time import REPO, bench_env


def sh(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=bench_env(), capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def checkout(root: Path) -> Path:
    """The repo's tracked files in a new git repo, built, with an origin and a DVC remote."""
    repo = root / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in files.splitlines():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, repo / name)
    sh("git", "init", "-q", "-b", "main", cwd=repo)
    sh("dvc", "remote", "add", "-d", "team", str(root / "dvc-store"), cwd=repo)
    sh("dvc", "repro", cwd=repo)
    sh("git", "add", "-A", cwd=repo)
    sh("git", "commit", "-qm", "built", cwd=repo)
    sh("git", "init", "-q", "--bare", str(root / "origin.git"), cwd=root)
    sh("git", "remote", "add", "origin", str(root / "origin.git"), cwd=repo)
    sh("git", "push", "-q", "-u", "origin", "main", cwd=repo)
    sh("dvc", "push", "-q", cwd=repo)
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", default="5,10,15", help="the grid: train.epochs values")
    parser.add_argument("--smoke", action="store_true", help="--epochs 2")
    args = parser.parse_args()
    if args.smoke:
        args.epochs = "2"
    points = len(args.epochs.split(","))
    with tempfile.TemporaryDirectory(prefix="sweep-cost-") as tmp:
        repo = checkout(Path(tmp))
        started = time.perf_counter()
        sh(sys.executable, "-m", "stages.sweep", "-S", f"train.epochs={args.epochs}", "-S", "train.threads=1",
           "--name", "ray", cwd=repo)  # fmt: skip
        ray_s = time.perf_counter() - started
        started = time.perf_counter()
        grid = ("-S", f"train.epochs={args.epochs}", "-S", "train.threads=1")
        sh("dvc", "exp", "run", "--queue", *grid, cwd=repo)
        sh("dvc", "queue", "start", "-j", "2", cwd=repo)
        while True:
            status = sh("dvc", "queue", "status", cwd=repo).stdout
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(1)
        queue_s = time.perf_counter() - started
        sh("dvc", "queue", "stop", cwd=repo)
        print(f"machine: {os.cpu_count()} CPUs; grid {' '.join(grid[1::2])} ({points} points)")
        print(f"stages.sweep, local Ray of {os.cpu_count()} CPUs: {ray_s:.1f} s")
        print(f"dvc queue start -j 2:                {queue_s:.1f} s")
        print(f"sweep / queue: {ray_s / queue_s:.2f}")


if __name__ == "__main__":
    main()
