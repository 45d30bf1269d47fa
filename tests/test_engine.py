"""The training engine: batching, the functional optimizers, train/val steps, early stopping."""

import dataclasses
import subprocess
import sys

import pytest
import torch
from torch import nn

from stages import engine
from stages.errors import UserError
from stages.model import (
    TabularNet,
    auto_embedding_width,
    build_mlp,
    embedding_widths,
    from_config,
    model_config,
)

from .conftest import REPO


def _blobs(n=300, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 3, (n,), generator=g)
    features = torch.randn(n, 4, generator=g) + labels[:, None].float() * 2
    return features, labels


def test_shuffled_batches_cover_every_row_once_and_depend_on_the_seed():
    features, labels = torch.arange(10.0)[:, None], torch.arange(10)
    batches = engine.Batches((features,), labels, 3, torch.Generator().manual_seed(0))
    seen = [int(i) for _, y in batches for i in y]
    assert sorted(seen) == list(range(10)) and len(batches) == 4
    again = [
        int(i) for _, y in engine.Batches((features,), labels, 3, torch.Generator().manual_seed(0)) for i in y
    ]
    other = [
        int(i) for _, y in engine.Batches((features,), labels, 3, torch.Generator().manual_seed(1)) for i in y
    ]
    assert seen == again and seen != other


def test_unshuffled_batches_keep_row_order():
    features, labels = torch.arange(7.0)[:, None], torch.arange(7)
    assert [y.tolist() for _, y in engine.Batches((features,), labels, 3)] == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("adam", lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1, fused=True)),
        ("adamw", lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, fused=True)),
        ("sgd", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, weight_decay=0.1, fused=True)),
    ],
)
def test_functional_optimizers_match_torch_optim_exactly(name, reference):
    features, labels = _blobs()
    torch.manual_seed(0)
    ours_model = build_mlp(4, [8], 3, "relu")
    theirs_model = build_mlp(4, [8], 3, "relu")
    theirs_model.load_state_dict(ours_model.state_dict())
    ours = engine.FunctionalOptimizer(name, ours_model.parameters(), lr=0.01, weight_decay=0.1, momentum=0.9)
    theirs = reference(theirs_model.parameters())
    for _ in range(5):
        for model, optimizer in ((ours_model, ours), (theirs_model, theirs)):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(features), labels).backward()
            optimizer.step()
    for a, b in zip(ours_model.parameters(), theirs_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_train_step_learns_and_val_step_does_not_change_the_model():
    features, labels = _blobs()
    torch.manual_seed(0)
    model = build_mlp(4, [16], 3, "relu")
    optimizer = engine.FunctionalOptimizer("adam", model.parameters(), 0.01, 0.0, 0.9)
    train = engine.Batches((features,), labels, 32, torch.Generator().manual_seed(0))
    loss_fn = nn.CrossEntropyLoss()
    first_loss, _ = train_step_result = engine.train_step(train, model, optimizer, loss_fn)
    for _ in range(20):
        train_step_result = engine.train_step(train, model, optimizer, loss_fn)
    assert train_step_result[0] < first_loss and train_step_result[1] > 0.9
    before = [p.clone() for p in model.parameters()]
    loss, accuracy = engine.val_step(engine.Batches((features,), labels, 64), model, loss_fn)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    expected = nn.functional.cross_entropy(model(features), labels).item()
    assert loss == pytest.approx(expected, rel=1e-5)  # averaged per sample, not per batch
    assert accuracy == pytest.approx((model(features).argmax(1) == labels).float().mean().item())


def test_a_regression_step_reports_rmse_in_the_targets_units():
    from stages.tasks import Regression

    torch.manual_seed(0)
    features = torch.randn(256, 3)
    values = 50 + 20 * (features[:, 0] - 0.5 * features[:, 2])  # in the target's units
    task = Regression(center=50.0, scale=20.0)
    standardised = torch.from_numpy(task.training_target(((values - 50) / 20).double().numpy()))
    model = build_mlp(3, [16], 1, "relu")
    optimizer = engine.FunctionalOptimizer("adam", model.parameters(), 0.01, 0.0, 0.9)
    train = engine.Batches((features,), standardised, 32, torch.Generator().manual_seed(0))
    loss_fn = task.criterion("mse")
    first = engine.train_step(train, model, optimizer, loss_fn, task)
    for _ in range(30):
        last = engine.train_step(train, model, optimizer, loss_fn, task)
    assert last[0] < first[0] / 10
    loss, rmse = engine.val_step(engine.Batches((features,), standardised, 100), model, loss_fn, task)
    predicted = task.to_units(model(features)[:, 0].detach().numpy())
    expected = float(((predicted - values.double().numpy()) ** 2).mean() ** 0.5)
    assert rmse == pytest.approx(expected, rel=1e-4)  # in units: 20x the standardised error
    assert loss == pytest.approx((expected / 20) ** 2, rel=1e-3)


def test_a_loss_of_the_other_task_is_refused_with_one_line():
    from stages.errors import UserError
    from stages.tasks import CLASSIFICATION, Regression

    with pytest.raises(
        UserError, match="train.loss = mse is not a classification loss.* one of auto, cross_entropy$"
    ):
        CLASSIFICATION.criterion("mse")
    with pytest.raises(
        UserError, match="train.loss = cross_entropy is not a regression loss.* auto, mse, huber$"
    ):
        Regression().criterion("cross_entropy")
    assert Regression().check_loss("auto") == "mse" and CLASSIFICATION.check_loss("auto") == "cross_entropy"
    huber = Regression().criterion("huber")
    outputs, targets = torch.tensor([[0.0], [3.0]]), torch.tensor([0.5, 0.0])
    assert huber(outputs, targets).item() == pytest.approx((0.5 * 0.25 + (3 - 0.5)) / 2)


def _fit(patience, epochs=60, seed=0):
    features, labels = _blobs(seed=seed)
    torch.manual_seed(seed)
    model = build_mlp(4, [32, 32], 3, "relu")
    optimizer = engine.FunctionalOptimizer("adam", model.parameters(), 0.05, 0.0, 0.9)
    train = engine.Batches((features[:60],), labels[:60], 8, torch.Generator().manual_seed(seed))
    val = engine.Batches((features[60:],), labels[60:], 512)
    result = engine.fit(model, optimizer, nn.CrossEntropyLoss(), train, val, epochs, patience=patience)
    return model, result, val


def test_fit_is_deterministic():
    (m1, r1, _), (m2, r2, _) = _fit(0, epochs=10), _fit(0, epochs=10)
    assert r1.history == r2.history
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters(), strict=True))


