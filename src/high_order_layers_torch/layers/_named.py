"""The named layer types (``PiecewisePolynomial``, ``FourierConvolution2d``...) and the registries
that give them their ``layer_type`` names.

A named type is one of the generic layers (:class:`HighOrderLinear`, :class:`HighOrderConvNd`,
:class:`HighOrderConvTransposeNd`) with a basis family chosen, and some settings fixed or
defaulted otherwise, all declared by a :class:`LayerSpec` rather than a constructor of its own.
Its signature is the generic layer's with ``basis`` replaced by the family's constructor
arguments (``n``, ``segments``, ``length``), less what the type fixes or does not offer;
``inspect.signature`` shows it, and every call is bound to it, so an unknown keyword raises
``TypeError`` as for any function.

Every family of :data:`~high_order_layers_torch.bases.BASIS_FAMILIES` without a named type here
gets generated ones, registered under the family's name (:data:`FAMILY_FC_LAYERS`,
:data:`FAMILY_CONV_LAYERS`, :data:`FAMILY_CONV_TRANSPOSE_LAYERS`): ``"chebyshev"`` gives
:class:`ChebyshevLinear`, and ``"chebyshev1d"`` to ``"chebyshev3d"`` give
``ChebyshevConvolution1d`` ... and ``ChebyshevConvolutionTranspose1d`` ...
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import nn

from ..bases import BASIS_FAMILIES
from ._basis import Basis, FourierBasis, LinearBasis, PiecewisePolynomialBasis
from ._conv import HighOrderConvNd
from ._conv_transpose import HighOrderConvTransposeNd
from ._linear import HighOrderLinear

_FACTORY = ("device", "dtype")  # the layer's, passed on to its basis


@dataclass(frozen=True)
class LayerSpec:
    """What a named layer type chooses of its generic layer.

    ``a | b`` combines two specifications (``b`` wins where both set a value), so that the
    choices of a neuron type and of a family are written once each.

    Attributes:
        family: the basis family (``None`` only in a partial specification).
        name: the family's ``layer_type`` stem (``"continuous"``; convolutions add ``"2d"``).
        fixed: constructor arguments of the basis or the generic layer that the type fixes;
            they are not in its signature.
        defaults: defaults that differ from the basis' or the generic layer's.
        keyword_only: basis arguments that the type takes by keyword only.
        unused: options of the generic layer that the type does not offer.
    """

    family: type[Basis] | None = None
    name: str = ""
    fixed: Mapping[str, object] = field(default_factory=dict)
    defaults: Mapping[str, object] = field(default_factory=dict)
    keyword_only: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()

    def __or__(self, other: LayerSpec) -> LayerSpec:
        return LayerSpec(
            family=other.family or self.family,
            name=other.name or self.name,
            fixed={**self.fixed, **other.fixed},
            defaults={**self.defaults, **other.defaults},
            keyword_only=(*self.keyword_only, *other.keyword_only),
            unused=(*self.unused, *other.unused),
        )


def basis_parameters(family: type[Basis]) -> dict[str, inspect.Parameter]:
    """The family's own constructor arguments (``device`` and ``dtype`` come from the layer)."""
    return {name: p for name, p in inspect.signature(family).parameters.items() if name not in _FACTORY}


