"""Other sources through the real DVC CLI: a messy CSV tracked with `dvc add` (a classification,
then a regression of one of its columns), bundled sets. diabetes: test_guides' Regression."""

import csv
import json
import sys

import pytest

from stages import artifacts

from .conftest import mixed_table, stage_error_line, stages_ran, write_table

pytestmark = pytest.mark.slow


def use_table(project, table, name="customers.csv"):
    write_table(table, project.path(f"data/raw/{name}"))
    project.dvc("add", f"data/raw/{name}")
    project.set_param("prepare", "source", f"data/raw/{name}")
    project.set_param("prepare", "target", "status")
    project.set_param("prepare", "drop", "[customer_id]")


def test_csv_source_with_categoricals_and_missing_values_end_to_end_then_as_a_regression(project):
    use_table(project, mixed_table(rows=240))
    assert project.repro() == ["prepare", "split", "scale", "train", "evaluate"]
    report = json.loads(project.path("metrics/eval.json").read_text())
    assert set(report["per_class"]) == {"at risk", "churned", "loyal"}
    assert report["accuracy"] > 0.6  # three classes; chance is about 0.33
    with project.path("metrics/confusion.csv").open() as handle:
        assert {row["actual"] for row in csv.DictReader(handle)} == {"at risk", "churned", "loyal"}

    # New rows: no target, an unseen city, a missing plan, an id column to ignore.
    new = mixed_table(rows=5, seed=9)
    del new["status"]
    new["city"][0] = "Quito"
    new["plan"][1] = None
    write_table(new, project.path("new.csv"))
    done = project.run(sys.executable, "-m", "stages.predict", "new.csv", "-o", "pred.csv")
    assert "ignoring column(s) the model does not use: customer_id" in done.stderr
    with project.path("pred.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 5 and set(rows[0]) == {"predicted", "p_at risk", "p_churned", "p_loyal"}

    # Editing the tracked table reruns prepare.
    use_table(project, mixed_table(rows=240, seed=1))
    assert project.repro()[0] == "prepare"

    # The same table as a regression of its numeric column `spend`, by `dvc exp run -S`.
    done = project.dvc(
        "exp", "run", "-n", "spend", "-S", "prepare.task=regression", "-S", "prepare.target=spend",
        "-S", "prepare.missing_target=drop",
    )  # fmt: skip
    assert stages_ran(done) == ["prepare", "split", "scale", "train", "evaluate"]
    shown = project.dvc("exp", "show", "--json").stdout
    assert '"r2"' in shown and '"spend"' in shown
    report = json.loads(project.path("metrics/eval.json").read_text())
    assert list(report) == ["rmse", "mae", "r2", "loss"]
    assert report["r2"] > 0.3  # spend is 40 higher on the pro plan, with noise of std 15
    config = artifacts.read_torch(project.path("models/model.pt"))["config"]
    assert (config["task"], config["target_name"], config["n_outputs"]) == ("regression", "spend", 1)
    assert config["input_categorical"] == ["city", "plan", "status"]

    # a classification loss on a regression: one line; nothing half-written (DVC deletes a
    # stage's outs before running it: model.pt is gone or whole, `dvc checkout` restores it)
    before, model = project.lock_md5s(), project.path("models/model.pt").read_bytes()
    project.set_param("train", "loss", "cross_entropy")
    assert stage_error_line(project.dvc("repro", check=False)) == (
        "error: params.yaml: train.loss = cross_entropy is not a regression loss, and the data is a "
        "regression task (prepare.task); train.loss must be one of auto, mse, huber"
    )
    path = project.path("models/model.pt")
    assert (not path.exists() or path.read_bytes() == model) and project.lock_md5s() == before
    assert not list(project.root.rglob(".*.tmp"))


def test_a_bad_table_stops_prepare_with_one_line(project):
    table = mixed_table()
    table["status"][3] = None
    use_table(project, table)
    assert stage_error_line(project.dvc("repro", check=False)) == (
        "error: data/raw/customers.csv: target column 'status' is empty in 1 of 150 rows; "
        "fill them in, or set prepare.missing_target: drop"
    )
    project.set_param("prepare", "missing_target", "drop")
    assert project.repro() == ["prepare", "split", "scale", "train", "evaluate"]


@pytest.mark.parametrize(("source", "n_classes"), [("wine", 3), ("breast_cancer", 2), ("digits", 10)])
def test_each_bundled_source_runs(project, source, n_classes):
    project.set_param("prepare", "source", source)
    if source == "digits":  # 1,257 train rows: batch 64 keeps the test's time near the others'
        project.set_param("train", "batch_size", "64")
    assert project.repro() == ["prepare", "split", "scale", "train", "evaluate"]
    report = json.loads(project.path("metrics/eval.json").read_text())
    assert len(report["per_class"]) == n_classes
    assert report["accuracy"] > 0.85 and report["roc_auc"] > 0.95 and report["average_precision"] > 0.9
    assert 0 < report["log_loss"] < 0.5 and 0 <= report["brier"] < 0.2
    with project.path("metrics/roc.csv").open() as handle:
        curves = {row["class"] for row in csv.DictReader(handle)}
    names = list(report["per_class"])
    # two classes: the positive (second) class's curve alone, named in eval.json; else one per class
    assert curves == ({names[1]} if n_classes == 2 else set(names))
    assert report.get("positive_class") == (names[1] if n_classes == 2 else None)
    with project.path("metrics/importance.csv").open() as handle:
        importance = list(csv.DictReader(handle))
    assert len(importance) == len(
        artifacts.read_npz(project.path("data/prepared/dataset.npz"))["feature_names"]
    )
    values = [float(row["importance"]) for row in importance]
    assert values == sorted(values, reverse=True)


def test_parquet_source_end_to_end(project):
    use_table(project, mixed_table(rows=240), name="customers.parquet")
    assert project.repro() == ["prepare", "split", "scale", "train", "evaluate"]
    report = json.loads(project.path("metrics/eval.json").read_text())
    assert set(report["per_class"]) == {"at risk", "churned", "loyal"}


def high_cardinality_table(levels: int, rows: int = 30_000) -> dict[str, list]:
    """A numeric column, a 5-value text column, and an id-like text column of `levels` values
    (about 2 train rows each), with a label that the first two decide."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=rows)
    few = rng.choice(["a", "b", "c", "d", "e"], rows)
    many = [f"u{k:05d}" for k in rng.integers(0, levels, rows)]
    label = np.where(x + (few == "a") * 2 - (few == "e") * 2 > 0, "yes", "no")
    return {"x": x.round(4).tolist(), "few": few.tolist(), "many": many, "label": label.tolist()}


def export_split_as_table(project, split: str, path: str) -> None:
    """The raw rows of a split as a Parquet table with the training table's columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from stages.datasets import Dataset

    part = Dataset.from_arrays(artifacts.read_npz(project.path(str(artifacts.SPLIT[split]))))
    columns = {name: part.features[:, i] for i, name in enumerate(part.feature_names)}
    for j, name in enumerate(part.categorical_names):
        values = pa.array([*part.category_values(j), None])  # code -1 (empty) takes the last
        columns[name] = values.take(pa.array(part.categorical[:, j] % (len(values))))
    pq.write_table(pa.table(columns), project.path(path))


def test_a_10000_value_text_column_trains_predicts_and_costs_only_its_embedding(project):
    sizes, models = {}, {}
    for levels in (10, 10_000):
        use_table(project, high_cardinality_table(levels), name="wide.parquet")
        project.set_param("prepare", "target", "label")
        project.set_param("prepare", "drop", "[]")
        project.set_param("scale", "min_frequency", "1")
        project.set_param("train", "epochs", "3")
        project.set_param("train", "batch_size", "256")
        # sizes, not the model: the tutorial's MLP trains 30,000 rows in a fraction of TabM's time
        # (test_recipe and the walkthroughs train TabM on text columns)
        project.set_param("train", "model", "mlp")
        assert project.repro()[:3] == ["prepare", "split", "scale"]
        sizes[levels] = {path: project.path(path).stat().st_size for path in project.lock_md5s()}
        models[levels] = artifacts.read_torch(project.path("models/model.pt"))
    model = models[10_000]
    assert json.loads(project.path("metrics/eval.json").read_text())["accuracy"] > 0.85
    cardinality, width = model["config"]["cardinalities"][1], model["config"]["embedding_widths"][1]
    assert cardinality > 8_000 and width == 50  # values seen in train: about 8,700 of the 10,000
    assert model["state_dict"]["embeddings.1.weight"].shape == (cardinality, width)

    # What grows with the column's values: its embedding table, and the values themselves.
    growth = {path: sizes[10_000][path] - sizes[10][path] for path in sizes[10]}
    for split in artifacts.SPLITS:
        assert growth[str(artifacts.SCALED[split])] == 0  # codes are int32 whatever their count
        assert growth[str(artifacts.SPLIT[split])] < 10_000 * 16
    small = models[10]["config"]["embedding_widths"][1]  # 12 codes: width 6
    # the first layer widens too: per input value, a weight per unit of the first block (and
    # TabM's per-member scaling of it, k values)
    config = model["config"]
    per_input = config["hidden"][0] + (config["k"] if config["model"] == "tabm" else 0)
    tensors = (cardinality * width - 12 * small) + (width - small) * per_input
    assert 0 <= growth["models/model.pt"] - tensors * 4 < 2_000
    assert growth["data/prepared/dataset.npz"] < 10_000 * 16  # 6 bytes of text + 8 of offset each
    assert growth["models/scaler.joblib"] < cardinality * 16  # the vocabulary, as str

    # predict on the test split's raw rows says what evaluate scored
    export_split_as_table(project, "test", "test_rows.parquet")
    done = project.run(sys.executable, "-m", "stages.predict", "test_rows.parquet", "-o", "pred.csv")
    with project.path("pred.csv").open() as handle:
        predicted = [row["predicted"] for row in csv.DictReader(handle)]
    with project.path("metrics/confusion.csv").open() as handle:
        assert predicted == [row["predicted"] for row in csv.DictReader(handle)], done.stderr
