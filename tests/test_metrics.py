"""Our NumPy metrics agree with scikit-learn's."""

import numpy as np
import pytest
from sklearn import metrics as sk

from stages import metrics
from stages.metrics import classification_report, confusion_matrix


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_report_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, 200)
    predictions = np.where(rng.random(200) < 0.7, labels, rng.integers(0, 4, 200))
    names = ["a", "b", "c", "d"]
    report = classification_report(labels, predictions, names)
    assert report["accuracy"] == pytest.approx(sk.accuracy_score(labels, predictions), abs=1e-6)
    assert report["macro_f1"] == pytest.approx(sk.f1_score(labels, predictions, average="macro"), abs=1e-6)
    precision, recall, f1, support = sk.precision_recall_fscore_support(labels, predictions, zero_division=0)
    for i, name in enumerate(names):
        row = report["per_class"][name]
        assert row["precision"] == pytest.approx(precision[i], abs=1e-6)
        assert row["recall"] == pytest.approx(recall[i], abs=1e-6)
        assert row["f1"] == pytest.approx(f1[i], abs=1e-6)
        assert row["support"] == support[i]
    np.testing.assert_array_equal(
        confusion_matrix(labels, predictions, 4), sk.confusion_matrix(labels, predictions)
    )


def test_a_never_predicted_class_scores_zero_not_nan():
    report = classification_report(np.array([0, 1, 2]), np.array([0, 1, 1]), ["a", "b", "c"])
    assert report["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def _scored(seed: int, n_classes: int, n: int = 300, absent: int | None = None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    if absent is not None:
        labels[labels == absent] = (absent + 1) % n_classes
    logits = rng.normal(size=(n, n_classes)) + np.eye(n_classes)[labels] * 1.5
    logits = np.round(logits, 1)  # ties in the scores
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probabilities


@pytest.mark.parametrize("seed", range(6))
def test_ranking_and_probability_metrics_equal_scikit_learns(seed):

    n_classes = 2 + seed % 3
    labels, probabilities = _scored(seed, n_classes)
    for k in range(n_classes):
        is_k = labels == k
        ours = metrics.ranking_curves(is_k, probabilities[:, k])
        fpr, tpr, _ = sk.roc_curve(is_k, probabilities[:, k])
        np.testing.assert_allclose(ours["fpr"], fpr)
        np.testing.assert_allclose(ours["tpr"], tpr)
        precision, recall, _ = sk.precision_recall_curve(is_k, probabilities[:, k])
        np.testing.assert_allclose(ours["precision"], precision)
        np.testing.assert_allclose(ours["recall"], recall)
        assert ours["roc_auc"] == pytest.approx(sk.roc_auc_score(is_k, probabilities[:, k]))
        assert ours["average_precision"] == pytest.approx(
            sk.average_precision_score(is_k, probabilities[:, k])
        )
    report, _ = metrics.ranking_report(labels, probabilities, [str(k) for k in range(n_classes)])
    if n_classes == 2:
        assert report["roc_auc"] == pytest.approx(sk.roc_auc_score(labels, probabilities[:, 1]), abs=1e-6)
        assert report["average_precision"] == pytest.approx(
            sk.average_precision_score(labels, probabilities[:, 1]), abs=1e-6
        )
    else:
        assert report["roc_auc"] == pytest.approx(
            sk.roc_auc_score(labels, probabilities, multi_class="ovr", average="macro"), abs=1e-6
        )
        binarized = np.eye(n_classes)[labels]
        assert report["average_precision"] == pytest.approx(
            sk.average_precision_score(binarized, probabilities, average="macro"), abs=1e-6
        )
    assert report["log_loss"] == pytest.approx(sk.log_loss(labels, probabilities), abs=1e-6)
    assert report["brier"] == pytest.approx(
        sk.brier_score_loss(labels, probabilities if n_classes > 2 else probabilities[:, 1]), abs=1e-6
    )


def test_a_class_absent_from_the_test_split_has_no_curve_and_the_macro_skips_it():

    labels, probabilities = _scored(3, 4, absent=2)
    report, curves = metrics.ranking_report(labels, probabilities, ["a", "b", "c", "d"])
    assert set(curves) == {"a", "b", "d"}
    assert report["per_class"]["c"] == {"roc_auc": None, "average_precision": None}
    present = [0, 1, 3]
    expected = np.mean([sk.roc_auc_score(labels == k, probabilities[:, k]) for k in present])
    assert report["roc_auc"] == pytest.approx(expected, abs=1e-6)
    assert report["log_loss"] == pytest.approx(
        sk.log_loss(labels, probabilities, labels=[0, 1, 2, 3]), abs=1e-6
    )


def test_calibration_bins_equal_scikit_learns_calibration_curve():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(0)
    probability = np.round(rng.random(500), 2)  # values on the bin edges too
    hit = rng.random(500) < probability
    observed, predicted = calibration_curve(hit, probability, n_bins=10, strategy="uniform")
    bins = metrics.calibration_bins(hit, probability)
    np.testing.assert_allclose(bins["observed"], observed)
    np.testing.assert_allclose(bins["predicted"], predicted)
    assert bins["count"].sum() == 500


def test_thin_keeps_the_ends_and_at_most_the_points_asked():
    x = np.arange(1000.0)
    (thinned,) = metrics.thin(x, points=11)
    assert thinned[0] == 0 and thinned[-1] == 999 and len(thinned) == 11


@pytest.mark.parametrize("seed", range(5))
def test_regression_report_equals_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    actual = rng.normal(100, 30, 200)
    predicted = actual + rng.normal(0, 10 + 10 * seed, 200)
    report = metrics.regression_report(actual, predicted)
    assert report["rmse"] == pytest.approx(sk.root_mean_squared_error(actual, predicted), abs=1e-6)
    assert report["mae"] == pytest.approx(sk.mean_absolute_error(actual, predicted), abs=1e-6)
    assert report["r2"] == pytest.approx(sk.r2_score(actual, predicted), abs=1e-6)


def test_r2_of_a_constant_actual_is_scikit_learns():
    actual = np.full(5, 3.0)
    assert metrics.r2(actual, actual) == sk.r2_score(actual, actual) == 1.0
    assert metrics.r2(actual, actual + 1) == sk.r2_score(actual, actual + 1) == 0.0
    assert metrics.r2(np.arange(4.0), np.full(4, 1.5)) == sk.r2_score(np.arange(4.0), np.full(4, 1.5)) == 0.0


def test_permutation_importance_of_a_regression_scores_the_drop_in_r2():
    rng = np.random.default_rng(0)
    numeric = rng.normal(size=(500, 3)).astype(np.float32)
    y = 3 * numeric[:, 0] + 0.5 * numeric[:, 1]

    def score(x, codes, values):
        return metrics.r2(values, 3 * x[:, 0] + 0.5 * x[:, 1])

    rows = metrics.permutation_importance(
        score, numeric, np.empty((500, 0), np.int32), y, ["a", "b", "c"], 400
    )
    assert [r["column"] for r in rows] == ["a", "b", "c"]
    assert rows[0]["importance"] > 1.5 and 0 < rows[1]["importance"] < 0.2 and rows[2]["importance"] == 0
