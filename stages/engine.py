"""Training on tensors held in memory: the tutorial's train_step/val_step without a DataLoader.

Tensors move to the device once; each epoch draws a permutation from a seeded generator and
batches are slices of it. Loss and metric sums accumulate on the device and are read once
per step call, so the device is not synchronised on every batch.
"""

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.adam import adam
from torch.optim.sgd import sgd

from stages.errors import UserError
from stages.tasks import CLASSIFICATION, Classification, Regression


class Batches:
    """A DataLoader's role for tensors already on the device: (inputs, targets) per batch,
    where inputs is the tuple of the model's arguments (numeric features, text codes)."""

    def __init__(
        self,
        inputs: tuple[torch.Tensor, ...],
        labels: torch.Tensor,
        batch_size: int,
        generator: torch.Generator | None = None,
    ) -> None:
        self.inputs = inputs
        self.labels = labels
        self.batch_size = batch_size
        self.generator = generator  # None: rows in order (evaluation); else shuffled each epoch

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[tuple[torch.Tensor, ...], torch.Tensor]]:
        n, size = len(self.labels), self.batch_size
        if self.generator is None:
            for start in range(0, n, size):
                yield tuple(t[start : start + size] for t in self.inputs), self.labels[start : start + size]
            return
        order = torch.randperm(n, generator=self.generator).to(self.labels.device)
        for start in range(0, n, size):
            rows = order[start : start + size]
            yield tuple(t[rows] for t in self.inputs), self.labels[rows]

    # What a training or validation step asks of the rows it iterated; on several processes
    # (stages/distributed.py) these weigh this process's share and sum over every process.
    def gradient_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to differentiate for the batch just yielded: its mean, as it is."""
        return loss

    def epoch_totals(
        self, loss_sum: torch.Tensor, score_sum: torch.Tensor | float, rows: int
    ) -> tuple[float, float, int]:
        """An epoch's summed loss and metric, and its row count, as numbers."""
        return loss_sum.item(), float(score_sum), rows


class FunctionalOptimizer:
    """Adam, AdamW or SGD with torch's own update kernels (torch.optim.adam.adam, .sgd.sgd).

    torch.optim's classes import torch._dynamo on their first step, which costs more than a
    second per process; the functional kernels do the same arithmetic without it. On CPU and
    CUDA the fused kernels run (one call per step instead of several per tensor): measured
    7% more samples/s at batch 256 on a 2-core CPU.
    """

    def __init__(self, name: str, parameters, lr: float, weight_decay: float, momentum: float) -> None:
        self.name = name
        self.params = [p for p in parameters if p.requires_grad]
        self.lr, self.weight_decay, self.momentum = lr, weight_decay, momentum
        # None lets torch pick its default where no fused kernel exists (MPS)
        self.fused = True if all(p.device.type in ("cpu", "cuda") for p in self.params) else None
        if name in ("adam", "adamw"):
            self.exp_avgs = [torch.zeros_like(p) for p in self.params]
            self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
            # as torch.optim.Adam keeps them: on the parameter's device when fused
            self.steps = [torch.tensor(0.0, device=p.device if self.fused else "cpu") for p in self.params]
        else:
            self.momentum_buffers: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [p.grad for p in self.params]
        if self.name == "sgd":
            sgd(self.params, grads, self.momentum_buffers, weight_decay=self.weight_decay,
                momentum=self.momentum, lr=self.lr, dampening=0.0, nesterov=False,
                maximize=False, fused=self.fused)  # fmt: skip
            return
        adam(self.params, grads, self.exp_avgs, self.exp_avg_sqs, [], self.steps,
             decoupled_weight_decay=self.name == "adamw", amsgrad=False, beta1=0.9, beta2=0.999,
             lr=self.lr, weight_decay=self.weight_decay, eps=1e-8, maximize=False,
             fused=self.fused)  # fmt: skip


Task = Classification | Regression


def train_step(
    batches: Batches, model: nn.Module, optimizer: FunctionalOptimizer, loss_fn: Callable,
    task: Task = CLASSIFICATION,
) -> tuple[float, float]:  # fmt: skip
    """One epoch of training; returns the per-sample average loss and the task's metric
    (accuracy, or RMSE in the target's units)."""
    model.train()
    total_loss = torch.zeros((), device=batches.labels.device)
    total_score: torch.Tensor | float = 0.0  # a tensor on the device from the first batch on
    n = 0
    for inputs, targets in batches:
        optimizer.zero_grad()
        outputs = model(*inputs)
        loss = loss_fn(outputs, targets)
        batches.gradient_loss(loss).backward()
        optimizer.step()
        if len(targets):  # one of several processes can hold no row of a last small batch
            total_loss += loss.detach() * len(targets)
            total_score = total_score + task.batch_score(outputs.detach(), targets)
            n += len(targets)
    loss_sum, score_sum, n = batches.epoch_totals(total_loss, total_score, n)
    return loss_sum / n, task.epoch_metric(score_sum, n)


