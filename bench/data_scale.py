"""The whole pipeline on synthetic Parquet tables of 10^5 to 10^7 rows: time, memory, sizes.

    python -m bench.data_scale                          # N = 10^5, 10^6, 10^7 (about 15 min)
    python -m bench.data_scale --rows 100000 1000000    # a subset
    python -m bench.data_scale --numerics portable      # train and evaluate with portable kernels
    python -m bench.data_scale --smoke                  # 2,000 rows, in seconds (the tests run it)

Each table (seeded): 20 numeric columns, text columns of 3, 12, 100, 10,000 and 100,000
distinct values (2% empty cells in every feature column), an `id` column (dropped) and a
5-class text label drawn from a softmax over a linear map of the numbers plus a per-value effect
of each text column, so only a model that learns the text columns reaches the best accuracy.
The real `dvc repro` runs in a temp copy of the repo (the committed model, TabM; train.epochs 1,
train.patience 0, train.batch_size 2048: one pass over the rows measures the cost of training
without the hours of a whole run; train.numerics native unless --numerics says otherwise: the
setting for a large table, about twice portable's training throughput), each stage under
bench.meter.
"Beyond imports" is a stage's peak RSS less its peak on a 1,000-row table of the same shape:
what the libraries hold once imported. predict then scores 10^6 new rows from Parquet.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import rewrite_readme_block
from bench.repro_time import bench_env, fresh_copy

NUMERIC = 20
TEXT_LEVELS = (3, 12, 100, 10_000, 100_000)
CLASSES = 5
EMPTY_SHARE = 0.02
CHUNK_ROWS = 1_000_000
STAGES = ("prepare", "split", "scale", "train", "evaluate")
TABLE = "data/raw/synthetic.parquet"
PREDICT_ROWS = 1_000_000
BASELINE_ROWS = 1_000
MB = 1e6


def write_table(path: Path, rows: int, seed: int, with_label: bool = True) -> None:
    """A seeded synthetic table, written in row groups of CHUNK_ROWS (bounded memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = np.random.default_rng(0)  # the same "world" for every table; `seed` draws its rows
    weights = model.normal(0, 1.5 / np.sqrt(NUMERIC), (NUMERIC, CLASSES)) * 2
    effects = [model.normal(0, 1.0, (levels, CLASSES)) for levels in TEXT_LEVELS]
    # value k of a column is drawn with probability ~ 1 / (k + 10): a long tail, as real ids have
    shares = [1 / (np.arange(levels) + 10.0) for levels in TEXT_LEVELS]
    shares = [s / s.sum() for s in shares]
    dictionaries = [
        pa.array([f"t{j}_{k:06d}" for k in range(levels)]) for j, levels in enumerate(TEXT_LEVELS)
    ]
    classes = pa.array([f"class_{c}" for c in range(CLASSES)])
    writer = None
    for start in range(0, rows, CHUNK_ROWS):
        n = min(CHUNK_ROWS, rows - start)
        rng = np.random.default_rng([seed, start])
        numbers = rng.standard_normal((n, NUMERIC))
        logits = numbers @ weights
        columns = {"id": pa.array(np.arange(start, start + n))}
        for i in range(NUMERIC):
            columns[f"x{i:02d}"] = pa.array(numbers[:, i], mask=rng.random(n) < EMPTY_SHARE)
        for j, levels in enumerate(TEXT_LEVELS):
            codes = rng.choice(levels, n, p=shares[j])
            logits += effects[j][codes]
            indices = pa.array(codes.astype(np.int32), mask=rng.random(n) < EMPTY_SHARE)
            columns[f"t{j}"] = pa.DictionaryArray.from_arrays(indices, dictionaries[j])
        if with_label:
            label = (logits + rng.gumbel(size=logits.shape)).argmax(axis=1).astype(np.int32)
            columns["label"] = pa.DictionaryArray.from_arrays(pa.array(label), classes)
        table = pa.table(columns)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def set_params(root: Path, numerics: str) -> None:
    text = (root / "params.yaml").read_text()
    for key, value in (
        ("source", TABLE), ("target", "label"), ("drop", "[id]"),
        ("epochs", "1"), ("patience", "0"), ("batch_size", "2048"), ("numerics", numerics),
    ):  # fmt: skip
        text = re.sub(rf"(?m)^(  {key}: )\S+", rf"\g<1>{value}", text, count=1)
    (root / "params.yaml").write_text(text)
    dvc_yaml = root / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("python -m stages.", "python -m bench.meter stages."))


def metered(root: Path, args: list[str], log: Path) -> tuple[float, list[dict]]:
    """Run `args` in `root` with each metered stage appending to `log`; wall time and records."""
    log.unlink(missing_ok=True)
    started = time.perf_counter()
    env = {**bench_env(), "BENCH_METER_OUT": str(log)}
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed in {root}:\n{done.stdout}\n{done.stderr}")
    return wall, [json.loads(line) for line in log.read_text().splitlines()]