def test_early_stopping_stops_and_restores_the_best_epoch():
    model, result, val = _fit(patience=5)
    losses = [e.val_loss for e in result.history]
    assert len(result.history) < 60
    assert result.best_epoch == losses.index(min(losses)) + 1
    assert len(result.history) == result.best_epoch + 5
    loss, _ = engine.val_step(val, model, nn.CrossEntropyLoss())
    assert loss == pytest.approx(result.best.val_loss, rel=1e-6)


def test_without_patience_all_epochs_run_and_the_last_is_kept():
    _, result, _ = _fit(patience=0, epochs=15)
    assert len(result.history) == 15 and result.best_epoch == 15


def test_model_rebuilds_from_its_config():
    torch.manual_seed(0)
    model = TabularNet(4, [5, 30], [3, 8], [16, 8], 3, "none")
    assert [type(m) for m in model.mlp] == [nn.Linear, nn.Linear, nn.Linear]  # the tutorial's stack
    assert model.mlp[0].in_features == 4 + 3 + 8
    used = {"model": "mlp", "hidden": [16, 8], "dropout": 0.0, "numeric_embedding": "none", "k": 1}
    config = model_config(4, [5, 30], [3, 8], used, "none", 3)
    config["task"] = "classification"
    clone = from_config(config)
    clone.load_state_dict(model.state_dict())
    x, codes = (
        torch.randn(6, 4),
        torch.tensor([[0, 29], [1, 0], [4, 2], [2, 2], [3, 7], [0, 1]], dtype=torch.int32),
    )
    assert torch.equal(model(x, codes), clone(x, codes))


def test_without_text_columns_the_model_is_the_plain_mlp_with_the_same_initial_weights():
    torch.manual_seed(0)
    plain = build_mlp(4, [16], 3, "relu")
    torch.manual_seed(0)
    net = TabularNet(4, [], [], [16], 3, "relu")
    for a, b in zip(plain.parameters(), net.parameters(), strict=True):
        assert torch.equal(a, b)
    x = torch.randn(3, 4)
    assert torch.equal(net(x, torch.empty(3, 0, dtype=torch.int32)), plain(x))


def test_embedding_widths_follow_the_rule_or_the_fixed_setting():
    assert [auto_embedding_width(n) for n in (2, 5, 14, 102, 1_002, 100_002)] == [2, 4, 7, 21, 50, 50]
    assert embedding_widths([5, 102], "auto") == [4, 21]
    assert embedding_widths([5, 102], 16) == [16, 16]


def test_an_embedding_learns_a_label_carried_by_a_text_column_alone():
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 200, (4000, 1), generator=g, dtype=torch.int32)
    labels = (codes[:, 0] % 3).long()  # no order to exploit: only a per-value table can learn it
    numeric = torch.randn(4000, 2, generator=g)
    torch.manual_seed(0)
    model = TabularNet(2, [200], [8], [32], 3, "relu")
    optimizer = engine.FunctionalOptimizer("adam", model.parameters(), 0.02, 0.0, 0.9)
    train = engine.Batches((numeric, codes), labels, 128, torch.Generator().manual_seed(0))
    for _ in range(15):
        _, accuracy = engine.train_step(train, model, optimizer, nn.CrossEntropyLoss())
    assert accuracy > 0.95


def test_every_activation_param_value_builds():
    from stages.params import ACTIVATIONS

    for name in ACTIVATIONS:
        build_mlp(4, [8], 3, name)


def test_device_resolution():
    assert engine.resolve_device("cpu").type == "cpu"
    assert engine.resolve_device("auto").type in {"cuda", "mps", "cpu"}
    if not torch.backends.mps.is_available():
        with pytest.raises(
            UserError, match="train.device = 'mps' is not available on this machine; allowed here"
        ):
            engine.resolve_device("mps")


def test_training_does_not_import_dynamo():
    code = (
        "import sys, torch; from stages import engine; from stages.model import build_mlp;"
        "m = build_mlp(4, [8], 3, 'relu');"
        "o = engine.FunctionalOptimizer('adam', m.parameters(), .01, 0, .9);"
        "m(torch.randn(2, 4)).sum().backward(); o.step(); print('torch._dynamo' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_progress_is_about_ten_lines_in_a_log_and_one_rewritten_line_on_a_terminal(monkeypatch, capsys):
    from stages.training import progress_printer

    epoch = engine.Epoch(1, 0.5, 0.8, 0.6, 0.7)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    report = progress_printer(100)
    for number in range(1, 101):
        report(dataclasses.replace(epoch, epoch=number), 1)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 11 and lines[0].startswith("train: epoch   1/100  loss 0.5000 acc 0.8000 | val loss")
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    report = progress_printer(3)
    for number in range(1, 4):
        report(dataclasses.replace(epoch, epoch=number), 1)
    err = capsys.readouterr().err
    assert err.count("\r") == 3 and "\n" not in err
