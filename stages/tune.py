"""A Bayesian search (Optuna's TPE) whose every trial is a DVC experiment, run as the sweep runs points.

    python -m stages.tune -S 'train.lr=tag(log, interval(1e-4, 1e-2))' \\
        -S 'train.dropout=interval(0, 0.3)' -S 'train.hidden=choice([64, 64], [256, 256])' \\
        --trials 30 --parallel 2 [--metric val_loss] [--name PREFIX] [--seed 0] [--address ADDR]
    python -m stages.tune --resume PREFIX [--trials N]

The space is written in the override grammar of `dvc exp run -S` and Hydra's Optuna sweeper
(Hydra's own parser reads it): `interval(a, b)` a float, `int(interval(a, b))` an integer,
`tag(log, ...)` on a log scale, `range(a, b[, step])` integers from a up to b (b left out, as
Python's), `choice(x, y, ...)` or `x,y` one of the values, a plain value fixed for every trial.

Asynchronous: `--parallel J` trials are in flight; the moment one finishes, its validation metric
is told to the study and the next trial is asked, with no batch barrier (TPE's constant liar
keeps trials in flight from being proposed twice). Each trial is one Ray task that clones the
checkout's git remote at HEAD, pulls from the DVC remote what the trial does not change, runs
`dvc exp run -n PREFIX-N -S ...` and pushes the experiment; it is pulled back here as it finishes,
so `dvc exp show` lists every trial and `dvc exp apply PREFIX-N` makes one the workspace. The
workspace is never touched by the search.

Built on Optuna's ask/tell over the sweep's own Ray tasks rather than Ray Tune with its Optuna
searcher: a trial is a `dvc exp run` in a scratch clone, not a function Tune can checkpoint; the
sweep's clone/pull/push task, resources and Ctrl-C handling already exist and are tested; and the
study lives in Optuna's journal file (tune/PREFIX/study.journal, untracked), which a crashed or
interrupted search resumes from without rerunning a finished trial.

Selection sees the validation metric only (metrics/train.json, the kept epoch's); the test
metric of the chosen trial is read once the search has ended.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stages import params, sweep
from stages.errors import UserError, run

DEFAULT_TRIALS = 20
TUNE_DIR = Path("tune")  # one folder per search, untracked (.gitignore)
MINIMISE = ("loss", "rmse")  # a val_* metric ending so is made small; the others large
TEST_METRIC = {"val_loss": "loss", "val_accuracy": "accuracy", "val_rmse": "rmse"}
HEADLINE = {"classification": ("accuracy", "roc_auc"), "regression": ("rmse", "r2")}
USAGE = (
    "-S 'section.key=interval(a, b)' [-S ...] [--trials N] [--parallel J] [--metric M] "
    "[--name PREFIX] [--seed S] [--address ADDR] | --resume PREFIX"
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, like every other mistake
        raise UserError(f"{message}; usage: {self.prog} {USAGE}")


# ---- the space ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Space:
    """The searched keys as Optuna distributions, and the keys fixed for every trial."""

    distributions: dict[str, Any]  # key -> optuna distribution
    fixed: tuple[str, ...]  # `section.key=value` overrides given as plain values

    @property
    def keys(self) -> list[str]:
        return [*self.distributions, *(o.partition("=")[0] for o in self.fixed)]

    def overrides(self, chosen: dict[str, Any]) -> tuple[str, ...]:
        """A trial's `dvc exp run -S` arguments: its sampled values, then the fixed ones."""
        return (*(f"{key}={_spelled(chosen[key])}" for key in self.distributions), *self.fixed)


def shown(overrides: tuple[str, ...]) -> str:
    """Overrides for a person: sampled floats to 4 significant digits (the experiment has them whole)."""
    parts = []
    for override in overrides:
        key, _, value = override.partition("=")
        try:
            number = float(value)
        except ValueError:
            parts.append(override)
            continue
        parts.append(f"{key}={number:.4g}" if "." in value or "e" in value else override)
    return " ".join(parts)


def _spelled(value: Any) -> str:
    """A sampled value as `-S` reads it back to the same YAML value (floats by repr: exact)."""
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)


