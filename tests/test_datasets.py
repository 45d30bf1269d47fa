"""Bundled sources are read without importing scikit-learn, yet equal its load_* functions."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import sklearn.datasets

from stages import artifacts, datasets

from .conftest import REPO


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits"])
def test_bundled_matches_scikit_learn(name):
    ours = datasets.load_bundled(name)
    theirs = getattr(sklearn.datasets, f"load_{name}")()
    np.testing.assert_array_equal(ours.features, theirs.data.astype(np.float32))
    np.testing.assert_array_equal(ours.labels, theirs.target)
    assert ours.feature_names.tolist() == list(theirs.feature_names)
    assert ours.class_names.tolist() == [str(c) for c in theirs.target_names]
    assert ours.features.dtype == np.float32 and ours.labels.dtype == np.int64
    assert ours.categorical.shape == (len(ours), 0) and ours.categorical.dtype == np.int32


def test_diabetes_is_scikit_learns_unscaled_diabetes_as_a_regression():
    ours = datasets.load_bundled("diabetes")
    theirs = sklearn.datasets.load_diabetes(scaled=False)
    np.testing.assert_array_equal(ours.features, theirs.data.astype(np.float32))
    np.testing.assert_array_equal(ours.labels, theirs.target)
    assert ours.feature_names.tolist() == list(theirs.feature_names)
    assert ours.labels.dtype == np.float64 and ours.class_names.tolist() == []
    assert str(ours.task) == "regression" and str(datasets.load_bundled("iris").task) == "classification"


def test_a_regression_target_must_be_finite_and_not_constant():
    with pytest.raises(datasets.UserError, match=r"^t.csv: the target is 4 in every row; a constant target"):
        datasets.check_values(np.full(5, 4.0), "t.csv")
    with pytest.raises(
        datasets.UserError, match="the target is infinite in row 2; a regression target must be finite"
    ):
        datasets.check_values(np.array([1.0, np.inf, 2.0]), "t.csv")
    datasets.check_values(np.array([1.0, 2.0]), "t.csv")


def test_loading_iris_does_not_import_sklearn():
    code = (
        "import sys; from stages import datasets; datasets.load_bundled('iris');"
        "print(any(m.startswith(('sklearn', 'scipy', 'torch')) for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_arrays_round_trip_through_npz(tmp_path):
    iris = datasets.load_bundled("iris")
    artifacts.write_npz(tmp_path / "d.npz", iris.to_arrays())
    back = datasets.Dataset.from_arrays(artifacts.read_npz(tmp_path / "d.npz"))
    for field, value in iris.to_arrays().items():
        np.testing.assert_array_equal(getattr(back, field), value)


def test_take_keeps_names_and_selects_rows():
    iris = datasets.load_bundled("iris")
    part = iris.take(np.array([0, 149]))
    assert part.labels.tolist() == [0, 2] and part.class_names.tolist() == iris.class_names.tolist()


def test_category_values_round_trip_through_the_packed_buffer():
    values = [["", "Zürich", "a,b"], ["x" * 1000], []]
    packed = datasets.pack_categories(values)
    part = dataclasses.replace(datasets.load_bundled("iris"), **packed)
    assert [part.category_values(j) for j in range(3)] == values
    assert part.category_values(0, np.array([2, 1])) == ["a,b", "Zürich"]
    assert packed["categories"].dtype == np.uint8  # no object arrays, no padding to the longest
