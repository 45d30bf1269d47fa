"""Stage split: stratified train/val/test split, as the tutorial's two train_test_split calls."""

import logging

import numpy as np

from stages import artifacts, datasets, params
from stages.errors import UserError, run

log = logging.getLogger("split")


def stratified_split(labels: np.ndarray, p: params.SplitParams) -> dict[str, np.ndarray]:
    """Row indices of each split: train_test_split on all rows, then on the held-out ones."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(labels))
    try:
        train, held = train_test_split(
            rows, test_size=p.holdout_size, random_state=p.random_state, stratify=labels
        )
        val, test = train_test_split(
            held, test_size=p.test_size, random_state=p.random_state, stratify=labels[held]
        )
    except ValueError as error:  # too few rows for these sizes; say it in params' terms
        raise UserError(
            f"params.yaml: split.holdout_size = {p.holdout_size} and split.test_size = "
            f"{p.test_size} cannot split {len(rows)} rows of {len(np.unique(labels))} classes "
            f"({error})"
        ) from None
    return {"train": train, "val": val, "test": test}


def check_every_class_present(
    splits: dict[str, np.ndarray], labels: np.ndarray, class_names: np.ndarray, p: params.SplitParams
) -> None:
    for name, rows in splits.items():
        counts = np.bincount(labels[rows], minlength=len(class_names))
        if (counts == 0).any():
            empty = class_names[np.argmax(counts == 0)]
            raise UserError(
                f"params.yaml: split.holdout_size = {p.holdout_size} and split.test_size = "
                f"{p.test_size} leave class {empty!r} with no rows in {name}; "
                "each of train, val, test needs every class: use larger sizes"
            )


def main() -> None:
    p = params.load("split")
    dataset = datasets.Dataset.from_arrays(artifacts.read_npz(artifacts.PREPARED))
    splits = stratified_split(dataset.labels, p)
    check_every_class_present(splits, dataset.labels, dataset.class_names, p)
    for name, rows in splits.items():
        part = dataset.take(rows)
        artifacts.write_npz(artifacts.SPLIT[name], {**part.to_arrays(), "rows": rows})
        counts = np.bincount(part.labels, minlength=len(dataset.class_names))
        log.info("%s: %d rows, per class %s", name, len(rows), counts.tolist())


if __name__ == "__main__":
    run(main)
