"""The ``layer_type`` names users type, resolved through one registry per layer kind."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from .._validation import check_bool, check_int
from ._init import check_initialization
from ._linear import (
    FourierSeries,
    PiecewiseDiscontinuousPolynomial,
    PiecewiseDiscontinuousPolynomialProd,
    PiecewisePolynomial,
    PiecewisePolynomialProd,
    Polynomial,
    PolynomialProd,
    Product,
)

#: The fully-connected layer classes by ``layer_type`` name, as used by :func:`high_order_fc_layers`.
FC_LAYERS: dict[str, type[nn.Module]] = {
    "continuous": PiecewisePolynomial,
    "continuous_prod": PiecewisePolynomialProd,
    "discontinuous": PiecewiseDiscontinuousPolynomial,
    "discontinuous_prod": PiecewiseDiscontinuousPolynomialProd,
    "polynomial": Polynomial,
    "polynomial_prod": PolynomialProd,
    "product": Product,
    "fourier": FourierSeries,
}


class LinearReLU(nn.Module):
    """``relu(linear(x))``: an ``nn.Linear`` (with bias) followed by a ReLU, the reference's
    ``"baseline_relu"`` fully-connected layer.

    Args:
        in_features, out_features: layer sizes (``>= 1``).
        bias: give the linear map a bias.

    Attributes:
        linear: the ``nn.Linear`` map.
        relu: the ``nn.ReLU`` after it.

    Shape:
        Input: ``(*, in_features)``. Output: ``(*, out_features)``, every entry ``>= 0``.

    Raises:
        TypeError, ValueError: for a size that is not an int ``>= 1``.

    Example:
        >>> layer = LinearReLU(3, 2)
        >>> layer(torch.randn(5, 3)).shape
        torch.Size([5, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_int("in_features", in_features, minimum=1)
        check_int("out_features", out_features, minimum=1)
        self.linear = nn.Linear(in_features, out_features, bias=check_bool("bias", bias), device=device, dtype=dtype)
        self.relu = nn.ReLU()

    @property
    def in_features(self) -> int:
        """Input size of the linear map."""
        return self.linear.in_features

    @property
    def out_features(self) -> int:
        """Output size of the linear map."""
        return self.linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.linear(x))


#: Plain (not high-order) fully-connected layers by ``layer_type`` name, for comparisons; also
#: accepted by :func:`high_order_fc_layers`, where they ignore every option but the sizes.
#: Kept apart from :data:`FC_LAYERS`, which holds only layers with link functions.
BASELINE_FC_LAYERS: dict[str, type[nn.Module]] = {
    "baseline": nn.Linear,
    "baseline_relu": LinearReLU,
}


def resolve_layer_type(layer_type: str, registry: dict[str, type[nn.Module]]) -> type[nn.Module]:
    """Look ``layer_type`` up, raising ``ValueError`` with every valid name if it is unknown."""
    try:
        return registry[layer_type]
    except (KeyError, TypeError):
        raise ValueError(f"unknown layer_type {layer_type!r}; valid names: {', '.join(sorted(registry))}") from None


def build_from_registry(registry: dict[str, type[nn.Module]], layer_type: str, **options: object) -> nn.Module:
    """Build ``registry[layer_type]`` from the options its constructor accepts; ignore the rest."""
    cls = resolve_layer_type(layer_type, registry)
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{name: value for name, value in options.items() if name in accepted})


def high_order_fc_layers(
    layer_type: str,
    n: int,
    in_features: int,
    out_features: int,
    segments: int = 2,
    *,
    alpha: float = 1.0,
    length: float = 2.0,
    rescale_output: bool = False,
    periodicity: float | None = None,
    out_of_range: str | None = None,
    initialization: str | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Build a fully-connected layer by its ``layer_type`` name: a high-order layer from
    :data:`FC_LAYERS` or a plain baseline from :data:`BASELINE_FC_LAYERS`.

    Every type takes the same keywords; a keyword a type has no use for is ignored:

    =====================  ============================================  =========================
    layer_type             layer                                         ignores
    =====================  ============================================  =========================
    ``continuous``         :class:`PiecewisePolynomial`                  alpha, length
    ``continuous_prod``    :class:`PiecewisePolynomialProd`              length, rescale_output
    ``discontinuous``      :class:`PiecewiseDiscontinuousPolynomial`     alpha, length
    ``discontinuous_prod`` :class:`PiecewiseDiscontinuousPolynomialProd` length, rescale_output
    ``polynomial``         :class:`Polynomial`                           segments, alpha, length
    ``polynomial_prod``    :class:`PolynomialProd`                       segments, length, rescale_output
    ``product``            :class:`Product`                              n, segments, length, rescale_output
    ``fourier``            :class:`FourierSeries` (``n`` frequencies)    segments, alpha
    ``baseline``           ``nn.Linear`` (with bias)                     all but the sizes
    ``baseline_relu``      :class:`LinearReLU` (Linear, then ReLU)       all but the sizes
    =====================  ============================================  =========================

    Args:
        layer_type: one of the names above.
        n: nodes per segment (polynomials) or number of frequencies (Fourier).
        in_features, out_features: layer sizes.
        segments: pieces of ``[-1, 1]`` for piecewise types.
        alpha: weight of the linear part in product neurons.
        length: half the fundamental period of Fourier series.
        rescale_output: divide sum-neuron outputs by ``in_features``.
        periodicity: mirror-fold inputs at ``+-periodicity / 2``.
        out_of_range: out-of-range policy; ``None`` keeps each type's default.
        initialization: the initial link functions (see
            :func:`~high_order_layers_torch.layers.initialize_links_`); ``None`` keeps each
            layer type's default.

    Shape:
        Input: ``(*, in_features)``. Output: ``(*, out_features)``.

    Raises:
        ValueError: for an unknown ``layer_type`` (the message lists the valid names) or any
            invalid value, ``initialization`` included, even for a type that ignores it.
        TypeError: a non-bool ``rescale_output``, even for a type that ignores it.

    Example:
        >>> layer = high_order_fc_layers("continuous", n=5, in_features=784, out_features=100, segments=4)
    """
    check_bool("rescale_output", rescale_output)  # here: types that ignore it would never see it
    if initialization is not None:  # likewise
        check_initialization(initialization)
    registry = {**FC_LAYERS, **BASELINE_FC_LAYERS}  # merged per call: sees entries added to either
    if not isinstance(layer_type, str) or layer_type not in registry:
        # the high-order names first, then the baselines
        raise ValueError(
            f"unknown layer_type {layer_type!r}; valid names: {', '.join(sorted(FC_LAYERS))}, "
            f"and the plain baselines {', '.join(sorted(BASELINE_FC_LAYERS))}"
        )
    check_int("in_features", in_features, minimum=1)  # here too: nn.Linear accepts 0 silently
    check_int("out_features", out_features, minimum=1)
    options: dict[str, object] = dict(
        n=n,
        in_features=in_features,
        out_features=out_features,
        segments=segments,
        alpha=alpha,
        length=length,
        rescale_output=rescale_output,
        periodicity=periodicity,
        initialization=initialization,
        device=device,
        dtype=dtype,
    )
    if out_of_range is not None:
        options["out_of_range"] = out_of_range
    return build_from_registry(registry, layer_type, **options)