def named_signature(generic: Callable[..., None], spec: LayerSpec) -> inspect.Signature:
    """The signature of a named type: ``generic`` (an ``__init__`` taking ``self``, the sizes,
    ``basis``, then keyword-only options) with ``basis`` replaced by the family's arguments as
    ``spec`` says.

    Raises:
        TypeError: ``spec`` names an argument that neither the layer nor the family has, or a
            family argument clashes with a layer option.
    """
    if spec.family is None:
        raise TypeError("a named layer type needs a basis family")
    layer = list(inspect.signature(generic).parameters.values())[1:]  # without self
    split = [p.name for p in layer].index("basis")
    sizes, options = layer[:split], layer[split + 1 :]
    family = basis_parameters(spec.family)
    clash = set(family) & {p.name for p in layer}
    unknown = {*spec.fixed, *spec.defaults, *spec.keyword_only} - set(family) - {p.name for p in layer}
    if clash or unknown:
        raise TypeError(
            f"{spec.family.__name__} cannot make a layer type: arguments {sorted(clash)} clash with the layer's, "
            f"{sorted(unknown)} are unknown"
        )
    basis = [p for name, p in family.items() if name not in spec.fixed]
    positional = [p for p in basis if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in spec.keyword_only]
    keyword = [p.replace(kind=p.KEYWORD_ONLY) for p in basis if p not in positional]
    offered = [p for p in options if p.name not in spec.fixed and p.name not in spec.unused]
    parameters = [*sizes, *positional, *keyword, *offered]
    return inspect.Signature([p.replace(default=spec.defaults.get(p.name, p.default)) for p in parameters])


