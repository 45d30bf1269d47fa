"""Run a stage module as `python -m` would, and record its wall time and peak RSS.

    python -m bench.meter stages.prepare [ARGS...]

bench.data_scale swaps each stage's `python -m stages.X` for this in a temp copy's dvc.yaml;
the record (JSON, one line) is appended to the file $BENCH_METER_OUT names. Nothing is imported
before the stage runs, so the stage loads its libraries as it always does.
"""

import json
import os
import resource
import runpy
import sys
import time


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    started = time.perf_counter()
    module, sys.argv = sys.argv[1], [sys.argv[1], *sys.argv[2:]]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        record = {"module": module, "wall_s": time.perf_counter() - started, "peak_rss": peak_rss_bytes()}
        with open(os.environ["BENCH_METER_OUT"], "a") as handle:
            handle.write(json.dumps(record) + "\n")
    raise SystemExit(code)


if __name__ == "__main__":
    main()
