"""Training on several processes: torch's elastic launcher, then DistributedDataParallel.

The train stage calls main() only when train.world_size > 1, or when torchrun started it (several
nodes: docs/distributed.md); one process never imports this module.

- **Launch**: the stage's own process starts train.world_size copies of `python -m stages.train`
  with torch's elastic launcher (what `torchrun --standalone` runs): a c10d rendezvous on a free
  port of 127.0.0.1, so two runs at once do not collide, no restarts, loopback for gloo.
- **Each worker** joins the process group (gloo on CPU, nccl on CUDA: one GPU per worker), reads
  the whole scaled train and val splits, and iterates `ShardedBatches`: every rank draws the
  same seeded permutation each epoch and takes every world_size-th row of each batch of it.
  So a step of world_size processes sees the same train.batch_size rows as one process does,
  and the gradient DDP averages is the gradient of the batch's mean loss (each rank weighs its
  share, gradient_loss). Epoch losses and metrics are summed over ranks (all-reduce), so every
  rank takes the same early-stopping decision. What differs from one process is the order of
  floating-point sums: the weights come out close, not equal (docs/distributed.md states the tolerance).
- **Rank 0 alone** prints progress and writes every artifact, after every rank has finished.
- **Failure**: a rank's error (one line for a UserError) goes to the error file the launcher
  gives it; the launcher stops the other ranks and the stage exits 1 with that rank's line,
  having written nothing. A rank that only lost its peer stays quiet: it is not the cause.

torch loads with this module: train.main applies train.numerics before importing it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from stages import artifacts, engine, params
from stages.errors import UserError

log = logging.getLogger("train")

# set by torch's elastic agent in every worker it starts (ours, or a torchrun on any node)
WORKER_VARIABLE = "TORCHELASTIC_RUN_ID"
# in an error file: this rank stopped because another one did
_PEER_LOST = "peer_lost"


def launched_by_torchrun() -> bool:
    return WORKER_VARIABLE in os.environ


def main(p: params.TrainParams) -> None:
    if launched_by_torchrun():
        worker(p)
    else:
        launch(p)


# ---- the launcher: the stage's own process -------------------------------------------------


def _loopback_interface() -> str | None:
    """The loopback interface's name (lo on Linux, lo0 on macOS), for gloo's sockets."""
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return None
    return next((name for name in ("lo", "lo0") if name in names), None)


def launch(p: params.TrainParams) -> None:
    """Run train.world_size workers on this machine and wait for them; one line if any fails."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    # the agent logs each stop and restart decision; the stage reports the outcome itself
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    interface = _loopback_interface()
    if interface and "GLOO_SOCKET_IFNAME" not in os.environ:
        # every rank is on this machine; gloo would otherwise bind to the address the host
        # name resolves to, which need not be reachable (containers, VPNs)
        os.environ["GLOO_SOCKET_IFNAME"] = interface
    log.info("world size %d: starting %d processes (torch elastic, standalone)", p.world_size, p.world_size)
    with tempfile.TemporaryDirectory(prefix="train-ranks-") as logs:
        config = LaunchConfig(
            min_nodes=1,
            max_nodes=1,
            nproc_per_node=p.world_size,
            run_id=f"train-{uuid.uuid4().hex}",
            rdzv_backend="c10d",
            rdzv_endpoint="127.0.0.1:0",  # port 0: the store takes a free port
            local_addr="127.0.0.1",
            max_restarts=0,
            monitor_interval=0.1,
            start_method="spawn",
            logs_specs=DefaultLogsSpecs(log_dir=logs),  # where each rank's error file goes
        )
        try:
            elastic_launch(config, sys.executable)("-m", "stages.train")
        except ChildFailedError as failed:
            raise UserError(_failure_line(failed.failures, p.world_size)) from None


def _failure_line(failures: dict, world_size: int) -> str:
    """One line for the rank that failed first, going by what each left: its own error (the
    cause), an exit with no word (killed by the system, say), a lost peer, or the launcher's
    SIGTERM (stopped because another rank failed). Ties go to the lowest rank."""

    def recorded(failure) -> bool:  # it wrote its error file (_record): a timestamp
        return "timestamp" in failure.error_file_data

    def rank_of_cause(item) -> tuple[int, int]:
        rank, failure = item
        if recorded(failure):
            return (2 if failure.error_file_data.get(_PEER_LOST) else 0), rank
        return (3 if failure.exitcode == -signal.SIGTERM else 1), rank

    rank, failure = min(failures.items(), key=rank_of_cause)
    if recorded(failure):
        reason = failure.message
    elif failure.exitcode < 0:
        reason = f"killed by signal {failure.signal_name()}"
    else:
        reason = f"exited with status {failure.exitcode} and no message"
    return f"train.world_size = {world_size}: rank {rank} failed: {reason}"


# ---- a worker: one rank --------------------------------------------------------------------


def _record(message: str, peer_lost: bool = False) -> None:
    """Leave this rank's error where the elastic agent reads it back (its ProcessFailure)."""
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    payload = {"message": message, "timestamp": int(time.time())}
    if peer_lost:
        payload[_PEER_LOST] = True
    with artifacts.atomic_path(Path(path)) as tmp:
        tmp.write_text(json.dumps(payload))


