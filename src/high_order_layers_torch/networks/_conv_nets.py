"""Convolutional networks of high-order layers: a fully-convolutional encoder / classifier and a
transposed-convolution decoder, as plain builder functions."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Unpack

import torch
from torch import nn

from .._signatures import spell_out
from .._validation import check_bool, check_int
from ..layers import HighOrderLinear, high_order_convolution_layers, high_order_convolution_transpose_layers
from ..layers._options import LinkOptions, builder_defaults
from ._blocks import ModuleFactory, check_dropout, make_module, per_layer, pre_layer_parts

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
    return value


def _check_normalize_output(normalize_output: object, normalization: ModuleFactory | None) -> None:
    check_bool("normalize_output", normalize_output)
    if normalize_output and normalization is None:
        raise ValueError("normalize_output=True needs a normalization to build the output normalisation")


def _spatial_dims(layer: nn.Module, index: int, expected: int | None) -> int:
    dims = getattr(layer, "num_spatial_dims", None)
    if not isinstance(dims, int):
        raise TypeError(f"layer {index} ({type(layer).__name__}) does not say its number of spatial dimensions")
    if expected is not None and dims != expected:
        raise ValueError(f"every layer must have the same spatial dimensions; layer {index} has {dims}, not {expected}")
    return dims


class _Wiring(NamedTuple):
    """What surrounds the convolutions of a stack: ``normalization -> non_linearity -> dropout``
    before every one but the first and, with ``normalize_output``, a normalisation after the last."""

    normalization: ModuleFactory | None = None
    non_linearity: ModuleFactory | None = None
    dropout: float = 0.0
    normalize_output: bool = False

    @classmethod
    def split(cls, options: ConvNetOptions) -> tuple[_Wiring, dict[str, Any]]:
        """The wiring given in ``options``, and the rest: what every layer gets."""
        rest: dict[str, Any] = dict(options)
        return cls(**{name: rest.pop(name) for name in cls._fields if name in rest}), rest


class ConvNetOptions(LinkOptions, total=False):
    """The keywords of :func:`high_order_conv_encoder` and :func:`high_order_conv_decoder` besides
    the geometry: the wiring around each layer, and the options every layer gets."""

    normalization: ModuleFactory | None
    normalize_output: bool
    non_linearity: ModuleFactory | None
    dropout: float


def _conv_stages(
    build: Callable[..., nn.Module],
    widths: list[int],
    per_layer_args: Mapping[str, object],
    options: ConvNetOptions,
) -> tuple[OrderedDict[str, nn.Module], int]:
    """The stages ``stage_i`` of a stack of ``build`` layers ``widths[i] -> widths[i + 1]``
    (each a ``nn.Sequential`` of the wiring's ``norm``, ``act``, ``dropout``, then ``conv`` and,
    last, ``norm_out``) and the layers' number of spatial dimensions. Every entry of
    ``per_layer_args`` is one value for all layers or one per layer; the ``options`` that are not
    wiring go to every layer."""
    count = len(widths) - 1
    (normalization, non_linearity, dropout, normalize_output), layer_options = _Wiring.split(options)
    device, dtype = options.get("device"), options.get("dtype")
    dropout = check_dropout(dropout)
    _check_normalize_output(normalize_output, normalization)
    columns = {name: per_layer(name, value, count) for name, value in per_layer_args.items()}
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    dims: int | None = None
    for index in range(count):
        parts = (
            pre_layer_parts(normalization, non_linearity, dropout, widths[index], device=device, dtype=dtype)
            if index
            else {}
        )
        layer_args = {name: column[index] for name, column in columns.items()}
        stage = OrderedDict(parts)
        stage["conv"] = build(in_channels=widths[index], out_channels=widths[index + 1], **layer_args, **layer_options)
        dims = _spatial_dims(stage["conv"], index, dims)
        if normalize_output and index == count - 1:
            norm_out = make_module(normalization, "normalization", widths[-1], device=device, dtype=dtype)
            if norm_out is not None:  # always: normalize_output needs a normalization (checked above)
                stage["norm_out"] = norm_out
        stages[f"stage_{index}"] = nn.Sequential(stage)
    if dims is None:  # not reached: _check_channels gives at least one layer
        raise ValueError("a network needs at least one layer")
    return stages, dims


@spell_out(_Wiring, builder_defaults, HighOrderLinear)
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
    **options: Unpack[ConvNetOptions],
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
        normalize_output: also normalise the last convolution's output (``norm_out`` in the
            last stage, after the convolution and before its pooling), so that every
            convolution is followed by a normalisation as in the reference's networks. Needs
            ``normalization``.
        non_linearity: called with no arguments to build each activation.
        dropout: probability of an ``nn.Dropout`` before every convolution but the first.
        rescale_output, periodicity, out_of_range: passed to every convolution.
        initialization: the initial link functions of every convolution (see
            :func:`~high_order_layers_torch.layers.initialize_links_`); ``None`` keeps each
            layer type's default.

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
    global_pool = _check_pooling("global_pool", global_pool)
    pooling_column: list[str | None] = per_layer("pooling", pooling, count)
    pools = [_check_pooling("pooling", value) for value in pooling_column]
    pool_sizes: list[SizeArg | None] = per_layer("pool_size", pool_size, count)
    conv_args = dict(layer_type=layer_type, n=n, segments=segments, kernel_size=kernel_size, stride=stride)
    stages, dims = _conv_stages(high_order_convolution_layers, widths, {**conv_args, "padding": padding}, options)
    for stage, pool, size in zip(stages.values(), pools, pool_sizes, strict=True):
        if pool is not None:
            stage.add_module("pool", _POOL[pool, dims](size))
    if global_pool is not None:
        stages["global_pool"] = _GLOBAL_POOL[global_pool, dims](1)
        # flatten the channel and the pooled (size-1) spatial axes counted from the end, so an
        # unbatched (C, *spatial) input gives (C,) as (B, C, *spatial) gives (B, C)
        stages["flatten"] = nn.Flatten(start_dim=-(dims + 1))
    return nn.Sequential(stages)


@spell_out(_Wiring, builder_defaults, HighOrderLinear)
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
    **options: Unpack[ConvNetOptions],
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
        normalize_output: also normalise the last layer's output (``norm_out`` in the last
            stage), as in :func:`high_order_conv_encoder`. Needs ``normalization``.
        non_linearity: called with no arguments to build each activation.
        dropout: probability of an ``nn.Dropout`` before every layer but the first.
        rescale_output, periodicity, out_of_range: passed to every layer.
        initialization: the initial link functions of every layer (see
            :func:`~high_order_layers_torch.layers.initialize_links_`); ``None`` keeps each
            layer type's default.

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
    conv_args = dict(layer_type=layer_type, n=n, segments=segments, kernel_size=kernel_size, stride=stride)
    conv_args.update(padding=padding, output_padding=output_padding)
    stages, _ = _conv_stages(high_order_convolution_transpose_layers, _check_channels(channels), conv_args, options)
    return nn.Sequential(stages)


#: The reference's ``pooling`` names, by the number of spatial dimensions they pool.
_REFERENCE_POOLING = {"1d": 1, "2d": 2, "3d": 3}


def _check_layer_counts(channels: Sequence[int], **per_layer_args: object) -> None:
    """Raise unless every per-layer sequence has one entry per layer (``len(channels) - 1``),
    naming every length; scalars (and strings) broadcast and are skipped."""
    count = len(channels) - 1
    lengths = {
        name: len(value)
        for name, value in per_layer_args.items()
        if isinstance(value, Sequence) and not isinstance(value, (str, bytes))
    }
    wrong = {name: length for name, length in lengths.items() if length != count}
    if wrong:
        shown = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValueError(
            f"channels has {len(channels)} entries, so the network has {count} layers and every per-layer "
            f"list needs {count} entries; {shown} (a single value is used for every layer)"
        )


def _reference_network(
    builder: Callable[..., nn.Sequential],
    channels: Sequence[int],
    per_layer_args: dict[str, object],
    normalization: ModuleFactory | None,
    **options: object,
) -> tuple[list[int], nn.Sequential]:
    """``(channels as ints, network)`` of the reference's network classes: every per-layer
    argument checked against ``channels`` (the message naming every length), ``stride=None`` read
    as 1, and ``normalization`` after every layer, the last included."""
    widths = _check_channels(channels)
    _check_layer_counts(widths, **per_layer_args)
    if per_layer_args["stride"] is None:
        per_layer_args = {**per_layer_args, "stride": 1}
    network = builder(
        channels=widths,
        **per_layer_args,
        normalization=normalization,
        normalize_output=normalization is not None,
        **options,
    )
    return widths, network


class HighOrderFullyConvolutionalNetwork(nn.Module):
    """Convolutions all the way down, then global average pooling and flatten: the reference's
    class over :func:`high_order_conv_encoder`.

    Layer ``i`` is a high-order convolution ``channels[i] -> channels[i + 1]``, followed by
    ``normalization(channels[i + 1])`` when ``normalization`` is given; then an adaptive average
    pool to size 1 and a flatten give one ``channels[-1]`` vector per sample.

    Args:
        layer_type: a convolution name from :data:`~high_order_layers_torch.layers.CONV_LAYERS`
            (``"continuous2d"``, ``"discontinuous1d"``, ...), or a list with one per layer; all
            layers must have the same number of spatial dimensions.
        n: nodes per segment (polynomials) or frequencies (Fourier): one value or one per layer.
        channels: input channels, then each layer's output channels (one more entry than layers).
        segments: pieces per link for piecewise layers: one value or one per layer.
        kernel_size: one value or one per layer.
        rescale_output: divide every sum over inputs by their number.
        periodicity: mirror-fold inputs at ``+-periodicity / 2``.
        normalization: called with a layer's output channels to build the module that follows
            it (for example ``nn.BatchNorm2d``); ``None`` adds none.
        pooling: ``"1d"``, ``"2d"`` or ``"3d"`` (must match the convolutions' spatial
            dimensions) for the final global average pool, or ``None`` to flatten the feature
            map without pooling.
        stride: one value or one per layer; ``None`` means 1.
        padding: one value or one per layer.
        initialization: the initial link functions of every layer (see
            :func:`~high_order_layers_torch.layers.initialize_links_`); ``None`` keeps each
            layer type's default.
        device, dtype: where and in what type to create the parameters.

    Attributes:
        model: the ``nn.Sequential`` built by :func:`high_order_conv_encoder` (children
            ``stage_0`` ..., then ``global_pool`` and ``flatten``, or only ``flatten``).
        channels: the channel list, as ints.

    Shape:
        Input: ``(B, channels[0], *spatial)`` or unbatched ``(channels[0], *spatial)``.
        Output: ``(B, channels[-1])`` with pooling, ``(B, channels[-1] * prod(spatial_out))``
        without; no ``B`` axis for an unbatched input (``nn.BatchNorm*`` refuses unbatched input).

    Raises:
        ValueError: a per-layer list whose length is not ``len(channels) - 1`` (the message
            names every length), an unknown ``layer_type`` or ``pooling``, a ``pooling`` that does
            not match the layers' dimensions, or an invalid size.
        TypeError: a value of the wrong type.

    Example:
        >>> net = HighOrderFullyConvolutionalNetwork("continuous2d", n=3, channels=[3, 8, 16], segments=2,
        ...                                          kernel_size=[3, 3], stride=[1, 2], normalization=nn.BatchNorm2d)
        >>> net(torch.rand(4, 3, 16, 16) * 2 - 1).shape
        torch.Size([4, 16])
        >>> net.output_size
        16
    """

    def __init__(
        self,
        layer_type: str | Sequence[str],
        n: int | Sequence[int],
        channels: Sequence[int],
        segments: int | Sequence[int],
        kernel_size: SizeArg | Sequence[SizeArg],
        rescale_output: bool = False,
        periodicity: float | None = None,
        normalization: ModuleFactory | None = None,
        pooling: str | None = "2d",
        stride: SizeArg | Sequence[SizeArg] | None = None,
        padding: SizeArg | str | Sequence[SizeArg | str] = 0,
        *,
        initialization: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if pooling is not None and pooling not in _REFERENCE_POOLING:
            names = ", ".join(map(repr, _REFERENCE_POOLING))
            raise ValueError(f"pooling must be one of {names} or None; got {pooling!r}")
        self.pooling = pooling
        per_layer_args = dict(layer_type=layer_type, n=n, segments=segments, kernel_size=kernel_size, stride=stride)
        options = dict(rescale_output=rescale_output, periodicity=periodicity, initialization=initialization)
        self.channels, self.model = _reference_network(
            high_order_conv_encoder,
            channels,
            {**per_layer_args, "padding": padding},
            normalization,
            global_pool=None if pooling is None else "avg",
            **options,
            device=device,
            dtype=dtype,
        )
        dims = _spatial_dims(self.model.get_submodule("stage_0.conv"), 0, None)
        if pooling is None:
            # channel and spatial axes counted from the end, so unbatched input flattens too
            self.model.add_module("flatten", nn.Flatten(start_dim=-(dims + 1)))
        elif _REFERENCE_POOLING[pooling] != dims:
            raise ValueError(f"pooling={pooling!r} does not match the layers, which are {dims}d convolutions")

    @property
    def output_size(self) -> int:
        """Features per sample of the output: ``channels[-1]``.

        Raises:
            RuntimeError: without pooling, where the size depends on the input's spatial size.
        """
        if self.pooling is None:
            raise RuntimeError(
                "without pooling the output has channels[-1] * prod(spatial_out) features, "
                "which depends on the input size"
            )
        return self.channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class HighOrderFullyDeconvolutionalNetwork(nn.Module):
    """Transposed convolutions all the way: the reference's decoder class over
    :func:`high_order_conv_decoder`.

    Layer ``i`` is a high-order transposed convolution ``channels[i] -> channels[i + 1]``,
    followed by ``normalization(channels[i + 1])`` when ``normalization`` is given. Each layer
    grows the spatial size like :class:`torch.nn.ConvTranspose2d`:
    ``(s - 1) * stride - 2 * padding + kernel_size``. To decode a latent vector ``z`` of shape
    ``(B, in_channels)``, reshape it to ``(B, in_channels, 1, 1)`` (for 2-d layers).

    Args:
        layer_type: a transposed-convolution name from
            :data:`~high_order_layers_torch.layers.CONV_TRANSPOSE_LAYERS`, or one per layer.
        n, segments, kernel_size: one value or one per layer.
        channels: input channels, then each layer's output channels (one more entry than layers).
        rescale_output, periodicity: as in :class:`HighOrderFullyConvolutionalNetwork`.
        normalization: called with a layer's output channels to build the module that follows it.
        stride: one value or one per layer; ``None`` means 1.
        padding: one value or one per layer.
        initialization: the initial link functions of every layer (see
            :func:`~high_order_layers_torch.layers.initialize_links_`); ``None`` keeps each
            layer type's default.
        device, dtype: where and in what type to create the parameters.

    Attributes:
        model: the ``nn.Sequential`` built by :func:`high_order_conv_decoder` (children
            ``stage_0`` ...).
        channels: the channel list, as ints.

    Shape:
        Input: ``(B, channels[0], *spatial)`` or unbatched ``(channels[0], *spatial)``.
        Output: ``(B, channels[-1], *spatial_out)``, no ``B`` axis for an unbatched input.

    Raises:
        ValueError, TypeError: as :class:`HighOrderFullyConvolutionalNetwork`.

    Example:
        >>> net = HighOrderFullyDeconvolutionalNetwork("continuous2d", n=3, channels=[16, 8, 3], segments=2,
        ...                                            kernel_size=4, stride=2, padding=1)
        >>> net(torch.rand(2, 16, 4, 4) * 2 - 1).shape
        torch.Size([2, 3, 16, 16])
    """

    def __init__(
        self,
        layer_type: str | Sequence[str],
        n: int | Sequence[int],
        channels: Sequence[int],
        segments: int | Sequence[int],
        kernel_size: SizeArg | Sequence[SizeArg],
        rescale_output: bool = False,
        periodicity: float | None = None,
        normalization: ModuleFactory | None = None,
        stride: SizeArg | Sequence[SizeArg] | None = None,
        padding: SizeArg | Sequence[SizeArg] = 0,
        *,
        initialization: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        per_layer_args = dict(layer_type=layer_type, n=n, segments=segments, kernel_size=kernel_size, stride=stride)
        options = dict(rescale_output=rescale_output, periodicity=periodicity, initialization=initialization)
        self.channels, self.model = _reference_network(
            high_order_conv_decoder,
            channels,
            {**per_layer_args, "padding": padding},
            normalization,
            **options,
            device=device,
            dtype=dtype,
        )

    @property
    def in_channels(self) -> int:
        """Channels of the input: ``channels[0]``."""
        return self.channels[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
