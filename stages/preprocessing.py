"""The fitted feature transform: impute and scale numeric columns, map text to embedding codes.

Fit on the train split only; the scale stage applies it to every split and predict to new rows.
Numeric columns: an empty cell takes the train median (scikit-learn's SimpleImputer(strategy=
"median")), then `scale.method` as scikit-learn's StandardScaler, MinMaxScaler or RobustScaler
define it, computed on the imputed train column; tests check both against scikit-learn.
`robust_clip` is RealMLP's robust scaling with smooth clipping (Holzmüller et al., "Better by
default", NeurIPS 2024): (x - median) / IQR, then z / sqrt(1 + (z / 3)^2), so a value far outside
train's range maps to within +-3 instead of far out, where a network extrapolates wildly. Text
columns: each value seen in train at least `scale.min_frequency` times gets its own code; every
other value, and any value train never held, shares the code OTHER; an empty cell has EMPTY.

Written in NumPy rather than with scikit-learn's transformers: in row chunks, it holds one
float64 chunk beside its float32 output (scikit-learn's validation copies the whole matrix,
twice), and the scale stage starts without importing scikit-learn.
"""

from dataclasses import dataclass

import numpy as np

from stages.datasets import Dataset

EMPTY, OTHER = 0, 1  # codes every text column reserves; a vocabulary's values follow from 2
RESERVED = 2
CHUNK_ROWS = 1 << 16  # rows per float64 chunk in transform_numeric: 64k x 20 columns = 10 MB
SMOOTH_CLIP = 3.0  # robust_clip's bound: |output| within 3 (3 itself after float32 rounding), as RealMLP's


