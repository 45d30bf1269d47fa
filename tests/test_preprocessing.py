"""The scale stage's transform: fit on train only, each method, categoricals and missing values."""

import numpy as np
import pytest
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from stages import preprocessing
from stages.datasets import Dataset, numeric_dataset


def _train_and_test():
    rng = np.random.default_rng(0)
    train = numeric_dataset(rng.normal(5, 2, (40, 3)), np.arange(40) % 2, ["a", "b", "c"], ["x", "y"])
    test = numeric_dataset(rng.normal(-3, 9, (10, 3)), np.arange(10) % 2, ["a", "b", "c"], ["x", "y"])
    return train, test


@pytest.mark.parametrize(
    ("method", "reference"),
    [("standard", StandardScaler), ("minmax", MinMaxScaler), ("robust", RobustScaler), ("none", None)],
)
def test_each_method_is_fit_on_train_only(method, reference):
    train, test = _train_and_test()
    fitted = preprocessing.fit_preprocessor(method, train)
    got = preprocessing.transform(fitted, test.features, test.categorical)
    if reference is None:
        expected = test.features
    else:
        expected = (
            reference().fit(train.features.astype(np.float64)).transform(test.features.astype(np.float64))
        )
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    assert got.dtype == np.float32 and got.flags.c_contiguous


def test_standard_scaled_train_has_zero_mean_unit_std():
    train, _ = _train_and_test()
    fitted = preprocessing.fit_preprocessor("standard", train)
    out = preprocessing.transform(fitted, train.features, train.categorical)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)


def _mixed(features, categories):
    n = len(categories)
    return Dataset(
        features=np.asarray(features, dtype=np.float32).reshape(n, -1),
        feature_names=np.array(["size"]),
        categorical=np.asarray(categories, dtype=str).reshape(n, 1),
        categorical_names=np.array(["colour"]),
        labels=np.arange(n) % 2,
        class_names=np.array(["no", "yes"]),
    )


def test_missing_values_are_imputed_and_categories_one_hot_encoded():
    train = _mixed([1.0, 2.0, np.nan, 4.0, 5.0], ["red", "blue", "red", "", "red"])
    fitted = preprocessing.fit_preprocessor("none", train)
    out = preprocessing.transform(fitted, train.features, train.categorical)
    # numeric: NaN -> train median 3.0; categorical: "" -> most frequent "red"; columns blue, red
    np.testing.assert_array_equal(out[:, 0], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(out[:, 1:], [[0, 1], [1, 0], [0, 1], [0, 1], [0, 1]])


def test_unknown_category_at_predict_time_encodes_as_all_zeros():
    train = _mixed([1.0, 2.0, 3.0], ["red", "blue", "red"])
    fitted = preprocessing.fit_preprocessor("standard", train)
    new = _mixed([2.0], ["green"])
    out = preprocessing.transform(fitted, new.features, new.categorical)
    np.testing.assert_array_equal(out[0, 1:], [0, 0])