def run_pipeline(parent: Path, rows: int, numerics: str, predict_rows: int) -> dict:
    root = fresh_copy(parent)
    set_params(root, numerics)
    started = time.perf_counter()
    write_table(root / TABLE, rows, seed=1)
    generated = time.perf_counter() - started
    log = parent / f"meter-{rows}.jsonl"
    wall, records = metered(root, ["dvc", "repro"], log)
    stages = {r["module"].split(".")[1]: r for r in records}
    sizes = {
        path: (root / path).stat().st_size
        for path in (TABLE, "data/prepared/dataset.npz", "data/split/train.npz", "data/scaled/train.npz",
                     "models/scaler.joblib", "models/model.pt")
    }  # fmt: skip
    scores = json.loads((root / "metrics/eval.json").read_text())
    result = {
        "rows": rows,
        "generate_s": generated,
        "repro_s": wall,
        "stages": stages,
        "sizes": sizes,
        "accuracy": scores["accuracy"],
        "majority": max(c["support"] for c in scores["per_class"].values())
        / sum(c["support"] for c in scores["per_class"].values()),
    }
    if rows >= predict_rows:
        import pyarrow.parquet as pq

        new_rows = root / "new_rows.parquet"
        write_table(new_rows, predict_rows, seed=2, with_label=False)
        result["predict_rows"] = predict_rows
        result["predict_input_bytes"] = pq.read_table(new_rows).nbytes
        _, (record,) = metered(root, ["python", "-m", "bench.meter", "stages.predict", str(new_rows), "-o",
                                      str(parent / "predictions.csv")], log)  # fmt: skip
        result["predict"] = record
    shutil.rmtree(root)
    return result


def baseline(parent: Path, numerics: str) -> dict[str, int]:
    """Peak RSS per stage on a BASELINE_ROWS table: the libraries, not the data."""
    root = fresh_copy(parent)
    set_params(root, numerics)
    write_table(root / TABLE, BASELINE_ROWS, seed=1)
    _, records = metered(root, ["dvc", "repro"], parent / "meter-baseline.jsonl")
    peaks = {r["module"].split(".")[1]: r["peak_rss"] for r in records}
    write_table(root / "new_rows.parquet", BASELINE_ROWS, seed=2, with_label=False)
    _, (record,) = metered(root, ["python", "-m", "bench.meter", "stages.predict", "new_rows.parquet", "-o",
                                  str(parent / "p.csv")], parent / "meter-baseline.jsonl")  # fmt: skip
    peaks["predict"] = record["peak_rss"]
    shutil.rmtree(root)
    return peaks


def report(result: dict, base: dict[str, int]) -> list[str]:
    sizes = {path: size / MB for path, size in result["sizes"].items()}
    prepared = result["sizes"]["data/prepared/dataset.npz"]
    lines = [
        f"**{result['rows']:,} rows** (table {sizes[TABLE]:,.0f} MB as Parquet; "
        f"`data/prepared/dataset.npz` {prepared / MB:,.0f} MB)",
        "",
        "| stage | wall s | peak RSS MB | beyond imports MB | / dataset.npz |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in STAGES:
        record = result["stages"][name]
        beyond = record["peak_rss"] - base[name]
        cells = [f"{record['wall_s']:.1f}", f"{record['peak_rss'] / MB:,.0f}", f"{beyond / MB:,.0f}"]
        lines.append(f"| {name} | {' | '.join(cells)} | {beyond / prepared:.2f}x |")
    stage_s = sum(r["wall_s"] for r in result["stages"].values())
    first3 = sum(result["stages"][name]["wall_s"] for name in STAGES[:3])
    lines += [
        "",
        f"prepare + split + scale {first3:.1f} s; `dvc repro` {result['repro_s']:.1f} s, of which DVC's own "
        f"work (hashing, caching outputs) {result['repro_s'] - stage_s:.1f} s; test accuracy "
        f"{result['accuracy']:.3f} (the most frequent class: {result['majority']:.3f}); scaled train split "
        f"{sizes['data/scaled/train.npz']:,.0f} MB, scaler.joblib {sizes['models/scaler.joblib']:.1f} MB, "
        f"model.pt {sizes['models/model.pt']:.1f} MB",
    ]
    if "predict" in result:
        record, size = result["predict"], result["predict_input_bytes"]
        beyond = record["peak_rss"] - base["predict"]
        lines.append(
            f"predict, {result['predict_rows']:,} new rows from Parquet: {record['wall_s']:.1f} s, peak RSS "
            f"{record['peak_rss'] / MB:,.0f} MB, {beyond / MB:,.0f} MB beyond imports = "
            f"{beyond / size:.2f}x the input's {size / MB:,.0f} MB in memory"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--numerics", choices=("native", "portable"), default="native",
                        help="train.numerics of the runs (native: a large table's setting)")  # fmt: skip
    parser.add_argument("--readme", action="store_true", help="rewrite the table in docs/speed.md")
    parser.add_argument("--smoke", action="store_true", help="one 2,000-row table, in seconds (the tests)")
    args = parser.parse_args()
    if args.smoke and args.readme:
        parser.error("--smoke figures are not the README's: leave out --readme")
    rows, predict_rows = ([2_000], 1_000) if args.smoke else (args.rows, PREDICT_ROWS)
    run = f"Run of {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores"
    lines = [f"{run}; batch 2048, 1 epoch, train.numerics {args.numerics}", ""]
    with tempfile.TemporaryDirectory() as parent:
        base = baseline(Path(parent), args.numerics)
        for n in rows:
            block = report(run_pipeline(Path(parent), n, args.numerics, predict_rows), base)
            print("\n".join(block) + "\n", flush=True)
            lines += [*block, ""]
    if args.readme:
        rewrite_readme_block("data_scale", "\n".join(lines))


if __name__ == "__main__":
    main()
