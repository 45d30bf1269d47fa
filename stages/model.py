"""The network: an MLP over the numeric columns and one learned embedding per text column.

Built from plain values, so a state_dict plus its config rebuilds it. With no text column it
is exactly the MLP of the tutorial's shape, created in the same order (same initial weights).
"""

import torch
from torch import nn

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}
EMBEDDING_CAP = 50  # the auto rule's widest embedding


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


def build_mlp(in_features: int, hidden: list[int], n_outputs: int, activation: str) -> nn.Sequential:
    """Linear layers of widths in_features -> *hidden -> n_outputs; `none` keeps them linear."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if activation != "none":
            layers.append(_ACTIVATIONS[activation]())
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class TabularNet(nn.Module):
    """forward(numeric, codes): numeric (batch, n_numeric) float32 and codes (batch, n_text)
    int32; each text column's codes look up its embedding, concatenated after the numbers."""

    def __init__(
        self, n_numeric: int, cardinalities: list[int], widths: list[int], hidden: list[int],
        n_outputs: int, activation: str,
    ) -> None:  # fmt: skip
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(n, w) for n, w in zip(cardinalities, widths, strict=True)
        )
        self.mlp = build_mlp(n_numeric + sum(widths), hidden, n_outputs, activation)

    def forward(self, numeric: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        if not self.embeddings:
            return self.mlp(numeric)
        looked_up = [embedding(codes[:, j]) for j, embedding in enumerate(self.embeddings)]
        return self.mlp(torch.cat([numeric, *looked_up], dim=1))


def model_config(
    n_numeric: int, cardinalities: list[int], widths: list[int], hidden: list[int], activation: str,
    n_outputs: int,
) -> dict:  # fmt: skip
    """What rebuilds the network; train adds what the task needs to read its outputs."""
    return {
        "n_numeric": n_numeric,
        "cardinalities": list(cardinalities),
        "embedding_widths": list(widths),
        "hidden": list(hidden),
        "activation": activation,
        "n_outputs": n_outputs,
    }


def from_config(config: dict) -> TabularNet:
    return TabularNet(
        config["n_numeric"], config["cardinalities"], config["embedding_widths"], config["hidden"],
        config["n_outputs"], config["activation"],
    )  # fmt: skip


def from_payload(payload: dict) -> tuple[TabularNet, dict]:
    """The trained network and its config from the saved {"config", "state_dict"} dict."""
    model = from_config(payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model, payload["config"]
