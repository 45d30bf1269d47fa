"""params.yaml parsed into one typed, frozen, validated dataclass per section.

Every key of a section is required and no other key is allowed, so params.yaml is the one
place defaults live. Errors name the key and what it accepts, the way scikit-learn's do. What
each key means is written once, in docs/params.md (tests/test_docs.py checks that it lists
every key of params.yaml with its default).
"""

import math
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from stages.errors import UserError

PARAMS_FILE = Path("params.yaml")

# each bundled dataset with its task
BUNDLED_TASKS = {
    "iris": "classification",
    "wine": "classification",
    "breast_cancer": "classification",
    "digits": "classification",
    "diabetes": "regression",
}
BUNDLED_SOURCES = tuple(BUNDLED_TASKS)
TASKS = ("classification", "regression")  # what each means: stages/tasks.py
TABLE_SUFFIXES = (".csv", ".parquet")
TABLE_DIR = "data/raw"  # dvc.yaml declares this folder as prepare's dependency
MISSING_TARGET = ("drop", "fail")
SCALE_METHODS = ("standard", "minmax", "robust", "robust_clip", "none")
MODELS = ("tabm", "mlp")  # what each is and its recipe: stages/recipe.py
OPTIMIZERS = ("adam", "adamw", "sgd")
NUMERIC_EMBEDDINGS = ("ple", "periodic", "none")
ACTIVATIONS = ("relu", "tanh", "gelu", "leaky_relu", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")
LOSSES = ("auto", "cross_entropy", "mse", "huber")  # auto: cross_entropy, or mse for regression
NUMERICS = ("native", "portable")  # what each sets: stages/numerics.py (kept out of light stages)


def _spelled(value: object) -> str:
    """A value as params.yaml spells it (null, true), not as Python prints it (None, True)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(map(_spelled, value)) + "]"
    return repr(value)


def _fail(key: str, value: object, allowed: str) -> typing.NoReturn:
    raise UserError(f"params.yaml: {key} = {_spelled(value)} is not allowed; {key} must be {allowed}")


fail = _fail  # for the modules that check what a section cannot check alone (recipe)


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(key, value, "one of " + ", ".join(choices))


def _in_range(key: str, value: float, low: float, high: float | None = None) -> None:
    if value < low or (high is not None and value > high):
        _fail(key, value, f">= {low}" if high is None else f"between {low} and {high}")


def _open_unit(key: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        _fail(key, value, "a fraction strictly between 0 and 1")


@dataclass(frozen=True)
class PrepareParams:
    task: str
    source: str
    target: str | None
    drop: tuple[str, ...]
    text: tuple[str, ...]
    missing_target: str

    def check(self) -> None:
        _one_of("prepare.task", self.task, TASKS)
        _one_of("prepare.missing_target", self.missing_target, MISSING_TARGET)
        if self.source in BUNDLED_SOURCES:
            if BUNDLED_TASKS[self.source] != self.task:
                raise UserError(
                    f"params.yaml: prepare.source = {self.source} is a {BUNDLED_TASKS[self.source]} dataset "
                    f"but prepare.task = {self.task}; set prepare.task: {BUNDLED_TASKS[self.source]}"
                )
            return
        if not self.source.endswith(TABLE_SUFFIXES):
            _fail(
                "prepare.source",
                self.source,
                "one of " + ", ".join(BUNDLED_SOURCES) + f" or a .csv or .parquet file under {TABLE_DIR}/",
            )
        path = Path(self.source)
        if path.is_absolute() or ".." in path.parts or path.parts[:2] != tuple(TABLE_DIR.split("/")):
            _fail(
                "prepare.source",
                self.source,
                f"a file under {TABLE_DIR}/, relative to the repository (dvc.yaml tracks that folder)",
            )
        if not self.target:
            _fail("prepare.target", self.target, f"the name of the label column of {self.source}")

    @property
    def is_table(self) -> bool:
        return self.source not in BUNDLED_SOURCES


@dataclass(frozen=True)
class SplitParams:
    holdout_size: float
    test_size: float
    random_state: int

    def check(self) -> None:
        _open_unit("split.holdout_size", self.holdout_size)
        _open_unit("split.test_size", self.test_size)
        _in_range("split.random_state", self.random_state, 0, 2**32 - 1)


@dataclass(frozen=True)
class ScaleParams:
    method: str
    min_frequency: int

    def check(self) -> None:
        _one_of("scale.method", self.method, SCALE_METHODS)
        _in_range("scale.min_frequency", self.min_frequency, 1)


@dataclass(frozen=True)
class TrainParams:
    # `auto` (where a key takes it) is resolved per train.model and table by stages/recipe.py
    model: str
    seed: int
    epochs: int | str
    batch_size: int | str
    lr: float | str
    optimizer: str
    weight_decay: float | str
    momentum: float
    hidden: tuple[int, ...] | str
    k: int | str
    dropout: float | str
    numeric_embedding: str
    embedding_dim: int | str
    activation: str
    loss: str
    device: str
    numerics: str
    threads: int
    world_size: int
    patience: int | str
    min_delta: float

    def check(self) -> None:
        _one_of("train.model", self.model, MODELS)
        _in_range("train.seed", self.seed, 0, 2**63 - 1)
        _auto_in_range("train.epochs", self.epochs, 1)
        _auto_in_range("train.batch_size", self.batch_size, 1)
        if isinstance(self.lr, float) and not self.lr > 0:
            _fail("train.lr", self.lr, "auto or a number > 0")
        _one_of("train.optimizer", self.optimizer, ("auto", *OPTIMIZERS))
        _auto_in_range("train.weight_decay", self.weight_decay, 0.0)
        _in_range("train.momentum", self.momentum, 0.0, 1.0)
        if not isinstance(self.hidden, str):
            for size in self.hidden:
                if size < 1:
                    _fail("train.hidden", list(self.hidden), "auto or a list of layer widths, each >= 1")
        _auto_in_range("train.k", self.k, 1)
        _auto_in_range("train.dropout", self.dropout, 0.0, 0.9)
        _one_of("train.numeric_embedding", self.numeric_embedding, ("auto", *NUMERIC_EMBEDDINGS))
        width = self.embedding_dim
        if width != "auto" and not (isinstance(width, int) and not isinstance(width, bool) and width >= 1):
            _fail("train.embedding_dim", self.embedding_dim, "auto or an integer >= 1")
        _one_of("train.activation", self.activation, ACTIVATIONS)
        _one_of("train.loss", self.loss, LOSSES)
        _one_of("train.device", self.device, DEVICES)
        _one_of("train.numerics", self.numerics, NUMERICS)
        _in_range("train.threads", self.threads, 0)
        _in_range("train.world_size", self.world_size, 1)
        _auto_in_range("train.patience", self.patience, 0)
        _in_range("train.min_delta", self.min_delta, 0.0)


def _auto_in_range(key: str, value: float | str, low: float, high: float | None = None) -> None:
    """A key that takes `auto` or a number (parse_section has checked which): the number's range."""
    if not isinstance(value, str):
        _in_range(key, value, low, high)


@dataclass(frozen=True)
class EvaluateParams:
    batch_size: int
    importance_rows: int

    def check(self) -> None:
        _in_range("evaluate.batch_size", self.batch_size, 1)
        _in_range("evaluate.importance_rows", self.importance_rows, 1)


SECTIONS = {
    "prepare": PrepareParams,
    "split": SplitParams,
    "scale": ScaleParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
}


def _coerce(key: str, value: object, kind: object) -> object:
    """Check one YAML value against a field's annotation; ints are accepted as floats."""
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        _fail(key, value, "an integer")
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        _fail(key, value, "a finite number")
    if kind is str:
        if isinstance(value, str) and value:
            return value
        _fail(key, value, "a non-empty string")
    if typing.get_origin(kind) is tuple:
        (item_kind, _) = typing.get_args(kind)
        if not isinstance(value, list):
            _fail(key, value, f"a list of {item_kind.__name__}")
        return tuple(_coerce(key, item, item_kind) for item in value)
    if isinstance(kind, types.UnionType):  # str | None, or a number or list | str (auto)
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        if options == (str, type(None)):
            return _coerce(key, value, str)
        if value == "auto":
            return value
        other = next(option for option in options if option is not str)
        try:
            return _coerce(key, value, other)
        except UserError:
            _fail(key, value, "auto or " + _describe(other))
    raise TypeError(f"no parser for {kind!r}")  # a bug in this module, not a user mistake


def _describe(kind: object) -> str:
    if kind is float:
        return "a finite number"
    if typing.get_origin(kind) is tuple:
        return f"a list of {typing.get_args(kind)[0].__name__}"
    return "an integer"


def parse_section(name: str, raw: object):
    """Build and check the dataclass for section `name` from its raw YAML mapping."""
    cls = SECTIONS[name]
    if not isinstance(raw, dict):
        raise UserError(f"params.yaml: section {name} must be a mapping of keys to values")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise UserError(
            f"params.yaml: unknown key {name}.{unknown[0]}; allowed keys in {name}: " + ", ".join(known)
        )
    missing = [key for key in known if key not in raw]
    if missing:
        raise UserError(f"params.yaml: missing key {name}.{missing[0]}; {name} needs: {', '.join(known)}")
    hints = typing.get_type_hints(cls)
    values = {key: _coerce(f"{name}.{key}", raw[key], hints[key]) for key in known}
    section = cls(**values)
    section.check()
    return section


def load(name: str, path: Path = PARAMS_FILE):
    """Read params.yaml and return its section `name`, parsed and validated."""
    import yaml

    try:
        text = path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path} not found; run stages from the repository root") from None
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path} is not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise UserError(f"{path} must be a mapping of sections: {', '.join(SECTIONS)}")
    unknown = sorted(set(document) - set(SECTIONS))
    if unknown:
        raise UserError(f"params.yaml: unknown section {unknown[0]}; allowed: {', '.join(SECTIONS)}")
    if name not in document:
        raise UserError(f"params.yaml: missing section {name}")
    return parse_section(name, document[name])
