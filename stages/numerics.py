"""Which floating-point kernels torch runs on the CPU: the host's fastest, or the same bytes on any x86-64.

MKL (torch's matrix multiply on x86) picks its kernels by CPU, so the same training gives
different last bits on an AMD EPYC and an Intel Xeon, and even for 1 or 2 threads on one host.
Both libraries read their setting once, when they start: apply() must run before torch loads.
"""

import os
import sys
from collections.abc import Mapping, MutableMapping

SETTINGS: dict[str, dict[str, str]] = {
    # MKL's conditional numerical reproducibility, COMPATIBLE branch: the one code path MKL
    # runs alike on every x86-64 CPU of any vendor, whatever the thread count. ATen's own
    # kernels (elementwise ops, reductions) pinned to their AVX2 build, so an AVX-512 host
    # reduces in 8-lane vectors as an AVX2-only host does. Measured on AMD EPYC (and, for the
    # committed Iris params, on Intel Xeon): same model.pt on both, and for 1 or 2 threads;
    # about half the native training throughput at batch 4096 (docs/speed.md).
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


def set_threads(count: int) -> None:
    """train.threads: torch's intra-op threads for this process; 0 keeps torch's default (one
    per physical core). Under `native` numerics the count changes the last bits of training
    (MKL splits sums by thread); under `portable` it does not."""
    if count:
        import torch

        torch.set_num_threads(count)
