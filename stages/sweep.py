"""A grid of experiments fanned out over a Ray cluster, each landing as an ordinary DVC experiment.

    python -m stages.sweep -S 'train.lr=0.01,0.001' -S train.epochs=20 [--name lr] [--address ADDR]

Each point of the grid (the product of the -S values, as `dvc exp run --queue` reads them) is one
Ray task. A task clones the checkout's git remote at its HEAD commit into a scratch folder on
whichever node runs it, pulls from the DVC remote what the point does not change (the outputs
of the stages none of its params reach, and the `dvc add`-ed data), runs `dvc exp run -n
NAME -S ...`, and pushes the experiment (`dvc exp push`: its git ref to the git remote, its
outputs to the DVC remote). The command pulls each finished experiment back (`dvc exp pull`),
so `dvc exp show` here lists every point. The workspace itself is never touched: no params.yaml
rewrite, no checkout.

Resources: a task asks Ray for train.threads CPUs (a point whose train.threads is 0, 2 threads
or every core by train.numerics, runs with train.threads=1 so that Ray can pack it), and for
one GPU where train.device is cuda. Without --address a local Ray is started for the run, limited to this
machine's cores, and stopped after it.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

from stages import params
from stages.errors import UserError, run

DEFAULT_THREADS = 1  # what a point whose train.threads is 0 runs with


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other mistake
        raise UserError(
            f"{message}; usage: {self.prog} -S section.key=v1,v2 [-S ...] [--name PREFIX] [--address ADDR]"
        )


@dataclass(frozen=True)
class Point:
    name: str
    overrides: tuple[str, ...]  # `section.key=value`, as `dvc exp run -S` takes them

    @property
    def label(self) -> str:
        return " ".join(self.overrides)


# ---- the grid ------------------------------------------------------------------------------


def check_key(spec: str, key: str) -> None:
    """`key` (of the -S `spec`) is section.key of params.yaml; one line naming what is if not."""
    section, _, name = key.partition(".")
    if section not in params.SECTIONS:
        raise UserError(
            f"-S {spec!r}: no section {section!r} in params.yaml; sections: {', '.join(params.SECTIONS)}"
        )
    known = [f.name for f in fields(params.SECTIONS[section])]
    if name not in known:
        raise UserError(f"-S {spec!r}: unknown key {key}; keys of {section}: {', '.join(known)}")


def parse_grid(specs: list[str]) -> list[tuple[str, list[str]]]:
    """`-S section.key=v1,v2` -> (key, [v1, v2]), each key a params.yaml key; one line if not."""
    grid: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip()
        if not sep or "." not in key or not values.strip():
            raise UserError(f"-S {spec!r}: give section.key=value or section.key=v1,v2 (as dvc exp run -S)")
        check_key(spec, key)
        if key in grid:
            raise UserError(f"-S {spec!r}: {key} is given twice; put all its values in one -S")
        # a list value keeps its commas: train.hidden=[32,32] is one value
        grid[key] = [values] if values.lstrip().startswith("[") else [v.strip() for v in values.split(",")]
    if not grid:
        raise UserError("no grid: give at least one -S section.key=v1,v2")
    return list(grid.items())


def points(grid: list[tuple[str, list[str]]], prefix: str) -> list[Point]:
    combos = list(itertools.product(*(values for _, values in grid)))
    keys = [key for key, _ in grid]
    return [
        Point(f"{prefix}-{i}", tuple(f"{key}={value}" for key, value in zip(keys, combo, strict=True)))
        for i, combo in enumerate(combos, start=1)
    ]


def with_threads(point: Point, committed_threads: int) -> tuple[Point, int]:
    """The point with train.threads >= 1 (Ray counts CPUs), and that count."""
    given = [o.partition("=")[2].strip() for o in point.overrides if o.startswith("train.threads=")]
    if given and not given[0].isdigit():
        return point, DEFAULT_THREADS  # a bad value: the stage names it
    threads = int(given[0]) if given else committed_threads
    if threads == 0:
        rest = tuple(o for o in point.overrides if not o.startswith("train.threads="))
        return Point(point.name, (*rest, f"train.threads={DEFAULT_THREADS}")), DEFAULT_THREADS
    return point, threads


def stages_to_pull(dvc_yaml: dict, keys: list[str]) -> list[str]:
    """The stages none of `keys` reaches, directly (its params) or through an upstream stage:
    their outputs are all a point reuses; the others it makes itself."""
    stages = dvc_yaml.get("stages", {})

    def outs(stage: dict) -> list[str]:
        return [next(iter(o)) if isinstance(o, dict) else o for kind in ("outs", "metrics", "plots")
                for o in stage.get(kind, [])]  # fmt: skip

    def reads(stage: dict, key: str) -> bool:
        section = key.split(".")[0]
        declared = [p if isinstance(p, str) else "" for p in stage.get("params", [])]
        return any(d in (section, key) for d in declared)

    reached = {name for name, stage in stages.items() if any(reads(stage, key) for key in keys)}
    grew = True
    while grew:  # downstream of a reached stage: a dependency on any of its outputs
        grew = False
        made = [out for name in reached for out in outs(stages[name])]
        for name, stage in stages.items():
            deps = [d for d in stage.get("deps", []) if isinstance(d, str)]
            if name not in reached and any(
                d == o or d.startswith(o.rstrip("/") + "/") for d in deps for o in made
            ):
                reached.add(name)
                grew = True
    return [name for name in stages if name not in reached]


# ---- one task, on whichever node Ray picks ---------------------------------------------------


def _bin() -> Path:
    """Where dvc and the stages' python are: beside this process's interpreter, on any node."""
    return Path(sys.executable).parent


def _command(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{_bin()}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PYTHONPATH", None)
    # its own process group: a cancelled task takes the command's children (the stages) with it
    with subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, start_new_session=True) as process:  # fmt: skip
        try:
            stdout, stderr = process.communicate()
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def last_error_line(done: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in (done.stderr + "\n" + done.stdout).splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("error: ")]
    theirs = [line for line in lines if line.startswith("ERROR: ")]
    return (ours or theirs or lines or [f"exited with {done.returncode}"])[-1]


def run_point(url: str, commit: str, point: Point, pull: list[str]) -> dict:
    """Clone, pull, run, push one point; what went wrong as one line. Runs as a Ray task."""
    scratch = Path(tempfile.mkdtemp(prefix=f"sweep-{point.name}-"))
    repo = scratch / "repo"
    try:
        steps = [
            ("git clone", ["git", "clone", "-q", url, str(repo)], scratch),
            ("git checkout", ["git", "checkout", "-q", commit], repo),
        ]
        for what, args, cwd in steps:
            done = _command(args, cwd)
            if done.returncode:
                return {"ok": False, "error": f"{what}: {last_error_line(done)}"}
        if _command(["git", "config", "user.email"], repo).returncode:  # a node without a git identity
            _command(["git", "config", "user.name", "stages.sweep"], repo)
            _command(["git", "config", "user.email", "sweep@localhost"], repo)
        dvc = str(_bin() / "dvc")
        tracked = _command(["git", "ls-files", "*.dvc"], repo).stdout.split()
        steps = [("dvc pull", [dvc, "pull", "-q", *pull, *tracked], repo)] if pull or tracked else []
        exp = [dvc, "exp", "run", "-n", point.name]
        for override in point.overrides:
            exp += ["-S", override]
        steps += [
            ("dvc exp run", exp, repo),
            ("dvc exp push", [dvc, "exp", "push", "origin", point.name], repo),
        ]
        for what, args, cwd in steps:
            done = _command(args, cwd)
            if done.returncode:
                return {
                    "ok": False,
                    "error": last_error_line(done)
                    if what == "dvc exp run"
                    else f"{what}: {last_error_line(done)}",
                }
        return {"ok": True}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# ---- the driver: the user's checkout --------------------------------------------------------


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True)
    if done.returncode:
        raise UserError(f"git {' '.join(args)}: {last_error_line(done)}")
    return done.stdout.rstrip()  # porcelain lines start with a space


def checkout_state() -> tuple[str, str]:
    """HEAD's commit and the git remote it is on; one line if the sweep could not reproduce it."""
    try:
        commit = _git("rev-parse", "HEAD")
    except UserError:
        raise UserError("not a git checkout with a commit; run the sweep from the repository") from None
    try:
        url = _git("remote", "get-url", "origin")
    except UserError:
        raise UserError(
            "no git remote 'origin': each task clones the repository from it (git remote add origin URL)"
        ) from None
    changed = [line[3:] for line in _git("status", "--porcelain", "--untracked-files=no").splitlines()]
    if changed:
        raise UserError(
            f"uncommitted changes to {', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''}: a sweep "
            f"runs commit {commit[:7]} as origin has it; commit and git push (and dvc push) first"
        )
    if not _git("branch", "-r", "--contains", commit):
        raise UserError(
            f"commit {commit[:7]} is not on origin (as this checkout last saw it): git push it first"
        )
    return commit, url


