"""The ``layer_type`` names users type, resolved through one registry per layer kind."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from .._validation import check_bool
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
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> nn.Module:
    """Build a fully-connected high-order layer by its ``layer_type`` name.

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

    Raises:
        ValueError: for an unknown ``layer_type`` (the message lists the valid names) or any
            invalid value.
        TypeError: a non-bool ``rescale_output``, even for a type that ignores it.

    Example:
        >>> layer = high_order_fc_layers("continuous", n=5, in_features=784, out_features=100, segments=4)
    """
    check_bool("rescale_output", rescale_output)  # here: types that ignore it would never see it
    options: dict[str, object] = dict(
        n=n,
        in_features=in_features,
        out_features=out_features,
        segments=segments,
        alpha=alpha,
        length=length,
        rescale_output=rescale_output,
        periodicity=periodicity,
        device=device,
        dtype=dtype,
    )
    if out_of_range is not None:
        options["out_of_range"] = out_of_range
    return build_from_registry(FC_LAYERS, layer_type, **options)