@dataclass(frozen=True)
class Preprocessor:
    """What the scale stage learnt from train; models/scaler.joblib holds one."""

    method: str  # scale.method
    numeric_names: list[str]
    fill: np.ndarray  # float64 per numeric column: the train median, for empty cells
    center: np.ndarray  # float64: subtracted after imputation
    scale: np.ndarray  # float64: then divided by
    text_names: list[str]
    vocabularies: list[list[str]]  # per text column: its values with a code, code = 2 + position
    min_frequency: int
    # regression (None for classification): the target is standardised, (y - target_center) /
    # target_scale, with train's mean and standard deviation (ddof 0, as StandardScaler)
    target_center: float | None = None
    target_scale: float | None = None

    @property
    def cardinalities(self) -> list[int]:
        """Codes per text column, EMPTY and OTHER included: its embedding table's rows."""
        return [RESERVED + len(vocabulary) for vocabulary in self.vocabularies]

    def transform_numeric(self, features: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """float32 (n, n_numeric) with NaN -> imputed and scaled float32 of the same shape, in
        `out` if given (which may be `features` itself: predict transforms in place)."""
        out = np.empty(features.shape, dtype=np.float32) if out is None else out
        for start in range(0, len(features), CHUNK_ROWS):
            chunk = features[start : start + CHUNK_ROWS].astype(np.float64)
            np.copyto(chunk, np.broadcast_to(self.fill, chunk.shape), where=np.isnan(chunk))
            chunk -= self.center
            chunk /= self.scale
            if self.method == "robust_clip":
                chunk /= np.sqrt(1.0 + (chunk / SMOOTH_CLIP) ** 2)
            out[start : start + CHUNK_ROWS] = chunk
        return out


def fit_numeric(method: str, features: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fill, center, scale) per column of float32 `features`, computed in float64."""
    n_columns = features.shape[1]
    fill, center, scale = np.zeros(n_columns), np.zeros(n_columns), np.ones(n_columns)
    for j in range(n_columns):
        column = features[:, j].astype(np.float64)
        missing = np.isnan(column)
        present = column[~missing]
        # a column empty in every train row has nothing to learn from: 0, and scale 1
        fill[j] = np.median(present) if len(present) else 0.0
        column[missing] = fill[j]
        if method == "standard":
            center[j], spread = column.mean(), column.std()
        elif method == "minmax":
            low, high = column.min(), column.max()
            center[j], spread = low, high - low
        elif method == "robust":
            q25, q50, q75 = np.percentile(column, [25, 50, 75])
            center[j], spread = q50, q75 - q25
        elif method == "robust_clip":
            q25, q50, q75 = np.percentile(column, [25, 50, 75])
            spread = q75 - q25 if q75 > q25 else (column.max() - column.min()) / 2  # RealMLP's fallback
            # a constant column maps every value to 0 (RealMLP's factor 0): x / inf
            center[j], scale[j] = q50, spread if spread > 0 else np.inf
            continue
        else:  # none
            continue
        # a constant column is left unscaled, as scikit-learn's scalers leave it
        scale[j] = spread if spread > 10 * np.finfo(np.float64).eps * max(1.0, abs(center[j])) else 1.0
    return fill, center, scale


def code_table(train_codes: np.ndarray, n_values: int, min_frequency: int) -> np.ndarray:
    """Lookup from a column's prepared codes to its embedding codes: int32 of n_values + 1,
    the last entry serving the prepared code -1 (an empty cell) through NumPy's negative index."""
    counts = np.bincount(train_codes[train_codes >= 0], minlength=n_values)
    kept = np.flatnonzero(counts >= min_frequency)
    table = np.full(n_values + 1, OTHER, dtype=np.int32)
    table[kept] = RESERVED + np.arange(len(kept), dtype=np.int32)
    table[-1] = EMPTY
    return table


def fit_target(values: np.ndarray) -> tuple[float, float]:
    """(mean, standard deviation) of a regression target, in float64; a spread of 0 (which
    prepare refuses for the whole table) is left at 1."""
    values = np.asarray(values, dtype=np.float64)
    center, spread = float(values.mean()), float(values.std())
    return center, spread if spread > 0 else 1.0


def fit(method: str, min_frequency: int, train: Dataset) -> tuple[Preprocessor, list[np.ndarray]]:
    """The preprocessor fit on `train`, and per text column its prepared-code lookup table
    (code_table), which encodes the splits without going back to strings."""
    fill, center, scale = fit_numeric(method, train.features)
    regression = str(train.task) == "regression"
    target_center, target_scale = fit_target(train.labels) if regression else (None, None)
    tables, vocabularies = [], []
    for j in range(train.categorical.shape[1]):
        table = code_table(train.categorical[:, j], train.n_categories(j), min_frequency)
        tables.append(table)
        vocabularies.append(train.category_values(j, np.flatnonzero(table[:-1] >= RESERVED)))
    preprocessor = Preprocessor(
        method=method,
        numeric_names=train.feature_names.tolist(),
        fill=fill,
        center=center,
        scale=scale,
        text_names=train.categorical_names.tolist(),
        vocabularies=vocabularies,
        min_frequency=min_frequency,
        target_center=target_center,
        target_scale=target_scale,
    )
    return preprocessor, tables


def scaled_target(preprocessor: Preprocessor, labels: np.ndarray) -> np.ndarray:
    """The target as the network learns it: class indices as they are; a regression target
    standardised, float64."""
    center, scale = preprocessor.target_center, preprocessor.target_scale
    if center is None or scale is None:
        return labels
    return (np.asarray(labels, dtype=np.float64) - center) / scale


def encode_prepared(codes: np.ndarray, tables: list[np.ndarray]) -> np.ndarray:
    """int32 (n, n_text) prepared codes -> embedding codes, through each column's lookup table."""
    out = np.empty(codes.shape, dtype=np.int32)
    for j, table in enumerate(tables):
        out[:, j] = table[codes[:, j]]
    return out


def encode_values(preprocessor: Preprocessor, column: int, values) -> np.ndarray:
    """A pyarrow string array of new rows' values (null: empty) -> int32 embedding codes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    vocabulary = pa.array(preprocessor.vocabularies[column], type=pa.string())
    # index_in gives null for a value the vocabulary lacks, and for an empty cell
    position = pc.fill_null(pc.index_in(values, value_set=vocabulary), -1).to_numpy(zero_copy_only=False)
    codes = np.where(position >= 0, RESERVED + position, OTHER).astype(np.int32)
    codes[~pc.is_valid(values).to_numpy(zero_copy_only=False)] = EMPTY
    return codes
