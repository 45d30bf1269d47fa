"""The split stage reproduces the tutorial's two stratified train_test_split calls exactly."""

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

from stages import params, split
from stages.errors import UserError

NAMES = np.array(["setosa", "versicolor", "virginica"])
DEFAULT = params.SplitParams(holdout_size=0.3, test_size=0.33, random_state=42)


def test_default_split_is_the_tutorials():
    X, y = load_iris(return_X_y=True)
    X_train, X_hold, _, y_hold = train_test_split(X, y, test_size=0.3, random_state=42, stratify=y)
    X_val, X_test, _, _ = train_test_split(X_hold, y_hold, test_size=0.33, random_state=42, stratify=y_hold)
    rows = split.stratified_split(y, NAMES, DEFAULT)
    np.testing.assert_array_equal(X[rows["train"]], X_train)
    np.testing.assert_array_equal(X[rows["val"]], X_val)
    np.testing.assert_array_equal(X[rows["test"]], X_test)
    assert [len(rows[s]) for s in ("train", "val", "test")] == [105, 30, 15]
    for name, per_class in (("train", 35), ("val", 10), ("test", 5)):
        assert np.bincount(y[rows[name]]).tolist() == [per_class] * 3


def test_splits_are_disjoint_and_cover_every_row():
    y = np.repeat(np.arange(3), 50)
    rows = split.stratified_split(y, NAMES, DEFAULT)
    together = np.concatenate(list(rows.values()))
    assert sorted(together.tolist()) == list(range(150))


def test_seed_changes_the_split():
    y = np.repeat(np.arange(3), 50)
    other = params.SplitParams(0.3, 0.33, 7)
    assert not np.array_equal(
        split.stratified_split(y, NAMES, DEFAULT)["test"], split.stratified_split(y, NAMES, other)["test"]
    )


def test_too_small_a_holdout_is_a_user_error():
    y = np.repeat(np.arange(3), 50)
    with pytest.raises(UserError, match="split.holdout_size = 0.02 leaves class 'setosa' 1 held-out row"):
        split.stratified_split(y, NAMES, params.SplitParams(0.02, 0.33, 42))


def test_a_test_split_smaller_than_the_class_count_is_a_user_error():
    y = np.repeat(np.arange(3), 50)
    with pytest.raises(
        UserError, match="split.holdout_size = 0.3 and split.test_size = 0.01 cannot split 150"
    ):
        split.stratified_split(y, NAMES, params.SplitParams(0.3, 0.01, 42))


NAMES_WITH_RARE = np.array(["a", "b", "rare"])


def test_a_class_too_small_to_stratify_is_named_with_its_count():
    y = np.array([0] * 40 + [1] * 40 + [2] * 2)
    with pytest.raises(UserError, match="^class 'rare' has 2 row\\(s\\); .* at least 3 rows of every class$"):
        split.stratified_split(y, NAMES_WITH_RARE, DEFAULT)


def test_a_holdout_that_starves_a_class_is_named():
    y = np.array([0] * 40 + [1] * 40 + [2] * 3)
    with pytest.raises(UserError, match="split.holdout_size = 0.2 leaves class 'rare' 1 held-out row"):
        split.stratified_split(y, NAMES_WITH_RARE, params.SplitParams(0.2, 0.5, 0))


def test_a_class_left_out_of_a_split_is_named():
    y = np.array([0] * 40 + [1] * 40 + [2] * 3)
    rows = {"train": np.arange(80), "val": np.arange(80, 82), "test": np.array([82])}
    with pytest.raises(UserError, match="leave class 'rare' with no rows in train"):
        split.check_every_class_present(rows, y, NAMES_WITH_RARE, DEFAULT)


@pytest.mark.parametrize("seed", range(12))
def test_our_train_test_split_gives_scikit_learns_rows(seed):
    """Random sizes, class counts (ties, rare classes, many classes) and test sizes."""
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 12))
    weights = rng.dirichlet(np.full(n_classes, 0.5 if seed % 2 else 5.0))
    n = int(rng.integers(n_classes * 6, 3000))
    y = np.concatenate([np.arange(n_classes).repeat(2), rng.choice(n_classes, n - 2 * n_classes, p=weights)])
    rows = np.arange(n) * 3  # not 0..n-1: the split returns rows, not positions
    test_size = float(rng.choice([0.1, 0.2, 0.3, 0.33, 0.5, 0.77]))
    try:
        theirs = train_test_split(rows, test_size=test_size, random_state=seed, stratify=y)
    except ValueError:
        with pytest.raises(ValueError):
            split.train_test_split(rows, test_size, seed, y)
        return
    ours = split.train_test_split(rows, test_size, seed, y)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("n", "test_size"), [(5, 0.1), (6, 0.9), (3, 0.5)])
def test_our_train_test_split_refuses_what_scikit_learn_refuses(n, test_size):
    y = np.arange(n) % 2
    with pytest.raises(ValueError):
        train_test_split(np.arange(n), test_size=test_size, random_state=0, stratify=y)
    with pytest.raises(ValueError):
        split.train_test_split(np.arange(n), test_size, 0, y)


def test_binned_split_is_scikit_learns_split_stratified_on_target_deciles():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    bins = np.searchsorted(np.quantile(y, np.linspace(0, 1, 11)[1:-1]), y, side="right")
    X_train, X_hold, _, y_hold = train_test_split(X, y, test_size=0.3, random_state=42, stratify=bins)
    hold_bins = np.searchsorted(np.quantile(y, np.linspace(0, 1, 11)[1:-1]), y_hold, side="right")
    X_val, X_test, _, _ = train_test_split(
        X_hold, y_hold, test_size=0.33, random_state=42, stratify=hold_bins
    )
    rows, n_bins = split.binned_split(y, DEFAULT)
    assert n_bins == split.TARGET_BINS == 10
    np.testing.assert_array_equal(X[rows["train"]], X_train)
    np.testing.assert_array_equal(X[rows["val"]], X_val)
    np.testing.assert_array_equal(X[rows["test"]], X_test)
    # val and test span the target's range: each holds rows of every decile
    for part in rows.values():
        assert np.unique(bins[part]).tolist() == list(range(10))


def test_quantile_bins_are_even_and_ties_share_a_bin():
    values = np.arange(1000.0)
    assert np.bincount(split.quantile_bins(values, 10)).tolist() == [100] * 10
    tied = np.r_[np.zeros(600), np.arange(1.0, 401.0)]
    bins = split.quantile_bins(tied, 10)
    assert len(np.unique(bins[:600])) == 1 and len(np.unique(bins)) < 10


@pytest.mark.parametrize(("n", "expected_bins"), [(400, 10), (100, 10), (40, 4), (12, 2), (8, 1)])
def test_a_small_table_is_split_on_fewer_bins(n, expected_bins):
    y = np.random.default_rng(0).normal(size=n)
    rows, n_bins = split.binned_split(y, DEFAULT)
    assert n_bins == expected_bins
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(n))
    assert all(len(part) for part in rows.values())


def test_too_few_rows_for_val_and_test_is_one_line():
    with pytest.raises(
        UserError, match="cannot split 3 rows into train, val and test with at least one row each"
    ):
        split.binned_split(np.array([1.0, 2.0, 3.0]), DEFAULT)
