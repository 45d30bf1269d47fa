"""The network: an MLP built from plain values, so a state_dict plus its config rebuilds it."""

from torch import nn

_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}


def build_mlp(in_features: int, hidden: list[int], n_classes: int, activation: str) -> nn.Sequential:
    """Linear layers of widths in_features -> *hidden -> n_classes; `none` keeps them linear."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if activation != "none":
            layers.append(_ACTIVATIONS[activation]())
        width = size
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


def model_config(in_features: int, hidden: list[int], activation: str, class_names: list[str]) -> dict:
    return {
        "in_features": in_features,
        "hidden": list(hidden),
        "activation": activation,
        "class_names": list(class_names),
    }


def from_config(config: dict) -> nn.Sequential:
    return build_mlp(
        config["in_features"], config["hidden"], len(config["class_names"]), config["activation"]
    )


def from_payload(payload: dict) -> tuple[nn.Sequential, dict]:
    """The trained network and its config from the saved {"config", "state_dict"} dict."""
    model = from_config(payload["config"])
    model.load_state_dict(payload["state_dict"])
    return model, payload["config"]
