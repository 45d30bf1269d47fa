"""The scale stage's transform: fit on train only, each method as scikit-learn defines it, and
text columns as embedding codes (rare, unseen, empty, one value, every value distinct)."""

from collections.abc import Mapping, Sequence

import numpy as np
import pyarrow as pa
import pytest
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from stages import preprocessing
from stages.datasets import Dataset, numeric_dataset, pack_categories
from stages.preprocessing import EMPTY, OTHER


def _train_and_test(missing: float = 0.0):
    rng = np.random.default_rng(0)
    train = rng.normal(5, 2, (400, 3))
    test = rng.normal(-3, 9, (100, 3))
    train[:, 2] = np.round(train[:, 2])  # ties, for the median and the quartiles
    for matrix in (train, test):
        matrix[rng.random(matrix.shape) < missing] = np.nan
    make = lambda x: numeric_dataset(x, np.arange(len(x)) % 2, ["a", "b", "c"], ["x", "y"])  # noqa: E731
    return make(train), make(test)


@pytest.mark.parametrize(
    ("method", "reference"),
    [("standard", StandardScaler), ("minmax", MinMaxScaler), ("robust", RobustScaler), ("none", None)],
)
@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_each_method_is_fit_on_train_only_as_scikit_learn_does_it(method, reference, missing):
    train, test = _train_and_test(missing)
    fitted, _ = preprocessing.fit(method, 5, train)
    got = fitted.transform_numeric(test.features)
    steps = [SimpleImputer(strategy="median")] + ([reference()] if reference else [])
    expected = (
        make_pipeline(*steps)
        .fit(train.features.astype(np.float64))
        .transform(test.features.astype(np.float64))
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert got.dtype == np.float32 and got.flags.c_contiguous and not np.isnan(got).any()


def realmlp_robust_smooth_clip(train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """RealMLP's RobustScaleSmoothClipTransform (pytabkit), as its paper's code writes it."""
    median = np.median(train, axis=0)
    quant_diff = np.quantile(train, 0.75, axis=0) - np.quantile(train, 0.25, axis=0)
    idxs = quant_diff == 0.0
    quant_diff[idxs] = 0.5 * (train.max(axis=0)[idxs] - train.min(axis=0)[idxs])
    factors = 1.0 / (quant_diff + 1e-30)
    factors[quant_diff == 0.0] = 0.0
    scaled = factors * (test - median)
    return scaled / np.sqrt(1 + (scaled / 3) ** 2)


@pytest.mark.parametrize("missing", [0.0, 0.1])
def test_robust_clip_is_realmlps_robust_scaling_and_smooth_clipping(missing):
    train, test = _train_and_test(missing)
    rng = np.random.default_rng(1)
    wide = rng.normal(0, 1, (400, 4))
    wide[:, 0] = rng.integers(0, 2, 400) * (rng.random(400) < 0.1)  # IQR 0: half the range instead
    wide[:, 1] = 4.0  # constant: every value maps to 0
    wide[:, 2] = rng.lognormal(0, 2, 400)  # heavy tail
    new = rng.normal(0, 50, (100, 4))  # far outside train's range
    for fit_on, apply_to in ((train.features, test.features), (wide, new)):
        names = [f"x{i}" for i in range(fit_on.shape[1])]
        dataset = numeric_dataset(fit_on.astype(np.float32), np.arange(len(fit_on)) % 2, names, ["x", "y"])
        fitted, _ = preprocessing.fit("robust_clip", 5, dataset)
        got = fitted.transform_numeric(apply_to.astype(np.float32))
        imputer = SimpleImputer(strategy="median").fit(dataset.features.astype(np.float64))
        expected = realmlp_robust_smooth_clip(
            imputer.transform(dataset.features.astype(np.float64)),
            imputer.transform(apply_to.astype(np.float32).astype(np.float64)),
        )
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
        assert got.dtype == np.float32 and (np.abs(got) <= 3).all()
    assert (got[:, 1] == 0).all() and np.abs(got[:, 2]).max() > 2.9


def test_standard_scaled_train_has_zero_mean_unit_std():
    train, _ = _train_and_test()
    fitted, _ = preprocessing.fit("standard", 5, train)
    out = fitted.transform_numeric(train.features)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=1e-5)


def test_a_constant_column_is_left_unscaled_and_chunks_do_not_change_the_result(monkeypatch):
    features = np.column_stack([np.full(1000, 7.0), np.arange(1000.0)]).astype(np.float32)
    train = numeric_dataset(features, np.arange(1000) % 2, ["k", "i"], ["x", "y"])
    fitted, _ = preprocessing.fit("standard", 5, train)
    whole = fitted.transform_numeric(train.features)
    assert (whole[:, 0] == 0).all()
    monkeypatch.setattr(preprocessing, "CHUNK_ROWS", 7)
    np.testing.assert_array_equal(fitted.transform_numeric(train.features), whole)


def text_dataset(columns: Mapping[str, Sequence[str | None]]) -> Dataset:
    """Text columns as prepare stores them: codes into each column's sorted distinct values."""
    names = list(columns)
    values = [sorted({v for v in column if v}) for column in columns.values()]
    codes = np.column_stack(
        [
            [vals.index(v) if v else -1 for v in column]
            for vals, column in zip(values, columns.values(), strict=True)
        ]
    ).astype(np.int32)
    n = len(codes)
    return Dataset(
        features=np.zeros((n, 0), dtype=np.float32),
        feature_names=np.empty(0, dtype=str),
        categorical=codes,
        categorical_names=np.asarray(names, dtype=str),
        **pack_categories(values),
        labels=np.arange(n) % 2,
        class_names=np.array(["no", "yes"]),
        task=np.asarray("classification"),
        target_name=np.asarray("y"),
    )


def test_values_seen_often_enough_get_codes_rare_ones_share_other_and_empty_has_its_own():
    colour = ["red"] * 3 + ["blue"] * 2 + ["green"] + [None, ""]
    train = text_dataset({"colour": colour})
    fitted, tables = preprocessing.fit("standard", 2, train)
    assert fitted.vocabularies == [["blue", "red"]] and fitted.cardinalities == [4]
    codes = preprocessing.encode_prepared(train.categorical, tables)[:, 0]
    assert codes.tolist() == [3, 3, 3, 2, 2, OTHER, EMPTY, EMPTY]
    # new rows: a value train never held is OTHER like the rare one; both empties are EMPTY
    new = pa.array(["blue", "violet", None, "green", "red"])
    assert preprocessing.encode_values(fitted, 0, new).tolist() == [2, OTHER, EMPTY, OTHER, 3]


def test_the_split_codes_and_new_rows_codes_agree():
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in rng.integers(0, 60, 500)]
    train = text_dataset({"w": words})
    fitted, tables = preprocessing.fit("standard", 3, train)
    from stages.tables import text_values

    via_split = preprocessing.encode_prepared(train.categorical, tables)[:, 0]
    via_strings = preprocessing.encode_values(fitted, 0, text_values(pa.chunked_array([words])))
    np.testing.assert_array_equal(via_split, via_strings)


