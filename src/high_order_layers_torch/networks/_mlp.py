"""Multi-layer perceptrons of high-order fully-connected layers."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Unpack

import torch
from torch import Tensor, nn

from .._signatures import same_arguments_as, spell_out
from .._validation import check_int
from ..layers import HighOrderLinear, high_order_fc_layers
from ..layers._options import FCOptions, builder_defaults
from ._blocks import ModuleFactory, Residual, check_dropout, pre_layer_parts


@spell_out(builder_defaults, HighOrderLinear)
def high_order_mlp(
    layer_type: str,
    n: int,
    in_width: int,
    out_width: int,
    hidden_layers: int,
    hidden_width: int,
    *,
    segments: int = 2,
    in_segments: int | None = None,
    hidden_segments: int | None = None,
    out_segments: int | None = None,
    n_in: int | None = None,
    n_hidden: int | None = None,
    n_out: int | None = None,
    normalization: ModuleFactory | None = None,
    non_linearity: ModuleFactory | None = None,
    dropout: float = 0.0,
    resnet: bool = False,
    **options: Unpack[FCOptions],
) -> nn.Sequential:
    """Build a stack of high-order fully-connected layers of one ``layer_type``.

    The network is ``input`` (``in_width -> hidden_width``), then ``hidden_layers`` blocks
    ``hidden_i`` (``hidden_width -> hidden_width``), then ``output``
    (``hidden_width -> out_width``): ``hidden_layers + 2`` high-order layers in all. Every block
    after the input layer runs ``normalization -> non_linearity -> dropout -> layer``, each
    part present only when asked for. With ``resnet=True`` every hidden block becomes
    ``x + block(x)`` (:class:`Residual`); the input and output layers change the width, so
    they are never residual.

    Args:
        layer_type: a name from :data:`~high_order_layers_torch.layers.FC_LAYERS`, or a plain
            baseline from :data:`~high_order_layers_torch.layers.BASELINE_FC_LAYERS` (``"baseline"``,
            ``"baseline_relu"``), which ignores ``n``, ``segments`` and the layer options.
        n: nodes per segment (polynomials) or frequencies (Fourier) of every layer, unless
            ``n_in`` / ``n_hidden`` / ``n_out`` override it for the input / hidden / output layers.
        in_width, out_width: network input and output sizes.
        hidden_layers: number of hidden-to-hidden blocks (``>= 0``).
        hidden_width: width of every hidden representation.
        segments: pieces per link of every piecewise layer, unless ``in_segments`` /
            ``hidden_segments`` / ``out_segments`` override it.
        normalization: called with no arguments to build each normalisation module (for
            example :class:`~high_order_layers_torch.layers.MaxAbsNormalization` or
            ``functools.partial(nn.LayerNorm, hidden_width)``); a module instance is copied.
        non_linearity: called with no arguments to build each activation (for example
            ``nn.ReLU``); usually unnecessary, the links are non-linear already.
        dropout: probability of an ``nn.Dropout`` before each hidden and output layer; 0 adds none.
        resnet: make hidden blocks residual.
        rescale_output, periodicity, out_of_range, alpha, length: passed to every layer (see
            :func:`~high_order_layers_torch.layers.high_order_fc_layers`).
        initialization: the initial link functions of every layer (see
            :func:`~high_order_layers_torch.layers.initialize_links_`); ``None`` keeps each
            layer type's default.

    Shape:
        Input: ``(*, in_width)``. Output: ``(*, out_width)``. With a per-sample ``normalization``
        (``MaxAbsNormalization``, ``MaxCenterNormalization``), which reads the first axis as
        the batch, only ``(B, in_width)`` gives per-sample results.

    Raises:
        ValueError: for an unknown ``layer_type``, a size below its minimum or ``dropout``
            outside ``[0, 1)``.
        TypeError: for a non-int size or a factory that does not produce a module.

    Example:
        >>> net = high_order_mlp("continuous", n=3, in_width=2, out_width=1, hidden_layers=1, hidden_width=8)
        >>> net(torch.rand(5, 2) * 2 - 1).shape
        torch.Size([5, 1])
    """
    check_int("in_width", in_width, minimum=1)
    check_int("out_width", out_width, minimum=1)
    check_int("hidden_width", hidden_width, minimum=1)
    check_int("hidden_layers", hidden_layers, minimum=0)
    dropout = check_dropout(dropout)
    if not isinstance(resnet, bool):
        raise TypeError(f"resnet must be a bool, got {resnet!r}")

    def layer(width_in: int, width_out: int, n_layer: int | None, segments_layer: int | None) -> nn.Module:
        return high_order_fc_layers(
            layer_type,
            n=n if n_layer is None else n_layer,
            in_features=width_in,
            out_features=width_out,
            segments=segments if segments_layer is None else segments_layer,
            **options,
        )

    def block(width_in: int, width_out: int, n_layer: int | None, segments_layer: int | None) -> nn.Sequential:
        device, dtype = options.get("device"), options.get("dtype")
        parts = pre_layer_parts(normalization, non_linearity, dropout, device=device, dtype=dtype)
        parts["layer"] = layer(width_in, width_out, n_layer, segments_layer)
        return nn.Sequential(parts)

    modules: OrderedDict[str, nn.Module] = OrderedDict()
    modules["input"] = layer(in_width, hidden_width, n_in, in_segments)
    for index in range(hidden_layers):
        hidden = block(hidden_width, hidden_width, n_hidden, hidden_segments)
        modules[f"hidden_{index}"] = Residual(hidden) if resnet else hidden
    modules["output"] = block(hidden_width, out_width, n_out, out_segments)
    return nn.Sequential(modules)


class HighOrderMLP(nn.Module):
    """A high-order multi-layer perceptron: :func:`high_order_mlp` under the reference's name.

    Takes exactly the arguments of :func:`high_order_mlp` and keeps the built network as
    ``self.model`` (an ``nn.Sequential`` with children ``input``, ``hidden_0`` ...,
    ``output``).

    Shape:
        Input: ``(*, in_width)``. Output: ``(*, out_width)``.

    Example:
        >>> net = HighOrderMLP("discontinuous", n=3, in_width=2, out_width=1, hidden_layers=2, hidden_width=8,
        ...                    segments=4, normalization=MaxAbsNormalization, resnet=True)
        >>> net(torch.rand(5, 2) * 2 - 1).shape
        torch.Size([5, 1])
    """

    @same_arguments_as(high_order_mlp)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.model = high_order_mlp(*args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class LowOrderMLP(nn.Module):
    """A plain ``nn.Linear`` multi-layer perceptron under the reference's name, for comparing
    high-order networks with a conventional one.

    The network is ``Linear(in_width, hidden_width)``, then ``hidden_layers`` blocks
    ``normalization -> non_linearity -> Linear(hidden_width, hidden_width)``, then
    ``normalization -> non_linearity -> Linear(hidden_width, out_width)``; every ``Linear`` has a
    bias and each normalisation or activation is present only when given. It is
    :func:`high_order_mlp` with ``layer_type="baseline"``, so it has the same layout as
    :class:`HighOrderMLP`: ``self.model`` is an ``nn.Sequential`` with children ``input``,
    ``hidden_0`` ..., ``output``.

    Args:
        in_width, out_width: network input and output sizes (``>= 1``).
        hidden_layers: number of hidden-to-hidden blocks (``>= 0``).
        hidden_width: width of every hidden representation (``>= 1``).
        non_linearity: the activation, as a module instance (``nn.ReLU()``, as in the reference)
            or a class / callable with no arguments (``nn.ReLU``). An instance is deep-copied to
            every position, so a parameterised activation (``nn.PReLU()``) gets its own
            parameters in each block. Without one the network is a single affine map.
        normalization: called with no arguments to build each normalisation (for example
            ``functools.partial(nn.LayerNorm, hidden_width)``); a module instance is copied.
        device, dtype: where and in what type to create the parameters.

    Attributes:
        model: the ``nn.Sequential`` built by :func:`high_order_mlp`.

    Shape:
        Input: ``(*, in_width)``. Output: ``(*, out_width)``.

    Raises:
        TypeError: a size that is not an int, or a ``non_linearity`` / ``normalization`` that
            does not give a module.
        ValueError: a width below 1 or a negative ``hidden_layers``.

    Example:
        >>> net = LowOrderMLP(in_width=2, out_width=1, hidden_layers=2, hidden_width=16, non_linearity=nn.ReLU())
        >>> net(torch.randn(5, 2)).shape
        torch.Size([5, 1])
    """

    def __init__(
        self,
        in_width: int,
        out_width: int,
        hidden_layers: int,
        hidden_width: int,
        non_linearity: ModuleFactory | None = None,
        normalization: ModuleFactory | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.model = high_order_mlp(
            "baseline",
            1,  # ignored by the baseline layer
            in_width,
            out_width,
            hidden_layers,
            hidden_width,
            normalization=normalization,
            non_linearity=non_linearity,
            device=device,
            dtype=dtype,
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
