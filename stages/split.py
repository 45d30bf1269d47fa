"""Stage split: stratified train/val/test split, as the tutorial's two train_test_split calls."""

import logging

import numpy as np

from stages import artifacts, datasets, params
from stages.errors import UserError, run

log = logging.getLogger("split")


def _fewest(labels: np.ndarray, n_classes: int) -> tuple[int, int]:
    """(class index, count) of the least populated class."""
    counts = np.bincount(labels, minlength=n_classes)
    return int(np.argmin(counts)), int(counts.min())


def stratified_split(
    labels: np.ndarray, class_names: np.ndarray, p: params.SplitParams
) -> dict[str, np.ndarray]:
    """Row indices of each split: train_test_split on all rows, then on the held-out ones."""
    from sklearn.model_selection import train_test_split

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


def main() -> None:
    p = params.load("split")
    dataset = datasets.Dataset.from_arrays(artifacts.read_npz(artifacts.PREPARED))
    splits = stratified_split(dataset.labels, dataset.class_names, p)
    for name, rows in splits.items():
        part = dataset.take(rows)
        artifacts.write_npz(artifacts.SPLIT[name], {**part.to_arrays(), "rows": rows})
        counts = np.bincount(part.labels, minlength=len(dataset.class_names))
        log.info("%s: %d rows, per class %s", name, len(rows), counts.tolist())


if __name__ == "__main__":
    run(main)
