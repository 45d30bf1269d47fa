"""Training samples/s at train.world_size 1 and 2, in one run, on the same synthetic table.

    python -m bench.distributed_throughput                  # 200,000 rows, batches 256 and 4096
    python -m bench.distributed_throughput --rows 50000 --epochs 2
    python -m bench.distributed_throughput --smoke      # 2,000 rows, one epoch, batch 256 (the tests)

The table and model of bench.train_throughput (54 features, 7 classes, MLP 54-256-256-7, Adam).
World size 1 is engine.train_step in one process with every core's thread; world size 2 is the
train stage's own path (stages.distributed: torch's elastic launcher, gloo, DDP, each rank's
share of every batch) with the cores split evenly between the ranks. Each figure is the median
epoch rate after one warm-up epoch; start-up (imports, rendezvous, DDP's set-up) is reported
apart, since it is paid once per stage run, not per epoch.
"""

import argparse
import os
import platform
import statistics
import sys
import time

import torch
from torch import nn

from bench.train_throughput import FEATURES, new_model, synthetic
from stages import engine


def _epoch_rates(batches, model, optimizer, epochs: int, rows: int) -> float:
    loss_fn = nn.CrossEntropyLoss()
    engine.train_step(batches, model, optimizer, loss_fn)  # warm-up
    rates = []
    for _ in range(epochs):
        started = time.perf_counter()
        engine.train_step(batches, model, optimizer, loss_fn)
        rates.append(rows / (time.perf_counter() - started))
    return statistics.median(rates)


def one_process(rows: int, batch_size: int, epochs: int) -> float:
    features, labels = synthetic(rows)
    model = new_model()
    optimizer = engine.FunctionalOptimizer("adam", model.parameters(), 1e-3, 0.0, 0.9)
    batches = engine.Batches((torch.from_numpy(features),), torch.from_numpy(labels), batch_size,
                             torch.Generator().manual_seed(0))  # fmt: skip
    return _epoch_rates(batches, model, optimizer, epochs, rows)


def rank_main(rows: int, batch_size: int, epochs: int, threads: int) -> dict:
    """One rank (started by elastic_launch): the stage's Group, its batches and DDP."""
    import torch.distributed as dist

    from stages import distributed

    started = time.perf_counter()
    torch.set_num_threads(threads)
    dist.init_process_group("gloo")
    group = distributed.Group(dist.get_rank(), dist.get_world_size(), torch.device("cpu"))
    features, labels = synthetic(rows)
    batches = group.batches((torch.from_numpy(features),), torch.from_numpy(labels), batch_size,
                            torch.Generator().manual_seed(0))  # fmt: skip
    model = group.wrap(new_model())
    optimizer = engine.FunctionalOptimizer("adam", model.parameters(), 1e-3, 0.0, 0.9)
    training = time.perf_counter()
    rate = _epoch_rates(batches, model, optimizer, epochs, rows)
    done = time.perf_counter()
    dist.destroy_process_group()
    return {"rate": rate, "set_up_s": training - started, "train_s": done - training}


def two_processes(rows: int, batch_size: int, epochs: int, threads: int) -> tuple[float, float]:
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=2, run_id="bench", rdzv_backend="c10d",
                          rdzv_endpoint="127.0.0.1:0", local_addr="127.0.0.1", max_restarts=0,
                          start_method="spawn")  # fmt: skip
    started = time.perf_counter()
    results = elastic_launch(config, rank_main)(rows, batch_size, epochs, threads)
    wall = time.perf_counter() - started
    return results[0]["rate"], wall - results[0]["train_s"]  # launch, imports, rendezvous, DDP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per figure (after one warm-up)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 4096])
    parser.add_argument("--smoke", action="store_true", help="--rows 2000 --epochs 1 --batch-sizes 256")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.epochs, args.batch_sizes = 2_000, 1, [256]
    cores = torch.get_num_threads()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
          f"{torch.__version__} ({cores} threads by default), Python {sys.version.split()[0]}")  # fmt: skip
    print(f"table: {args.rows:,} rows x {FEATURES} features, 7 classes; MLP 54-256-256-7, Adam; "
          f"median of {args.epochs} epochs")  # fmt: skip
    for batch_size in args.batch_sizes:
        one = one_process(args.rows, batch_size, args.epochs)
        two, start_up = two_processes(args.rows, batch_size, args.epochs, max(1, cores // 2))
        print(f"batch {batch_size:>5}: world_size 1 ({cores} threads) {one:>10,.0f} samples/s | "
              f"world_size 2 ({max(1, cores // 2)} thread each) {two:>10,.0f} samples/s | "
              f"ratio {two / one:.2f} | launch + set-up of 2 ranks {start_up:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
