"""Artifacts are written atomically and byte-reproducibly."""

import time

import numpy as np
import pytest

from stages import artifacts


def test_npz_bytes_do_not_depend_on_the_clock(tmp_path, monkeypatch):
    arrays = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "names": np.array(["a", "b"])}
    artifacts.write_npz(tmp_path / "a.npz", arrays)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    monkeypatch.setattr(time, "localtime", lambda *_: time.struct_time((2033, 5, 18, 3, 33, 20, 0, 138, 0)))
    artifacts.write_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back = artifacts.read_npz(tmp_path / "b.npz")
    np.testing.assert_array_equal(back["x"], arrays["x"])
    assert back["names"].tolist() == ["a", "b"]


def test_npz_refuses_object_arrays(tmp_path):
    with pytest.raises(ValueError):
        artifacts.write_npz(tmp_path / "o.npz", {"x": np.array([{"a": 1}], dtype=object)})
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "m.json"
    artifacts.write_json(target, {"accuracy": 1.0})
    with pytest.raises(TypeError):
        artifacts.write_json(target, {"accuracy": object()})
    assert artifacts.read_json(target) == {"accuracy": 1.0}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_csv_quotes_names_with_commas(tmp_path):
    artifacts.write_csv(tmp_path / "c.csv", ["actual", "predicted"], [["a,b", "c"]])
    assert (tmp_path / "c.csv").read_text() == 'actual,predicted\n"a,b",c\n'
