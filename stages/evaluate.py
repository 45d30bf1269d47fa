"""Stage evaluate: score the trained model on the scaled test split.

Writes metrics/eval.json, the data of DVC's plots and PNG images of the same views and of the
training curves under metrics/plots/. Classification: accuracy, loss, precision/recall/F1, ROC
AUC, average precision, log loss, Brier score; views confusion.csv (one actual,predicted row per
test row), roc.csv, precision_recall.csv, calibration.csv. Regression: rmse, mae, r2 and loss,
in the target's units (loss: the training objective, in standard units); views
predicted_actual.csv and residuals.csv. Both: importance.csv. A view of the other task is
written with its header alone, which DVC's plots skip: dvc.yaml declares one set of files.
"""

import logging

import numpy as np

from stages import artifacts, figures, metrics, numerics, params, tasks
from stages.errors import run
from stages.metrics import classification_report, confusion_matrix

log = logging.getLogger("evaluate")

SCATTER_ROWS = 5000  # test rows (a seeded sample) in the predicted-vs-actual and residual views
VIEWS = {  # each task's plot files and their columns
    "classification": {
        artifacts.CONFUSION: ["actual", "predicted"],
        artifacts.ROC: ["class", "fpr", "tpr"],
        artifacts.PRECISION_RECALL: ["class", "recall", "precision"],
        artifacts.CALIBRATION: ["predicted", "observed", "count"],
    },
    "regression": {
        artifacts.PREDICTED_ACTUAL: ["actual", "predicted"],
        artifacts.RESIDUALS: ["predicted", "residual"],
    },
}


def main() -> None:
    p = params.load("evaluate")
    train = params.load("train")
    numerics.apply(train.numerics)  # the model's own setting, before torch loads
    import torch

    numerics.set_threads(train.numerics, train.threads)

    from stages import engine
    from stages.model import from_payload

    model, config = from_payload(artifacts.read_torch(artifacts.MODEL))
    task = tasks.from_config(config)
    test = artifacts.read_npz(artifacts.SCALED["test"])

    def forward(numeric: np.ndarray, codes: np.ndarray) -> torch.Tensor:
        return engine.predict_logits(
            model, (torch.from_numpy(numeric), torch.from_numpy(codes)), p.batch_size
        )

    outputs = forward(test["features"], test["codes"])
    target = torch.from_numpy(task.training_target(test["labels"]))
    loss = task.criterion(config["loss"])(outputs, target).item()  # averaged per sample
    evaluate_task = {"classification": evaluate_classification, "regression": evaluate_regression}[task.name]
    report, score, summary = evaluate_task(task, config, test, outputs, round(loss, 6), forward)
    artifacts.write_json(artifacts.EVAL_METRICS, report)
    for task_name, views in VIEWS.items():
        if task_name != task.name:
            for path, columns in views.items():
                artifacts.write_csv(path, columns, [])
    names = config["input_numeric"] + config["input_categorical"]
    importance = metrics.permutation_importance(
        score, test["features"], test["codes"], test["labels"], names, p.importance_rows
    )
    artifacts.write_csv(
        artifacts.IMPORTANCE, ["column", "importance", "std"],
        [[r["column"], round(r["importance"], 6), round(r["std"], 6)] for r in importance],
    )  # fmt: skip
    figures.importance(importance, task.score, artifacts.IMPORTANCE_PNG)
    history = artifacts.read_csv_columns(artifacts.HISTORY)
    best_epoch = artifacts.read_json(artifacts.TRAIN_METRICS)["best_epoch"]
    figures.training_curves(history, best_epoch, task.metric, artifacts.CURVES_PNG)
    log.info("%s on %d rows", summary, len(test["labels"]))


def evaluate_classification(task, config, test, logits, loss, forward):
    """eval.json's report, importance's score function, and a summary line."""
    import torch

    class_names = config["class_names"]
    labels = test["labels"]
    probabilities = torch.softmax(logits.double(), dim=1).numpy()
    predictions = logits.argmax(dim=1).numpy()
    report = classification_report(labels, predictions, class_names)
    ranking, curves = metrics.ranking_report(labels, probabilities, class_names)
    for name, scores in ranking.pop("per_class").items():
        report["per_class"][name].update(scores)
    per_class = report.pop("per_class")
    report = {"accuracy": report.pop("accuracy"), "loss": loss, **ranking, **report, "per_class": per_class}
    rows = [[class_names[a], class_names[b]] for a, b in zip(labels, predictions, strict=True)]
    artifacts.write_csv(artifacts.CONFUSION, VIEWS["classification"][artifacts.CONFUSION], rows)
    counts = confusion_matrix(labels, predictions, len(class_names))
    figures.confusion_matrix(counts, class_names, artifacts.CONFUSION_PNG)
    write_ranking_curves(curves, class_names)
    write_calibration(labels, probabilities, predictions, class_names)

    def accuracy(numeric, codes, labels):
        return float(np.mean(forward(numeric, codes).argmax(dim=1).numpy() == labels))

    summary = f"test accuracy {report['accuracy']:.4f}, macro F1 {report['macro_f1']:.4f}"
    return report, accuracy, summary


