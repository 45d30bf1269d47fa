"""params.yaml parsing: types, ranges, unknown and missing keys, all as UserError."""

import dataclasses

import pytest
import yaml

from stages import params
from stages.errors import UserError

from .conftest import REPO


def repo_section(name: str) -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())[name]


@pytest.mark.parametrize("name", list(params.SECTIONS))
def test_repo_params_parse(name):
    section = params.parse_section(name, repo_section(name))
    assert dataclasses.is_dataclass(section)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(section, dataclasses.fields(section)[0].name, None)


def test_train_types_are_coerced():
    train = params.parse_section("train", repo_section("train"))
    assert train.hidden == "auto" and train.epochs == "auto" and isinstance(train.momentum, float)
    explicit = params.parse_section("train", dict(repo_section("train"), hidden=[64, 64], lr=1, epochs=3))
    assert explicit.hidden == (64, 64) and explicit.lr == 1.0 and isinstance(explicit.lr, float)
    assert explicit.epochs == 3


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "epochs", -5, "train.epochs = -5 is not allowed; train.epochs must be >= 1"),
        ("train", "epochs", 2.5, "train.epochs must be auto or an integer"),
        ("train", "epochs", True, "train.epochs must be auto or an integer"),
        ("train", "lr", 0, "train.lr must be auto or a number > 0"),
        ("train", "lr", "fast", "train.lr must be auto or a finite number"),
        ("train", "activation", "swish", "must be one of relu, tanh, gelu, leaky_relu, none"),
        ("train", "optimizer", "lbfgs", "must be one of auto, adam, adamw, sgd"),
        ("train", "device", "tpu", "must be one of auto, cpu, cuda, mps"),
        ("train", "hidden", [16, 0], "train.hidden must be auto or a list of layer widths, each >= 1"),
        ("train", "hidden", 16, "train.hidden must be auto or a list of int"),
        ("train", "patience", -1, "train.patience must be >= 0"),
        ("train", "world_size", 0, "train.world_size = 0 is not allowed; train.world_size must be >= 1"),
        (
            "train",
            "embedding_dim",
            0,
            "train.embedding_dim = 0 is not allowed; train.embedding_dim must be auto or an integer >= 1",
        ),
        ("train", "embedding_dim", "wide", "train.embedding_dim must be auto or an integer"),
        ("train", "embedding_dim", 8.5, "train.embedding_dim must be auto or an integer"),
        ("train", "embedding_dim", None, "train.embedding_dim = null is not allowed"),
        ("scale", "min_frequency", 0, "scale.min_frequency must be >= 1"),
        ("scale", "min_frequency", 2.0, "scale.min_frequency must be an integer"),
        (
            "scale",
            "method",
            "zscore",
            "scale.method must be one of standard, minmax, robust, robust_clip, none",
        ),
        ("split", "holdout_size", 1.0, "split.holdout_size must be a fraction strictly between 0 and 1"),
        ("split", "test_size", 0, "split.test_size must be a fraction strictly between 0 and 1"),
        ("split", "random_state", -1, "split.random_state must be between 0"),
        ("evaluate", "batch_size", 0, "evaluate.batch_size must be >= 1"),
        (
            "prepare",
            "source",
            "mnist",
            "prepare.source must be one of iris, wine, breast_cancer, digits, diabetes or",
        ),
        ("prepare", "source", "/tmp/x.csv", "prepare.source must be a file under data/raw/"),
        ("prepare", "source", "data/x.csv", "prepare.source must be a file under data/raw/"),
        ("prepare", "source", "data/raw/../../x.csv", "prepare.source must be a file under data/raw/"),
        ("prepare", "missing_target", "ignore", "prepare.missing_target must be one of drop, fail"),
        ("prepare", "task", "ranking", "prepare.task must be one of classification, regression"),
        ("train", "loss", "hinge", "train.loss must be one of auto, cross_entropy, mse, huber"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(section, key, value, message):
    raw = {**repo_section(section), key: value}
    with pytest.raises(UserError, match="^params.yaml: ") as error:
        params.parse_section(section, raw)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_embedding_dim_is_auto_or_a_width():
    assert params.parse_section("train", repo_section("train")).embedding_dim == "auto"
    assert params.parse_section("train", {**repo_section("train"), "embedding_dim": 16}).embedding_dim == 16


@pytest.mark.parametrize(
    ("source", "task", "fits"),
    [("diabetes", "classification", "regression"), ("iris", "regression", "classification")],
)
def test_a_bundled_source_keeps_its_own_task(source, task, fits):
    raw = {**repo_section("prepare"), "source": source, "task": task}
    with pytest.raises(
        UserError, match=f"is a {fits} dataset but prepare.task = {task}; set prepare.task: {fits}$"
    ):
        params.parse_section("prepare", raw)
    assert params.parse_section("prepare", {**raw, "task": fits}).task == fits


def test_table_source_needs_a_target():
    raw = {**repo_section("prepare"), "source": "data/raw/table.csv", "target": None}
    with pytest.raises(UserError, match="prepare.target = null is not allowed; .* label column"):
        params.parse_section("prepare", raw)


def test_unknown_key_lists_the_allowed_ones():
    with pytest.raises(
        UserError, match="unknown key train.epoch; allowed keys in train: model, seed, epochs, "
    ):
        params.parse_section("train", {**repo_section("train"), "epoch": 3})


def test_missing_key_is_named():
    raw = repo_section("split")
    del raw["test_size"]
    with pytest.raises(UserError, match="missing key split.test_size"):
        params.parse_section("split", raw)


def test_load_rejects_unknown_sections_and_bad_yaml(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train: {epochs: 3\n")
    with pytest.raises(UserError, match="is not valid YAML at line"):
        params.load("train", path)
    path.write_text((REPO / "params.yaml").read_text() + "tune: {}\n")
    with pytest.raises(
        UserError, match="unknown section tune; allowed: prepare, split, scale, train, evaluate"
    ):
        params.load("train", path)
    with pytest.raises(UserError, match="not found"):
        params.load("train", tmp_path / "missing.yaml")