def pull_back(name: str) -> str | None:
    done = _command([str(_bin() / "dvc"), "exp", "pull", "origin", name], Path.cwd())
    return None if done.returncode == 0 else f"dvc exp pull: {last_error_line(done)}"


def landed(ray, ref, name: str) -> dict:
    """A finished task's outcome, with its experiment pulled back here: {"ok": True}, or what went
    wrong as one line (the task's own, a dead task's, or the pull's)."""
    try:
        outcome = ray.get(ref)
    except ray.exceptions.RayError as error:  # the task itself died (node lost, OOM)
        return {"ok": False, "error": str(error).strip().splitlines()[-1]}
    if outcome["ok"]:
        problem = pull_back(name)
        return {"ok": False, "error": problem} if problem else outcome
    return outcome


def connect(ray, address: str) -> None:
    """Join an existing cluster; one line if it cannot be reached or refuses this process."""
    host, _, port = address.rpartition(":")
    try:  # Ray itself retries an address where nothing listens for minutes, noisily
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=10).close()
    except ValueError:
        hint = "give the head node's HOST:PORT (ray start --head prints it)"
        raise UserError(f"--address {address}: {hint}") from None
    except OSError as error:
        reason = error.strerror or str(error)
        hint = "is `ray start --head` running?"
        raise UserError(f"cannot reach a Ray cluster at {address} ({reason}); {hint}") from None
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, RuntimeError) as error:
        cause = f"{error} {error.__cause__ or ''}"
        if "InvalidAuthToken" in cause or "AuthenticationError" in cause:
            raise UserError(
                f"the Ray cluster at {address} wants its token: set RAY_AUTH_MODE=token here, with the "
                "head node's ~/.ray/auth_token copied or RAY_AUTH_TOKEN set (docs/distributed.md)"
            ) from None
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise UserError(f"cannot join the Ray cluster at {address}: {reason}") from None