def evaluate_regression(task, config, test, outputs, loss, forward):
    """As evaluate_classification: errors in the target's units, R², and the scatter views."""
    actual = task.to_units(test["labels"])
    predicted = task.to_units(outputs[:, 0].numpy())
    report = {**metrics.regression_report(actual, predicted), "loss": loss}
    rng = np.random.default_rng(0)
    shown = np.sort(rng.choice(len(actual), size=min(SCATTER_ROWS, len(actual)), replace=False))
    actual_shown, predicted_shown = actual[shown], predicted[shown]
    residual_shown = actual_shown - predicted_shown
    for path, pair in (
        (artifacts.PREDICTED_ACTUAL, (actual_shown, predicted_shown)),
        (artifacts.RESIDUALS, (predicted_shown, residual_shown)),
    ):
        rows = [[round(float(a), 6), round(float(b), 6)] for a, b in zip(*pair, strict=True)]
        artifacts.write_csv(path, VIEWS["regression"][path], rows)
    target_name = config["target_name"]
    figures.predicted_actual(
        actual_shown, predicted_shown, target_name, len(actual), artifacts.PREDICTED_ACTUAL_PNG
    )
    figures.residuals(predicted_shown, residual_shown, target_name, len(actual), artifacts.RESIDUALS_PNG)

    def r2(numeric, codes, values):
        return metrics.r2(task.to_units(values), task.to_units(forward(numeric, codes)[:, 0].numpy()))

    summary = f"test RMSE {report['rmse']:.4g}, MAE {report['mae']:.4g}, R² {report['r2']:.4f}"
    return report, r2, summary


def write_ranking_curves(curves: dict[str, dict], class_names: list[str]) -> None:
    """ROC and precision-recall curves: the positive class's for two classes, else one per
    class against the rest (a class the test split lacks has none). Files keep at most
    metrics.CURVE_POINTS points per curve; the areas in eval.json use them all."""
    shown = [name for name in (class_names[1:] if len(class_names) == 2 else class_names) if name in curves]
    roc_rows, pr_rows, roc_png, pr_png = [], [], {}, {}
    for name in shown:
        curve = curves[name]
        fpr, tpr = metrics.thin(curve["fpr"], curve["tpr"])
        precision, recall = metrics.thin(curve["precision"], curve["recall"])
        roc_rows += [[name, round(float(a), 6), round(float(b), 6)] for a, b in zip(fpr, tpr, strict=True)]
        pr_rows += [
            [name, round(float(a), 6), round(float(b), 6)] for a, b in zip(recall, precision, strict=True)
        ]
        roc_png[name] = (fpr, tpr, curve["roc_auc"])
        pr_png[name] = (recall, precision, curve["average_precision"])
    artifacts.write_csv(artifacts.ROC, ["class", "fpr", "tpr"], roc_rows)
    artifacts.write_csv(artifacts.PRECISION_RECALL, ["class", "recall", "precision"], pr_rows)
    figures.roc_curves(roc_png, artifacts.ROC_PNG)
    figures.precision_recall_curves(pr_png, artifacts.PRECISION_RECALL_PNG)


def write_calibration(labels, probabilities, predictions, class_names: list[str]) -> None:
    """Reliability: for two classes, the positive class's probability against how often it
    is the label; else the predicted class's probability (the confidence) against how often
    the prediction is right."""
    if len(class_names) == 2:
        bins = metrics.calibration_bins(labels == 1, probabilities[:, 1])
        what = f"P({class_names[1]})"
    else:
        bins = metrics.calibration_bins(predictions == labels, probabilities.max(axis=1))
        what = "confidence of the predicted class"
    rows = [[round(float(a), 6), round(float(b), 6), int(c)] for a, b, c in zip(*bins.values(), strict=True)]
    artifacts.write_csv(artifacts.CALIBRATION, ["predicted", "observed", "count"], rows)
    figures.reliability(bins, what, artifacts.CALIBRATION_PNG)


if __name__ == "__main__":
    run(main)
