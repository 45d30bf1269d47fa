"""Table sources: parsing messy CSV/Parquet and every validation failure, as one-line errors."""

import dataclasses

import numpy as np
import pyarrow as pa
import pytest

from stages import params, tables
from stages.errors import UserError

from .conftest import mixed_table, write_table

BASE = params.PrepareParams(
    task="classification",
    source="data/raw/t.csv",
    target="status",
    drop=("customer_id",),
    text=(),
    missing_target="fail",
)


@pytest.fixture
def raw(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw").mkdir(parents=True)
    return tmp_path / "data/raw"


def load(**changes):
    return tables.load_table(dataclasses.replace(BASE, **changes))


def test_mixed_csv_becomes_numeric_and_categorical_features(raw):
    table = mixed_table()
    write_table(table, raw / "t.csv")
    data = load()
    assert data.feature_names.tolist() == ["tenure", "spend"]
    assert data.categorical_names.tolist() == ["city", "plan"]
    assert data.class_names.tolist() == ["at risk", "churned", "loyal"]
    assert data.features.dtype == np.float32 and np.isnan(data.features[:, 1]).sum() == 10
    assert data.categorical.dtype == np.int32 and (data.categorical[:, 0] == -1).sum() == 8
    assert data.category_values(0) == ["Kyiv", "Lima", "Oslo", "Pune"]  # sorted; codes index them
    cities = [data.category_values(0)[code] if code >= 0 else None for code in data.categorical[:, 0]]
    assert cities == table["city"]
    assert data.class_names[data.labels].tolist() == table["status"]


def test_parquet_gives_the_same_dataset(raw):
    write_table(mixed_table(), raw / "t.csv")
    write_table(mixed_table(), raw / "t.parquet")
    from_csv, from_parquet = load(), load(source="data/raw/t.parquet")
    for field, value in from_csv.to_arrays().items():
        np.testing.assert_array_equal(getattr(from_parquet, field), value)


def test_numeric_labels_sort_as_numbers(raw):
    write_table({"x": list(range(12)), "y": [2, 10, 1] * 4}, raw / "t.csv")
    data = load(target="y", drop=())
    assert data.class_names.tolist() == ["1", "2", "10"]


def test_a_numeric_target_is_a_regression_target_with_text_features_kept(raw):
    table = mixed_table()
    write_table(table, raw / "t.parquet")
    data = load(
        source="data/raw/t.parquet", task="regression", target="tenure", drop=("customer_id", "status")
    )
    assert str(data.task) == "regression" and str(data.target_name) == "tenure"
    assert data.labels.dtype == np.float64 and data.labels.tolist() == table["tenure"]
    assert data.class_names.tolist() == [] and data.feature_names.tolist() == ["spend"]
    assert data.categorical_names.tolist() == ["city", "plan"]


@pytest.mark.parametrize("policy", ["fail", "drop"])
def test_an_empty_regression_target_follows_missing_target(raw, policy):
    write(raw, "x,y\n1,1.5\n2,\n3,NaN\n4,2.5\n5,7\n")
    if policy == "fail":
        with pytest.raises(
            UserError, match="target column 'y' is empty in 2 of 5 rows; .* prepare.missing_target: drop"
        ):
            load(task="regression", target="y", drop=())
        return
    data = load(task="regression", target="y", drop=(), missing_target="drop")
    assert data.labels.tolist() == [1.5, 2.5, 7.0] and data.features[:, 0].tolist() == [1, 4, 5]


def test_text_in_a_regression_target_names_the_row_and_value(raw):
    write(raw, "x,price\n1,10.5\n2,12\n3,call us\n4,9\n")
    with pytest.raises(
        UserError,
        match=r"^data/raw/t.csv: column 'price' is the target of a regression \(prepare.task\) and must hold "
        r"numbers; found 'call us' in row 3$",
    ):
        load(task="regression", target="price", drop=())


def test_a_constant_regression_target_is_refused(raw):
    write(raw, "x,y\n1,3\n2,3\n3,3\n")
    with pytest.raises(
        UserError, match="the target is 3 in every row; a constant target leaves nothing to learn"
    ):
        load(task="regression", target="y", drop=())


def test_fractional_numbers_as_classes_suggest_regression(raw):
    write(raw, "x,y\n1,1.0\n2,2.0\n3,2.5\n4,3.75\n")
    with pytest.raises(
        UserError,
        match=r"target column 'y' holds 2 value\(s\) that are not whole numbers \(e.g. 2.5\), so they "
        r"are not classes; for a numeric target set prepare.task: regression$",
    ):
        load(target="y", drop=())


def write(raw, text: str, name: str = "t.csv") -> None:
    (raw / name).write_text(text)


@pytest.mark.parametrize(
    ("content", "changes", "message"),
    [
        (None, {}, "data/raw/t.csv: file not found"),
        ("", {}, "data/raw/t.csv: file is empty"),
        ("a,status\n", {"drop": ()}, "data/raw/t.csv: no data rows below the header"),
        ("a,a,status\n1,2,x\n", {"drop": ()}, "duplicate column name 'a'; column names must be unique"),
        (
            "a,label\n1,x\n",
            {"drop": ()},
            "prepare.target names column 'status', which data/raw/t.csv does not",
        ),
        (
            "a,status\n1,x\n",
            {"drop": ("id",)},
            "prepare.drop names column 'id', which data/raw/t.csv does not",
        ),
        ("a,status\n" + "1,x\n" * 6, {"drop": ()}, "the target needs at least two classes; found only 'x'"),
        (
            "a,status\n" + "1,x\n2,y\n" * 3 + "3,z\n3,z\n",
            {"drop": ()},
            "class 'z' has 2 row(s); a stratified",
        ),
        (
            "a,b,status\n" + ",1,x\n,2,y\n" * 3,
            {"drop": ()},
            "column 'a' is entirely empty; drop it with prepare.drop",
        ),
        ("a,status\n" + "1,x\ninf,y\n" * 3, {"drop": ()}, "column 'a' holds infinite values"),
        ("a,status\n" + "1,x\n2,y\n3,\n" * 3, {"drop": ()}, "target column 'status' is empty in 3 of 9 rows"),
        ('a,status\n1,x\n"2,y\n', {"drop": ()}, "cannot be parsed as csv"),
    ],
)
def test_bad_tables_fail_with_one_line_naming_the_problem(raw, content, changes, message):
    if content is not None:
        write(raw, content)
    with pytest.raises(UserError) as error:
        load(**changes)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_rows_missing_the_target_can_be_dropped(raw, caplog):
    caplog.set_level("INFO")
    write(raw, "a,status\n" + "1,x\n2,y\n3,\n" * 3)
    data = load(drop=(), missing_target="drop")
    assert len(data) == 6 and data.class_names.tolist() == ["x", "y"]
    assert "dropping 3 row(s) whose target 'status' is empty" in caplog.text


def test_duplicate_parquet_columns_are_rejected(raw):
    import pyarrow.parquet as pq

    table = pa.table([pa.array([1, 2]), pa.array([3, 4]), pa.array(["x", "y"])], names=["a", "a", "status"])
    pq.write_table(table, raw / "t.parquet")
    with pytest.raises(UserError, match="duplicate column name 'a'"):
        load(source="data/raw/t.parquet", drop=())


def test_a_number_where_a_category_was_expected_is_fine_but_text_in_a_numeric_column_is_not(tmp_path):
    write_table({"n": ["1.5", "oops"], "c": [1, 2]}, tmp_path / "in.csv")
    table = tables.read_table(tmp_path / "in.csv")
    with pytest.raises(UserError, match="column 'n' must be numeric, as in training; found 'oops' in row 2"):
        tables.numeric_matrix(table, ["n"], "in.csv")
    write_table({"n": [" 1.5"], "c": [7]}, tmp_path / "in.csv")
    table = tables.read_table(tmp_path / "in.csv")
    assert tables.numeric_matrix(table, ["n"], "in.csv").tolist() == [[1.5]]
    assert tables.text_values(table.column("c")).to_pylist() == ["7"]


def test_text_codes_are_sorted_values_with_empty_cells_minus_one():
    codes, values = tables.encode_text(pa.chunked_array([["b", None, "a"], ["", "b", "c"]]))
    assert codes.tolist() == [1, -1, 0, -1, 1, 2] and values.to_pylist() == ["a", "b", "c"]
    codes, values = tables.encode_text(pa.chunked_array([[None, None]], type=pa.string()))
    assert codes.tolist() == [-1, -1] and values.to_pylist() == []


def test_a_parquet_table_is_read_one_column_at_a_time(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "b": ["x", "y", None]}), tmp_path / "t.parquet")
    table = tables.read_table(tmp_path / "t.parquet")
    assert table.column_names == ["a", "b"] and table.num_rows == 3 and table.is_numeric("a")
    table.keep_rows(np.array([True, False, True]))
    assert table.num_rows == 2 and table.column("b").to_pylist() == ["x", None]


