"""Stage prepare: load the source named by params.prepare into data/prepared/dataset.npz."""

import logging

from stages import artifacts, datasets, params
from stages.errors import run

log = logging.getLogger("prepare")


def load_source(p: params.PrepareParams) -> datasets.Dataset:
    if p.is_table:
        from stages import tables  # pyarrow is paid for only by table sources

        return tables.load_table(p)
    return datasets.load_bundled(p.source)


def main() -> None:
    p = params.load("prepare")
    dataset = load_source(p)
    artifacts.write_npz(artifacts.PREPARED, dataset.to_arrays())
    target = f"{len(dataset.class_names)} classes" if p.task == "classification" else "a numeric target"
    log.info(
        "%s: %d rows, %d numeric + %d categorical features, %s",
        p.source,
        len(dataset),
        len(dataset.feature_names),
        len(dataset.categorical_names),
        target,
    )


if __name__ == "__main__":
    run(main)
