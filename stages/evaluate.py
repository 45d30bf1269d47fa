"""Stage evaluate: score the trained model on the scaled test split.

Writes metrics/eval.json (accuracy, loss, precision/recall/F1, ROC AUC, average precision, log
loss, Brier score), the data of DVC's plots (confusion.csv with one actual,predicted row per
test row; roc.csv, precision_recall.csv, calibration.csv, importance.csv) and PNG images of the
same views and of the training curves under metrics/plots/.
"""

import logging

from stages import artifacts, figures, metrics, numerics, params
from stages.errors import run
from stages.metrics import classification_report, confusion_matrix

log = logging.getLogger("evaluate")


def main() -> None:
    p = params.load("evaluate")
    numerics.apply(params.load("train").numerics)  # the model's own setting, before torch loads
    import torch
    from torch import nn

    from stages import engine
    from stages.model import from_payload

    model, config = from_payload(artifacts.read_torch(artifacts.MODEL))
    class_names = config["class_names"]
    test = artifacts.read_npz(artifacts.SCALED["test"])
    inputs = (torch.from_numpy(test["features"]), torch.from_numpy(test["codes"]))
    labels = torch.from_numpy(test["labels"])
    logits = engine.predict_logits(model, inputs, p.batch_size)
    loss = nn.functional.cross_entropy(logits, labels).item()  # averaged per sample
    probabilities = torch.softmax(logits.double(), dim=1).numpy()
    predictions = logits.argmax(dim=1).numpy()
    report = classification_report(test["labels"], predictions, class_names)
    ranking, curves = metrics.ranking_report(test["labels"], probabilities, class_names)
    for name, scores in ranking.pop("per_class").items():
        report["per_class"][name].update(scores)
    per_class = report.pop("per_class")
    report = {
        "accuracy": report.pop("accuracy"),
        "loss": round(loss, 6),
        **ranking,
        **report,
        "per_class": per_class,
    }
    artifacts.write_json(artifacts.EVAL_METRICS, report)
    rows = [[class_names[a], class_names[b]] for a, b in zip(test["labels"], predictions, strict=True)]
    artifacts.write_csv(artifacts.CONFUSION, ["actual", "predicted"], rows)
    counts = confusion_matrix(test["labels"], predictions, len(class_names))
    figures.confusion_matrix(counts, class_names, artifacts.CONFUSION_PNG)
    write_ranking_curves(curves, class_names)
    write_calibration(test["labels"], probabilities, predictions, class_names)

    def predict(numeric, codes):
        found = engine.predict_logits(
            model, (torch.from_numpy(numeric), torch.from_numpy(codes)), p.batch_size
        )
        return found.argmax(dim=1).numpy()

    names = config["input_numeric"] + config["input_categorical"]
    importance = metrics.permutation_importance(
        predict, test["features"], test["codes"], test["labels"], names, p.importance_rows
    )
    artifacts.write_csv(
        artifacts.IMPORTANCE, ["column", "importance", "std"],
        [[r["column"], round(r["importance"], 6), round(r["std"], 6)] for r in importance],
    )  # fmt: skip
    figures.importance(importance, "accuracy", artifacts.IMPORTANCE_PNG)
    best_epoch = artifacts.read_json(artifacts.TRAIN_METRICS)["best_epoch"]
    figures.training_curves(artifacts.read_csv_columns(artifacts.HISTORY), best_epoch, artifacts.CURVES_PNG)
    log.info(
        "test accuracy %.4f, macro F1 %.4f on %d rows", report["accuracy"], report["macro_f1"], len(rows)
    )


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
