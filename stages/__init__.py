"""The pipeline's code: one module per DVC stage plus the shared modules they use.

Before any stage module loads, the Python running it must have the pinned packages: DVC runs
`python -m stages.<name>` with whatever `python` is first on PATH, and a DVC installed
globally (pipx, brew, a system package) or a shell without the venv on PATH picks another one,
whose first missing package would otherwise end the stage in a traceback.
"""

import importlib.util
import sys

# import name -> requirements.txt's name, for every package the stages and predict import.
# find_spec locates a package without importing it: about 4 ms for all of them.
REQUIRED = {
    "numpy": "numpy",
    "yaml": "PyYAML",
    "sklearn": "scikit-learn",
    "joblib": "joblib",
    "pyarrow": "pyarrow",
    "torch": "torch",
    "tabm": "tabm",
    "rtdl_num_embeddings": "rtdl_num_embeddings",
    "matplotlib": "matplotlib",
}


def missing_packages() -> list[str]:
    return [pinned for name, pinned in REQUIRED.items() if importlib.util.find_spec(name) is None]


if missing := missing_packages():
    print(
        f"error: {sys.executable} runs this stage but lacks {', '.join(missing)} (pinned in "
        "requirements.txt): it is not the project's .venv Python; `export PATH=$PWD/.venv/bin:$PATH` "
        "and run the command again, or use `make repro`",
        file=sys.stderr,
    )
    raise SystemExit(1)
