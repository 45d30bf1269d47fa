"""Stage train: fit the MLP on the scaled train split, validating on val every epoch.

Writes models/model.pt (state_dict + config), metrics/history.csv and metrics/train.json.
torch is imported inside the functions: train.numerics must be applied before it loads.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from stages import artifacts, numerics, params
from stages.errors import run

if TYPE_CHECKING:
    import torch
    from torch import nn

    from stages import engine

log = logging.getLogger("train")


def to_batches(path, device: torch.device, batch_size: int, generator=None) -> tuple[engine.Batches, dict]:
    import torch

    from stages import engine

    arrays = artifacts.read_npz(path)
    inputs = (torch.from_numpy(arrays["features"]).to(device), torch.from_numpy(arrays["codes"]).to(device))
    labels = torch.from_numpy(arrays["labels"]).to(device)
    return engine.Batches(inputs, labels, batch_size, generator), arrays


def progress_printer(epochs: int) -> Callable[[engine.Epoch, int], None]:
    """One line per epoch: rewritten in place on a terminal, about 10 lines in a log."""
    interactive = sys.stderr.isatty()
    every = max(1, epochs // 10)

    def report(e: engine.Epoch, best_val_epoch: int) -> None:
        line = (
            f"train: epoch {e.epoch:>{len(str(epochs))}}/{epochs}  "
            f"loss {e.train_loss:.4f} acc {e.train_accuracy:.4f} | "
            f"val loss {e.val_loss:.4f} acc {e.val_accuracy:.4f} | best val epoch {best_val_epoch}"
        )
        if interactive:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif e.epoch == 1 or e.epoch % every == 0:
            print(line, file=sys.stderr)

    return report


def train(p: params.TrainParams, device: torch.device) -> tuple[nn.Module, engine.FitResult, dict]:
    import torch
    from torch import nn

    from stages import engine
    from stages.model import TabularNet, embedding_widths, model_config

    torch.manual_seed(p.seed)
    shuffle = torch.Generator().manual_seed(p.seed)
    train_batches, arrays = to_batches(artifacts.SCALED["train"], device, p.batch_size, shuffle)
    val_batches, _ = to_batches(artifacts.SCALED["val"], device, max(p.batch_size, 4096))
    class_names = arrays["class_names"].tolist()
    n_numeric = train_batches.inputs[0].shape[1]
    cardinalities = arrays["cardinalities"].tolist()
    widths = embedding_widths(cardinalities, p.embedding_dim)
    model = TabularNet(n_numeric, cardinalities, widths, list(p.hidden), len(class_names), p.activation).to(
        device
    )
    optimizer = engine.FunctionalOptimizer(p.optimizer, model.parameters(), p.lr, p.weight_decay, p.momentum)
    result = engine.fit(
        model, optimizer, nn.CrossEntropyLoss(), train_batches, val_batches,
        epochs=p.epochs, patience=p.patience, min_delta=p.min_delta,
        on_epoch=progress_printer(p.epochs),
    )  # fmt: skip
    if sys.stderr.isatty():
        print(file=sys.stderr)
    config = model_config(n_numeric, cardinalities, widths, list(p.hidden), p.activation, class_names)
    config["input_numeric"] = arrays["input_numeric"].tolist()
    config["input_categorical"] = arrays["input_categorical"].tolist()
    return model, result, config


def train_metrics(result: engine.FitResult) -> dict:
    best = result.best
    return {
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "train_loss": round(best.train_loss, 6),
        "train_accuracy": round(best.train_accuracy, 6),
        "val_loss": round(best.val_loss, 6),
        "val_accuracy": round(best.val_accuracy, 6),
    }


def main() -> None:
    p = params.load("train")
    numerics.apply(p.numerics)
    from stages import engine

    device = engine.resolve_device(p.device)
    log.info("device %s", device)
    started = time.perf_counter()
    model, result, config = train(p, device)
    log.info(
        "%d epochs in %.2f s; kept epoch %d",
        len(result.history),
        time.perf_counter() - started,
        result.best_epoch,
    )
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    artifacts.write_torch(artifacts.MODEL, {"config": config, "state_dict": state})
    columns = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy"]
    rows = [[e.epoch] + [round(getattr(e, c), 6) for c in columns[1:]] for e in result.history]
    artifacts.write_csv(artifacts.HISTORY, columns, rows)
    artifacts.write_json(artifacts.TRAIN_METRICS, train_metrics(result))


if __name__ == "__main__":
    run(main)