def _check_value(spec: str, key: str, value: Any, committed: dict) -> None:
    """`value` (a bound or a choice) through the section's own checks, in the committed params."""
    section, name = key.split(".", 1)
    raw = dict(committed.get(section) or {}, **{name: value})
    try:
        params.parse_section(section, raw)
    except UserError as error:
        reason = str(error).removeprefix("params.yaml: ")
        hint = (
            "; write int(interval(a, b)) for an integer"
            if isinstance(value, float) and "an integer" in reason
            else ""
        )
        raise UserError(f"-S {spec!r}: {reason}{hint}") from None


def parse_space(specs: list[str], committed: dict) -> Space:
    """`-S` overrides in Hydra's sweep grammar -> a Space; every key and every bound or choice is
    checked against params.yaml's own rules first, one line for the first that fails."""
    import optuna
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, RangeSweep, Transformer
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    distributions: dict[str, Any] = {}
    fixed: list[str] = []
    seen: set[str] = set()
    for spec in specs:
        try:
            (override,) = parser.parse_overrides([spec])
        except HydraException as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserError(f"-S {spec!r}: not a search space ({first})") from None
        key = override.key_or_group
        if "." not in key:
            raise UserError(
                f"-S {spec!r}: give section.key=SPACE, e.g. 'train.lr=tag(log, interval(1e-4, 1e-2))'"
            )
        sweep.check_key(spec, key)
        if key in seen:
            raise UserError(f"-S {spec!r}: {key} is given twice")
        seen.add(key)
        value = override.value()
        if not override.is_sweep_override():
            raw = override.get_value_element_as_str()
            if override.value() == "" or raw == "":
                raise UserError(f"-S {spec!r}: give section.key=SPACE or section.key=value")
            _check_value(spec, key, value, committed)
            fixed.append(f"{key}={raw}")
            continue
        if isinstance(value, IntervalSweep):
            low: Any = value.start
            high: Any = value.end
            if not low < high:
                raise UserError(f"-S {spec!r}: interval(a, b) needs a < b")
            log = "log" in value.tags
            if log and low <= 0:
                raise UserError(f"-S {spec!r}: a log scale needs a > 0")
            for bound in (low, high):
                _check_value(spec, key, bound, committed)
            whole = isinstance(low, int) and isinstance(high, int)
            distributions[key] = (
                optuna.distributions.IntDistribution(low, high, log=log)
                if whole
                else optuna.distributions.FloatDistribution(low, high, log=log)
            )
        elif isinstance(value, RangeSweep):
            start: Any = value.start
            stop: Any = value.stop
            step: Any = value.step
            if value.shuffle or not all(isinstance(n, int) for n in (start, stop, step)) or step < 1:
                raise UserError(f"-S {spec!r}: range(a, b[, step]) takes integers, a step >= 1")
            last = start + (stop - start - 1) // step * step
            if last < start:
                raise UserError(f"-S {spec!r}: range(a, b) is empty; it runs from a up to b, b left out")
            for bound in (start, last):
                _check_value(spec, key, bound, committed)
            distributions[key] = optuna.distributions.IntDistribution(start, last, step=step)
        elif isinstance(value, ChoiceSweep):
            # a list or mapping is kept as its override text ("[64,64]"): Optuna's choices are scalars
            choices: list[Any] = [
                raw if isinstance(raw, bool | int | float | str) else text
                for raw, text in zip(
                    override.sweep_iterator(),
                    override.sweep_iterator(transformer=Transformer.encode),
                    strict=True,
                )
            ]
            if len(set(map(str, choices))) < len(choices):
                raise UserError(f"-S {spec!r}: a choice is listed twice")
            for choice in override.sweep_iterator():
                _check_value(spec, key, choice, committed)
            distributions[key] = optuna.distributions.CategoricalDistribution(choices)
        else:  # glob(...) picks config groups, which params.yaml has none of
            raise UserError(f"-S {spec!r}: use interval, int(interval), tag(log, ...), range or choice")
    if not distributions:
        raise UserError(
            "no space: give at least one -S section.key=interval(a, b) | choice(...) | range(a, b)"
        )
    return Space(distributions, tuple(fixed))


def direction(metric: str) -> Literal["minimize", "maximize"]:
    return "minimize" if metric.endswith(MINIMISE) else "maximize"


def default_metric(task: str) -> str:
    return "val_accuracy" if task == "classification" else "val_rmse"


