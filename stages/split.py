"""Stage split: stratified train/val/test split, as the tutorial's two train_test_split calls.

Classification stratifies on the class; regression on quantile bins of the target
(binned_split), so that val and test span the target's range as train does.

`train_test_split` below gives exactly the rows scikit-learn's train_test_split(...,
stratify=labels) gives (tests compare them on random tables): scikit-learn's costs 1.2 s of
import (scipy) and walks every row in a Python loop (0.9 s at 10^6 rows), this one neither.
"""

import logging
import math

import numpy as np

from stages import artifacts, datasets, params, tasks
from stages.errors import UserError, run

log = logging.getLogger("split")

TARGET_BINS = 10  # quantile bins of a regression target: deciles, fewer where rows are too few


def _fewest(labels: np.ndarray, n_classes: int) -> tuple[int, int]:
    """(class index, count) of the least populated class."""
    counts = np.bincount(labels, minlength=n_classes)
    return int(np.argmin(counts)), int(counts.min())


def approximate_mode(class_counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Rows per class of a draw of n_draws, ties broken by rng: sklearn.utils.extmath's
    _approximate_mode, step for step, so the random stream stays in step with it."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (inds,) = np.where(remainder == value)
            add_now = min(len(inds), need_to_add)
            floored[rng.choice(inds, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    return floored.astype(int)


def train_test_split(
    rows: np.ndarray, test_size: float, random_state: int, stratify: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's train_test_split(rows, test_size=, random_state=, stratify=) for a float
    test_size (its StratifiedShuffleSplit, one split), with the per-class slices joined by NumPy.
    Raises ValueError where scikit-learn does."""
    n_samples = len(rows)
    n_test = math.ceil(test_size * n_samples)
    n_train = n_samples - n_test
    if n_train == 0:
        raise ValueError(f"with n_samples={n_samples} and test_size={test_size}, the train set is empty")
    classes, y_indices, class_counts = np.unique(stratify, return_inverse=True, return_counts=True)
    if class_counts.min() < 2:
        raise ValueError("the least populated class in y has only 1 member, which is too few")
    if n_train < len(classes) or n_test < len(classes):
        raise ValueError(
            f"train size {n_train} and test size {n_test} must each be >= the {len(classes)} classes"
        )
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(random_state)
    n_i = approximate_mode(class_counts, n_train, rng)
    t_i = approximate_mode(class_counts - n_i, n_test, rng)
    train, test = [], []
    for i in range(len(classes)):
        shuffled = class_indices[i].take(rng.permutation(class_counts[i]), mode="clip")
        train.append(shuffled[: n_i[i]])
        test.append(shuffled[n_i[i] : n_i[i] + t_i[i]])
    train_rows = rng.permutation(np.concatenate(train))
    test_rows = rng.permutation(np.concatenate(test))
    return rows[train_rows], rows[test_rows]


def stratified_split(
    labels: np.ndarray, class_names: np.ndarray, p: params.SplitParams
) -> dict[str, np.ndarray]:
    """Row indices of each split: train_test_split on all rows, then on the held-out ones."""
    n_classes = len(class_names)
    rows = np.arange(len(labels))
    datasets.check_classes(labels, class_names)
    try:
        train, held = train_test_split(
            rows, test_size=p.holdout_size, random_state=p.random_state, stratify=labels
        )
        cls, count = _fewest(labels[held], n_classes)
        if count < 2:
            raise UserError(
                f"params.yaml: split.holdout_size = {p.holdout_size} leaves class "
                f"{str(class_names[cls])!r} {count} held-out row(s), too few to put one in val and "
                "one in test; use a larger holdout_size"
            )
        val, test = train_test_split(
            held, test_size=p.test_size, random_state=p.random_state, stratify=labels[held]
        )
    except ValueError as error:  # too few rows for these sizes; say it in params' terms
        raise UserError(
            f"params.yaml: split.holdout_size = {p.holdout_size} and split.test_size = "
            f"{p.test_size} cannot split {len(rows)} rows of {n_classes} classes ({error})"
        ) from None
    splits = {"train": train, "val": val, "test": test}
    check_every_class_present(splits, labels, class_names, p)
    return splits


def check_every_class_present(
    splits: dict[str, np.ndarray], labels: np.ndarray, class_names: np.ndarray, p: params.SplitParams
) -> None:
    for name, rows in splits.items():
        cls, count = _fewest(labels[rows], len(class_names))
        if count == 0:
            raise UserError(
                f"params.yaml: split.holdout_size = {p.holdout_size} and split.test_size = "
                f"{p.test_size} leave class {str(class_names[cls])!r} with no rows in {name}; "
                "each of train, val, test needs every class: move the sizes toward 0.5"
            )


def quantile_bins(values: np.ndarray, n_bins: int) -> np.ndarray:
    """int64 bin of each value between the target's n_bins-quantiles (a value on an edge goes
    to the upper bin); tied values share a bin, so a bin may be empty."""
    edges = np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.searchsorted(edges, values, side="right").astype(np.int64)


def binned_split(values: np.ndarray, p: params.SplitParams) -> tuple[dict[str, np.ndarray], int]:
    """Row indices of each split for a regression target, and the number of bins used: the
    same two train_test_split calls, stratified on TARGET_BINS quantile bins of the target.

    Fallback: a table too small for that many bins (a bin with fewer than two rows, or one
    that val or test would lack) is split on fewer, down to one bin, which is a plain shuffled
    split; only when even that leaves val or test empty is it an error."""
    rows = np.arange(len(values))
    for n_bins in range(TARGET_BINS, 0, -1):
        bins = quantile_bins(values, n_bins)
        try:
            train, held = train_test_split(rows, p.holdout_size, p.random_state, stratify=bins)
            val, test = train_test_split(held, p.test_size, p.random_state, stratify=bins[held])
        except ValueError:
            continue
        splits = {"train": train, "val": val, "test": test}
        present = np.unique(bins)
        if all(np.array_equal(np.unique(bins[part]), present) for part in splits.values()):
            return splits, n_bins
    raise UserError(
        f"params.yaml: split.holdout_size = {p.holdout_size} and split.test_size = {p.test_size} "
        f"cannot split {len(values)} rows into train, val and test with at least one row each; "
        "use more rows or sizes nearer 0.5"
    )


def main() -> None:
    p = params.load("split")
    dataset = datasets.Dataset.from_arrays(artifacts.read_npz(artifacts.PREPARED))
    task = tasks.from_arrays(dataset.to_arrays())
    if task.name == "regression":
        splits, n_bins = binned_split(dataset.labels, p)
        log.info("stratified on %d quantile bin(s) of the target", n_bins)

        def describe(labels: np.ndarray) -> str:
            return f"target from {labels.min():g} to {labels.max():g}"
    else:
        splits = stratified_split(dataset.labels, dataset.class_names, p)

        def describe(labels: np.ndarray) -> str:
            return f"per class {np.bincount(labels, minlength=len(dataset.class_names)).tolist()}"

    for name, rows in splits.items():
        part = dataset.take(rows)
        artifacts.write_npz(artifacts.SPLIT[name], {**part.to_arrays(), "rows": rows})
        log.info("%s: %d rows, %s", name, len(rows), describe(part.labels))


if __name__ == "__main__":
    run(main)
