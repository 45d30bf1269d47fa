"""The default model (TabM) and its recipe: every `auto` rule, the ensemble's forward and loss."""

import dataclasses
import math
import warnings

import numpy as np
import pytest
import torch

from stages import engine, params, recipe, tasks
from stages import model as model_module
from stages.errors import UserError
from stages.model import N_BINS, TabM, TabularNet, from_config, model_config, n_bins_rule, quantile_bins

from .test_params import repo_section


def train_params(**changes) -> params.TrainParams:
    return dataclasses.replace(params.parse_section("train", repo_section("train")), **changes)


def test_the_committed_params_are_tabm_with_every_recipe_key_auto():
    p = train_params()
    assert p.model == "tabm"
    assert all(getattr(p, key) == "auto" for key in (
        "epochs", "batch_size", "lr", "optimizer", "weight_decay", "hidden", "dropout", "numeric_embedding",
        "patience", "k",
    ))  # fmt: skip


def test_mlp_auto_is_the_tutorial_recipe_whatever_the_table():
    for rows in (105, 10**6):
        r = recipe.resolve(train_params(model="mlp"), rows)
        assert (r.epochs, r.batch_size, r.lr, r.optimizer, r.weight_decay, r.hidden, r.dropout) == (
            200, 16, 0.003, "adam", 0.0, (64, 64), 0.0,
        )  # fmt: skip
        assert (r.numeric_embedding, r.k, r.patience) == ("none", 1, 30)
    assert recipe.resolve(train_params(model="mlp", k=16), 105).k == 1


@pytest.mark.parametrize(
    ("rows", "batch", "hidden", "epochs", "k"),
    [
        (105, 16, (128, 128), 200, 8),  # Iris
        (1_029, 64, (128, 128), 200, 8),
        (2_559, 128, (128, 128), 200, 8),
        (2_560, 256, (128, 128), 200, 8),
        (24_999, 256, (128, 128), 80, 8),
        (25_000, 512, (128, 128), 80, 8),
        (99_999, 512, (128, 128), 20, 8),
        (100_000, 1024, (128, 128), 20, 8),
        (261_004, 1024, (128, 128), 8, 8),
        (999_999, 1024, (128, 128), 8, 8),
        (1_000_000, 1024, (128, 128), 8, 4),
        (7_000_000, 1024, (128, 128), 8, 4),
    ],
)
def test_tabm_auto_rules_by_train_rows(rows, batch, hidden, epochs, k):
    r = recipe.resolve(train_params(), rows)
    assert (r.batch_size, r.hidden, r.epochs, r.k) == (batch, hidden, epochs, k)
    assert (r.lr, r.optimizer, r.weight_decay, r.dropout, r.numeric_embedding, r.patience) == (
        0.002, "adamw", 0.0003, 0.1, "ple", 16,
    )  # fmt: skip


def test_a_set_value_wins_over_auto_and_is_recorded():
    r = recipe.resolve(
        train_params(batch_size=64, lr=0.01, hidden=(32, 32), k=4, numeric_embedding="none"), 10**5
    )
    assert (r.batch_size, r.lr, r.hidden, r.k, r.numeric_embedding) == (64, 0.01, (32, 32), 4, "none")
    assert r.record()["hidden"] == [32, 32]


def test_tabm_refuses_blocks_of_different_widths_in_one_line():
    with pytest.raises(UserError, match=r"train.hidden = \[64, 32\] is not allowed; .* one width repeated"):
        recipe.resolve(train_params(hidden=(64, 32)), 1000)
    with pytest.raises(UserError, match=r"train.hidden = \[\]"):
        recipe.resolve(train_params(hidden=()), 1000)