def worker(p: params.TrainParams) -> None:
    """One rank's work; its errors become its error file (the launcher prints the line)."""
    rank = int(os.environ["RANK"])
    try:
        _worker(p, rank)
    except UserError as error:
        _record(str(error))
        if not os.environ.get("TORCHELASTIC_ERROR_FILE"):
            print(f"error: rank {rank}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    except Exception as error:
        if _lost_peer(error):  # another rank went away mid-collective: the launcher names that one
            _record(f"lost contact with the other ranks ({_first_sentence(error)})", peer_lost=True)
            raise SystemExit(1) from None
        _record(f"{type(error).__name__}: {error} (traceback on the rank's stderr)")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _lost_peer(error: BaseException) -> bool:
    """A collective that broke because a peer left: c10d's own errors, or gloo's transport
    errors, which DDP's reducer raises as RuntimeError ("Connection reset by peer")."""
    return isinstance(error, dist.DistError) or "/gloo/transport/" in str(error)


def _first_sentence(error: BaseException) -> str:
    text = str(error).split("] ", 1)[-1]  # gloo opens with its source file and line
    return text.split(". ")[0].strip()


def _device(p: params.TrainParams, local_rank: int, local_world: int) -> tuple[torch.device, str]:
    """This rank's device and process-group backend: a GPU each with nccl, or the CPU with gloo."""
    name = p.device
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "mps":
        raise UserError(
            "params.yaml: train.device = 'mps' cannot train on several processes "
            "(torch.distributed has no MPS backend); set train.world_size: 1, or train.device: cpu"
        )
    if name == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count < local_world:
            raise UserError(
                f"params.yaml: train.device = 'cuda' with {local_world} processes on this machine "
                f"needs {local_world} GPUs; it has {count}. Set train.world_size to at most {count}, "
                f"or train.device: cpu"
            )
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank), "nccl"
    return torch.device("cpu"), "gloo"


def _worker(p: params.TrainParams, rank: int) -> None:
    from stages import numerics, training

    world = int(os.environ["WORLD_SIZE"])
    if world != p.world_size:
        raise UserError(
            f"params.yaml: train.world_size = {p.world_size} but torchrun started {world} processes; "
            f"set train.world_size: {world} (nodes x processes per node), which dvc.lock records"
        )
    local_rank, local_world = int(os.environ["LOCAL_RANK"]), int(os.environ["LOCAL_WORLD_SIZE"])
    if rank != 0:
        logging.getLogger().setLevel(logging.WARNING)  # rank 0 reports for all
    # unless train.threads names a count, this machine's threads (portable's fixed count, or its
    # cores under native) split evenly between its ranks
    machine = numerics.threads(p.numerics, 0) or torch.get_num_threads()
    numerics.set_threads(p.numerics, p.threads or max(1, machine // local_world))
    device, backend = _device(p, local_rank, local_world)
    dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    log.info(
        "rank %d of %d: %s, %s, threads per rank %d", rank, world, device, backend, torch.get_num_threads()
    )
    group = Group(rank, world, device)
    started = time.perf_counter()
    model, result, config, metric = training.train(p, device, group)
    dist.barrier()  # every rank finished: nothing is written if any failed
    if rank == 0:
        log.info(
            "%d epochs in %.2f s on %d processes; kept epoch %d",
            len(result.history), time.perf_counter() - started, world, result.best_epoch,
        )  # fmt: skip
        training.write_outputs(model, result, config, metric)


class Group:
    """This rank's place in the process group, as training.train needs it (training.RankGroup)."""

    def __init__(self, rank: int, world_size: int, device: torch.device) -> None:
        self.rank, self.world_size, self.device = rank, world_size, device

    @property
    def reports(self) -> bool:
        return self.rank == 0

    def batches(self, inputs, labels, batch_size: int, generator=None) -> ShardedBatches:
        return ShardedBatches(inputs, labels, batch_size, generator, self.rank, self.world_size)

    def wrap(self, model: nn.Module) -> nn.Module:
        """DDP: the same start weights on every rank (rank 0's, broadcast), gradients averaged."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)


class ShardedBatches(engine.Batches):
    """engine.Batches, of which this rank yields every world_size-th row of each batch."""

    def __init__(self, inputs, labels, batch_size, generator, rank: int, world_size: int) -> None:
        super().__init__(inputs, labels, batch_size, generator)
        self.rank, self.world_size = rank, world_size
        self._weight = 1.0  # of the batch last yielded

    def __iter__(self):
        # the one-process batches (same seed, same permutation on every rank), then this
        # rank's every world_size-th row of each
        mine = slice(self.rank, None, self.world_size)
        for inputs, labels in super().__iter__():
            whole = len(labels)
            share = len(range(self.rank, whole, self.world_size))
            # DDP averages the ranks' gradients: weigh this rank's mean loss by its share
            self._weight = share * self.world_size / whole
            yield tuple(t[mine] for t in inputs), labels[mine]

    def gradient_loss(self, loss: torch.Tensor) -> torch.Tensor:
        if self._weight == 0.0:
            # no row of this batch here (fewer rows than ranks): the mean of none is NaN, yet
            # this rank must still join the batch's all-reduce, with a zero gradient
            return torch.nan_to_num(loss) * 0.0
        return loss * self._weight

    def epoch_totals(self, loss_sum: torch.Tensor, score_sum, rows: int) -> tuple[float, float, int]:
        device = loss_sum.device
        totals = torch.stack([
            loss_sum.to(torch.float64),
            torch.as_tensor(score_sum, device=device).to(torch.float64),
            torch.tensor(float(rows), dtype=torch.float64, device=device),
        ])  # fmt: skip
        dist.all_reduce(totals)  # a sum: every rank gets the epoch's totals over all rows
        loss, score, n = totals.tolist()
        return loss, score, int(n)
