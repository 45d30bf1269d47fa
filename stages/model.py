"""The networks: TabM (the default) and the tutorial's MLP, over the numeric columns and one
learned embedding per text column.

Both take (numeric, codes) and build one row vector from them: the numbers as they are, or each
through piecewise-linear or periodic embeddings (rtdl_num_embeddings, Gorishniy et al., NeurIPS
2022), then each text column's embedding. `mlp` feeds it to an MLP; with no text column and no
numeric embedding it is exactly the MLP of the tutorial's shape, created in the same order (same
initial weights). `tabm` (Gorishniy et al., ICLR 2025; the blocks of its authors' `tabm`
package) feeds it to k MLPs that share their weights and differ by per-member scalings
(BatchEnsemble). While training, TabM returns every member's outputs, (rows, k, outputs), and
the loss is their mean (tasks.py); in eval mode it returns the ensemble's prediction as one row
of outputs, so evaluate, predict and permutation importance read it as they read the MLP's: for
classification the log of the members' mean probabilities (softmax of it = that mean), for
regression the mean.

Built from plain values, so a state_dict plus its config rebuilds it.
"""

import math
import warnings

import numpy as np
import torch
from torch import nn

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}
_TABM_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "gelu": "GELU", "leaky_relu": "LeakyReLU"}
EMBEDDING_CAP = 50  # the auto rule's widest embedding
# each number's embedding is 8 wide, piecewise-linear or periodic (rtdl_num_embeddings'
# defaults are 16 and 24: on 2 cores the first layer's work grows with it; bench.quality's loans
# table gave 0.371 R² at 8 against 0.366 at 24 with periodic embeddings, in 65% of the time)
NUMERIC_WIDTH = 8
# piecewise-linear embeddings: bins at N_BINS quantiles of each column's train values (the
# package's and TabM's default 48), fewer on a small table: at least ROWS_PER_BIN train rows a
# bin on average (Iris's 105 rows get 10: with 48, test accuracy 0.9333 instead of 1.0), from at
# most BIN_ROWS rows (every n-th: the train split is shuffled)
N_BINS = 48
ROWS_PER_BIN = 10
BIN_ROWS = 1_000_000


def auto_embedding_width(cardinality: int) -> int:
    """fast.ai's rule of thumb (round(1.6 * n ** 0.56), from its tabular models) capped at
    EMBEDDING_CAP, as pytorch_tabular caps its own rule: 5 codes -> 4, 14 -> 7, 102 -> 21,
    1,002 and more -> 50. The cap bounds the embedding table, which Adam updates whole each step."""
    return max(1, min(EMBEDDING_CAP, round(1.6 * cardinality**0.56)))


def embedding_widths(cardinalities: list[int], setting: int | str) -> list[int]:
    """train.embedding_dim: `auto` applies the rule per column; a number is every column's width."""
    if setting == "auto":
        return [auto_embedding_width(n) for n in cardinalities]
    return [int(setting)] * len(cardinalities)


