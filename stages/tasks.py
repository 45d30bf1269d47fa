"""What differs between classification and regression, gathered in one object per task.

prepare.task chooses the task once; it then travels inside the artifacts (dataset.npz, the
splits, the scaled splits, the model's config), so each stage reads it from its own inputs and
asks the object: the target's encoding, the network's output width, the loss, the metric a
train/val step reports, and the names of what evaluate and predict write. No torch at import:
the light stages use these objects too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from stages.errors import UserError

if TYPE_CHECKING:
    import torch

HUBER_DELTA = 1.0  # on the standardised target: one train standard deviation


def members(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """An ensemble's training outputs (rows, k, outputs) as k * rows predictions, each with its
    row's target, and k; other outputs as they are, k = 1. The loss and the train metric of an
    ensemble are then the mean over its members, as TabM trains."""
    if outputs.ndim == 3:
        k = outputs.shape[1]
        return outputs.flatten(0, 1), targets.repeat_interleave(k), k
    return outputs, targets, 1


class _Task:
    """What both tasks share: resolving train.loss against the task's own losses."""

    name: str
    losses: tuple[str, ...]

    def check_loss(self, loss: str) -> str:
        """train.loss resolved for this task (auto: the task's first loss), or one line why not."""
        if loss == "auto":
            return self.losses[0]
        if loss not in self.losses:
            raise UserError(
                f"params.yaml: train.loss = {loss} is not a {self.name} loss, and the data is a "
                f"{self.name} task (prepare.task); train.loss must be one of auto, {', '.join(self.losses)}"
            )
        return loss


@dataclass(frozen=True)
class Classification(_Task):
    """Integer labels indexing class names; logits out, one per class."""

    name = "classification"
    metric = "accuracy"  # what train_step/val_step return beside the loss
    losses = ("cross_entropy",)  # the first is what train.loss: auto means
    score = "accuracy"  # what permutation importance measures the drop of

    def n_outputs(self, class_names: list[str]) -> int:
        return len(class_names)

    def training_target(self, labels: np.ndarray) -> np.ndarray:
        return labels  # int64 class indices, as cross-entropy takes them

    def criterion(self, loss: str):
        from torch import nn

        self.check_loss(loss)
        cross_entropy = nn.CrossEntropyLoss()
        return lambda outputs, targets: cross_entropy(*members(outputs, targets)[:2])

    def batch_score(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed over the batch: rows predicted right (an ensemble's members: their mean)."""
        outputs, targets, k = members(outputs, targets)
        right = outputs.argmax(dim=1).eq(targets).sum()
        return right if k == 1 else right / k

    def epoch_metric(self, total: float, n: int) -> float:
        return total / n

    def config(self, arrays: dict[str, np.ndarray]) -> dict:
        """What the model's config records to read its outputs back (from a scaled split)."""
        return {"task": self.name, "class_names": arrays["class_names"].tolist()}


@dataclass(frozen=True)
class Regression(_Task):
    """A float target, standardised by the scale stage with train's mean and standard deviation
    (center, scale); the network has one output in those standard units, and everything a person
    reads (RMSE, plots, predictions) is mapped back to the target's own units."""

    center: float = 0.0
    scale: float = 1.0
    name = "regression"
    metric = "rmse"
    losses = ("mse", "huber")
    score = "R²"

    def n_outputs(self, class_names: list[str]) -> int:
        return 1

    def training_target(self, labels: np.ndarray) -> np.ndarray:
        return labels.astype(np.float32)  # the standardised target, in the network's dtype

    def criterion(self, loss: str):
        from torch.nn import functional

        if self.check_loss(loss) == "huber":

            def huber(outputs, targets):
                outputs, targets, _ = members(outputs, targets)
                return functional.huber_loss(outputs[:, 0], targets, delta=HUBER_DELTA)

            return huber

        def mse(outputs, targets):
            outputs, targets, _ = members(outputs, targets)
            return functional.mse_loss(outputs[:, 0], targets)

        return mse

    def batch_score(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Summed over the batch: squared errors, in standard units (an ensemble's: their mean)."""
        outputs, targets, k = members(outputs, targets)
        squared = (outputs[:, 0] - targets).square().sum()
        return squared if k == 1 else squared / k

    def epoch_metric(self, total: float, n: int) -> float:
        """RMSE in the target's units."""
        return math.sqrt(total / n) * self.scale

    def config(self, arrays: dict[str, np.ndarray]) -> dict:
        return {
            "task": self.name,
            "target_name": str(arrays["target_name"]),
            "target_center": self.center,
            "target_scale": self.scale,
        }

    def to_units(self, standardised: np.ndarray) -> np.ndarray:
        """float64 values in the target's units from the network's standard units."""
        return np.asarray(standardised, dtype=np.float64) * self.scale + self.center


CLASSIFICATION = Classification()


def from_arrays(arrays: dict[str, np.ndarray]) -> Classification | Regression:
    """The task a dataset or split artifact records (a scaled split also records the scaling)."""
    name = str(arrays["task"])
    if name == "classification":
        return CLASSIFICATION
    if "target_center" in arrays:
        return Regression(float(arrays["target_center"]), float(arrays["target_scale"]))
    return Regression()


def from_config(config: dict) -> Classification | Regression:
    """The task a trained model's config records."""
    if config["task"] == "classification":
        return CLASSIFICATION
    return Regression(config["target_center"], config["target_scale"])
