"""The named layer types (``PiecewisePolynomial``, ``FourierConvolution2d``...) and the registries
that give them their ``layer_type`` names.

A named type is a thin subclass of a generic layer (:class:`HighOrderLinear`,
:class:`HighOrderConvNd`, :class:`HighOrderConvTransposeNd`), as ``torch.nn.Conv2d`` is of its
base: its ``__init__`` writes out the sizes and its basis family's arguments (``n``, ``segments``,
``length``), takes the other options as ``**options: Unpack[...]`` of one of the keyword groups
below, builds the basis and calls the generic layer. Type checkers see every parameter;
:func:`_named_init` gives each ``__init__`` the runtime signature with the options written out,
and binds every call to it, so an unknown keyword raises ``TypeError`` naming the class. A
convolution is written once per family and kind; its ``1d``/``2d``/``3d`` subclasses fix the
number of spatial dimensions.

Every family of :data:`~high_order_layers_torch.bases.BASIS_FAMILIES` that the named types do not
use has types of every kind under its own name (:data:`FAMILY_FC_LAYERS`,
:data:`FAMILY_CONV_LAYERS`, :data:`FAMILY_CONV_TRANSPOSE_LAYERS`): ``"chebyshev"`` is
:class:`ChebyshevLinear`, ``"chebyshev1d"`` to ``"chebyshev3d"`` are ``ChebyshevConvolution1d``
... and ``ChebyshevConvolutionTranspose1d`` ... A family added to that table without such classes
gets generated ones, modelled on the Chebyshev types.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, Unpack

from torch import nn

from .._signatures import bind_to_signature, factory_kwargs, spell_out
from ..bases import BASIS_FAMILIES
from ..functional import Contraction, OutOfRange
from ._basis import Basis, ChebyshevBasis, FourierBasis, LinearBasis, PiecewisePolynomialBasis
from ._conv import ConvLinkOptions, HighOrderConvNd, SizeArg
from ._conv_transpose import HighOrderConvTransposeNd
from ._linear import HighOrderLinear, LinkPolicy

F = TypeVar("F", bound=Callable[..., None])
_FACTORY = ("device", "dtype")  # the layer's, passed on to its basis


@dataclass(frozen=True)
class LayerSpec:
    """Where a named layer type stands in the ``layer_type`` registries (its class attribute
    ``spec``).

    Attributes:
        family: the basis family it builds.
        name: its ``layer_type`` name (``"continuous"``); convolutions add ``"1d"``, ``"2d"`` or ``"3d"``.
    """

    family: type[Basis]
    name: str


# --------------------------------------------------------------------------- keyword groups


class SumOptions(LinkPolicy, total=False):
    """The keywords of the named fully-connected types with sum neurons (see :class:`HighOrderLinear`)."""

    rescale_output: bool


class ProductOptions(LinkPolicy, total=False):
    """The keywords of the named fully-connected types with product neurons: ``alpha``, no ``rescale_output``."""

    alpha: float


class DenseConvOptions(ConvLinkOptions, total=False):
    """The keywords of the named convolutions whose every weight is active (one polynomial, a
    Fourier series), which always contract densely: :class:`HighOrderConvNd`'s but
    ``contraction``."""

    padding: SizeArg | str


class NamedConvOptions(DenseConvOptions, total=False):
    """The keywords of the other named convolutions: ``contraction`` too."""

    contraction: Contraction


class DenseConvTransposeOptions(ConvLinkOptions, total=False):
    """:class:`DenseConvOptions` for the transposed convolutions (see :class:`HighOrderConvTransposeNd`)."""

    padding: SizeArg
    output_padding: SizeArg


class NamedConvTransposeOptions(DenseConvTransposeOptions, total=False):
    """:class:`NamedConvOptions` for the transposed convolutions."""

    contraction: Contraction


def fourier_defaults(*, out_of_range: OutOfRange = "extrapolate") -> None:
    """The Fourier types' default that differs from the generic layers': a Fourier series is
    bounded everywhere, so inputs outside ``[-1, 1]`` are extrapolated (the series simply
    continues periodically)."""


def _named_init(generic: type[nn.Module], *defaults: Callable[..., object]) -> Callable[[F], F]:
    """Decorator for a named type's ``__init__``: :func:`spell_out` its ``**options`` with the
    defaults of ``defaults``, else of the ``generic`` layer, after the family's own keywords and
    in the generic layer's order; then :func:`bind_to_signature`, so every call is checked
    against that signature and gets its defaults."""
    order = list(inspect.signature(generic).parameters)

    def decorate(init: F) -> F:
        own = [p.name for p in inspect.signature(init).parameters.values() if p.kind is p.KEYWORD_ONLY]
        first = [name for name in own if name not in order]  # the family's keywords (length)
        return bind_to_signature(spell_out(*defaults, generic, order=" ".join([*first, *order]))(init))

    return decorate


# --------------------------------------------------------------------------- fully connected


class _PiecewiseSum(HighOrderLinear):
    """Piecewise Lagrange polynomials with sum neurons, continuous as the subclass says."""

    _continuous: ClassVar[bool]

    @_named_init(HighOrderLinear)
    def __init__(
        self, in_features: int, out_features: int, n: int, segments: int = 2, **options: Unpack[SumOptions]
    ) -> None:
        basis = PiecewisePolynomialBasis(n, segments, continuous=self._continuous, **factory_kwargs(options))
        super().__init__(in_features, out_features, basis, **options)


class PiecewisePolynomial(_PiecewiseSum):
    """``layer_type="continuous"``: continuous piecewise Lagrange polynomials, sum neurons.

    Each link has ``segments * (n - 1) + 1`` weights, of which ``n`` are active for any input.
    See :class:`HighOrderLinear` for the other arguments.
    """

    spec = LayerSpec(PiecewisePolynomialBasis, "continuous")
    _continuous = True


class PiecewiseDiscontinuousPolynomial(_PiecewiseSum):
    """``layer_type="discontinuous"``: independent Lagrange polynomials per piece, sum neurons;
    the arguments of :class:`PiecewisePolynomial`.

    Each link has ``segments * n`` weights, of which ``n`` are active for any input.
    """

    spec = LayerSpec(PiecewisePolynomialBasis, "discontinuous")
    _continuous = False


class Polynomial(HighOrderLinear):
    """``layer_type="polynomial"``: one Lagrange polynomial of degree ``n - 1`` per link; the
    arguments of :class:`PiecewisePolynomial` but ``segments``."""

    spec = LayerSpec(PiecewisePolynomialBasis, "polynomial")

    @_named_init(HighOrderLinear)
    def __init__(self, in_features: int, out_features: int, n: int, **options: Unpack[SumOptions]) -> None:
        super().__init__(in_features, out_features, PiecewisePolynomialBasis(n, **factory_kwargs(options)), **options)


class FourierSeries(HighOrderLinear):
    """``layer_type="fourier"``: a Fourier series with ``n`` frequencies per link, sum neurons;
    the arguments of :class:`Polynomial` and ``length`` (half the fundamental period).

    A Fourier series is bounded everywhere, so inputs outside ``[-1, 1]`` are extrapolated by
    default (``out_of_range="extrapolate"``: the series simply continues periodically).
    """

    spec = LayerSpec(FourierBasis, "fourier")

    @_named_init(HighOrderLinear, fourier_defaults)
    def __init__(
        self, in_features: int, out_features: int, n: int, *, length: float = 2.0, **options: Unpack[SumOptions]
    ) -> None:
        super().__init__(in_features, out_features, FourierBasis(n, length, **factory_kwargs(options)), **options)


class ChebyshevLinear(HighOrderLinear):
    """``layer_type="chebyshev"``: a Chebyshev series of ``n`` polynomials per link, from
    :class:`~high_order_layers_torch.bases.ChebyshevBasis`, sum neurons; the arguments of
    :class:`Polynomial`."""

    spec = LayerSpec(ChebyshevBasis, "chebyshev")

    @_named_init(HighOrderLinear)
    def __init__(self, in_features: int, out_features: int, n: int, **options: Unpack[SumOptions]) -> None:
        super().__init__(in_features, out_features, ChebyshevBasis(n, **factory_kwargs(options)), **options)


class _PiecewiseProduct(HighOrderLinear):
    """Piecewise Lagrange polynomials with product neurons, continuous as the subclass says."""

    _continuous: ClassVar[bool]

    @_named_init(HighOrderLinear)
    def __init__(
        self, in_features: int, out_features: int, n: int, segments: int = 2, **options: Unpack[ProductOptions]
    ) -> None:
        basis = PiecewisePolynomialBasis(n, segments, continuous=self._continuous, **factory_kwargs(options))
        super().__init__(in_features, out_features, basis, neuron="product", **options)


class PiecewisePolynomialProd(_PiecewiseProduct):
    """``layer_type="continuous_prod"``: continuous piecewise polynomials, product neurons; the
    arguments of :class:`PiecewisePolynomial` with ``alpha`` instead of ``rescale_output``."""

    spec = LayerSpec(PiecewisePolynomialBasis, "continuous_prod")
    _continuous = True


class PiecewiseDiscontinuousPolynomialProd(_PiecewiseProduct):
    """``layer_type="discontinuous_prod"``: discontinuous piecewise polynomials, product neurons;
    the arguments of :class:`PiecewisePolynomialProd`."""

    spec = LayerSpec(PiecewisePolynomialBasis, "discontinuous_prod")
    _continuous = False


class PolynomialProd(HighOrderLinear):
    """``layer_type="polynomial_prod"``: one polynomial per link, product neurons; the arguments
    of :class:`PiecewisePolynomialProd` but ``segments``."""

    spec = LayerSpec(PiecewisePolynomialBasis, "polynomial_prod")

    @_named_init(HighOrderLinear)
    def __init__(self, in_features: int, out_features: int, n: int, **options: Unpack[ProductOptions]) -> None:
        basis = PiecewisePolynomialBasis(n, **factory_kwargs(options))
        super().__init__(in_features, out_features, basis, neuron="product", **options)


class Product(HighOrderLinear):
    """``layer_type="product"``: plain weights ``f_oi(x) = w_oi x`` with a product neuron and
    a bias: ``y_o = -1 + prod_i (1 + w_oi x_i) - (1 - alpha) sum_i w_oi x_i + b_o``.

    ``n`` (1) and ``segments`` do not apply.
    """

    spec = LayerSpec(LinearBasis, "product")

    @_named_init(HighOrderLinear)
    def __init__(
        self, in_features: int, out_features: int, *, bias: bool = True, **options: Unpack[ProductOptions]
    ) -> None:
        basis = LinearBasis(**factory_kwargs(options))
        super().__init__(in_features, out_features, basis, neuron="product", bias=bias, **options)


# --------------------------------------------------------------------------- convolutions


class _PiecewiseConvolution(HighOrderConvNd):
    """Continuous piecewise polynomials (discontinuous in :class:`_DiscontinuousConvolution`)."""

    spec = LayerSpec(PiecewisePolynomialBasis, "continuous")
    _continuous: ClassVar[bool] = True

    @_named_init(HighOrderConvNd)
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: SizeArg,
        n: int,
        segments: int = 2,
        **options: Unpack[NamedConvOptions],
    ) -> None:
        basis = PiecewisePolynomialBasis(n, segments, continuous=self._continuous, **factory_kwargs(options))
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)


class _DiscontinuousConvolution(_PiecewiseConvolution):
    spec = LayerSpec(PiecewisePolynomialBasis, "discontinuous")
    _continuous = False


class _PolynomialConvolution(HighOrderConvNd):
    spec = LayerSpec(PiecewisePolynomialBasis, "polynomial")

    @_named_init(HighOrderConvNd)
    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: SizeArg, n: int, **options: Unpack[DenseConvOptions]
    ) -> None:
        basis = PiecewisePolynomialBasis(n, **factory_kwargs(options))
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)


class _FourierConvolution(HighOrderConvNd):
    spec = LayerSpec(FourierBasis, "fourier")

    @_named_init(HighOrderConvNd, fourier_defaults)
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: SizeArg,
        n: int,
        *,
        length: float = 2.0,
        **options: Unpack[DenseConvOptions],
    ) -> None:
        basis = FourierBasis(n, length, **factory_kwargs(options))
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)


class _ChebyshevConvolution(HighOrderConvNd):
    spec = LayerSpec(ChebyshevBasis, "chebyshev")

    @_named_init(HighOrderConvNd)
    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: SizeArg, n: int, **options: Unpack[NamedConvOptions]
    ) -> None:
        basis = ChebyshevBasis(n, **factory_kwargs(options))
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)


class PiecewisePolynomialConvolution1d(_PiecewiseConvolution, num_spatial_dims=1):
    """``layer_type="continuous1d"``: continuous piecewise polynomials over 1 spatial dimension;
    the options of :class:`HighOrderConvNd`."""


class PiecewisePolynomialConvolution2d(_PiecewiseConvolution, num_spatial_dims=2):
    """``layer_type="continuous2d"``: :class:`PiecewisePolynomialConvolution1d` over 2 spatial dimensions."""


class PiecewisePolynomialConvolution3d(_PiecewiseConvolution, num_spatial_dims=3):
    """``layer_type="continuous3d"``: :class:`PiecewisePolynomialConvolution1d` over 3 spatial dimensions."""


class PiecewiseDiscontinuousPolynomialConvolution1d(_DiscontinuousConvolution, num_spatial_dims=1):
    """``layer_type="discontinuous1d"``: discontinuous piecewise polynomials over 1 spatial dimension;
    the arguments of :class:`PiecewisePolynomialConvolution1d`."""


class PiecewiseDiscontinuousPolynomialConvolution2d(_DiscontinuousConvolution, num_spatial_dims=2):
    """``layer_type="discontinuous2d"``: discontinuous piecewise polynomials over 2 spatial dimensions."""


class PiecewiseDiscontinuousPolynomialConvolution3d(_DiscontinuousConvolution, num_spatial_dims=3):
    """``layer_type="discontinuous3d"``: discontinuous piecewise polynomials over 3 spatial dimensions."""


class PolynomialConvolution1d(_PolynomialConvolution, num_spatial_dims=1):
    """``layer_type="polynomial1d"``: one polynomial per link over 1 spatial dimension; the
    options of :class:`HighOrderConvNd` but ``contraction``."""


class PolynomialConvolution2d(_PolynomialConvolution, num_spatial_dims=2):
    """``layer_type="polynomial2d"``: one polynomial per link over 2 spatial dimensions."""


class PolynomialConvolution3d(_PolynomialConvolution, num_spatial_dims=3):
    """``layer_type="polynomial3d"``: one polynomial per link over 3 spatial dimensions."""


class FourierConvolution1d(_FourierConvolution, num_spatial_dims=1):
    """``layer_type="fourier1d"``: Fourier series links over 1 spatial dimension; the arguments of
    :class:`PolynomialConvolution1d` and ``length``; inputs are extrapolated by default."""


class FourierConvolution2d(_FourierConvolution, num_spatial_dims=2):
    """``layer_type="fourier2d"``: Fourier series links over 2 spatial dimensions."""


class FourierConvolution3d(_FourierConvolution, num_spatial_dims=3):
    """``layer_type="fourier3d"``: Fourier series links over 3 spatial dimensions."""


class ChebyshevConvolution1d(_ChebyshevConvolution, num_spatial_dims=1):
    """``layer_type="chebyshev1d"``: Chebyshev series links over 1 spatial dimension; the
    arguments of :class:`PolynomialConvolution1d` and ``contraction``."""


class ChebyshevConvolution2d(_ChebyshevConvolution, num_spatial_dims=2):
    """``layer_type="chebyshev2d"``: Chebyshev series links over 2 spatial dimensions."""


class ChebyshevConvolution3d(_ChebyshevConvolution, num_spatial_dims=3):
    """``layer_type="chebyshev3d"``: Chebyshev series links over 3 spatial dimensions."""


# --------------------------------------------------------------------------- transposed convolutions


class _PiecewiseConvolutionTranspose(HighOrderConvTransposeNd):
    """Continuous piecewise polynomials (discontinuous in :class:`_DiscontinuousConvolutionTranspose`)."""

    spec = LayerSpec(PiecewisePolynomialBasis, "continuous")
    _continuous: ClassVar[bool] = True

    @_named_init(HighOrderConvTransposeNd)
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: SizeArg,
        n: int,
        segments: int = 2,
        **options: Unpack[NamedConvTransposeOptions],
    ) -> None:
        basis = PiecewisePolynomialBasis(n, segments, continuous=self._continuous, **factory_kwargs(options))
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)


class _DiscontinuousConvolutionTranspose(_PiecewiseConvolutionTranspose):
    spec = LayerSpec(PiecewisePolynomialBasis, "discontinuous")
    _continuous = False


class _PolynomialConvolutionTranspose(HighOrderConvTransposeNd):
    spec = LayerSpec(PiecewisePolynomialBasis, "polynomial")

    @_named_init(HighOrderConvTransposeNd)
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: SizeArg,
        n: int,
        **options: Unpack[DenseConvTransposeOptions],
    ) -> None:
        basis = PiecewisePolynomialBasis(n, **factory_kwargs(options))
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)


class _FourierConvolutionTranspose(HighOrderConvTransposeNd):
    spec = LayerSpec(FourierBasis, "fourier")

    @_named_init(HighOrderConvTransposeNd, fourier_defaults)
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: SizeArg,
        n: int,
        *,
        length: float = 2.0,
        **options: Unpack[DenseConvTransposeOptions],
    ) -> None:
        basis = FourierBasis(n, length, **factory_kwargs(options))
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)


class _ChebyshevConvolutionTranspose(HighOrderConvTransposeNd):
    spec = LayerSpec(ChebyshevBasis, "chebyshev")

    @_named_init(HighOrderConvTransposeNd)
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: SizeArg,
        n: int,
        **options: Unpack[NamedConvTransposeOptions],
    ) -> None:
        basis = ChebyshevBasis(n, **factory_kwargs(options))
        super().__init__(in_channels, out_channels, kernel_size, basis, **options)


class PiecewisePolynomialConvolutionTranspose1d(_PiecewiseConvolutionTranspose, num_spatial_dims=1):
    """``layer_type="continuous1d"``: continuous piecewise polynomials over 1 spatial dimension;
    the options of :class:`HighOrderConvTransposeNd`."""


class PiecewisePolynomialConvolutionTranspose2d(_PiecewiseConvolutionTranspose, num_spatial_dims=2):
    """``layer_type="continuous2d"``: :class:`PiecewisePolynomialConvolutionTranspose1d` over 2 dimensions."""


class PiecewisePolynomialConvolutionTranspose3d(_PiecewiseConvolutionTranspose, num_spatial_dims=3):
    """``layer_type="continuous3d"``: :class:`PiecewisePolynomialConvolutionTranspose1d` over 3 dimensions."""


class PiecewiseDiscontinuousPolynomialConvolutionTranspose1d(_DiscontinuousConvolutionTranspose, num_spatial_dims=1):
    """``layer_type="discontinuous1d"``: discontinuous piecewise polynomials over 1 spatial dimension."""


class PiecewiseDiscontinuousPolynomialConvolutionTranspose2d(_DiscontinuousConvolutionTranspose, num_spatial_dims=2):
    """``layer_type="discontinuous2d"``: discontinuous piecewise polynomials over 2 spatial dimensions."""


class PiecewiseDiscontinuousPolynomialConvolutionTranspose3d(_DiscontinuousConvolutionTranspose, num_spatial_dims=3):
    """``layer_type="discontinuous3d"``: discontinuous piecewise polynomials over 3 spatial dimensions."""


class PolynomialConvolutionTranspose1d(_PolynomialConvolutionTranspose, num_spatial_dims=1):
    """``layer_type="polynomial1d"``: one polynomial per link over 1 spatial dimension; no ``segments``
    or ``contraction``."""


class PolynomialConvolutionTranspose2d(_PolynomialConvolutionTranspose, num_spatial_dims=2):
    """``layer_type="polynomial2d"``: one polynomial per link over 2 spatial dimensions."""


class PolynomialConvolutionTranspose3d(_PolynomialConvolutionTranspose, num_spatial_dims=3):
    """``layer_type="polynomial3d"``: one polynomial per link over 3 spatial dimensions."""


class FourierConvolutionTranspose1d(_FourierConvolutionTranspose, num_spatial_dims=1):
    """``layer_type="fourier1d"``: Fourier series links over 1 spatial dimension, with ``length``;
    inputs are extrapolated by default."""


class FourierConvolutionTranspose2d(_FourierConvolutionTranspose, num_spatial_dims=2):
    """``layer_type="fourier2d"``: Fourier series links over 2 spatial dimensions."""


class FourierConvolutionTranspose3d(_FourierConvolutionTranspose, num_spatial_dims=3):
    """``layer_type="fourier3d"``: Fourier series links over 3 spatial dimensions."""


class ChebyshevConvolutionTranspose1d(_ChebyshevConvolutionTranspose, num_spatial_dims=1):
    """``layer_type="chebyshev1d"``: Chebyshev series links over 1 spatial dimension; the
    arguments of :class:`PolynomialConvolutionTranspose1d` and ``contraction``."""


class ChebyshevConvolutionTranspose2d(_ChebyshevConvolutionTranspose, num_spatial_dims=2):
    """``layer_type="chebyshev2d"``: Chebyshev series links over 2 spatial dimensions."""


class ChebyshevConvolutionTranspose3d(_ChebyshevConvolutionTranspose, num_spatial_dims=3):
    """``layer_type="chebyshev3d"``: Chebyshev series links over 3 spatial dimensions."""


# --------------------------------------------------------------------------- registries


def _layer_type(cls: Any) -> str:
    """The ``layer_type`` name of a named type: its ``spec.name``, and for a convolution its
    number of spatial dimensions (``"continuous2d"``)."""
    dims = getattr(cls, "num_spatial_dims", None)
    return cls.spec.name if dims is None else f"{cls.spec.name}{dims}d"


def _by_layer_type(*types: type[nn.Module]) -> dict[str, type[nn.Module]]:
    """``types`` by ``layer_type``; a convolution written once per family stands for its
    subclasses of fixed dimensions."""
    spatial = {cls: [sub for sub in cls.__subclasses__() if "num_spatial_dims" in vars(sub)] for cls in types}
    return {_layer_type(sub): sub for cls in types for sub in spatial[cls] or [cls]}


#: The fully-connected layer classes by ``layer_type`` name, as used by :func:`high_order_fc_layers`.
FC_LAYERS: dict[str, type[nn.Module]] = _by_layer_type(
    PiecewisePolynomial,
    PiecewisePolynomialProd,
    PiecewiseDiscontinuousPolynomial,
    PiecewiseDiscontinuousPolynomialProd,
    Polynomial,
    PolynomialProd,
    Product,
    FourierSeries,
)
#: The convolution classes by ``layer_type`` name (``continuous``, ``discontinuous``,
#: ``polynomial`` or ``fourier``, then ``1d``, ``2d`` or ``3d``), as used by
#: :func:`high_order_convolution_layers`.
CONV_LAYERS: dict[str, type[nn.Module]] = _by_layer_type(
    _PiecewiseConvolution, _DiscontinuousConvolution, _PolynomialConvolution, _FourierConvolution
)
#: The transposed-convolution classes by ``layer_type`` name (the names of :data:`CONV_LAYERS`),
#: as used by :func:`high_order_convolution_transpose_layers`.
CONV_TRANSPOSE_LAYERS: dict[str, type[nn.Module]] = _by_layer_type(
    _PiecewiseConvolutionTranspose,
    _DiscontinuousConvolutionTranspose,
    _PolynomialConvolutionTranspose,
    _FourierConvolutionTranspose,
)

# --------------------------------------------------------------------------- generated families


def _generate(model: Any, family: type[Basis], name: str) -> type[nn.Module]:
    """A type like ``model`` (a Chebyshev type) for a ``family`` registered as ``name`` without
    written classes: ``model``'s sizes and options around the family's own arguments (all of its
    constructor's but ``device`` and ``dtype``), named like ``model`` with the family's stem
    (``ChebyshevConvolution2d`` -> ``SplineConvolution2d``). Not bound to this module's globals."""
    generic = next(
        base for base in model.__mro__ if base in (HighOrderLinear, HighOrderConvNd, HighOrderConvTransposeNd)
    )
    replaced = set(inspect.signature(model.spec.family).parameters) - set(_FACTORY)
    own = [p for p in inspect.signature(model).parameters.values() if p.name not in replaced]
    settings = [p for name, p in inspect.signature(family).parameters.items() if name not in _FACTORY]
    signature = inspect.Signature(
        [
            inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
            *(p for p in [*own, *settings] if p.kind is p.POSITIONAL_OR_KEYWORD),
            *(p for p in [*settings, *own] if p.kind is p.KEYWORD_ONLY),
        ]
    )

    def __init__(self: nn.Module, *args: object, **kwargs: object) -> None:
        arguments = signature.bind(self, *args, **kwargs).arguments  # complete: bind_to_signature ran
        basis = family(**{p.name: arguments.pop(p.name) for p in settings}, **{k: arguments[k] for k in _FACTORY})
        generic.__init__(**arguments, basis=basis)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    stem = model.spec.family.__name__.removesuffix("Basis")
    cls_name = family.__name__.removesuffix("Basis") + model.__name__.removeprefix(stem)
    namespace: dict[str, object] = {"__init__": bind_to_signature(__init__), "spec": LayerSpec(family, name)}
    namespace |= {"__module__": __name__, "__qualname__": cls_name}
    if hasattr(model, "num_spatial_dims"):
        namespace["num_spatial_dims"] = model.num_spatial_dims
    cls = type(cls_name, (generic,), namespace)
    cls.__doc__ = (
        f'``layer_type="{_layer_type(cls)}"``: {family.description} per link, from '
        f":class:`~high_order_layers_torch.bases.{family.__name__}`; the options of :class:`{model.__name__}` "
        "(a generated type)."
    )
    return cls


#: The families the types above are written for.
_WRITTEN = {cls.spec.family for cls in [*FC_LAYERS.values(), *CONV_LAYERS.values(), ChebyshevLinear]}  # type: ignore[attr-defined]


def _family_layers(*models: type[nn.Module]) -> dict[str, type[nn.Module]]:
    """``models`` (the Chebyshev types of a kind) by ``layer_type``, then a type generated like
    each for every family of :data:`~high_order_layers_torch.bases.BASIS_FAMILIES` without
    written types, bound to this module's name so that pickle finds it."""
    written = _by_layer_type(*models)
    layers = dict(written)
    for name, family in BASIS_FAMILIES.items():
        for model in [] if family in _WRITTEN else written.values():
            cls = _generate(model, family, name)
            globals()[cls.__name__] = layers[_layer_type(cls)] = cls
    return layers


#: The types of the families of :data:`~high_order_layers_torch.bases.BASIS_FAMILIES` that the
#: named types above do not use, by family name (``"chebyshev"``: :class:`ChebyshevLinear`);
#: :func:`high_order_fc_layers` accepts these names.
FAMILY_FC_LAYERS = _family_layers(ChebyshevLinear)
#: Convolution types likewise (``"chebyshev2d"``: ``ChebyshevConvolution2d``), for
#: :func:`high_order_convolution_layers`.
FAMILY_CONV_LAYERS = _family_layers(_ChebyshevConvolution)
#: Transposed-convolution types likewise (``"chebyshev2d"``:
#: ``ChebyshevConvolutionTranspose2d``), for :func:`high_order_convolution_transpose_layers`.
FAMILY_CONV_TRANSPOSE_LAYERS = _family_layers(_ChebyshevConvolutionTranspose)