def build_mlp(
    in_features: int, hidden: list[int], n_outputs: int, activation: str, dropout: float = 0.0
) -> nn.Sequential:
    """Linear layers of widths in_features -> *hidden -> n_outputs; `none` keeps them linear."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if activation != "none":
            layers.append(_ACTIVATIONS[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def _import_embeddings_package() -> None:
    """Import rtdl_num_embeddings (tabm imports it too) without the `import sklearn.tree` it
    tries at import time for tree-based bins, which this project does not use: that import costs
    train and evaluate about half a second and scikit-learn, SciPy and pandas in memory, which
    their import limits forbid (test_startup). With `sklearn` absent from sys.modules for the
    moment of the import, the package takes its own `except ImportError` path."""
    import sys

    if "rtdl_num_embeddings" in sys.modules:
        return
    hidden = [name for name in ("sklearn", "sklearn.tree") if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # import machinery: "not importable"
    try:
        import rtdl_num_embeddings  # noqa: F401
    finally:
        for name in hidden:
            del sys.modules[name]


def n_bins_rule(rows: int) -> int:
    """Bins per numeric column for a train split of `rows` rows: N_BINS, or a bin per
    ROWS_PER_BIN rows where that is fewer (at least 2)."""
    return max(2, min(N_BINS, rows // ROWS_PER_BIN))


def quantile_bins(features: np.ndarray) -> list[list[float]]:
    """Each numeric column's bin edges for piecewise-linear embeddings: its train values' N_BINS
    quantiles (n_bins_rule), duplicates dropped (a column of two values gets one bin, [min, max]); a constant
    column gets [v, v + 1]. As rtdl_num_embeddings.compute_bins does, in NumPy (float64, then
    float32 as the model computes), so the edges are the same bytes on any host."""
    step = -(-len(features) // BIN_ROWS)
    sample = features[::step]
    levels = np.linspace(0.0, 1.0, n_bins_rule(len(features)) + 1)
    bins = []
    for column in sample.T:
        edges = np.unique(np.quantile(column.astype(np.float64), levels).astype(np.float32))
        if len(edges) == 1:
            edges = np.array([edges[0], edges[0] + 1], dtype=np.float32)
        bins.append(edges.tolist())
    return bins


def numeric_embedding(kind: str, n_numeric: int, bins: list[list[float]] | None) -> nn.Module | None:
    """The module each number goes through first: piecewise-linear embeddings over the train
    split's bins (version B, TabM's: a linear embedding plus a piecewise-linear part that starts
    at zero), periodic embeddings, or none (as it is)."""
    if kind == "none" or not n_numeric:
        return None
    _import_embeddings_package()
    from rtdl_num_embeddings import PeriodicEmbeddings, PiecewiseLinearEmbeddings

    if kind == "ple":
        if bins is None or len(bins) != n_numeric:
            raise ValueError(f"ple needs bins for each of the {n_numeric} numeric columns")
        edges = [torch.tensor(column, dtype=torch.float32) for column in bins]
        with warnings.catch_warnings():  # a two-valued column has one bin: min-max scaling, as meant
            warnings.filterwarnings("ignore", message=r"The \d+-th feature has just two bin edges")
            return PiecewiseLinearEmbeddings(edges, NUMERIC_WIDTH, activation=False, version="B")
    return PeriodicEmbeddings(n_numeric, NUMERIC_WIDTH, lite=False)


class _Inputs(nn.Module):
    """One row vector from (numeric, codes): the numbers (embedded or not), then each text
    column's embedding. Subclasses create `embeddings` first, then `numeric`, then their layers."""

    embeddings: nn.ModuleList
    numeric: nn.Module | None

    def feature_widths(self, n_numeric: int, widths: list[int]) -> list[int]:
        """Width of each input column's part of the row vector, numbers first."""
        return [NUMERIC_WIDTH if self.numeric is not None else 1] * n_numeric + list(widths)

    def row_vectors(self, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        parts = [numeric if self.numeric is None else self.numeric(numeric).flatten(1)]
        parts += [embedding(codes[:, j]) for j, embedding in enumerate(self.embeddings)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class TabularNet(_Inputs):
    """forward(numeric, codes): numeric (batch, n_numeric) float32 and codes (batch, n_text)
    int32; each text column's codes look up its embedding, concatenated after the numbers."""

    def __init__(
        self, n_numeric: int, cardinalities: list[int], widths: list[int], hidden: list[int],
        n_outputs: int, activation: str, dropout: float = 0.0, numeric: str = "none",
        bins: list[list[float]] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, w) for n, w in zip(cardinalities, widths, strict=True)
        )
        self.numeric = numeric_embedding(numeric, n_numeric, bins)
        in_features = sum(self.feature_widths(n_numeric, widths))
        self.mlp = build_mlp(in_features, hidden, n_outputs, activation, dropout)

    def forward(self, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.row_vectors(numeric, codes))


class TabM(_Inputs):
    """forward(numeric, codes) as TabularNet's; training: (batch, k, n_outputs), every member's
    outputs; eval: (batch, n_outputs), the ensemble's (module docstring)."""

    def __init__(
        self, n_numeric: int, cardinalities: list[int], widths: list[int], hidden: list[int],
        n_outputs: int, activation: str, dropout: float, numeric: str, k: int, classification: bool,
        bins: list[list[float]] | None = None,
    ) -> None:  # fmt: skip
        _import_embeddings_package()
        import tabm

        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, w) for n, w in zip(cardinalities, widths, strict=True)
        )
        self.numeric = numeric_embedding(numeric, n_numeric, bins)
        chunks = self.feature_widths(n_numeric, widths)
        # as tabm.TabM.make: the first scaling random per input column (one value across the
        # column's chunk), normal with numeric embeddings, random signs without
        self.backbone = tabm.make_tabm_backbone(
            d_in=sum(chunks), n_blocks=len(hidden), d_block=hidden[0], dropout=dropout,
            activation=_TABM_ACTIVATIONS[activation], k=k, arch_type="tabm",
            start_scaling_init="random-signs" if self.numeric is None else "normal",
            start_scaling_init_chunks=chunks,
        )  # fmt: skip
        self.output = tabm.LinearEnsemble(hidden[0], n_outputs, k=k)
        self.k = k
        self.classification = classification

    def forward(self, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        rows = self.row_vectors(numeric, codes)
        outputs = self.output(self.backbone(rows.unsqueeze(1).expand(-1, self.k, -1)))
        if self.training:
            return outputs
        if self.classification:  # log of the members' mean probability
            return torch.logsumexp(torch.log_softmax(outputs, dim=-1), dim=1) - math.log(self.k)
        return outputs.mean(dim=1)


Network = TabularNet | TabM


def model_config(
    n_numeric: int, cardinalities: list[int], widths: list[int], recipe: dict, activation: str,
    n_outputs: int, bins: list[list[float]] | None = None,
) -> dict:  # fmt: skip
    """What rebuilds the network (recipe: recipe.Recipe.record(); bins: quantile_bins' where the
    numbers go through piecewise-linear embeddings); train adds what the task needs to read its
    outputs."""
    return {
        "model": recipe["model"],
        "n_numeric": n_numeric,
        "cardinalities": list(cardinalities),
        "embedding_widths": list(widths),
        "hidden": list(recipe["hidden"]),
        "activation": activation,
        "dropout": recipe["dropout"],
        "numeric_embedding": recipe["numeric_embedding"],
        "k": recipe["k"],
        "n_outputs": n_outputs,
        **({"numeric_bins": bins} if bins is not None else {}),
    }


def from_config(config: dict, classification: bool | None = None) -> Network:
    """The network a config describes (a config from before TabM is an MLP's)."""
    if classification is None:
        classification = config["task"] == "classification"
    common = (
        config["n_numeric"], config["cardinalities"], config["embedding_widths"], config["hidden"],
        config["n_outputs"], config["activation"], config.get("dropout", 0.0),
        config.get("numeric_embedding", "none"),
    )  # fmt: skip
    bins = config.get("numeric_bins")
    if config.get("model", "mlp") == "tabm":
        return TabM(*common, k=config["k"], classification=classification, bins=bins)
    return TabularNet(*common, bins=bins)


def from_payload(payload: dict) -> tuple[Network, dict]:
    """The trained network and its config from the saved {"config", "state_dict"} dict."""
    model = from_config(payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model, payload["config"]
