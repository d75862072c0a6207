"""The ``layer_type`` names users type, resolved through one registry per layer kind."""

from __future__ import annotations

import inspect
from collections import ChainMap
from collections.abc import Mapping
from typing import Unpack

import torch
from torch import nn

from .._signatures import FactoryKwargs, factory_defaults, spell_out
from .._validation import check_bool, check_int
from ._init import check_initialization
from ._linear import HighOrderLinear
from ._named import FAMILY_FC_LAYERS, FC_LAYERS
from ._options import BUILDER_ORDER, FCOptions, builder_defaults


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

    @spell_out(factory_defaults)
    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, **factory: Unpack[FactoryKwargs]
    ) -> None:
        super().__init__()
        check_int("in_features", in_features, minimum=1)
        check_int("out_features", out_features, minimum=1)
        self.linear = nn.Linear(in_features, out_features, bias=check_bool("bias", bias), **factory)
        self.relu = nn.ReLU()

    in_features = property(lambda self: self.linear.in_features, doc="Input size of the linear map.")
    out_features = property(lambda self: self.linear.out_features, doc="Output size of the linear map.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.linear(x))


#: Plain (not high-order) fully-connected layers by ``layer_type`` name, for comparisons; also
#: accepted by :func:`high_order_fc_layers`, where they ignore every option but the sizes.
#: Kept apart from :data:`FC_LAYERS`, which holds only layers with link functions.
BASELINE_FC_LAYERS: dict[str, type[nn.Module]] = {
    "baseline": nn.Linear,
    "baseline_relu": LinearReLU,
}


def resolve_layer_type(layer_type: str, registry: Mapping[str, type[nn.Module]]) -> type[nn.Module]:
    """Look ``layer_type`` up, raising ``ValueError`` with every valid name if it is unknown (a
    ``ChainMap`` lists its registries' names one registry after the other)."""
    if isinstance(layer_type, str) and layer_type in registry:
        return registry[layer_type]
    groups = registry.maps if isinstance(registry, ChainMap) else [registry]
    names = "; ".join(", ".join(sorted(group)) for group in groups if group)
    raise ValueError(f"unknown layer_type {layer_type!r}; valid names: {names}")


def keywords(cls: type) -> set[str] | None:
    """The keywords ``cls(...)`` takes, or ``None`` when it takes any (``**kwargs``)."""
    parameters = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind is not p.VAR_POSITIONAL}


def build_from_registry(registry: Mapping[str, type[nn.Module]], layer_type: str, **options: object) -> nn.Module:
    """Build ``registry[layer_type]`` from ``options``.

    One set of options serves every type of the registry: an option that the chosen type does
    not take is dropped when another type of the registry takes it (``segments`` for a Fourier
    series), so the ``high_order_*_layers`` helpers pass all of theirs.

    Raises:
        ValueError: an unknown ``layer_type`` (the message lists the valid names).
        TypeError: an option that no type of the registry takes (a misspelling), naming it and
            the accepted ones.
    """
    cls = resolve_layer_type(layer_type, registry)
    known: set[str] = set()
    for other in registry.values():
        taken = keywords(other)
        if taken is None:
            break
        known |= taken
    else:
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(
                f"unknown keyword argument(s) {', '.join(unknown)}: no layer type of this registry takes them; "
                f"accepted: {', '.join(sorted(known))}"
            )
    accepted = keywords(cls)
    return cls(**{name: value for name, value in options.items() if accepted is None or name in accepted})


def build_checked(registry: Mapping[str, type[nn.Module]], layer_type: str, **options: object) -> nn.Module:
    """:func:`build_from_registry` for the ``high_order_*_layers`` helpers, after the checks they
    owe the types that drop an option or do not check it: ``bias`` and ``rescale_output`` are
    bools and ``initialization`` a scheme even for a type that ignores them, sizes are ``>= 1``
    even for ``nn.Linear`` (which accepts 0); ``out_of_range=None`` keeps each type's default.
    An unknown ``layer_type`` is reported first."""
    resolve_layer_type(layer_type, registry)
    for flag in ("bias", "rescale_output"):
        if flag in options:
            check_bool(flag, options[flag])
    if options.get("initialization") is not None:
        check_initialization(options["initialization"])  # type: ignore[arg-type]
    for size in ("in_features", "out_features"):
        if size in options:
            check_int(size, options[size], minimum=1)
    if options.get("out_of_range", "") is None:
        del options["out_of_range"]
    return build_from_registry(registry, layer_type, **options)


@spell_out(builder_defaults, HighOrderLinear, order=BUILDER_ORDER)
def high_order_fc_layers(
    layer_type: str, n: int, in_features: int, out_features: int, segments: int = 2, **options: Unpack[FCOptions]
) -> nn.Module:
    """Build a fully-connected layer by its ``layer_type`` name: a high-order layer from
    :data:`FC_LAYERS` or :data:`FAMILY_FC_LAYERS`, or a plain baseline from
    :data:`BASELINE_FC_LAYERS`.

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
    ``chebyshev``          :class:`ChebyshevLinear` (``n`` polynomials)  segments, alpha, length
    ``bspline``            ``BSplineLinear`` (order ``n`` B-splines)     alpha, length
    ``baseline``           ``nn.Linear`` (with bias)                     all but the sizes
    ``baseline_relu``      :class:`LinearReLU` (Linear, then ReLU)       all but the sizes
    =====================  ============================================  =========================

    Every other family of :data:`~high_order_layers_torch.bases.BASIS_FAMILIES` is there by
    its name too (:data:`FAMILY_FC_LAYERS`, sum neurons), its basis built from the keywords
    its constructor takes.

    Args:
        layer_type: one of the names above.
        n: nodes per segment (polynomials), number of frequencies (Fourier), polynomials
            (Chebyshev) or the order of the splines (B-splines).
        in_features, out_features: layer sizes.
        segments: pieces of ``[-1, 1]`` for piecewise and B-spline types.
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
        TypeError: a non-bool ``rescale_output``, even for a type that ignores it, or an
            unknown keyword.

    Example:
        >>> layer = high_order_fc_layers("continuous", n=5, in_features=784, out_features=100, segments=4)
    """
    sizes = dict(n=n, in_features=in_features, out_features=out_features, segments=segments)
    # the ChainMap is a view, so it sees entries added later
    return build_checked(ChainMap(FC_LAYERS, FAMILY_FC_LAYERS, BASELINE_FC_LAYERS), layer_type, **sizes, **options)
