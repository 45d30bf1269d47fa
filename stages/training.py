"""One training run: the scaled splits as batches, the network, the optimizer, engine.fit, and
the outputs it writes (models/model.pt, metrics/history.csv, metrics/train.json).

The train stage calls it in its own process; stages.distributed calls it in each rank with a
group (this rank's share of every batch, DDP). It imports neither of them. torch is imported
inside the functions: train.numerics must be applied before it loads.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from stages import artifacts, params, recipe, tasks

if TYPE_CHECKING:
    import torch
    from torch import nn

    from stages import engine


class RankGroup(Protocol):
    """What training needs of one rank's place among several processes (distributed.Group)."""

    @property
    def reports(self) -> bool: ...

    def batches(self, inputs, labels, batch_size: int, generator=None) -> engine.Batches: ...

    def wrap(self, model: nn.Module) -> nn.Module: ...


def to_batches(
    split, device: torch.device, batch_size: int, generator=None, group: RankGroup | None = None
) -> tuple[engine.Batches, dict]:
    """A split's rows (its file, or its arrays read already) on the device, as batches (this
    rank's share of each, on several processes)."""
    import torch

    from stages import engine

    arrays = split if isinstance(split, dict) else artifacts.read_npz(split)
    inputs = (torch.from_numpy(arrays["features"]).to(device), torch.from_numpy(arrays["codes"]).to(device))
    labels = torch.from_numpy(tasks.from_arrays(arrays).training_target(arrays["labels"])).to(device)
    make = engine.Batches if group is None else group.batches
    return make(inputs, labels, batch_size, generator), arrays


def progress_printer(epochs: int, metric: str = "accuracy") -> Callable[[engine.Epoch, int], None]:
    """One line per epoch: rewritten in place on a terminal, about 10 lines in a log."""
    interactive = sys.stderr.isatty()
    every = max(1, epochs // 10)
    short = {"accuracy": "acc"}.get(metric, metric)

    def report(e: engine.Epoch, best_val_epoch: int) -> None:
        line = (
            f"train: epoch {e.epoch:>{len(str(epochs))}}/{epochs}  "
            f"loss {e.train_loss:.4f} {short} {e.train_metric:.4f} | "
            f"val loss {e.val_loss:.4f} {short} {e.val_metric:.4f} | best val epoch {best_val_epoch}"
        )
        if interactive:
            print("\r" + line, end="", file=sys.stderr, flush=True)
        elif e.epoch == 1 or e.epoch % every == 0:
            print(line, file=sys.stderr)

    return report


def train(
    p: params.TrainParams, device: torch.device, group: RankGroup | None = None
) -> tuple[nn.Module, engine.FitResult, dict, str]:
    """The trained model, its history, its config and the name of the task's metric. With a
    group (train.world_size > 1) this is one rank: its share of each batch, DDP's gradients."""
    import torch

    from stages import engine
    from stages.model import embedding_widths, from_config, model_config, quantile_bins

    torch.manual_seed(p.seed)
    shuffle = torch.Generator().manual_seed(p.seed)
    arrays = artifacts.read_npz(artifacts.SCALED["train"])
    r = recipe.resolve(p, len(arrays["labels"]))
    train_batches, _ = to_batches(arrays, device, r.batch_size, shuffle, group)
    val_batches, _ = to_batches(artifacts.SCALED["val"], device, max(r.batch_size, 4096), None, group)
    task = tasks.from_arrays(arrays)
    loss_fn = task.criterion(p.loss)  # refuses a loss of the other task before any work
    class_names = arrays["class_names"].tolist()
    n_numeric = train_batches.inputs[0].shape[1]
    cardinalities = arrays["cardinalities"].tolist()
    widths = embedding_widths(cardinalities, p.embedding_dim)
    n_outputs = task.n_outputs(class_names)
    ple = r.numeric_embedding == "ple" and n_numeric > 0
    bins = quantile_bins(arrays["features"]) if ple else None
    config = model_config(n_numeric, cardinalities, widths, r.record(), p.activation, n_outputs, bins)
    model = from_config(config, classification=task.name == "classification").to(device)
    fitted = model if group is None else group.wrap(model)  # DDP shares model's parameters
    optimizer = engine.FunctionalOptimizer(r.optimizer, fitted.parameters(), r.lr, r.weight_decay, p.momentum)
    reports = group is None or group.reports
    result = engine.fit(
        fitted, optimizer, loss_fn, train_batches, val_batches,
        epochs=r.epochs, patience=r.patience, min_delta=p.min_delta,
        on_epoch=progress_printer(r.epochs, task.metric) if reports else lambda epoch, best: None,
        task=task,
    )  # fmt: skip
    if reports and sys.stderr.isatty():
        print(file=sys.stderr)
    config.update(task.config(arrays), loss=task.check_loss(p.loss))
    config["input_numeric"] = arrays["input_numeric"].tolist()
    config["input_categorical"] = arrays["input_categorical"].tolist()
    config["recipe"] = r.record()
    return model, result, config, task.metric


def train_metrics(result: engine.FitResult, metric: str = "accuracy", used: dict | None = None) -> dict:
    """The kept epoch's figures, then the recipe the run used (every `auto` resolved)."""
    best = result.best
    return {
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "train_loss": round(best.train_loss, 6),
        f"train_{metric}": round(best.train_metric, 6),
        "val_loss": round(best.val_loss, 6),
        f"val_{metric}": round(best.val_metric, 6),
        **({"recipe": used} if used else {}),
    }


def write_outputs(model: nn.Module, result: engine.FitResult, config: dict, metric: str) -> None:
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    artifacts.write_torch(artifacts.MODEL, {"config": config, "state_dict": state})
    columns = ["epoch", "train_loss", f"train_{metric}", "val_loss", f"val_{metric}"]
    rows = [
        [e.epoch, *(round(v, 6) for v in (e.train_loss, e.train_metric, e.val_loss, e.val_metric))]
        for e in result.history
    ]
    artifacts.write_csv(artifacts.HISTORY, columns, rows)
    artifacts.write_json(artifacts.TRAIN_METRICS, train_metrics(result, metric, config.get("recipe")))