class _NamedLayer:
    """Mixin, before the generic layer among the bases, that builds a named type's layer from
    its :class:`LayerSpec`: binds the call to :func:`named_signature`, builds the basis from the
    family's arguments and passes the rest (and what the type fixes) to the generic layer.

    Subclasses choose with class keywords: ``class T(_NamedLinear, spec=...)``, and for
    convolutions also ``num_spatial_dims=...``.
    """

    spec: ClassVar[LayerSpec]
    #: The signature calls are bound to (also ``__signature__``, unless a subclass has its own
    #: ``__init__``).
    named_signature: ClassVar[inspect.Signature]

    def __init_subclass__(
        cls, *, spec: LayerSpec | None = None, num_spatial_dims: int | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if num_spatial_dims is not None:
            cls.num_spatial_dims = num_spatial_dims  # type: ignore[attr-defined]
            spec = None if spec is None else spec | LayerSpec(unused=("num_spatial_dims",))  # fixed here
        if spec is not None:
            cls.spec = spec
            cls.named_signature = named_signature(super().__init__, spec)
        if hasattr(cls, "named_signature"):
            cls.__signature__ = None if "__init__" in vars(cls) else cls.named_signature  # type: ignore[attr-defined]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if not hasattr(cls, "named_signature"):
            raise TypeError(f"{cls.__name__} is abstract; use a named layer type")
        try:
            bound = cls.named_signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{cls.__name__}: {error}") from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        spec = cls.spec
        if spec.family is None:  # pragma: no cover - named_signature refused it when the class was made
            raise TypeError(f"{cls.__name__} has no basis family")
        family = basis_parameters(spec.family)
        settings = {name: arguments.pop(name) for name in family if name in arguments}
        settings |= {name: value for name, value in spec.fixed.items() if name in family}
        basis = spec.family(**settings, device=arguments.get("device"), dtype=arguments.get("dtype"))
        fixed = {name: value for name, value in spec.fixed.items() if name not in family}
        super().__init__(basis=basis, **arguments, **fixed)  # type: ignore[call-arg]

    @classmethod
    def default_out_of_range(cls) -> str:
        """The type's default ``out_of_range`` (``repr`` shows the policy when it differs)."""
        return cls.named_signature.parameters["out_of_range"].default


# --------------------------------------------------------------------------- the choices

#: Sum neurons: no product weight ``alpha``, no bias (every link has a constant part).
SUM = LayerSpec(fixed={"neuron": "sum"}, unused=("alpha", "bias", "contraction"))
#: Product neurons: no rescaling, no bias.
PRODUCT = LayerSpec(fixed={"neuron": "product"}, unused=("rescale_output", "bias", "contraction"))
#: Continuous piecewise Lagrange polynomials, 2 segments unless given.
CONTINUOUS = LayerSpec(PiecewisePolynomialBasis, "continuous", fixed={"continuous": True}, defaults={"segments": 2})
#: Independent Lagrange polynomials per segment, 2 segments unless given.
DISCONTINUOUS = LayerSpec(
    PiecewisePolynomialBasis, "discontinuous", fixed={"continuous": False}, defaults={"segments": 2}
)
#: One Lagrange polynomial per link: every weight is active, so no ``contraction`` to choose.
POLYNOMIAL = LayerSpec(
    PiecewisePolynomialBasis, "polynomial", fixed={"segments": 1, "continuous": True}, unused=("contraction",)
)
#: Fourier series: bounded everywhere, so inputs outside ``[-1, 1]`` are extrapolated by default.
FOURIER = LayerSpec(
    FourierBasis,
    "fourier",
    defaults={"out_of_range": "extrapolate"},
    keyword_only=("length",),
    unused=("contraction",),
)


class _NamedLinear(_NamedLayer, HighOrderLinear):
    """A named fully-connected type: :class:`HighOrderLinear` with the basis family given by its
    :class:`LayerSpec`; ``inspect.signature`` shows its arguments (see :class:`HighOrderLinear`
    for their meaning)."""


class _NamedConvNd(_NamedLayer, HighOrderConvNd):
    """A named convolution type: :class:`HighOrderConvNd` with the basis family and number of
    spatial dimensions given; ``inspect.signature`` shows its arguments (see
    :class:`HighOrderConvNd` for their meaning)."""


class _NamedConvTransposeNd(_NamedLayer, HighOrderConvTransposeNd):
    """A named transposed convolution type: :class:`HighOrderConvTransposeNd` with the basis
    family and number of spatial dimensions given; ``inspect.signature`` shows its arguments."""


# --------------------------------------------------------------------------- fully connected


class PiecewisePolynomial(_NamedLinear, spec=SUM | CONTINUOUS):
    """``layer_type="continuous"``: continuous piecewise Lagrange polynomials, sum neurons:
    ``PiecewisePolynomial(in_features, out_features, n, segments=2, *, rescale_output=False,
    out_of_range="clamp", periodicity=None, initialization=None, device=None, dtype=None)``.

    Each link has ``segments * (n - 1) + 1`` weights, of which ``n`` are active for any input.
    See :class:`HighOrderLinear` for the other arguments.
    """


class PiecewiseDiscontinuousPolynomial(_NamedLinear, spec=SUM | DISCONTINUOUS):
    """``layer_type="discontinuous"``: independent Lagrange polynomials per piece, sum neurons;
    the arguments of :class:`PiecewisePolynomial`.

    Each link has ``segments * n`` weights, of which ``n`` are active for any input.
    """


class Polynomial(_NamedLinear, spec=SUM | POLYNOMIAL):
    """``layer_type="polynomial"``: one Lagrange polynomial of degree ``n - 1`` per link; the
    arguments of :class:`PiecewisePolynomial` but ``segments``."""


class FourierSeries(_NamedLinear, spec=SUM | FOURIER):
    """``layer_type="fourier"``: a Fourier series with ``n`` frequencies per link, sum neurons;
    the arguments of :class:`Polynomial` and ``length=2.0`` (half the fundamental period).

    A Fourier series is bounded everywhere, so inputs outside ``[-1, 1]`` are extrapolated by
    default (``out_of_range="extrapolate"``: the series simply continues periodically).
    """


class PiecewisePolynomialProd(_NamedLinear, spec=PRODUCT | CONTINUOUS):
    """``layer_type="continuous_prod"``: continuous piecewise polynomials, product neurons; the
    arguments of :class:`PiecewisePolynomial` with ``alpha=1.0`` instead of ``rescale_output``."""


class PiecewiseDiscontinuousPolynomialProd(_NamedLinear, spec=PRODUCT | DISCONTINUOUS):
    """``layer_type="discontinuous_prod"``: discontinuous piecewise polynomials, product neurons;
    the arguments of :class:`PiecewisePolynomialProd`."""


class PolynomialProd(_NamedLinear, spec=PRODUCT | POLYNOMIAL):
    """``layer_type="polynomial_prod"``: one polynomial per link, product neurons; the arguments
    of :class:`PiecewisePolynomialProd` but ``segments``."""


class Product(
    _NamedLinear,
    spec=LayerSpec(
        LinearBasis, fixed={"neuron": "product"}, defaults={"bias": True}, unused=("rescale_output", "contraction")
    ),
):
    """``layer_type="product"``: plain weights ``f_oi(x) = w_oi x`` with a product neuron and
    a bias: ``y_o = -1 + prod_i (1 + w_oi x_i) - (1 - alpha) sum_i w_oi x_i + b_o``;
    ``Product(in_features, out_features, *, alpha=1.0, bias=True, out_of_range="clamp",
    periodicity=None, initialization=None, device=None, dtype=None)``.

    ``n`` (1) and ``segments`` do not apply.
    """


# --------------------------------------------------------------------------- convolutions


class PiecewisePolynomialConvolution1d(_NamedConvNd, spec=CONTINUOUS, num_spatial_dims=1):
    """``layer_type="continuous1d"``: continuous piecewise polynomials over 1 spatial dimension;
    ``(in_channels, out_channels, kernel_size, n, segments=2, *, <options of HighOrderConvNd>)``."""


class PiecewisePolynomialConvolution2d(_NamedConvNd, spec=CONTINUOUS, num_spatial_dims=2):
    """``layer_type="continuous2d"``: :class:`PiecewisePolynomialConvolution1d` over 2 spatial dimensions."""


class PiecewisePolynomialConvolution3d(_NamedConvNd, spec=CONTINUOUS, num_spatial_dims=3):
    """``layer_type="continuous3d"``: :class:`PiecewisePolynomialConvolution1d` over 3 spatial dimensions."""


class PiecewiseDiscontinuousPolynomialConvolution1d(_NamedConvNd, spec=DISCONTINUOUS, num_spatial_dims=1):
    """``layer_type="discontinuous1d"``: discontinuous piecewise polynomials over 1 spatial dimension;
    the arguments of :class:`PiecewisePolynomialConvolution1d`."""


class PiecewiseDiscontinuousPolynomialConvolution2d(_NamedConvNd, spec=DISCONTINUOUS, num_spatial_dims=2):
    """``layer_type="discontinuous2d"``: discontinuous piecewise polynomials over 2 spatial dimensions."""


class PiecewiseDiscontinuousPolynomialConvolution3d(_NamedConvNd, spec=DISCONTINUOUS, num_spatial_dims=3):
    """``layer_type="discontinuous3d"``: discontinuous piecewise polynomials over 3 spatial dimensions."""


class PolynomialConvolution1d(_NamedConvNd, spec=POLYNOMIAL, num_spatial_dims=1):
    """``layer_type="polynomial1d"``: one polynomial per link over 1 spatial dimension;
    ``(in_channels, out_channels, kernel_size, n, *, <options of HighOrderConvNd but contraction>)``."""


class PolynomialConvolution2d(_NamedConvNd, spec=POLYNOMIAL, num_spatial_dims=2):
    """``layer_type="polynomial2d"``: one polynomial per link over 2 spatial dimensions."""


class PolynomialConvolution3d(_NamedConvNd, spec=POLYNOMIAL, num_spatial_dims=3):
    """``layer_type="polynomial3d"``: one polynomial per link over 3 spatial dimensions."""


class FourierConvolution1d(_NamedConvNd, spec=FOURIER, num_spatial_dims=1):
    """``layer_type="fourier1d"``: Fourier series links over 1 spatial dimension; the arguments of
    :class:`PolynomialConvolution1d` and ``length=2.0``; inputs are extrapolated by default."""


class FourierConvolution2d(_NamedConvNd, spec=FOURIER, num_spatial_dims=2):
    """``layer_type="fourier2d"``: Fourier series links over 2 spatial dimensions."""


class FourierConvolution3d(_NamedConvNd, spec=FOURIER, num_spatial_dims=3):
    """``layer_type="fourier3d"``: Fourier series links over 3 spatial dimensions."""


# --------------------------------------------------------------------------- transposed convolutions


class PiecewisePolynomialConvolutionTranspose1d(_NamedConvTransposeNd, spec=CONTINUOUS, num_spatial_dims=1):
    """``layer_type="continuous1d"``: continuous piecewise polynomials over 1 spatial dimension;
    ``(in_channels, out_channels, kernel_size, n, segments=2, *, <options of HighOrderConvTransposeNd>)``."""


class PiecewisePolynomialConvolutionTranspose2d(_NamedConvTransposeNd, spec=CONTINUOUS, num_spatial_dims=2):
    """``layer_type="continuous2d"``: :class:`PiecewisePolynomialConvolutionTranspose1d` over 2 dimensions."""


class PiecewisePolynomialConvolutionTranspose3d(_NamedConvTransposeNd, spec=CONTINUOUS, num_spatial_dims=3):
    """``layer_type="continuous3d"``: :class:`PiecewisePolynomialConvolutionTranspose1d` over 3 dimensions."""


class PiecewiseDiscontinuousPolynomialConvolutionTranspose1d(
    _NamedConvTransposeNd, spec=DISCONTINUOUS, num_spatial_dims=1
):
    """``layer_type="discontinuous1d"``: discontinuous piecewise polynomials over 1 spatial dimension."""


class PiecewiseDiscontinuousPolynomialConvolutionTranspose2d(
    _NamedConvTransposeNd, spec=DISCONTINUOUS, num_spatial_dims=2
):
    """``layer_type="discontinuous2d"``: discontinuous piecewise polynomials over 2 spatial dimensions."""


class PiecewiseDiscontinuousPolynomialConvolutionTranspose3d(
    _NamedConvTransposeNd, spec=DISCONTINUOUS, num_spatial_dims=3
):
    """``layer_type="discontinuous3d"``: discontinuous piecewise polynomials over 3 spatial dimensions."""


class PolynomialConvolutionTranspose1d(_NamedConvTransposeNd, spec=POLYNOMIAL, num_spatial_dims=1):
    """``layer_type="polynomial1d"``: one polynomial per link over 1 spatial dimension; no ``segments``
    or ``contraction``."""


class PolynomialConvolutionTranspose2d(_NamedConvTransposeNd, spec=POLYNOMIAL, num_spatial_dims=2):
    """``layer_type="polynomial2d"``: one polynomial per link over 2 spatial dimensions."""


class PolynomialConvolutionTranspose3d(_NamedConvTransposeNd, spec=POLYNOMIAL, num_spatial_dims=3):
    """``layer_type="polynomial3d"``: one polynomial per link over 3 spatial dimensions."""


class FourierConvolutionTranspose1d(_NamedConvTransposeNd, spec=FOURIER, num_spatial_dims=1):
    """``layer_type="fourier1d"``: Fourier series links over 1 spatial dimension, with ``length=2.0``;
    inputs are extrapolated by default."""


class FourierConvolutionTranspose2d(_NamedConvTransposeNd, spec=FOURIER, num_spatial_dims=2):
    """``layer_type="fourier2d"``: Fourier series links over 2 spatial dimensions."""


class FourierConvolutionTranspose3d(_NamedConvTransposeNd, spec=FOURIER, num_spatial_dims=3):
    """``layer_type="fourier3d"``: Fourier series links over 3 spatial dimensions."""


# --------------------------------------------------------------------------- registries


def _by_layer_type(base: type[nn.Module]) -> dict[str, type[nn.Module]]:
    """The spatial types defined above on ``base``, by ``layer_type`` (``"continuous2d"``)."""
    return {f"{cls.spec.name}{cls.num_spatial_dims}d": cls for cls in base.__subclasses__()}  # type: ignore[attr-defined]


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
#: The convolution classes by ``layer_type`` name (``continuous``, ``discontinuous``,
#: ``polynomial`` or ``fourier``, then ``1d``, ``2d`` or ``3d``), as used by
#: :func:`high_order_convolution_layers`.
CONV_LAYERS: dict[str, type[nn.Module]] = _by_layer_type(_NamedConvNd)
#: The transposed-convolution classes by ``layer_type`` name (the names of :data:`CONV_LAYERS`),
#: as used by :func:`high_order_convolution_transpose_layers`.
CONV_TRANSPOSE_LAYERS: dict[str, type[nn.Module]] = _by_layer_type(_NamedConvTransposeNd)

# --------------------------------------------------------------------------- generated families

_NAMED_FAMILIES = {cls.spec.family for cls in [*FC_LAYERS.values(), *CONV_LAYERS.values()]}  # type: ignore[attr-defined]


def _generate(base: type[nn.Module], name: str, doc: str, spec: LayerSpec, **keywords: Any) -> type[nn.Module]:
    """A named type made from ``spec``, bound to this module's name ``name`` so pickle finds it."""
    namespace = {"__module__": __name__, "__qualname__": name, "__doc__": doc}
    cls = types.new_class(name, (base,), {"spec": spec, **keywords}, lambda body: body.update(namespace))
    globals()[name] = cls
    return cls


def _family_layers(
    base: type[nn.Module], kind: str, spec: LayerSpec = LayerSpec(), *, spatial: bool
) -> dict[str, type[nn.Module]]:
    """The generated types of ``kind`` (``"Linear"``, ``"Convolution"``...) for every family of
    :data:`~high_order_layers_torch.bases.BASIS_FAMILIES` without a named type."""
    layers: dict[str, type[nn.Module]] = {}
    for name, family in BASIS_FAMILIES.items():
        if family in _NAMED_FAMILIES:
            continue
        stem = family.__name__.removesuffix("Basis")
        family_spec = spec | LayerSpec(family, name)
        about = f"{family.description} per link, from :class:`~high_order_layers_torch.bases.{family.__name__}`"
        if not spatial:
            doc = f'``layer_type="{name}"``: {about}, sum neurons (a generated type).'
            layers[name] = _generate(base, f"{stem}{kind}", doc, family_spec)
            continue
        for dims in (1, 2, 3):
            doc = f'``layer_type="{name}{dims}d"``: {about}, over {dims} spatial dimension(s) (a generated type).'
            layers[f"{name}{dims}d"] = _generate(base, f"{stem}{kind}{dims}d", doc, family_spec, num_spatial_dims=dims)
    return layers


#: Fully-connected types generated for the families of
#: :data:`~high_order_layers_torch.bases.BASIS_FAMILIES` that have no named type, by family name
#: (``"chebyshev"``: :class:`ChebyshevLinear`); :func:`high_order_fc_layers` accepts these names.
FAMILY_FC_LAYERS = _family_layers(_NamedLinear, "Linear", SUM, spatial=False)
#: Convolution types generated likewise (``"chebyshev2d"``: ``ChebyshevConvolution2d``), for
#: :func:`high_order_convolution_layers`.
FAMILY_CONV_LAYERS = _family_layers(_NamedConvNd, "Convolution", spatial=True)
#: Transposed-convolution types generated likewise (``"chebyshev2d"``:
#: ``ChebyshevConvolutionTranspose2d``), for :func:`high_order_convolution_transpose_layers`.
FAMILY_CONV_TRANSPOSE_LAYERS = _family_layers(_NamedConvTransposeNd, "ConvolutionTranspose", spatial=True)

# The generated types of today's families by name, for static tools (``_generate`` binds every one).
ChebyshevLinear = FAMILY_FC_LAYERS["chebyshev"]
ChebyshevConvolution1d = FAMILY_CONV_LAYERS["chebyshev1d"]
ChebyshevConvolution2d = FAMILY_CONV_LAYERS["chebyshev2d"]
ChebyshevConvolution3d = FAMILY_CONV_LAYERS["chebyshev3d"]
ChebyshevConvolutionTranspose1d = FAMILY_CONV_TRANSPOSE_LAYERS["chebyshev1d"]
ChebyshevConvolutionTranspose2d = FAMILY_CONV_TRANSPOSE_LAYERS["chebyshev2d"]
ChebyshevConvolutionTranspose3d = FAMILY_CONV_TRANSPOSE_LAYERS["chebyshev3d"]