def test_tabm_refuses_the_linear_stack_in_one_line():
    with pytest.raises(UserError, match=r"train.activation = 'none' is not allowed; .*mlp's"):
        recipe.resolve(train_params(activation="none"), 1000)
    assert recipe.resolve(train_params(model="mlp", activation="none"), 1000).model == "mlp"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("lr", "fast", "train.lr must be auto or a finite number"),
        ("batch_size", 0, "train.batch_size must be >= 1"),
        ("hidden", "wide", "train.hidden must be auto or a list of int"),
        ("dropout", 1.5, "train.dropout must be between 0.0 and 0.9"),
        ("model", "xgboost", "train.model must be one of tabm, mlp"),
        ("numeric_embedding", "quantile", "must be one of auto, ple, periodic, none"),
        ("k", 0, "train.k must be >= 1"),
    ],
)
def test_recipe_keys_refuse_bad_values(key, value, message):
    raw = dict(repo_section("train"), **{key: value})
    with pytest.raises(UserError, match=message):
        params.parse_section("train", raw)


def _tabm(classification: bool, n_outputs: int = 3, k: int = 4) -> TabM:
    torch.manual_seed(0)
    return TabM(3, [6], [4], [16, 16], n_outputs, "relu", 0.0, "periodic", k, classification)