def test_a_column_with_one_value_and_a_column_of_all_distinct_values():
    n = 50
    train = text_dataset({"same": ["x"] * n, "unique": [f"id{i:03d}" for i in range(n)]})
    fitted, tables = preprocessing.fit("standard", 2, train)
    assert fitted.vocabularies[0] == ["x"] and fitted.vocabularies[1] == []
    assert fitted.cardinalities == [3, 2]  # every id is seen once: all share OTHER
    codes = preprocessing.encode_prepared(train.categorical, tables)
    assert set(codes[:, 0]) == {2} and set(codes[:, 1]) == {OTHER}
    fitted, tables = preprocessing.fit("standard", 1, train)  # min_frequency 1: each keeps its code
    assert fitted.cardinalities == [3, n + 2]
    assert sorted(preprocessing.encode_prepared(train.categorical, tables)[:, 1]) == list(range(2, n + 2))


def test_values_only_val_or_test_hold_are_other():
    whole = text_dataset({"c": ["a", "a", "b", "b", "c", "c"]})
    train = whole.take(np.arange(4))  # train holds a and b; c is in the table, not in train
    fitted, tables = preprocessing.fit("none", 1, train)
    assert fitted.vocabularies == [["a", "b"]]
    assert preprocessing.encode_prepared(whole.take(np.arange(4, 6)).categorical, tables)[:, 0].tolist() == [
        OTHER,
        OTHER,
    ]


def test_transform_in_place_gives_what_a_new_array_holds():
    train, test = _train_and_test(missing=0.1)
    fitted, _ = preprocessing.fit("robust", 5, train)
    expected = fitted.transform_numeric(test.features)
    features = test.features.copy()
    assert fitted.transform_numeric(features, out=features) is features
    np.testing.assert_array_equal(features, expected)


def test_a_regression_target_is_standardised_with_trains_mean_and_std_as_standard_scaler():
    rng = np.random.default_rng(0)
    train_values, test_values = rng.normal(150, 40, 300), rng.normal(160, 40, 50)
    train = numeric_dataset(rng.normal(size=(300, 2)), train_values, ["a", "b"], [], task="regression")
    preprocessor, _ = preprocessing.fit("standard", 5, train)
    reference = StandardScaler().fit(train_values[:, None])
    assert preprocessor.target_center == pytest.approx(reference.mean_[0], rel=1e-12)
    assert preprocessor.target_scale == pytest.approx(reference.scale_[0], rel=1e-12)
    scaled = preprocessing.scaled_target(preprocessor, test_values)
    np.testing.assert_allclose(scaled, reference.transform(test_values[:, None])[:, 0], rtol=1e-12)
    assert scaled.dtype == np.float64
    from stages.tasks import Regression

    assert preprocessor.target_center is not None and preprocessor.target_scale is not None
    back = Regression(preprocessor.target_center, preprocessor.target_scale).to_units(scaled)
    np.testing.assert_allclose(back, test_values, rtol=1e-12)


def test_class_labels_are_not_scaled():
    train = numeric_dataset(np.zeros((4, 1)), np.array([0, 1, 1, 0]), ["a"], ["x", "y"])
    preprocessor, _ = preprocessing.fit("standard", 5, train)
    assert preprocessor.target_center is None
    assert preprocessing.scaled_target(preprocessor, train.labels).tolist() == [0, 1, 1, 0]