def test_dictionary_columns_code_as_plain_text_does():
    plain = pa.chunked_array([["b", None, "a", ""], ["c", "b"]])
    dictionary = pa.chunked_array(
        [
            pa.DictionaryArray.from_arrays(
                pa.array([2, None, 0, 3], pa.int32()), pa.array(["a", "zz", "b", ""])
            ),
            pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["c", "b"])),
        ]
    )
    for left, right in zip(tables.encode_text(plain), tables.encode_text(dictionary), strict=True):
        assert np.asarray(left).tolist() == np.asarray(right).tolist()  # "zz" is in no row: dropped
    numbers = pa.chunked_array(
        [pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int32()), pa.array([7, 10]))]
    )
    codes, values = tables.encode_text(numbers)
    assert codes.tolist() == [0, 1, 0] and values.to_pylist() == ["10", "7"]  # sorted as text


def test_a_column_of_lists_is_refused_with_one_line(raw):
    import pyarrow.parquet as pq

    table = pa.table({"a": [[1], [2], [3]] * 3, "b": [1.0] * 9, "status": ["x", "y", "z"] * 3})
    pq.write_table(table, raw / "t.parquet")
    with pytest.raises(
        UserError, match="column 'a' holds list<element: int64> values; a feature column must hold"
    ):
        load(source="data/raw/t.parquet", drop=())


def test_columns_of_numbers_named_in_text_are_categories(raw):
    table: dict[str, list] = {
        "zip": [94110, 10001, 94110, None] * 3,
        "x": [1.0, 2.0, 3.0, 4.0] * 3,
        "status": ["a", "b", "c"] * 4,
    }
    write_table(table, raw / "t.csv")
    data = load(drop=(), text=("zip",))
    assert data.feature_names.tolist() == ["x"] and data.categorical_names.tolist() == ["zip"]
    assert data.category_values(0) == ["10001", "94110"] and data.categorical[:4, 0].tolist() == [1, 0, 1, -1]
    with pytest.raises(UserError, match="prepare.text names column 'zipcode', which data/raw/t.csv does not"):
        load(drop=(), text=("zipcode",))
