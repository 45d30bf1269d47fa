"""The training recipe: train's params with every `auto` resolved, for this model and this table.

`auto` depends on train.model and, for the batch size and the epoch cap, on the train split's
row count, by the rules below. The resolved values go into metrics/train.json and the model's
config, so every run says what it used; the rules are pure functions of (params, rows), so the
same params on the same table resolve the same way and the run stays byte-reproducible.

- `mlp`, the tutorial's network and recipe: a 64x64 ReLU MLP, Adam at 0.003 without weight
  decay, batch 16, 200 epochs, patience 30; numbers fed as they are. `-S train.model=mlp` gives
  the results this project had before TabM.
- `tabm`, the default: TabM (Gorishniy et al., ICLR 2025), k MLPs that share their weights
  (BatchEnsemble), each number first through piecewise-linear embeddings on its train quantiles
  (Gorishniy et al., NeurIPS 2022; TabM's paper's advanced setting, TabM-dagger; docs/model.md's
  ablation weighs them against periodic embeddings). Its recipe is the TabM paper's default
  configuration with what the 2-core benchmark (bench.quality) settled: AdamW at 0.002 with
  weight decay 0.0003, two blocks of 128, dropout 0.1, patience 16; the batch grows with the
  table and the epochs are capped so a large table trains in minutes (batch_size_rule,
  epochs_rule).

No torch here: the light stages' tests import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from stages import params

AUTO = "auto"


@dataclass(frozen=True)
class Recipe:
    """What one training run uses: train's params with nothing left `auto`."""

    model: str
    epochs: int
    batch_size: int
    lr: float
    optimizer: str
    weight_decay: float
    hidden: tuple[int, ...]
    dropout: float
    numeric_embedding: str
    k: int  # tabm's members; 1 for the mlp
    patience: int

    def record(self) -> dict:
        """As metrics/train.json and the model's config write it."""
        values = asdict(self)
        values["hidden"] = list(self.hidden)
        return values


MLP_DEFAULTS = {
    "epochs": 200, "batch_size": 16, "lr": 0.003, "optimizer": "adam", "weight_decay": 0.0,
    "hidden": (64, 64), "dropout": 0.0, "numeric_embedding": "none", "patience": 30,
}  # fmt: skip
# tabm's blocks, two of 128 at every size: a quarter of TabM's paper default (3 x 512) in width,
# for 2 cores. Blocks of 256 below 25,000 train rows (the rule before 2026-12-04) scored no better
# on bench.quality's five tables of that size and took 1.5-2.6x as long (docs/model.md's ablation).
TABM_HIDDEN: tuple[int, ...] = (128, 128)
TABM_DEFAULTS = {
    "lr": 0.002, "optimizer": "adamw", "weight_decay": 0.0003, "hidden": TABM_HIDDEN, "dropout": 0.1,
    "numeric_embedding": "ple", "patience": 16,
}  # fmt: skip


def batch_size_rule(rows: int) -> int:
    """tabm's batch for a train split of `rows`: 256, TabM's and RealMLP's default, from 2,560 rows
    (ten steps an epoch and more); smaller tables the largest power of two within a tenth of
    their rows (at least 16: Iris's 105 rows take 16); from 25,000 rows 512, from 100,000 rows
    1,024, as TabM's paper grows it, which keeps a 2-core epoch over 3x10^5 rows under a minute."""
    if rows >= 100_000:
        return 1024
    if rows >= 25_000:
        return 512
    if rows >= 2_560:
        return 256
    return max(16, 1 << max(0, (rows // 10).bit_length() - 1))


def k_rule(rows: int) -> int:
    """tabm's members: 8 (the TabM paper's ablation: most of 32's gain); 4 from 10^6 train rows,
    where one epoch of 8 is about 10 minutes on 2 cores (bench.data_scale: 617 s for 7x10^6 rows
    at batch 2048) and a table that large leaves an ensemble less variance to remove."""
    return 8 if rows < 1_000_000 else 4


def epochs_rule(rows: int) -> int:
    """tabm's cap on epochs: 200 (early stopping ends most runs well before), and at most about
    2x10^6 rows seen in all for a large table, at least 8 epochs: 2x10^5 train rows get 10."""
    return max(8, min(200, 2_000_000 // max(rows, 1)))


def resolve(p: params.TrainParams, rows: int) -> Recipe:
    """train's params for a train split of `rows` rows, every `auto` replaced by its rule."""
    if p.model == "mlp":
        defaults: dict = dict(MLP_DEFAULTS, k=1)
    else:
        rules = {
            "epochs": epochs_rule(rows),
            "batch_size": batch_size_rule(rows),
        }
        defaults = dict(TABM_DEFAULTS, **rules, k=k_rule(rows))

    def pick(name: str):
        value = getattr(p, name)
        return defaults[name] if value == AUTO else value

    recipe = Recipe(
        model=p.model, epochs=pick("epochs"), batch_size=pick("batch_size"), lr=pick("lr"),
        optimizer=pick("optimizer"), weight_decay=pick("weight_decay"), hidden=tuple(pick("hidden")),
        dropout=pick("dropout"), numeric_embedding=pick("numeric_embedding"),
        k=1 if p.model == "mlp" else pick("k"), patience=pick("patience"),
    )  # fmt: skip
    check(recipe, p.activation)
    return recipe


def check(recipe: Recipe, activation: str) -> None:
    """What only the model can refuse: tabm's blocks are all one width, and not linear."""
    if recipe.model == "tabm" and activation == "none":
        params.fail("train.activation", activation, "relu, tanh, gelu or leaky_relu for train.model tabm "
                    "(none, the tutorial's linear stack, is train.model mlp's)")  # fmt: skip
    if recipe.model == "tabm" and (not recipe.hidden or len(set(recipe.hidden)) != 1):
        params.fail(
            "train.hidden", list(recipe.hidden),
            "one width repeated per block for train.model tabm, e.g. [128, 128] (or auto)",
        )  # fmt: skip