def check_metric(metric: str, task: str) -> None:
    allowed = ["val_loss", default_metric(task)]
    if metric not in allowed:
        raise UserError(
            f"--metric {metric}: a {task} search is judged on the validation split: {' or '.join(allowed)} "
            "(metrics/train.json)"
        )


# ---- the search's files ---------------------------------------------------------------------


def _write(path: Path, text: str) -> None:
    """Whole or not at all: a Ctrl-C mid-write leaves the previous file."""
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    os.replace(part, path)


def experiment_ref(commit: str, name: str) -> str:
    """Where `dvc exp run -n NAME` on baseline `commit` keeps its experiment."""
    return f"refs/exps/{commit[:2]}/{commit[2:]}/{name}"


def experiment_file(commit: str, name: str, path: str) -> dict:
    done = subprocess.run(
        ["git", "show", f"{experiment_ref(commit, name)}:{path}"], capture_output=True, text=True
    )
    if done.returncode:
        raise UserError(f"experiment {name} has no {path}: {sweep.last_error_line(done)}")
    return json.loads(done.stdout)


def write_search(folder: Path, study, prefix: str) -> None:
    """search.csv: one row per finished trial, in trial order, with the best so far: the data
    of `dvc plots show tune/PREFIX/search.csv --template search`."""
    import optuna

    keys = sorted({key for t in study.trials for key in t.params})
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\n")
    table.writerow(["trial", "name", "state", "objective", "best", *keys])
    best = None
    sign = 1 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1
    for t in study.trials:
        if t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL):
            continue
        value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
        if value is not None and (best is None or sign * value < sign * best):
            best = value
        state = "interrupted" if t.user_attrs.get("error") == "interrupted" else t.state.name.lower()
        row = [
            t.number + 1,
            f"{prefix}-{t.number + 1}",
            state,
            "" if value is None else value,
            "" if best is None else best,
        ]
        table.writerow(row + [t.params.get(key, "") for key in keys])
    _write(folder / "search.csv", out.getvalue())


# ---- the driver -----------------------------------------------------------------------------


def _open_study(folder: Path, prefix: str, args, commit: str, task: str, committed: dict):
    """The study: a new one with this run's settings, or --resume's, checked against them."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    journal = folder / "study.journal"
    if args.resume and not journal.exists():
        raise UserError(f"--resume {prefix}: no search of that name here ({journal} not found)")
    if not args.resume and journal.exists():
        raise UserError(
            f"a search named {prefix} exists ({journal}): --resume {prefix} continues it; "
            "--name picks another"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.resume:
        storage = JournalStorage(JournalFileBackend(str(journal)))
        stored = optuna.load_study(study_name=prefix, storage=storage)
        kept = stored.user_attrs
        if kept["commit"] != commit:
            raise UserError(
                f"--resume {prefix}: its trials ran on commit {kept['commit'][:7]}, HEAD is {commit[:7]}; "
                f"git checkout {kept['commit'][:7]} to resume it, or start a new search"
            )
        for what, given in (("space", args.space), ("metric", args.metric), ("seed", args.seed)):
            if given not in (None, []) and given != kept[what]:
                raise UserError(
                    f"--resume {prefix}: its {what} is {kept[what]}; leave it out or repeat it as it was"
                )
        args.space, args.metric = kept["space"], kept["metric"]
        args.trials = args.trials or kept["trials"]
        # a fresh draw: the same seed would propose the finished trials' points again
        seed = kept["seed"] + len(stored.trials)
    else:
        args.metric = args.metric or default_metric(task)
        args.trials = args.trials or DEFAULT_TRIALS
        seed = args.seed if args.seed is not None else 0
    check_metric(args.metric, task)
    space = parse_space(args.space, committed)  # before anything is written: a bad space leaves nothing
    if not args.resume:
        folder.mkdir(parents=True, exist_ok=True)
        storage = JournalStorage(JournalFileBackend(str(journal)))
    study = optuna.create_study(
        study_name=prefix,
        storage=storage,
        sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),
        direction=direction(args.metric),
        load_if_exists=args.resume is not None,
    )
    if not args.resume:  # what a resume reads back
        for key, value in {
            "space": args.space,
            "metric": args.metric,
            "seed": seed,
            "commit": commit,
        }.items():
            study.set_user_attr(key, value)
    study.set_user_attr("trials", args.trials)
    return study, space


def _requeue_unfinished(study) -> int:
    """Trials a killed or interrupted driver left: failed as interrupted, their points asked again."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        optuna.trial.Trial(study, t._trial_id).set_user_attr("error", "interrupted")
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
    requeued = set(study.user_attrs.get("requeued", []))
    again = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get("error") == "interrupted" and t.number not in requeued
    ]
    for t in again:
        study.enqueue_trial(dict(t.params), user_attrs={"again": t.number + 1})
    if again:
        study.set_user_attr("requeued", sorted(requeued | {t.number for t in again}))
    return len(again)


