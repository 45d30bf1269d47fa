"""Classification and regression metrics, in NumPy (no scikit-learn import); tests check each
against scikit-learn's."""

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """counts[actual, predicted]."""
    return np.bincount(labels * n_classes + predictions, minlength=n_classes**2).reshape(n_classes, n_classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # 0 where undefined, as scikit-learn's zero_division=0
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def classification_report(labels: np.ndarray, predictions: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, macro averages and per-class precision/recall/F1/support keyed by class name."""
    counts = confusion_matrix(labels, predictions, len(class_names))
    hits = np.diag(counts).astype(np.float64)
    support = counts.sum(axis=1)
    precision = _ratio(hits, counts.sum(axis=0).astype(np.float64))
    recall = _ratio(hits, support.astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    per_class = {
        name: {
            "precision": round(float(precision[i]), 6),
            "recall": round(float(recall[i]), 6),
            "f1": round(float(f1[i]), 6),
            "support": int(support[i]),
        }
        for i, name in enumerate(class_names)
    }
    return {
        "accuracy": round(float(hits.sum() / len(labels)), 6),
        "macro_precision": round(float(precision.mean()), 6),
        "macro_recall": round(float(recall.mean()), 6),
        "macro_f1": round(float(f1.mean()), 6),
        "per_class": per_class,
    }


CURVE_POINTS = 201  # the most points a curve file keeps (the areas use every point)
CALIBRATION_BINS = 10


def binary_curve(is_positive: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positives at each distinct score, highest first, and those scores:
    scikit-learn's _binary_clf_curve."""
    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, is_positive = scores[order], is_positive[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(is_positive)[last]
    return 1 + last - tps, tps, scores[last]


def _roc(fps: np.ndarray, tps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(fps) > 2:  # collinear points dropped, as scikit-learn's drop_intermediate
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps = fps[keep], tps[keep]
    fps, tps = np.r_[0, fps], np.r_[0, tps]
    return fps / fps[-1], tps / tps[-1]


def _precision_recall(fps: np.ndarray, tps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0]


def _area(fpr: np.ndarray, tpr: np.ndarray) -> float:
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))  # the trapezoids of sklearn's auc


def _average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def ranking_curves(is_positive: np.ndarray, scores: np.ndarray) -> dict:
    """ROC and precision-recall curves and their areas from one sort of the scores, as
    scikit-learn's roc_curve, precision_recall_curve, roc_auc_score and
    average_precision_score give them."""
    fps, tps, _ = binary_curve(is_positive, scores)
    fpr, tpr = _roc(fps, tps)
    precision, recall = _precision_recall(fps, tps)
    return {"fpr": fpr, "tpr": tpr, "roc_auc": _area(fpr, tpr), "precision": precision, "recall": recall,
            "average_precision": _average_precision(precision, recall)}  # fmt: skip


def log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """scikit-learn's log_loss: the true class's probability clipped to [eps, 1 - eps]."""
    eps = np.finfo(probabilities.dtype).eps
    picked = np.clip(probabilities[np.arange(len(labels)), labels], eps, 1 - eps)
    return float(-np.mean(np.log(picked)))


def brier(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """scikit-learn's brier_score_loss: mean squared distance to the one-hot label, halved for
    two classes (then it is the binary Brier score of the positive class)."""
    one_hot = np.zeros_like(probabilities)
    one_hot[np.arange(len(labels)), labels] = 1
    score = float(np.mean(np.sum((one_hot - probabilities) ** 2, axis=1)))
    return score / 2 if probabilities.shape[1] < 3 else score


def calibration_bins(hit: np.ndarray, probability: np.ndarray) -> dict[str, np.ndarray]:
    """Per non-empty bin of CALIBRATION_BINS equal widths: the mean predicted probability, the
    observed frequency and the count (scikit-learn's calibration_curve, uniform, plus counts)."""
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    bins = np.searchsorted(edges[1:-1], probability)
    total = np.bincount(bins, minlength=CALIBRATION_BINS)
    used = total > 0
    predicted = np.bincount(bins, weights=probability, minlength=CALIBRATION_BINS)[used] / total[used]
    observed = (
        np.bincount(bins, weights=hit.astype(np.float64), minlength=CALIBRATION_BINS)[used] / total[used]
    )
    return {"predicted": predicted, "observed": observed, "count": total[used]}


def thin(*columns: np.ndarray, points: int = CURVE_POINTS) -> list[np.ndarray]:
    """At most `points` evenly spaced rows of a curve, first and last kept (for plot files)."""
    if len(columns[0]) <= points:
        return list(columns)
    keep = np.unique(np.linspace(0, len(columns[0]) - 1, points).round().astype(int))
    return [column[keep] for column in columns]


def ranking_report(
    labels: np.ndarray, probabilities: np.ndarray, class_names: list[str]
) -> tuple[dict, dict]:
    """roc_auc and average_precision: of the positive class (the second) for two classes, else
    the macro average of one-vs-rest over the classes present in `labels`; and per class
    (one-vs-rest; None for a class the labels lack, where neither is defined); log_loss, brier.
    Also each present class's curves (ranking_curves), by class name."""
    curves = {}
    for k, name in enumerate(class_names):
        is_k = labels == k
        if is_k.any() and not is_k.all():
            curves[name] = ranking_curves(is_k, probabilities[:, k])
    keys = ("roc_auc", "average_precision")
    per_class = {
        name: {key: round(curves[name][key], 6) if name in curves else None for key in keys}
        for name in class_names
    }
    if len(class_names) == 2:
        top = {**per_class[class_names[1]], "positive_class": class_names[1]}
    else:
        top = {
            key: round(float(np.mean([c[key] for c in curves.values()])), 6) if curves else None
            for key in keys
        }
    report = {
        **top,
        "log_loss": round(log_loss(labels, probabilities), 6),
        "brier": round(brier(labels, probabilities), 6),
        "per_class": per_class,
    }
    return report, curves


IMPORTANCE_REPEATS = 5  # permutations per column, as scikit-learn's permutation_importance
IMPORTANCE_SEED = 0


def permutation_importance(
    score, numeric: np.ndarray, codes: np.ndarray, labels: np.ndarray, names: list[str], rows: int
) -> list[dict]:
    """Drop in the score when one input column is shuffled across rows, IMPORTANCE_REPEATS
    times: mean and standard deviation per column, most important first. A text column is
    shuffled whole (its codes move together). Scored on at most `rows` test rows, a seeded
    sample. score(numeric, codes, labels) -> float, higher is better (accuracy, R²)."""
    rng = np.random.default_rng(IMPORTANCE_SEED)
    sample = np.sort(rng.choice(len(labels), size=min(rows, len(labels)), replace=False))
    numeric, codes, labels = numeric[sample], codes[sample], labels[sample]
    base = score(numeric, codes, labels)
    results = []
    for j, name in enumerate(names):
        matrix, column = (numeric, j) if j < numeric.shape[1] else (codes, j - numeric.shape[1])
        original = matrix[:, column].copy()
        drops = []
        for _ in range(IMPORTANCE_REPEATS):
            matrix[:, column] = original[rng.permutation(len(original))]
            drops.append(base - score(numeric, codes, labels))
        matrix[:, column] = original
        results.append({"column": name, "importance": float(np.mean(drops)), "std": float(np.std(drops))})
    return sorted(results, key=lambda r: (-r["importance"], r["column"]))


def r2(actual: np.ndarray, predicted: np.ndarray) -> float:
    """scikit-learn's r2_score: 1 - residual / total sum of squares (a constant actual scores
    1 if predicted exactly, else 0, as its force_finite)."""
    residual = float(np.sum((actual - predicted) ** 2))
    total = float(np.sum((actual - actual.mean()) ** 2))
    if total == 0:
        return 1.0 if residual == 0 else 0.0
    return 1 - residual / total


def regression_report(actual: np.ndarray, predicted: np.ndarray) -> dict:
    """rmse, mae and r2 (scikit-learn's root_mean_squared_error, mean_absolute_error, r2_score),
    in the target's units, from float64 values."""
    errors = actual - predicted
    return {
        "rmse": round(float(np.sqrt(np.mean(errors**2))), 6),
        "mae": round(float(np.mean(np.abs(errors))), 6),
        "r2": round(r2(actual, predicted), 6),
    }
