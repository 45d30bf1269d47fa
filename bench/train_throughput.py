"""Training throughput, in one run: the tutorial's loader, this project's engine, scikit-learn.

Synthetic rows (54 features, 7 classes), MLP 54-256-256-7 with ReLU, Adam, one epoch each:

    python -m bench.train_throughput              # 10^5 and 10^6 rows
    python -m bench.train_throughput --rows 100000 --tutorial-seconds 3
    python -m bench.train_throughput --smoke      # 2,000 rows, a few samples each: the tests run it

Prints samples/s for each, the float32 matmul bound of this machine, and the ratios the
project targets, among them the cost of train.numerics portable against native at batch 256
and 4096.
A last line reports the engine's peak memory at the largest size, measured
in a child process against the size of the data and the model.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from stages import engine, numerics, recipe
from stages.model import build_mlp

FEATURES, CLASSES, HIDDEN = 54, 7, [256, 256]
LARGE_BATCH = 4096


def synthetic(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features, labels from a random linear map: learnable, no download."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((rows, FEATURES), dtype=np.float32)
    weights = rng.standard_normal((FEATURES, CLASSES), dtype=np.float32)
    labels = (features @ weights).argmax(axis=1).astype(np.int64)
    return features, labels


def new_model() -> nn.Module:
    torch.manual_seed(0)
    return build_mlp(FEATURES, HIDDEN, CLASSES, "relu")


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class RowDataset(Dataset):
    """The tutorial's IRISDataset: one (features, label) pair per __getitem__."""

    def __init__(self, data: torch.Tensor, target: torch.Tensor) -> None:
        self.data, self.target = data, target

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, idx):
        return self.data[idx], self.target[idx]


def tutorial_samples_per_s(features, labels, seconds: float, repeats: int) -> float:
    """The tutorial's train_step (DataLoader batch 10, loss.item() per batch): the median
    rate over `repeats` windows of `seconds` each (a full epoch at 10^6 rows takes minutes)."""
    model = new_model()
    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(
        RowDataset(torch.from_numpy(features), torch.from_numpy(labels)), batch_size=10, shuffle=True
    )
    model.train()
    rates, seen, total_loss, started = [], 0, 0.0, None
    for step, (batch_of_data, batch_of_target) in enumerate(loader):
        if step == 20:  # warm-up done
            started, seen = time.perf_counter(), 0
        optimizer.zero_grad()
        logits = model(batch_of_data)
        loss = loss_fn(logits, batch_of_target)
        total_loss += loss.item()
        loss.backward()
        optimizer.step()
        seen += len(batch_of_target)
        if started is not None and time.perf_counter() - started > seconds:
            rates.append(seen / (time.perf_counter() - started))
            if len(rates) == repeats:
                break
            started, seen = time.perf_counter(), 0
    return statistics.median(rates)


def epochs_per_repeat(rows: int, samples: int) -> int:
    """Enough epochs that every measurement sees about `samples` samples (10^6: fewer are noise)."""
    return max(1, round(samples / rows))


def tabm_model() -> nn.Module:
    """The default model as train builds it for a table of 10^4 rows of these features (recipe)."""
    from stages.model import TabM, quantile_bins

    bins = quantile_bins(np.random.default_rng(0).standard_normal((10_000, FEATURES), dtype=np.float32))
    torch.manual_seed(0)
    hidden = list(recipe.TABM_HIDDEN)
    return TabM(FEATURES, [], [], hidden, CLASSES, "relu", 0.1, "ple", 8, classification=True, bins=bins)


def engine_samples_per_s(
    features, labels, batch_size: int, repeats: int, samples: int, model_kind: str = "mlp"
) -> float:
    """This project's engine.train_step after a short warm-up: the median of `repeats` runs."""
    from stages import tasks

    if model_kind == "tabm":
        model = tabm_model()
        optimizer = engine.FunctionalOptimizer("adamw", model.parameters(), 2e-3, 3e-4, 0.9)
    else:
        model = new_model()
        optimizer = engine.FunctionalOptimizer("adam", model.parameters(), 1e-3, 0.0, 0.9)
    x, y = torch.from_numpy(features), torch.from_numpy(labels)
    loss_fn = tasks.CLASSIFICATION.criterion("cross_entropy")
    warm = min(len(y), 20 * batch_size)
    codes = torch.empty(len(y), 0, dtype=torch.int32)  # the model's second argument: no text columns
    inputs = (x,) if model_kind == "mlp" else (x, codes)
    warm_batches = engine.Batches(
        tuple(t[:warm] for t in inputs), y[:warm], batch_size, torch.Generator().manual_seed(1)
    )
    engine.train_step(warm_batches, model, optimizer, loss_fn)
    batches = engine.Batches(inputs, y, batch_size, torch.Generator().manual_seed(0))
    rates, epochs = [], epochs_per_repeat(len(y), samples)
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(epochs):
            engine.train_step(batches, model, optimizer, loss_fn)
        rates.append(epochs * len(y) / (time.perf_counter() - started))
    return statistics.median(rates)


