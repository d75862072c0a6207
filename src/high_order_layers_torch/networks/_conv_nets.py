"""Convolutional networks of high-order layers: a fully-convolutional encoder / classifier and a
transposed-convolution decoder, as plain builder functions."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from .._validation import check_int
from ..layers import high_order_convolution_layers, high_order_convolution_transpose_layers
from ._blocks import ModuleFactory, check_dropout, make_module, per_layer

POOLINGS: tuple[str, ...] = ("max", "avg")
_POOL = {
    ("max", 1): nn.MaxPool1d,
    ("max", 2): nn.MaxPool2d,
    ("max", 3): nn.MaxPool3d,
    ("avg", 1): nn.AvgPool1d,
    ("avg", 2): nn.AvgPool2d,
    ("avg", 3): nn.AvgPool3d,
}
_GLOBAL_POOL = {
    ("max", 1): nn.AdaptiveMaxPool1d,
    ("max", 2): nn.AdaptiveMaxPool2d,
    ("max", 3): nn.AdaptiveMaxPool3d,
    ("avg", 1): nn.AdaptiveAvgPool1d,
    ("avg", 2): nn.AdaptiveAvgPool2d,
    ("avg", 3): nn.AdaptiveAvgPool3d,
}

SizeArg = int | Sequence[int]


def _check_channels(channels: object) -> list[int]:
    if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence):
        raise TypeError(f"channels must be a sequence of ints (input channels, then one per layer); got {channels!r}")
    if len(channels) < 2:
        raise ValueError(f"channels needs at least 2 entries (input and one layer's output); got {list(channels)}")
    return [check_int(f"channels[{index}]", value, minimum=1) for index, value in enumerate(channels)]


def _check_pooling(name: str, value: object) -> str | None:
    if value is not None and value not in POOLINGS:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, POOLINGS))} or None; got {value!r}")
    return value  # type: ignore[return-value]


def _spatial_dims(layer: nn.Module, index: int, expected: int | None) -> int:
    dims = getattr(layer, "num_spatial_dims", None)
    if not isinstance(dims, int):
        raise TypeError(f"layer {index} ({type(layer).__name__}) does not say its number of spatial dimensions")
    if expected is not None and dims != expected:
        raise ValueError(f"every layer must have the same spatial dimensions; layer {index} has {dims}, not {expected}")
    return dims


def _between_layers(
    normalization: ModuleFactory | None,
    non_linearity: ModuleFactory | None,
    dropout: float,
    width: int,
    factory_kwargs: dict,
) -> OrderedDict[str, nn.Module]:
    parts: OrderedDict[str, nn.Module] = OrderedDict()
    norm = make_module(normalization, "normalization", width, **factory_kwargs)
    if norm is not None:
        parts["norm"] = norm
    act = make_module(non_linearity, "non_linearity", **factory_kwargs)
    if act is not None:
        parts["act"] = act
    if dropout > 0:
        parts["dropout"] = nn.Dropout(dropout)
    return parts


def high_order_conv_encoder(
    layer_type: str | Sequence[str],
    n: int | Sequence[int],
    channels: Sequence[int],
    kernel_size: SizeArg | Sequence[SizeArg],
    *,
    segments: int | Sequence[int] = 2,
    stride: SizeArg | Sequence[SizeArg] = 1,
    padding: SizeArg | str | Sequence[SizeArg | str] = 0,
    pooling: str | None | Sequence[str | None] = None,
    pool_size: SizeArg | Sequence[SizeArg] = 2,
    global_pool: str | None = "avg",
    normalization: ModuleFactory | None = None,
    non_linearity: ModuleFactory | None = None,
    dropout: float = 0.0,
    rescale_output: bool = False,
    periodicity: float | None = None,
    out_of_range: str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Sequential:
    """Build a fully-convolutional encoder / classifier of high-order convolutions.

    ``len(channels) - 1`` stages; stage ``i`` maps ``channels[i] -> channels[i + 1]``. Every
    stage after the first starts with ``normalization -> non_linearity -> dropout`` (each only
    when asked for), then the convolution, then the optional pooling. A final global pooling
    and flatten (``global_pool``) turn the feature map into a ``(B, channels[-1])`` vector, ready
    for a classifier loss or a latent head (``(channels[-1],)`` for an unbatched input).

    Every per-layer argument takes one value for all layers or a sequence with one entry per
    layer (so ``kernel_size=[3, (3, 5)]`` is 3x3 then 3x5; ``kernel_size=(3, 5)`` with two layers
    means 3 then 5).

    Args:
        layer_type: a convolution name from
            :data:`~high_order_layers_torch.layers.CONV_LAYERS` (for example ``"continuous2d"``);
            all layers must have the same number of spatial dimensions.
        n: nodes per segment (polynomials) or frequencies (Fourier).
        channels: input channels, then each layer's output channels.
        kernel_size, stride, padding: per-layer convolution geometry.
        segments: pieces per link for piecewise layers.
        pooling: ``"max"``, ``"avg"`` or ``None`` after each convolution, with window and
            stride ``pool_size``.
        global_pool: ``"avg"``, ``"max"`` or ``None`` (keep the feature map, no flatten).
        normalization: called with the channel count to build each normalisation (for
            example ``nn.BatchNorm2d``, or ``lambda c: MaxAbsNormalization()``).
        non_linearity: called with no arguments to build each activation.
        dropout: probability of an ``nn.Dropout`` before every convolution but the first.
        rescale_output, periodicity, out_of_range: passed to every convolution.

    Shape:
        Input: ``(B, channels[0], *spatial)`` or unbatched ``(channels[0], *spatial)``.
        Output: ``(B, channels[-1])`` with a global pool, else ``(B, channels[-1], *spatial_out)``;
        without the ``B`` axis for an unbatched input. Every stage must then accept unbatched
        input: ``nn.BatchNorm2d`` refuses it, and the per-sample normalisations
        (``MaxAbsNormalization``, ``MaxCenterNormalization``) read its first axis as the batch.

    Raises:
        ValueError: an unknown name, a per-layer sequence of the wrong length, mixed spatial
            dimensions, or an invalid size.
        TypeError: a value of the wrong type.

    Example:
        >>> net = high_order_conv_encoder("continuous2d", 3, [3, 8, 16], 3, stride=[1, 2], pooling=["max", None])
        >>> net(torch.rand(2, 3, 32, 32) * 2 - 1).shape
        torch.Size([2, 16])
    """
    widths = _check_channels(channels)
    count = len(widths) - 1
    dropout = check_dropout(dropout)
    global_pool = _check_pooling("global_pool", global_pool)
    pools = [_check_pooling("pooling", value) for value in per_layer("pooling", pooling, count)]
    factory_kwargs = {"device": device, "dtype": dtype}
    options = {"rescale_output": rescale_output, "periodicity": periodicity, **factory_kwargs}
    if out_of_range is not None:
        options["out_of_range"] = out_of_range

    stages: OrderedDict[str, nn.Module] = OrderedDict()
    dims = None
    for index, (kind, n_i, s_i, k_i, st_i, p_i, pool, size) in enumerate(
        zip(
            per_layer("layer_type", layer_type, count),
            per_layer("n", n, count),
            per_layer("segments", segments, count),
            per_layer("kernel_size", kernel_size, count),
            per_layer("stride", stride, count),
            per_layer("padding", padding, count),
            pools,
            per_layer("pool_size", pool_size, count),
            strict=True,
        )
    ):
        parts = _between_layers(normalization, non_linearity, dropout, widths[index], factory_kwargs) if index else {}
        conv = high_order_convolution_layers(
            layer_type=kind,
            n=n_i,
            in_channels=widths[index],
            out_channels=widths[index + 1],
            kernel_size=k_i,
            segments=s_i,
            stride=st_i,
            padding=p_i,
            **options,
        )
        dims = _spatial_dims(conv, index, dims)
        stage = OrderedDict(parts)
        stage["conv"] = conv
        if pool is not None:
            stage["pool"] = _POOL[pool, dims](size)
        stages[f"stage_{index}"] = nn.Sequential(stage)
    if global_pool is not None:
        stages["global_pool"] = _GLOBAL_POOL[global_pool, dims](1)
        # flatten the channel and the pooled (size-1) spatial axes counted from the end, so an
        # unbatched (C, *spatial) input gives (C,) as (B, C, *spatial) gives (B, C)
        stages["flatten"] = nn.Flatten(start_dim=-(dims + 1))
    return nn.Sequential(stages)


def high_order_conv_decoder(
    layer_type: str | Sequence[str],
    n: int | Sequence[int],
    channels: Sequence[int],
    kernel_size: SizeArg | Sequence[SizeArg],
    *,
    segments: int | Sequence[int] = 2,
    stride: SizeArg | Sequence[SizeArg] = 1,
    padding: SizeArg | Sequence[SizeArg] = 0,
    output_padding: SizeArg | Sequence[SizeArg] = 0,
    normalization: ModuleFactory | None = None,
    non_linearity: ModuleFactory | None = None,
    dropout: float = 0.0,
    rescale_output: bool = False,
    periodicity: float | None = None,
    out_of_range: str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Sequential:
    """Build a decoder of high-order transposed convolutions (for example a VAE's image head).

    ``len(channels) - 1`` stages; stage ``i`` maps ``channels[i] -> channels[i + 1]`` with a
    transposed convolution, preceded (from the second stage on) by
    ``normalization -> non_linearity -> dropout`` when asked for. Per-layer arguments take one
    value or one entry per layer, as in :func:`high_order_conv_encoder`. Each stage grows the
    spatial size like :class:`torch.nn.ConvTranspose2d`:
    ``(s - 1) * stride - 2 * padding + (kernel_size - 1) + output_padding + 1``. To start from a
    latent vector ``z`` of shape ``(B, channels[0])``, reshape it to ``(B, channels[0], 1, 1)``.

    Args:
        layer_type: a transposed-convolution name from
            :data:`~high_order_layers_torch.layers.CONV_TRANSPOSE_LAYERS`.
        n, segments: as in :func:`high_order_conv_encoder`.
        channels: input channels, then each layer's output channels.
        kernel_size, stride, padding, output_padding: per-layer geometry.
        normalization: called with the channel count to build each normalisation.
        non_linearity: called with no arguments to build each activation.
        dropout: probability of an ``nn.Dropout`` before every layer but the first.
        rescale_output, periodicity, out_of_range: passed to every layer.

    Shape:
        Input: ``(B, channels[0], *spatial)`` or unbatched ``(channels[0], *spatial)``.
        Output: ``(B, channels[-1], *spatial_out)``, or ``(channels[-1], *spatial_out)`` for an
        unbatched input, which every stage must then accept (see :func:`high_order_conv_encoder`).

    Raises:
        ValueError, TypeError: as :func:`high_order_conv_encoder`.

    Example:
        >>> net = high_order_conv_decoder("continuous2d", 3, [16, 8, 3], [4, 4], stride=2, padding=1)
        >>> net(torch.rand(2, 16, 4, 4) * 2 - 1).shape
        torch.Size([2, 3, 16, 16])
    """
    widths = _check_channels(channels)
    count = len(widths) - 1
    dropout = check_dropout(dropout)
    factory_kwargs = {"device": device, "dtype": dtype}
    options = {"rescale_output": rescale_output, "periodicity": periodicity, **factory_kwargs}
    if out_of_range is not None:
        options["out_of_range"] = out_of_range

    stages: OrderedDict[str, nn.Module] = OrderedDict()
    dims = None
    for index, (kind, n_i, s_i, k_i, st_i, p_i, op_i) in enumerate(
        zip(
            per_layer("layer_type", layer_type, count),
            per_layer("n", n, count),
            per_layer("segments", segments, count),
            per_layer("kernel_size", kernel_size, count),
            per_layer("stride", stride, count),
            per_layer("padding", padding, count),
            per_layer("output_padding", output_padding, count),
            strict=True,
        )
    ):
        parts = _between_layers(normalization, non_linearity, dropout, widths[index], factory_kwargs) if index else {}
        conv = high_order_convolution_transpose_layers(
            layer_type=kind,
            n=n_i,
            in_channels=widths[index],
            out_channels=widths[index + 1],
            kernel_size=k_i,
            segments=s_i,
            stride=st_i,
            padding=p_i,
            output_padding=op_i,
            **options,
        )
        dims = _spatial_dims(conv, index, dims)
        stage = OrderedDict(parts)
        stage["conv"] = conv
        stages[f"stage_{index}"] = nn.Sequential(stage)
    return nn.Sequential(stages)
