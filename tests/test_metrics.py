"""Our NumPy metrics agree with scikit-learn's."""

import numpy as np
import pytest
from sklearn import metrics as sk

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