def _counted(study) -> int:
    """Finished trials that count towards --trials: completed, or failed on their own."""
    import optuna

    return sum(
        t.state == optuna.trial.TrialState.COMPLETE
        or (
            t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get("error") not in (None, "interrupted")
        )
        for t in study.get_trials(deepcopy=False)
    )


def main() -> None:
    parser = _Parser(prog="python -m stages.tune", description=__doc__.splitlines()[0])
    parser.add_argument(
        "-S",
        "--set-param",
        dest="space",
        action="append",
        default=[],
        metavar="KEY=SPACE",
        help="a params.yaml key and its space (interval, int(interval), tag(log, ...), range, choice)"
        " or a value fixed for every trial",
    )
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        help=f"trials in the search, finished ones counted ({DEFAULT_TRIALS})",
    )
    parser.add_argument("--parallel", type=int, default=2, help="trials in flight at once (2)")
    parser.add_argument(
        "--metric", default=None, help="val_accuracy (classification) or val_rmse (regression), or val_loss"
    )
    parser.add_argument(
        "--name", default=None, help="experiment name prefix: NAME-1, NAME-2, ... (default tune-XXXXXX)"
    )
    parser.add_argument("--seed", type=int, default=None, help="the TPE sampler's seed (0)")
    parser.add_argument("--address", default=None, help="a Ray cluster's address; default: a local Ray")
    parser.add_argument("--resume", default=None, metavar="PREFIX", help="continue the search PREFIX")
    args = parser.parse_args()
    if args.resume and args.name and args.name != args.resume:
        raise UserError("give --resume PREFIX or --name PREFIX, not both")
    if args.trials is not None and args.trials < 1:
        raise UserError(f"--trials {args.trials}: give at least 1")
    if args.parallel < 1:
        raise UserError(f"--parallel {args.parallel}: give at least 1")
    if not args.resume and not args.space:
        raise UserError(
            "no space: give at least one -S section.key=interval(a, b) | choice(...) | range(a, b)"
        )
    import uuid

    import yaml

    prefix = args.resume or args.name or f"tune-{uuid.uuid4().hex[:6]}"
    if not prefix.replace("-", "").replace("_", "").isalnum():
        raise UserError(f"--name {prefix}: letters, digits, - and _ only (it names experiments and a folder)")
    committed = yaml.safe_load(params.PARAMS_FILE.read_text()) or {}
    train = params.load("train")
    task = params.load("prepare").task
    commit, url = sweep.checkout_state()
    folder = TUNE_DIR / prefix
    study, space = _open_study(folder, prefix, args, commit, task, committed)
    again = _requeue_unfinished(study)
    pull = sweep.stages_to_pull(yaml.safe_load(Path("dvc.yaml").read_text()), space.keys)
    gpus = 1 if train.device == "cuda" else 0
    wanted = args.trials - _counted(study)

    if wanted <= 0:  # a resume of a search that has all its trials: its report again
        print(f"tune: {prefix} has its {args.trials} trials; --trials N (more) adds some", file=sys.stderr)
        report(study, prefix, commit, args.metric, task, folder)
        return
    import optuna
    import ray

    started = time.perf_counter()
    where = sweep.start_ray(ray, args.address)
    reused = ", ".join(pull) or "no stage"
    resumed = (
        f", resumed with {_counted(study)} finished ({again} interrupted asked again)" if args.resume else ""
    )
    print(
        f"tune: {prefix}: {wanted} trials of {commit[:7]}, {args.parallel} at once, "
        f"on {where}{resumed}; "
        f"{direction(args.metric)} {args.metric}; each pulls {reused}",
        file=sys.stderr,
    )
    task_fn = ray.remote(sweep.run_point)
    in_flight: dict[Any, tuple[Any, sweep.Point]] = {}
    launched = finished = failed = 0

    def launch() -> None:
        trial = study.ask(space.distributions)
        point = sweep.Point(f"{prefix}-{trial.number + 1}", space.overrides(trial.params))
        point, threads = sweep.with_threads(point, train.threads)
        ref = task_fn.options(num_cpus=threads, num_gpus=gpus, name=point.name).remote(
            url, commit, point, pull
        )
        in_flight[ref] = (trial, point)

    try:
        while finished < wanted:
            while len(in_flight) < args.parallel and launched < wanted:
                launch()
                launched += 1
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            trial, point = in_flight.pop(ready[0])
            outcome = sweep.landed(ray, ready[0], point.name)
            value = None
            if outcome["ok"]:
                value = experiment_file(commit, point.name, "metrics/train.json").get(args.metric)
                if not isinstance(value, int | float) or not math.isfinite(value):
                    outcome = {"ok": False, "error": f"metrics/train.json has no finite {args.metric}"}
            finished += 1
            if outcome["ok"]:
                study.tell(trial, value)
                said = f"{args.metric} {value:.4f}"
            else:
                failed += 1
                trial.set_user_attr("error", outcome["error"])
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                said = f"FAILED: {outcome['error']}"
            write_search(folder, study, prefix)
            best = _best(study)
            lead = f"best {prefix}-{best.number + 1} {best.value:.4f}" if best else "no best yet"
            print(
                f"tune: {point.name} ({shown(point.overrides)}): {said} | {lead} | {finished - failed} done, "
                f"{len(in_flight)} running, {failed} failed | {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
            )
    except KeyboardInterrupt:
        for ref, (trial, _) in in_flight.items():  # a running task stops its command, removes its clone
            ray.cancel(ref)
            trial.set_user_attr("error", "interrupted")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        ray.wait(list(in_flight), num_returns=len(in_flight), timeout=30)
        write_search(folder, study, prefix)
        print(
            f"tune: stopped {len(in_flight)} running trials; `python -m stages.tune --resume {prefix}` "
            "continues the search",
            file=sys.stderr,
        )
        raise
    finally:
        ray.shutdown()
    write_search(folder, study, prefix)
    report(study, prefix, commit, args.metric, task, folder)


