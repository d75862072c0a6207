"""Layers whose connections are learnable 1-D functions, and the ``layer_type`` helpers."""

from ._basis import Basis as Basis
from ._basis import FourierBasis as FourierBasis
from ._basis import LinearBasis as LinearBasis
from ._basis import PiecewisePolynomialBasis as PiecewisePolynomialBasis
from ._linear import FourierSeries as FourierSeries
from ._linear import HighOrderLinear as HighOrderLinear
from ._linear import PiecewiseDiscontinuousPolynomial as PiecewiseDiscontinuousPolynomial
from ._linear import PiecewiseDiscontinuousPolynomialProd as PiecewiseDiscontinuousPolynomialProd
from ._linear import PiecewisePolynomial as PiecewisePolynomial
from ._linear import PiecewisePolynomialProd as PiecewisePolynomialProd
from ._linear import Polynomial as Polynomial
from ._linear import PolynomialProd as PolynomialProd
from ._linear import Product as Product
from ._normalization import MaxAbsNormalization as MaxAbsNormalization
from ._normalization import MaxCenterNormalization as MaxCenterNormalization
from ._normalization import MirrorPeriodic as MirrorPeriodic
from ._registry import FC_LAYERS as FC_LAYERS
from ._registry import high_order_fc_layers as high_order_fc_layers

__all__ = [
    "FC_LAYERS",
    "Basis",
    "FourierBasis",
    "FourierSeries",
    "HighOrderLinear",
    "LinearBasis",
    "MaxAbsNormalization",
    "MaxCenterNormalization",
    "MirrorPeriodic",
    "PiecewiseDiscontinuousPolynomial",
    "PiecewiseDiscontinuousPolynomialProd",
    "PiecewisePolynomial",
    "PiecewisePolynomialBasis",
    "PiecewisePolynomialProd",
    "Polynomial",
    "PolynomialProd",
    "Product",
    "high_order_fc_layers",
]