def sklearn_samples_per_s(features, labels, repeats: int, samples: int, batch_size: int = 256) -> float:
    """scikit-learn's MLPClassifier, same layers, Adam: the median of `repeats` fits."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    rates = []
    for seed in range(repeats):
        epochs = epochs_per_repeat(len(labels), samples)
        clf = MLPClassifier(
            hidden_layer_sizes=tuple(HIDDEN),
            batch_size=batch_size,
            solver="adam",
            max_iter=epochs,
            n_iter_no_change=epochs + 1,
            tol=0.0,
            random_state=seed,
        )
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(features, labels)
        rates.append(epochs * len(labels) / (time.perf_counter() - started))
    return statistics.median(rates)


def matmul_gflops(size: int = 2048, repeats: int = 10) -> float:
    """Best float32 matmul rate of this machine with torch's threads, in GFLOP/s."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def peak_rss() -> int:
    """Peak resident memory of this process, in bytes. VmHWM starts afresh at exec, unlike
    ru_maxrss, which a child started by fork+exec inherits from its parent."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_memory(rows: int) -> dict:
    """In this (child) process: rows of data, one engine epoch at the large batch; RSS growth."""
    model = new_model()
    optimizer = engine.FunctionalOptimizer("adam", model.parameters(), 1e-3, 0.0, 0.9)
    small_x, small_y = synthetic(1000, seed=1)
    warm = engine.Batches((torch.from_numpy(small_x),), torch.from_numpy(small_y), LARGE_BATCH,
                          torch.Generator().manual_seed(0))  # fmt: skip
    engine.train_step(warm, model, optimizer, nn.CrossEntropyLoss())
    before = peak_rss()
    features, labels = synthetic(rows)
    batches = engine.Batches((torch.from_numpy(features),), torch.from_numpy(labels), LARGE_BATCH,
                             torch.Generator().manual_seed(0))  # fmt: skip
    engine.train_step(batches, model, optimizer, nn.CrossEntropyLoss())
    after = peak_rss()
    return {
        "growth": after - before,
        "data": features.nbytes + labels.nbytes,
        # weights, gradients and Adam's two moments
        "model": 4 * n_params(model) * 4,
    }


LOADERS = {
    "tutorial": "tutorial: per-row Dataset, DataLoader batch 10",
    "engine256": "engine: whole tensors, permutation slices, batch 256",
    "engine256_portable": "engine, batch 256, train.numerics portable",
    "engine_large": f"engine: whole tensors, permutation slices, batch {LARGE_BATCH}",
    "engine_large_portable": f"engine, batch {LARGE_BATCH}, train.numerics portable",
    "sklearn": "scikit-learn MLPClassifier, batch 256",
    "tabm": f"default model: TabM k=8, {len(recipe.TABM_HIDDEN)}x{recipe.TABM_HIDDEN[0]}, piecewise-linear, "
    "AdamW, batch 256",
    "tabm_portable": "default model, batch 256, train.numerics portable",
}


def measure(kind: str, rows: int, repeats: int, tutorial_seconds: float, samples: int) -> float:
    if kind == "matmul":
        return matmul_gflops()
    features, labels = synthetic(rows)
    if kind == "tutorial":
        return tutorial_samples_per_s(features, labels, tutorial_seconds, repeats)
    if kind == "sklearn":
        return sklearn_samples_per_s(features, labels, repeats, samples)
    if kind == "tabm":
        return engine_samples_per_s(features, labels, 256, repeats, samples, "tabm")
    batch_size = 256 if kind == "engine256" else LARGE_BATCH
    return engine_samples_per_s(features, labels, batch_size, repeats, samples)


def in_child(*args: str, setting: str = "native") -> str:
    """Each measurement runs in a fresh process: a loader run earlier in the same process
    (thread pools, allocator state) was seen to slow the next one by up to 30%. The child
    gets the environment numerics.apply(setting) gives a stage, before its torch loads."""
    done = subprocess.run([sys.executable, "-m", "bench.train_throughput", *args], capture_output=True,
                          text=True, check=True, env=numerics.environment(setting))  # fmt: skip
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--tutorial-seconds", type=float, default=3.0, help="per measuring window")
    parser.add_argument("--repeats", type=int, default=3, help="each figure is the median of this many")
    parser.add_argument("--samples", type=int, default=1_000_000, help="trained per engine figure")
    parser.add_argument("--smoke", action="store_true", help="2,000 rows, 5,000 samples a figure, once")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:  # checks the code, not the speed
        args.rows, args.repeats, args.tutorial_seconds, args.samples = [2_000], 1, 0.05, 5_000
    if args.child == "memory":
        print(json.dumps(peak_memory(args.rows[0])))
        return
    if args.child:
        print(measure(args.child, args.rows[0], args.repeats, args.tutorial_seconds, args.samples))
        return

    def run(kind: str, rows: int = 0) -> float:
        # a kind ending in _portable is the same measurement under train.numerics portable
        child = kind.removesuffix("_portable")
        setting = "native" if child == kind else "portable"
        return float(in_child("--child", child, "--rows", str(rows), "--repeats", "1", "--samples",
                              str(args.samples), "--tutorial-seconds", str(args.tutorial_seconds),
                              setting=setting))  # fmt: skip

    params = n_params(new_model())
    gflops = max(run("matmul") for _ in range(args.repeats))
    bound = gflops * 1e9 / (6 * params)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; each figure the median of {args.repeats}")  # fmt: skip
    print(f"model 54-256-256-7, {params:,} params; float32 matmul peak {gflops:.0f} GFLOP/s "
          f"-> bound {bound:,.0f} samples/s (6 FLOP per param per sample)\n")  # fmt: skip
    print(f"| rows | {'loader':<53} | {'samples/s':>10} | vs tutorial | vs bound |")
    print("|---:|:---|---:|---:|---:|")
    ratios = []
    for rows in args.rows:
        # interleaved, one measurement per child, so drift on a noisy machine hits all alike
        samples: dict[str, list[float]] = {kind: [] for kind in LOADERS}
        for _ in range(args.repeats):
            for kind in LOADERS:
                samples[kind].append(run(kind, rows))
        rate = {kind: statistics.median(values) for kind, values in samples.items()}
        for kind, name in LOADERS.items():
            print(f"| {rows:,} | {name:<53} | {rate[kind]:>10,.0f} | {rate[kind] / rate['tutorial']:>10.1f}x "
                  f"| {rate[kind] / bound:>7.0%} |")  # fmt: skip
        vs_tutorial = rate["engine_large"] / rate["tutorial"]
        vs_sklearn = rate["engine256"] / rate["sklearn"]
        ratios.append(
            f"{rows:,} rows: engine (batch {LARGE_BATCH}) / tutorial {vs_tutorial:.1f}x [>= 25]; "
            f"engine / MLPClassifier at batch 256 {vs_sklearn:.2f}x [>= 1.5]; "
            f"engine batch {LARGE_BATCH} / bound {rate['engine_large'] / bound:.0%} [>= 70%]; "
            f"numerics portable / native at batch 256 {rate['engine256_portable'] / rate['engine256']:.2f}"
            f" and at batch {LARGE_BATCH} {rate['engine_large_portable'] / rate['engine_large']:.2f}; "
            f"default model (TabM) / MLP at batch 256 {rate['tabm'] / rate['engine256']:.3f} native, "
            f"{rate['tabm_portable'] / rate['engine256_portable']:.3f} portable"
        )
    print("\nratios [targets]:")
    for line in ratios:
        print(f"- {line}")
    rows = max(args.rows)
    memory = json.loads(in_child("--child", "memory", "--rows", str(rows)))
    mib = {key: value / 2**20 for key, value in memory.items()}
    share = memory["growth"] / (memory["data"] + memory["model"])
    print(f"- peak memory growth for {rows:,} x {FEATURES}: {mib['growth']:,.0f} MiB = {share:.2f}x "
          f"data ({mib['data']:,.0f} MiB) + model, grads, Adam ({mib['model']:,.1f} MiB) "
          f"[<= 2x data + model = {2 * mib['data'] + mib['model']:,.0f} MiB]")  # fmt: skip


if __name__ == "__main__":
    main()