@torch.inference_mode()
def val_step(
    batches: Batches, model: nn.Module, loss_fn: Callable, task: Task = CLASSIFICATION
) -> tuple[float, float]:
    """Per-sample average loss and the task's metric over `batches`, without updating the model."""
    model.eval()
    total_loss = torch.zeros((), device=batches.labels.device)
    total_score: torch.Tensor | float = 0.0
    n = 0
    for inputs, targets in batches:
        if len(targets):
            outputs = model(*inputs)
            total_loss += loss_fn(outputs, targets) * len(targets)
            total_score = total_score + task.batch_score(outputs, targets)
            n += len(targets)
    loss_sum, score_sum, n = batches.epoch_totals(total_loss, total_score, n)
    return loss_sum / n, task.epoch_metric(score_sum, n)


@torch.inference_mode()
def predict_logits(model: nn.Module, inputs: tuple[torch.Tensor, ...], batch_size: int) -> torch.Tensor:
    """The model's outputs for every row of `inputs` (its arguments), batch_size rows at a time.

    Each batch's outputs are copied into one tensor made up front: keeping them all for a
    torch.cat at the end left small blocks between the freed batch temporaries, and the heap
    grew by 200-450 MB over 10^6 rows (28 MB this way)."""
    model.eval()
    n = len(inputs[0])
    outputs: torch.Tensor | None = None
    for start in range(0, n, batch_size):
        batch = model(*(t[start : start + batch_size] for t in inputs))
        if outputs is None:
            outputs = torch.empty((n, *batch.shape[1:]), dtype=batch.dtype, device=batch.device)
        outputs[start : start + len(batch)] = batch
    assert outputs is not None, "predict_logits needs at least one row"
    return outputs


@dataclass(frozen=True)
class Epoch:
    epoch: int
    train_loss: float
    train_metric: float  # the task's metric: accuracy, or RMSE
    val_loss: float
    val_metric: float


@dataclass(frozen=True)
class FitResult:
    history: list[Epoch]
    best_epoch: int  # the epoch whose weights the model holds after fit()

    @property
    def best(self) -> Epoch:
        return self.history[self.best_epoch - 1]


def fit(
    model: nn.Module,
    optimizer: FunctionalOptimizer,
    loss_fn: Callable,
    train: Batches,
    val: Batches,
    epochs: int,
    patience: int = 0,
    min_delta: float = 0.0,
    on_epoch: Callable[[Epoch, int], None] = lambda epoch, best_val_epoch: None,
    task: Task = CLASSIFICATION,
) -> FitResult:
    """Train for `epochs`, or until val loss has not improved by min_delta for `patience`
    epochs (patience 0: never stop early). With early stopping on, the model ends holding the
    best epoch's weights; without it, the last epoch's."""
    history: list[Epoch] = []
    best_loss, best_epoch, best_state = math.inf, 0, None
    for number in range(1, epochs + 1):
        train_loss, train_metric = train_step(train, model, optimizer, loss_fn, task)
        val_loss, val_metric = val_step(val, model, loss_fn, task)
        record = Epoch(number, train_loss, train_metric, val_loss, val_metric)
        history.append(record)
        if val_loss < best_loss - min_delta:
            best_loss, best_epoch = val_loss, number
            if patience:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        on_epoch(record, best_epoch)
        if patience and number - best_epoch >= patience:
            break
    if best_state is None:  # early stopping off, or val loss never finite
        return FitResult(history, len(history))
    model.load_state_dict(best_state)
    return FitResult(history, best_epoch)


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; a named device must be present."""
    available = [kind for kind, present in (
        ("cuda", torch.cuda.is_available()),
        ("mps", torch.backends.mps.is_available()),
    ) if present] + ["cpu"]  # fmt: skip
    if name == "auto":
        return torch.device(available[0])
    if name not in available:
        raise UserError(
            f"params.yaml: train.device = {name!r} is not available on this machine; "
            f"allowed here: auto, {', '.join(available)}"
        )
    return torch.device(name)