def _rows(n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(n, 3), torch.randint(0, 6, (n, 1), dtype=torch.int32)


def test_tabm_trains_on_every_member_and_predicts_their_mean_probability():
    model = _tabm(classification=True)
    numeric, codes = _rows()
    model.train()
    members = model(numeric, codes)
    assert members.shape == (5, 4, 3)
    model.eval()
    with torch.no_grad():
        members = model.output(
            model.backbone(model.row_vectors(numeric, codes).unsqueeze(1).expand(-1, 4, -1))
        )
        combined = model(numeric, codes)
    assert combined.shape == (5, 3)
    torch.testing.assert_close(torch.softmax(combined, dim=1), torch.softmax(members, dim=-1).mean(dim=1))


def test_tabm_regression_predicts_the_members_mean():
    model = _tabm(classification=False, n_outputs=1)
    numeric, codes = _rows()
    model.eval()
    with torch.no_grad():
        members = model.output(
            model.backbone(model.row_vectors(numeric, codes).unsqueeze(1).expand(-1, 4, -1))
        )
        torch.testing.assert_close(model(numeric, codes), members.mean(dim=1))


def test_an_ensembles_loss_and_train_metric_are_its_members_mean():
    outputs = torch.randn(6, 4, 3)
    targets = torch.tensor([0, 1, 2, 0, 1, 2])
    loss = tasks.CLASSIFICATION.criterion("cross_entropy")(outputs, targets)
    each = [torch.nn.functional.cross_entropy(outputs[:, j], targets) for j in range(4)]
    torch.testing.assert_close(loss, torch.stack(each).mean())
    right = sum(outputs[:, j].argmax(1).eq(targets).sum() for j in range(4)) / 4
    torch.testing.assert_close(tasks.CLASSIFICATION.batch_score(outputs, targets), right)
    values, goals = torch.randn(6, 4, 1), torch.randn(6)
    squared = sum((values[:, j, 0] - goals).square().sum() for j in range(4)) / 4
    torch.testing.assert_close(tasks.Regression().batch_score(values, goals), squared)
    mse = tasks.Regression().criterion("mse")(values, goals)
    torch.testing.assert_close(mse, ((values[:, :, 0] - goals[:, None]) ** 2).mean())


def test_tabm_rebuilds_from_its_config_and_an_old_config_is_an_mlp():
    r = recipe.resolve(train_params(k=4, hidden=(16, 16), numeric_embedding="periodic"), 1000).record()
    config = model_config(3, [6], [4], r, "relu", 3)
    config["task"] = "classification"
    torch.manual_seed(0)
    model = from_config(config)
    assert isinstance(model, TabM) and model.k == 4
    clone = from_config(config)
    clone.load_state_dict(model.state_dict())
    model.eval(), clone.eval()
    numeric, codes = _rows()
    assert torch.equal(model(numeric, codes), clone(numeric, codes))
    old = {
        key: config[key]
        for key in ("n_numeric", "cardinalities", "embedding_widths", "activation", "n_outputs", "task")
    }
    assert isinstance(from_config({**old, "hidden": [8]}), TabularNet)


def test_tabm_learns_a_label_from_numbers_and_text():
    g = torch.Generator().manual_seed(0)
    numeric = torch.randn(3000, 3, generator=g)
    codes = torch.randint(0, 6, (3000, 1), generator=g, dtype=torch.int32)
    labels = (numeric[:, 0] > 0).long() + (codes[:, 0] % 2).long()  # 0, 1 or 2
    model = _tabm(classification=True)
    optimizer = engine.FunctionalOptimizer("adamw", model.parameters(), 0.01, 0.0003, 0.9)
    train = engine.Batches((numeric, codes), labels, 128, torch.Generator().manual_seed(0))
    loss_fn = tasks.CLASSIFICATION.criterion("cross_entropy")
    for _ in range(8):
        engine.train_step(train, model, optimizer, loss_fn)
    _, accuracy = engine.val_step(engine.Batches((numeric, codes), labels, 512), model, loss_fn)
    assert accuracy > 0.95
    assert not math.isnan(accuracy)


def test_quantile_bins_are_each_columns_train_quantiles_without_repeats():
    rng = np.random.default_rng(0)
    features = np.column_stack([
        rng.normal(size=5000), rng.integers(0, 2, 5000), np.full(5000, 3.0), rng.integers(0, 5, 5000),
    ]).astype(np.float32)  # fmt: skip
    bins = quantile_bins(features)
    assert len(bins) == 4
    assert (
        len(bins[0]) == N_BINS + 1
        and bins[0][0] == features[:, 0].min()
        and bins[0][-1] == features[:, 0].max()
    )
    assert bins[1] == [0.0, 1.0]  # two values: one bin, min to max
    assert bins[2] == [3.0, 4.0]  # constant: one bin of width 1
    assert bins[3] == [0.0, 1.0, 2.0, 3.0, 4.0]
    for edges in bins:
        assert np.all(np.diff(edges) > 0)


def test_a_small_split_gets_a_bin_per_ten_rows():
    assert [n_bins_rule(rows) for rows in (5, 105, 479, 480, 10**6)] == [2, 10, 47, 48, 48]
    assert len(quantile_bins(np.arange(105, dtype=np.float32)[:, None])[0]) == 11


def test_quantile_bins_of_a_large_split_take_every_nth_row(monkeypatch):
    monkeypatch.setattr(model_module, "BIN_ROWS", 1000)
    features = np.arange(10_000, dtype=np.float32)[:, None]
    assert quantile_bins(features) == quantile_bins(features[::10])


def test_ple_networks_rebuild_from_their_config_with_the_same_outputs():
    features = np.random.default_rng(1).normal(size=(400, 3)).astype(np.float32)
    bins = quantile_bins(features)
    for model_name in ("tabm", "mlp"):
        used = train_params(k=4, hidden=(16, 16), model=model_name, numeric_embedding="ple")
        config = model_config(3, [6], [4], recipe.resolve(used, 400).record(), "relu", 3, bins)
        config["task"] = "classification"
        torch.manual_seed(0)
        model = from_config(config)
        assert model.numeric is not None
        with torch.no_grad():  # the piecewise-linear part starts at zero: make it count
            model.numeric.get_parameter("linear.weight").normal_()
        clone = from_config(config)
        clone.load_state_dict(model.state_dict())
        model.eval(), clone.eval()
        numeric, codes = torch.from_numpy(features[:5] * 3), torch.randint(0, 6, (5, 1), dtype=torch.int32)
        assert torch.equal(model(numeric, codes), clone(numeric, codes))
        assert config["numeric_bins"] == bins
    with warnings.catch_warnings():  # a two-valued column's single bin is no warning
        warnings.simplefilter("error")
        from_config({**config, "numeric_bins": [[0.0, 1.0], *bins[1:]]})
    with pytest.raises(ValueError, match="ple needs bins"):
        from_config({**config, "numeric_bins": bins[:2]})