def _best(study):
    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return None
    sign = 1 if study.direction == optuna.study.StudyDirection.MINIMIZE else -1
    return min(done, key=lambda t: (sign * t.value, t.number))


def report(study, prefix: str, commit: str, metric: str, task: str, folder: Path) -> None:
    """The chosen trial, its test metric read only now, and where to look; best.json for scripts."""
    import optuna

    for t in study.get_trials(deepcopy=False):
        if t.state == optuna.trial.TrialState.FAIL and t.user_attrs.get("error") not in (None, "interrupted"):
            print(f"tune: failed {prefix}-{t.number + 1}: {t.user_attrs['error']}", file=sys.stderr)
    best = _best(study)
    if best is None:
        raise UserError(f"no trial of {prefix} finished; each failure is listed above")
    name = f"{prefix}-{best.number + 1}"
    test = experiment_file(commit, name, "metrics/eval.json")
    names = [TEST_METRIC[metric], *(m for m in HEADLINE[task] if m != TEST_METRIC[metric])]
    tested = {m: test[m] for m in names if m in test}
    summary = {
        "name": name,
        "params": dict(best.params),
        "metric": metric,
        "value": best.value,
        "test": tested,
        "trials": _counted(study),
    }
    _write(folder / "best.json", json.dumps(summary, indent=2) + "\n")
    point = shown(tuple(f"{key}={_spelled(value)}" for key, value in best.params.items()))
    scores = ", ".join(f"{m} {v:.4f}" for m, v in tested.items())
    print(
        f"tune: best of {summary['trials']} trials: {name} ({point}): {metric} {best.value:.4f}; "
        f"test {scores}",
        file=sys.stderr,
    )
    print(
        f"tune: make it the workspace: dvc exp apply {name} | every trial: dvc exp show | the search: "
        f"dvc plots show {folder / 'search.csv'} --template search -x trial -y objective "
        f"--title '{prefix}: {metric} (dots), the best so far (line)'",
        file=sys.stderr,
    )


if __name__ == "__main__":
    run(main)
