"""The fitted feature transform: impute, scale numeric columns, one-hot encode categorical ones.

It is a scikit-learn ColumnTransformer over one matrix whose first columns are the numeric
features and whose last are the categorical ones (see `feature_matrix`), so the same object
serves the scale stage and predict.
"""

import numpy as np

from stages.datasets import Dataset


def feature_matrix(features: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    """Numeric then categorical columns as one matrix: float64, or object when mixed."""
    if categorical.shape[1] == 0:
        return features.astype(np.float64)
    return np.hstack([features.astype(object), categorical.astype(object)])


def build_preprocessor(method: str, n_numeric: int, n_categorical: int):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, RobustScaler, StandardScaler

    scalers = {
        "standard": StandardScaler,
        "minmax": MinMaxScaler,
        "robust": RobustScaler,
        "none": lambda: "passthrough",
    }
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", scalers[method]())])
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(missing_values="", strategy="most_frequent")),
            ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    columns = []
    if n_numeric:
        columns.append(("numeric", numeric, list(range(n_numeric))))
    if n_categorical:
        columns.append(("categorical", categorical, list(range(n_numeric, n_numeric + n_categorical))))
    return ColumnTransformer(columns, sparse_threshold=0.0)


def fit_preprocessor(method: str, train: Dataset):
    """Fit on the train split only; val, test and new rows are transformed with it."""
    preprocessor = build_preprocessor(method, train.features.shape[1], train.categorical.shape[1])
    preprocessor.fit(feature_matrix(train.features, train.categorical))
    return preprocessor


def transform(preprocessor, features: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    matrix = preprocessor.transform(feature_matrix(features, categorical))
    return np.ascontiguousarray(matrix, dtype=np.float32)
