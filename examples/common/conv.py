"""Convolutional classifiers shared by the MNIST and CIFAR-100 examples, and their ReLU twins."""

from __future__ import annotations

from typing import Any

from torch import nn

from high_order_layers_torch.layers import MaxAbsNormalization, high_order_fc_layers
from high_order_layers_torch.networks import high_order_conv_encoder

from .baselines import match_width
from .training import parameter_count

NORMALIZATIONS = {
    "max_abs": lambda channels: MaxAbsNormalization(),
    "batch": nn.BatchNorm2d,
    "none": None,
}


def conv_layer_type(name: str) -> str:
    """``"continuous"`` -> ``"continuous2d"``; names that already say their dimension pass through."""
    return name if name[-2:] in ("1d", "2d", "3d") else f"{name}2d"


def _norm(name: str):
    if name not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {name!r}; valid names: {', '.join(NORMALIZATIONS)}")
    return NORMALIZATIONS[name]


def high_order_classifier(cfg: dict[str, Any], in_channels: int, image_size: int, classes: int) -> nn.Sequential:
    """High-order convolutions with max pooling, then a head on the flattened feature map.

    ``cfg`` keys: ``layer_type, n, segments, channels, kernel_size, normalization,
    rescale_output, periodicity, head`` (``high_order`` or ``linear``), optional ``nonlinearity``
    (a ReLU between stages).
    """
    channels = [in_channels, *cfg["channels"]]
    encoder = high_order_conv_encoder(
        conv_layer_type(cfg["layer_type"]),
        cfg["n"],
        channels,
        cfg["kernel_size"],
        segments=cfg["segments"],
        pooling="max",
        global_pool=None,
        normalization=_norm(cfg["normalization"]),
        non_linearity=nn.ReLU if cfg.get("nonlinearity") else None,
        rescale_output=cfg["rescale_output"],
        periodicity=cfg["periodicity"],
        initialization=cfg.get("initialization"),
    )
    side = image_size
    for _ in cfg["channels"]:
        side = (side - cfg["kernel_size"] + 1) // 2
    features = channels[-1] * side * side
    if cfg["head"] == "linear":
        head: nn.Module = nn.Linear(features, classes)
    elif cfg["head"] == "high_order":
        fc_type = conv_layer_type(cfg["layer_type"])[:-2]
        head = high_order_fc_layers(
            fc_type,
            cfg["n"],
            features,
            classes,
            cfg["segments"],
            periodicity=cfg["periodicity"],
            initialization=cfg.get("initialization"),
        )
    else:
        raise ValueError(f"head must be 'high_order' or 'linear', got {cfg['head']!r}")
    return nn.Sequential(encoder, nn.Flatten(), MaxAbsNormalization(), head)


def relu_classifier(
    widths: list[int], kernel_size: int, in_channels: int, image_size: int, classes: int
) -> nn.Sequential:
    """``Conv -> ReLU -> MaxPool`` per entry of ``widths``, then a linear head."""
    layers: list[nn.Module] = []
    side, previous = image_size, in_channels
    for width in widths:
        layers += [nn.Conv2d(previous, width, kernel_size), nn.ReLU(), nn.MaxPool2d(2)]
        side, previous = (side - kernel_size + 1) // 2, width
    layers += [nn.Flatten(), nn.Linear(previous * side * side, classes)]
    return nn.Sequential(*layers)


def classifier(cfg: dict[str, Any], in_channels: int, image_size: int, classes: int) -> nn.Sequential:
    """The high-order classifier, or with ``baseline=relu`` a ReLU network of the same shape whose
    channel counts are scaled to about the same number of parameters."""
    model = high_order_classifier(cfg, in_channels, image_size, classes)
    baseline = cfg.get("baseline")
    if baseline is None:
        return model
    if baseline != "relu":
        raise ValueError(f"baseline must be null or 'relu', got {baseline!r}")
    base = cfg["channels"]

    def build(scale: int) -> nn.Module:
        return relu_classifier(
            [max(1, c * scale // base[0]) for c in base], cfg["kernel_size"], in_channels, image_size, classes
        )

    return build(match_width(build, parameter_count(model), high=64 * base[0]))
