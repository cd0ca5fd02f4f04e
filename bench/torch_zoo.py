"""The zoo's four models in PyTorch, with the zoo's parameter names and layouts.

A zoo model exported with `zoo-export --format safetensors` loads into these with
`load_state_dict(strict=True)`, and their `state_dict()` is what `zoo-import` and
`train --init-from` read, with no key renaming:

    linear, logistic   linear.weight [out, in]          linear.bias [out]
    mlp                hidden.{i}.weight [out, in]      hidden.{i}.bias [out]
                       output.weight [out, in]          output.bias [out]
    cnn                blocks.{i}.conv.weight [out, in, 3, 3]   blocks.{i}.conv.bias [out]
                       hidden.weight [out, in]          hidden.bias [out]
                       output.weight [out, in]          output.bias [out]

Every model takes `[batch, n_inputs]` rows (a CNN's image flattened as channels, height,
width) and returns raw outputs: regression values or logits. `from_config` builds one from
the `model` entry of a zoo `model.json`.
"""

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}


class LinearRegression(nn.Module):
    def __init__(self, n_inputs, n_outputs):
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs)

    def forward(self, x):
        return self.linear(x)


class LogisticRegression(LinearRegression):
    """One logit per class, or a single one for a binary task (as the zoo's `task().output_width()`)."""

    def __init__(self, n_inputs, n_classes):
        super().__init__(n_inputs, 1 if n_classes == 2 else n_classes)


class Mlp(nn.Module):
    def __init__(self, n_inputs, hidden, n_outputs, activation="relu", dropout=0.0):
        super().__init__()
        widths = [n_inputs, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(i, o) for i, o in zip(widths, hidden))
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(widths[-1], n_outputs)

    def forward(self, x):
        for layer in self.hidden:
            x = self.dropout(self.activation(layer(x)))
        return self.output(x)


class ConvBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding="same")
        self.activation = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.activation(self.conv(x)))


class SmallCnn(nn.Module):
    def __init__(self, channels, height, width, n_outputs, conv_channels=(16, 32), hidden=128, dropout=0.0):
        super().__init__()
        self.shape = (channels, height, width)
        ins = [channels, *conv_channels]
        self.blocks = nn.ModuleList(ConvBlock(i, o) for i, o in zip(ins, conv_channels))
        h, w = height, width
        for _ in conv_channels:
            h, w = h // 2, w // 2
        self.hidden = nn.Linear(conv_channels[-1] * h * w, hidden)
        self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden, n_outputs)

    def forward(self, x):
        x = x.reshape(x.shape[0], *self.shape)
        for block in self.blocks:
            x = block(x)
        x = self.dropout(self.activation(self.hidden(x.flatten(1))))
        return self.output(x)


def from_config(model):
    """The PyTorch twin of a zoo model config: `model.json`'s `model` entry, e.g.
    `{"mlp": {"n_inputs": 4, "hidden": [16], "n_outputs": 3, "activation": "relu"}}`."""
    (kind, c), = model.items()
    if kind == "linear":
        return LinearRegression(c["n_inputs"], c["n_outputs"])
    if kind == "logistic":
        return LogisticRegression(c["n_inputs"], c["n_classes"])
    if kind == "mlp":
        return Mlp(c["n_inputs"], c["hidden"], c["n_outputs"], c.get("activation", "relu"), c.get("dropout", 0.0))
    if kind == "cnn":
        return SmallCnn(
            c["channels"], c["height"], c["width"], c["n_outputs"],
            c.get("conv_channels", [16, 32]), c.get("hidden", 128), c.get("dropout", 0.0),
        )
    raise ValueError(f"unknown zoo model `{kind}`")


def load_exported(path, model_json):
    """A zoo-exported safetensors file in its PyTorch twin (strict: every key, every shape)."""
    from safetensors.torch import load_file

    model = from_config(model_json["model"])
    model.load_state_dict(load_file(path), strict=True)
    return model.eval()


__all__ = ["LinearRegression", "LogisticRegression", "Mlp", "SmallCnn", "from_config", "load_exported", "torch"]
