"""Stage scale: fit the preprocessing on train, save it, and write every split transformed.

Writing the transformed splits lets train and evaluate skip the preprocessing entirely. Splits
are read and written one at a time, so the stage holds one split and its transform at once.
"""

import logging

from stages import artifacts, params, preprocessing
from stages.datasets import Dataset
from stages.errors import run

log = logging.getLogger("scale")


def scaled_arrays(part: Dataset, preprocessor: preprocessing.Preprocessor, tables: list) -> dict:
    return {
        "features": preprocessor.transform_numeric(part.features),
        "codes": preprocessing.encode_prepared(part.categorical, tables),
        "cardinalities": preprocessor.cardinalities,
        "labels": preprocessing.scaled_target(preprocessor, part.labels),
        "class_names": part.class_names,
        "task": part.task,
        "target_name": part.target_name,
        **(
            {"target_center": preprocessor.target_center, "target_scale": preprocessor.target_scale}
            if preprocessor.target_center is not None
            else {}
        ),
        # the columns a new row must have; train puts them in the model's config
        "input_numeric": part.feature_names,
        "input_categorical": part.categorical_names,
    }


def main() -> None:
    p = params.load("scale")
    train = Dataset.from_arrays(artifacts.read_npz(artifacts.SPLIT["train"]))
    preprocessor, tables = preprocessing.fit(p.method, p.min_frequency, train)
    artifacts.write_npz(artifacts.SCALED["train"], scaled_arrays(train, preprocessor, tables))
    del train
    for name in ("val", "test"):
        part = Dataset.from_arrays(artifacts.read_npz(artifacts.SPLIT[name]))
        artifacts.write_npz(artifacts.SCALED[name], scaled_arrays(part, preprocessor, tables))
        del part
    artifacts.write_joblib(artifacts.SCALER, preprocessor)
    sizes = ", ".join(
        f"{name} {len(vocabulary)} of {len(table) - 1}"
        for name, vocabulary, table in zip(
            preprocessor.text_names, preprocessor.vocabularies, tables, strict=True
        )
    )
    log.info(
        "%s: %d numeric columns; %d text columns%s",
        p.method,
        len(preprocessor.numeric_names),
        len(preprocessor.text_names),
        f" (values with their own code, of those in the table: {sizes})" if sizes else "",
    )


if __name__ == "__main__":
    run(main)
