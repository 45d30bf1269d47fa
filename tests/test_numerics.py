"""numerics: the CPU kernel setting reaches MKL and ATen before torch loads, and params agree."""

import os
import subprocess
import sys

import pytest

from stages import numerics, params

from .conftest import REPO


def in_fresh_python(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_params_offer_exactly_the_settings_numerics_knows():
    assert set(params.NUMERICS) == set(numerics.SETTINGS)


def test_portable_pins_mkl_and_aten_before_torch_loads():
    shown = in_fresh_python(
        "from stages import numerics; numerics.apply('portable'); import os, torch;"
        "print(os.environ['MKL_CBWR'], torch.backends.cpu.get_cpu_capability())",
        ATEN_CPU_CAPABILITY="default",  # the shell's setting loses to params.yaml's
    )
    assert shown == "COMPATIBLE AVX2"  # both host kinds here have AVX2 (x86-64 since 2013)


def test_native_clears_what_the_shell_set():
    shown = in_fresh_python(
        "from stages import numerics; numerics.apply('native'); import os;"
        "print(os.environ.get('MKL_CBWR'), os.environ.get('ATEN_CPU_CAPABILITY'))",
        MKL_CBWR="AVX2",
        ATEN_CPU_CAPABILITY="default",
    )
    assert shown == "None None"


def test_applying_after_torch_has_loaded_is_a_bug_not_a_silent_no_op():
    import torch  # noqa: F401  (the libraries have read their settings by now)

    with pytest.raises(RuntimeError, match="before torch is imported"):
        numerics.apply("portable")