def start_ray(ray, address: str | None) -> str:
    """Join the cluster at `address`, or start a local Ray of this machine's cores; where it runs."""
    logging.getLogger("ray").setLevel(logging.ERROR)
    if address:
        connect(ray, address)
        return address
    ray.init(
        num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False
    )
    return f"a local Ray of {os.cpu_count()} CPUs"


def main() -> None:
    parser = _Parser(prog="python -m stages.sweep", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-S", "--set-param", dest="grid", action="append", default=[], metavar="KEY=V1,V2",
        help="a params.yaml key and its values, comma-separated (repeat for a grid)",
    )  # fmt: skip
    parser.add_argument(
        "--name", default=None, help="experiment name prefix: NAME-1, NAME-2, ... (default sweep-XXXXXX)"
    )
    parser.add_argument(
        "--address", default=None, help="a Ray cluster's address (ray start --head); default: a local Ray"
    )
    args = parser.parse_args()
    grid = parse_grid(args.grid)
    prefix = args.name or f"sweep-{uuid.uuid4().hex[:6]}"
    train = params.load("train")
    commit, url = checkout_state()
    import yaml

    pull = stages_to_pull(yaml.safe_load(Path("dvc.yaml").read_text()), [key for key, _ in grid])
    plan = [with_threads(point, train.threads) for point in points(grid, prefix)]
    gpus = 1 if train.device == "cuda" else 0  # a grid over train.device asks by the committed value

    import ray

    started = time.perf_counter()
    where = start_ray(ray, args.address)
    reused = ", ".join(pull) or "no stage"
    print(f"sweep: {len(plan)} points of {commit[:7]} on {where}; each pulls {reused}", file=sys.stderr)
    task = ray.remote(run_point)
    pending = {
        task.options(num_cpus=threads, num_gpus=gpus, name=point.name).remote(url, commit, point, pull): point
        for point, threads in plan
    }
    failed: list[tuple[Point, str]] = []
    finished = 0
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            point = pending.pop(ready[0])
            outcome = landed(ray, ready[0], point.name)
            finished += 1
            if not outcome["ok"]:
                failed.append((point, outcome["error"]))
            print(f"sweep: {point.name} {'done' if outcome['ok'] else 'FAILED'} ({point.label}) | "
                  f"{finished - len(failed)} done, {len(pending)} running or queued, {len(failed)} failed | "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr)  # fmt: skip
    except KeyboardInterrupt:
        for ref in pending:  # a running task stops its command and removes its scratch clone
            ray.cancel(ref)
        ray.wait(list(pending), num_returns=len(pending), timeout=30)
        print(
            f"sweep: cancelled {len(pending)} unfinished points; finished ones are in `dvc exp show`",
            file=sys.stderr,
        )
        raise
    finally:
        ray.shutdown()
    for point, reason in failed:
        print(f"sweep: failed {point.name} ({point.label}): {reason}", file=sys.stderr)
    if failed:
        raise SystemExit(1)
    print(f"sweep: all {len(plan)} points done; `dvc exp show` lists them", file=sys.stderr)


if __name__ == "__main__":
    run(main)
