"""Stage scale: fit the preprocessing on train, save it, and write every split transformed.

Writing the transformed splits lets train and evaluate skip scikit-learn entirely.
"""

import logging

from stages import artifacts, params, preprocessing
from stages.datasets import Dataset
from stages.errors import run

log = logging.getLogger("scale")


def main() -> None:
    p = params.load("scale")
    splits = {name: Dataset.from_arrays(artifacts.read_npz(path)) for name, path in artifacts.SPLIT.items()}
    preprocessor = preprocessing.fit_preprocessor(p.method, splits["train"])
    transformed = {
        name: preprocessing.transform(preprocessor, part.features, part.categorical)
        for name, part in splits.items()
    }
    artifacts.write_joblib(artifacts.SCALER, preprocessor)
    for name, part in splits.items():
        artifacts.write_npz(
            artifacts.SCALED[name],
            {
                "features": transformed[name],
                "labels": part.labels,
                "class_names": part.class_names,
                # the columns a new row must have; train puts them in the model's config
                "input_numeric": part.feature_names,
                "input_categorical": part.categorical_names,
            },
        )
    train = splits["train"]
    log.info(
        "%s: %d numeric + %d categorical columns in, %d features out",
        p.method,
        len(train.feature_names),
        len(train.categorical_names),
        transformed["train"].shape[1],
    )


if __name__ == "__main__":
    run(main)
