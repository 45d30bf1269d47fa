"""Which floating-point kernels torch runs on the CPU: the host's fastest, or the same bytes on any x86-64.

MKL (torch's matrix multiply on x86) picks its kernels by CPU, so the same training gives
different last bits on an AMD EPYC and an Intel Xeon, and even for 1 or 2 threads on one host.
Both libraries read their setting once, when they start: apply() must run before torch loads.
Neither promises the same bits at another thread count (MKL's CNR asks for "a fixed number of
threads"; ATen splits a sum to one number across threads), so `portable` also fixes the count
(set_threads).
"""

import os
import sys
from collections.abc import Mapping, MutableMapping

SETTINGS: dict[str, dict[str, str]] = {
    # MKL's conditional numerical reproducibility, COMPATIBLE branch: the one code path MKL
    # runs alike on every x86-64 CPU of any vendor (its AVX2 branch is Intel's only: other CPUs
    # get AUTO), at a fixed thread count. ATen's own kernels (elementwise ops, reductions)
    # pinned to their AVX2 build, so an AVX-512 host reduces in 8-lane vectors as an AVX2-only
    # host does. Measured on AMD EPYC (and, for the committed Iris params, on Intel Xeon): same
    # model.pt on both; about half the native training throughput at batch 4096 (docs/speed.md).
    # The thread count matters under it too: a weight gradient of TabM's first block on
    # bench.quality's loans table, (128 x 2,048) @ (2,048 x 324), sums in another order at 1
    # and 2 threads (measured, 2026-12-04), so `portable` runs PORTABLE_THREADS unless
    # train.threads names a count.
    "portable": {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2"},
    # each library's own pick for this CPU: fastest, reproducible on this host and thread count
    "native": {},
}
_VARIABLES = sorted({name for setting in SETTINGS.values() for name in setting})


def _set(env: MutableMapping[str, str], setting: str) -> None:
    for name in _VARIABLES:
        env.pop(name, None)
    env.update(SETTINGS[setting])


def apply(setting: str) -> None:
    """Set the environment MKL and ATen read at start-up; params.yaml decides, not the shell."""
    if "torch" in sys.modules:  # a bug in the caller: the libraries have already read it
        raise RuntimeError(f"numerics.apply({setting!r}) must run before torch is imported")
    _set(os.environ, setting)


def environment(setting: str, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """`base` with the setting applied: the environment for a child process (the benchmarks)."""
    env = dict(base)
    _set(env, setting)
    return env


# `portable`'s thread count where train.threads is 0: the same on every host, so that a 1-core
# runner, a 2-core laptop and a 64-core server train the same bits; 2, this project's machines.
PORTABLE_THREADS = 2


def threads(setting: str, count: int) -> int:
    """The intra-op threads a stage runs for train.numerics `setting` and train.threads `count`:
    the count where one is named; else PORTABLE_THREADS under `portable` (the bits depend on the
    count: MKL and ATen split sums by thread); else 0, torch's default (one per physical core)."""
    if count:
        return count
    return PORTABLE_THREADS if setting == "portable" else 0


def set_threads(setting: str, count: int) -> None:
    """Set torch's intra-op threads for this process by threads(setting, count) (0: leave them)."""
    chosen = threads(setting, count)
    if chosen:
        import torch

        torch.set_num_threads(chosen)
