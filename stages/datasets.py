"""The in-memory dataset every stage passes along, and the loaders of its sources.

Bundled sources are read straight from the CSV files that ship inside scikit-learn, so the
prepare stage does not pay for importing scikit-learn (and scipy) to get 150 rows.
"""

import gzip
import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from stages.errors import UserError

MIN_ROWS_PER_CLASS = 3  # one each in train, val and test

_BREAST_CANCER_MEASURES = (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
    "concave points", "symmetry", "fractal dimension",
)  # fmt: skip

# Feature names as scikit-learn's load_* functions give them (the CSV files do not hold them).
_FEATURE_NAMES = {
    "iris": ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"],
    "wine": [
        "alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium", "total_phenols",
        "flavanoids", "nonflavanoid_phenols", "proanthocyanins", "color_intensity", "hue",
        "od280/od315_of_diluted_wines", "proline",
    ],
    "breast_cancer": [f"mean {m}" for m in _BREAST_CANCER_MEASURES]
    + [f"{m} error" for m in _BREAST_CANCER_MEASURES]
    + [f"worst {m}" for m in _BREAST_CANCER_MEASURES],
    "digits": [f"pixel_{row}_{col}" for row in range(8) for col in range(8)],
    "diabetes": ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"],
}  # fmt: skip
_CSV_FILES = {"iris": "iris.csv", "wine": "wine_data.csv", "breast_cancer": "breast_cancer.csv"}


@dataclass(frozen=True)
class Dataset:
    """Rows of numeric and text features with a target: integer labels indexing class_names
    (classification), or the target's values (regression, class_names empty).

    A text column is held as int32 codes into its own sorted distinct values; the values of
    every column sit in one UTF-8 buffer (`categories`), as Arrow lays out strings, so that no
    array holds Python objects and a long value does not widen every other one.
    """

    features: np.ndarray  # float32 (n, n_numeric); NaN marks a missing value
    feature_names: np.ndarray  # str (n_numeric,)
    categorical: np.ndarray  # int32 (n, n_categorical): code of the cell's value; -1 marks an empty cell
    categorical_names: np.ndarray  # str (n_categorical,)
    categories: np.ndarray  # uint8: UTF-8 of each column's distinct values, sorted, column after column
    category_ends: np.ndarray  # int64 (n_values,): where each value ends in `categories`
    category_offsets: np.ndarray  # int64 (n_categorical + 1,): column j has values offsets[j]:offsets[j+1]
    labels: np.ndarray  # int64 (n,) class indices, or float64 (n,) values for regression
    class_names: np.ndarray  # str (n_classes,); empty for regression
    task: np.ndarray  # str (): prepare.task, "classification" or "regression"
    target_name: np.ndarray  # str (): the target column's name ("target" for bundled sources)

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, rows: np.ndarray) -> "Dataset":
        return replace(self, features=self.features[rows], categorical=self.categorical[rows],
                       labels=self.labels[rows])  # fmt: skip

    def n_categories(self, column: int) -> int:
        return int(self.category_offsets[column + 1] - self.category_offsets[column])

    def category_values(self, column: int, codes: np.ndarray | None = None) -> list[str]:
        """The distinct values of text column `column` (those at `codes`, if given), as str."""
        first = int(self.category_offsets[column])
        picked = np.arange(self.n_categories(column)) if codes is None else np.asarray(codes)
        ends = np.concatenate([[0], self.category_ends])
        blob = self.categories.tobytes()
        return [blob[ends[first + k] : ends[first + k + 1]].decode() for k in picked.tolist()]

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Dataset":
        return cls(**{name: arrays[name] for name in cls.__dataclass_fields__})


def pack_categories(per_column: list[list[str]]) -> dict[str, np.ndarray]:
    """Dataset's categories, category_ends and category_offsets for these values per column
    (each column's list sorted and distinct, as prepare makes them)."""
    encoded = [value.encode() for values in per_column for value in values]
    return {
        "categories": np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(),
        "category_ends": np.cumsum([len(e) for e in encoded], dtype=np.int64),
        "category_offsets": np.cumsum([0] + [len(values) for values in per_column], dtype=np.int64),
    }


def numeric_dataset(
    features: np.ndarray, labels: np.ndarray, feature_names: list[str], class_names: list[str],
    task: str = "classification",
) -> Dataset:  # fmt: skip
    return Dataset(
        features=np.asarray(features, dtype=np.float32),
        feature_names=np.asarray(feature_names, dtype=str),
        categorical=np.empty((len(labels), 0), dtype=np.int32),
        categorical_names=np.empty(0, dtype=str),
        **pack_categories([]),
        labels=np.asarray(labels, dtype=np.int64 if task == "classification" else np.float64),
        class_names=np.asarray(class_names, dtype=str),
        task=np.asarray(task),
        target_name=np.asarray("target"),
    )


def check_classes(labels: np.ndarray, class_names: np.ndarray, where: str | None = None) -> None:
    """At least two classes, each with enough rows to reach all of train, val and test."""
    prefix = f"{where}: " if where else ""
    if len(class_names) < 2:
        found = f"only {str(class_names[0])!r}" if len(class_names) else "none"
        raise UserError(f"{prefix}the target needs at least two classes; found {found}")
    counts = np.bincount(labels, minlength=len(class_names))
    if counts.min() < MIN_ROWS_PER_CLASS:
        rare = int(np.argmin(counts))
        raise UserError(
            f"{prefix}class {str(class_names[rare])!r} has {counts[rare]} row(s); a stratified "
            f"train/val/test split needs at least {MIN_ROWS_PER_CLASS} rows of every class"
        )


def check_values(values: np.ndarray, where: str) -> None:
    """A regression target: finite, and not one value in every row."""
    if not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0]) + 1
        raise UserError(f"{where}: the target is infinite in row {row}; a regression target must be finite")
    if len(values) and values.min() == values.max():
        raise UserError(
            f"{where}: the target is {values[0]:g} in every row; a constant target leaves nothing to learn"
        )


def _sklearn_data_dir() -> Path:
    # find_spec locates the package without running its __init__ (which imports scipy).
    spec = importlib.util.find_spec("sklearn")
    assert spec is not None and spec.origin is not None, "stages/__init__.py checks for scikit-learn"
    return Path(spec.origin).parent / "datasets" / "data"


def load_bundled(name: str) -> Dataset:
    """One of scikit-learn's bundled datasets, as its load_<name>() returns it."""
    data_dir = _sklearn_data_dir()
    if name == "diabetes":  # load_diabetes(scaled=False): the measurements in their own units
        features = np.loadtxt(data_dir / "diabetes_data_raw.csv.gz")
        target = np.loadtxt(data_dir / "diabetes_target.csv.gz")
        return numeric_dataset(features, target, _FEATURE_NAMES[name], [], task="regression")
    if name == "digits":
        with gzip.open(data_dir / "digits.csv.gz", "rt") as handle:
            table = np.loadtxt(handle, delimiter=",")
        labels = table[:, -1].astype(np.int64)
        class_names = [str(digit) for digit in range(10)]
        return numeric_dataset(table[:, :-1], labels, _FEATURE_NAMES[name], class_names)
    with open(data_dir / _CSV_FILES[name]) as handle:
        header = handle.readline().strip().split(",")
        table = np.loadtxt(handle, delimiter=",")
    class_names = header[2:]
    return numeric_dataset(table[:, :-1], table[:, -1].astype(np.int64), _FEATURE_NAMES[name], class_names)
