"""Stage evaluate: score the trained model on the scaled test split.

Writes metrics/eval.json, metrics/confusion.csv (one actual,predicted row per test row) and
PNG images of the confusion matrix and of the training curves under metrics/plots/.
"""

import logging

from stages import artifacts, figures, numerics, params
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
    predictions = logits.argmax(dim=1).numpy()
    report = classification_report(test["labels"], predictions, class_names)
    report = {"accuracy": report.pop("accuracy"), "loss": round(loss, 6), **report}
    artifacts.write_json(artifacts.EVAL_METRICS, report)
    rows = [[class_names[a], class_names[b]] for a, b in zip(test["labels"], predictions, strict=True)]
    artifacts.write_csv(artifacts.CONFUSION, ["actual", "predicted"], rows)
    counts = confusion_matrix(test["labels"], predictions, len(class_names))
    figures.confusion_matrix(counts, class_names, artifacts.CONFUSION_PNG)
    best_epoch = artifacts.read_json(artifacts.TRAIN_METRICS)["best_epoch"]
    figures.training_curves(artifacts.read_csv_columns(artifacts.HISTORY), best_epoch, artifacts.CURVES_PNG)
    log.info(
        "test accuracy %.4f, macro F1 %.4f on %d rows", report["accuracy"], report["macro_f1"], len(rows)
    )


if __name__ == "__main__":
    run(main)
