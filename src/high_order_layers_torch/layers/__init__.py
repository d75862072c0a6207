"""Layers whose connections are learnable 1-D functions, and the ``layer_type`` helpers."""

from ._basis import Basis as Basis
from ._basis import BasisLayer as BasisLayer
from ._basis import ChebyshevBasis as ChebyshevBasis
from ._basis import FourierBasis as FourierBasis
from ._basis import LinearBasis as LinearBasis
from ._basis import PiecewisePolynomialBasis as PiecewisePolynomialBasis
from ._conv import HighOrderConv1d as HighOrderConv1d
from ._conv import HighOrderConv2d as HighOrderConv2d
from ._conv import HighOrderConv3d as HighOrderConv3d
from ._conv import HighOrderConvNd as HighOrderConvNd
from ._conv_registry import high_order_convolution_layers as high_order_convolution_layers
from ._conv_registry import high_order_convolution_transpose_layers as high_order_convolution_transpose_layers
from ._conv_transpose import HighOrderConvTranspose1d as HighOrderConvTranspose1d
from ._conv_transpose import HighOrderConvTranspose2d as HighOrderConvTranspose2d
from ._conv_transpose import HighOrderConvTranspose3d as HighOrderConvTranspose3d
from ._conv_transpose import HighOrderConvTransposeNd as HighOrderConvTransposeNd
from ._embedding import POSITIONAL_EMBEDDINGS as POSITIONAL_EMBEDDINGS
from ._embedding import FourierEmbedding as FourierEmbedding
from ._embedding import PiecewiseEmbedding as PiecewiseEmbedding
from ._embedding import PositionalEmbedding as PositionalEmbedding
from ._embedding import SinusoidalEmbedding as SinusoidalEmbedding
from ._embedding import positional_embedding as positional_embedding
from ._init import DEFAULT_INITIALIZATION as DEFAULT_INITIALIZATION
from ._init import INITIALIZATIONS as INITIALIZATIONS
from ._init import Initialization as Initialization
from ._init import initialize_links_ as initialize_links_
from ._linear import HighOrderLinear as HighOrderLinear
from ._named import CONV_LAYERS as CONV_LAYERS
from ._named import CONV_TRANSPOSE_LAYERS as CONV_TRANSPOSE_LAYERS
from ._named import FAMILY_CONV_LAYERS as FAMILY_CONV_LAYERS
from ._named import FAMILY_CONV_TRANSPOSE_LAYERS as FAMILY_CONV_TRANSPOSE_LAYERS
from ._named import FAMILY_FC_LAYERS as FAMILY_FC_LAYERS
from ._named import FC_LAYERS as FC_LAYERS
from ._named import ChebyshevConvolution1d as ChebyshevConvolution1d
from ._named import ChebyshevConvolution2d as ChebyshevConvolution2d
from ._named import ChebyshevConvolution3d as ChebyshevConvolution3d
from ._named import ChebyshevConvolutionTranspose1d as ChebyshevConvolutionTranspose1d
from ._named import ChebyshevConvolutionTranspose2d as ChebyshevConvolutionTranspose2d
from ._named import ChebyshevConvolutionTranspose3d as ChebyshevConvolutionTranspose3d
from ._named import ChebyshevLinear as ChebyshevLinear
from ._named import FourierConvolution1d as FourierConvolution1d
from ._named import FourierConvolution2d as FourierConvolution2d
from ._named import FourierConvolution3d as FourierConvolution3d
from ._named import FourierConvolutionTranspose1d as FourierConvolutionTranspose1d
from ._named import FourierConvolutionTranspose2d as FourierConvolutionTranspose2d
from ._named import FourierConvolutionTranspose3d as FourierConvolutionTranspose3d
from ._named import FourierSeries as FourierSeries
from ._named import LayerSpec as LayerSpec
from ._named import PiecewiseDiscontinuousPolynomial as PiecewiseDiscontinuousPolynomial
from ._named import PiecewiseDiscontinuousPolynomialConvolution1d as PiecewiseDiscontinuousPolynomialConvolution1d
from ._named import PiecewiseDiscontinuousPolynomialConvolution2d as PiecewiseDiscontinuousPolynomialConvolution2d
from ._named import PiecewiseDiscontinuousPolynomialConvolution3d as PiecewiseDiscontinuousPolynomialConvolution3d
from ._named import (
    PiecewiseDiscontinuousPolynomialConvolutionTranspose1d as PiecewiseDiscontinuousPolynomialConvolutionTranspose1d,
)
from ._named import (
    PiecewiseDiscontinuousPolynomialConvolutionTranspose2d as PiecewiseDiscontinuousPolynomialConvolutionTranspose2d,
)
from ._named import (
    PiecewiseDiscontinuousPolynomialConvolutionTranspose3d as PiecewiseDiscontinuousPolynomialConvolutionTranspose3d,
)
from ._named import PiecewiseDiscontinuousPolynomialProd as PiecewiseDiscontinuousPolynomialProd
from ._named import PiecewisePolynomial as PiecewisePolynomial
from ._named import PiecewisePolynomialConvolution1d as PiecewisePolynomialConvolution1d
from ._named import PiecewisePolynomialConvolution2d as PiecewisePolynomialConvolution2d
from ._named import PiecewisePolynomialConvolution3d as PiecewisePolynomialConvolution3d
from ._named import PiecewisePolynomialConvolutionTranspose1d as PiecewisePolynomialConvolutionTranspose1d
from ._named import PiecewisePolynomialConvolutionTranspose2d as PiecewisePolynomialConvolutionTranspose2d
from ._named import PiecewisePolynomialConvolutionTranspose3d as PiecewisePolynomialConvolutionTranspose3d
from ._named import PiecewisePolynomialProd as PiecewisePolynomialProd
from ._named import Polynomial as Polynomial
from ._named import PolynomialConvolution1d as PolynomialConvolution1d
from ._named import PolynomialConvolution2d as PolynomialConvolution2d
from ._named import PolynomialConvolution3d as PolynomialConvolution3d
from ._named import PolynomialConvolutionTranspose1d as PolynomialConvolutionTranspose1d
from ._named import PolynomialConvolutionTranspose2d as PolynomialConvolutionTranspose2d
from ._named import PolynomialConvolutionTranspose3d as PolynomialConvolutionTranspose3d
from ._named import PolynomialProd as PolynomialProd
from ._named import Product as Product
from ._normalization import MaxAbsNormalization as MaxAbsNormalization
from ._normalization import MaxCenterNormalization as MaxCenterNormalization
from ._normalization import MirrorPeriodic as MirrorPeriodic
from ._registry import BASELINE_FC_LAYERS as BASELINE_FC_LAYERS
from ._registry import LinearReLU as LinearReLU
from ._registry import high_order_fc_layers as high_order_fc_layers

__all__ = [
    "DEFAULT_INITIALIZATION",
    "INITIALIZATIONS",
    "Initialization",
    "initialize_links_",
    "FourierConvolution1d",
    "FourierConvolution2d",
    "FourierConvolution3d",
    "HighOrderConv1d",
    "HighOrderConv2d",
    "HighOrderConv3d",
    "HighOrderConvNd",
    "PiecewiseDiscontinuousPolynomialConvolution1d",
    "PiecewiseDiscontinuousPolynomialConvolution2d",
    "PiecewiseDiscontinuousPolynomialConvolution3d",
    "PiecewisePolynomialConvolution1d",
    "PiecewisePolynomialConvolution2d",
    "PiecewisePolynomialConvolution3d",
    "PolynomialConvolution1d",
    "PolynomialConvolution2d",
    "PolynomialConvolution3d",
    "CONV_LAYERS",
    "CONV_TRANSPOSE_LAYERS",
    "high_order_convolution_layers",
    "high_order_convolution_transpose_layers",
    "FourierConvolutionTranspose1d",
    "FourierConvolutionTranspose2d",
    "FourierConvolutionTranspose3d",
    "HighOrderConvTranspose1d",
    "HighOrderConvTranspose2d",
    "HighOrderConvTranspose3d",
    "HighOrderConvTransposeNd",
    "PiecewiseDiscontinuousPolynomialConvolutionTranspose1d",
    "PiecewiseDiscontinuousPolynomialConvolutionTranspose2d",
    "PiecewiseDiscontinuousPolynomialConvolutionTranspose3d",
    "PiecewisePolynomialConvolutionTranspose1d",
    "PiecewisePolynomialConvolutionTranspose2d",
    "PiecewisePolynomialConvolutionTranspose3d",
    "PolynomialConvolutionTranspose1d",
    "PolynomialConvolutionTranspose2d",
    "PolynomialConvolutionTranspose3d",
    "FC_LAYERS",
    "ChebyshevLinear",
    "ChebyshevConvolution1d",
    "ChebyshevConvolution2d",
    "ChebyshevConvolution3d",
    "ChebyshevConvolutionTranspose1d",
    "ChebyshevConvolutionTranspose2d",
    "ChebyshevConvolutionTranspose3d",
    "FAMILY_CONV_LAYERS",
    "FAMILY_CONV_TRANSPOSE_LAYERS",
    "FAMILY_FC_LAYERS",
    "LayerSpec",
    "BASELINE_FC_LAYERS",
    "LinearReLU",
    "Basis",
    "BasisLayer",
    "ChebyshevBasis",
    "FourierBasis",
    "FourierEmbedding",
    "FourierSeries",
    "HighOrderLinear",
    "LinearBasis",
    "MaxAbsNormalization",
    "MaxCenterNormalization",
    "MirrorPeriodic",
    "PiecewiseDiscontinuousPolynomial",
    "PiecewiseEmbedding",
    "PiecewiseDiscontinuousPolynomialProd",
    "PiecewisePolynomial",
    "PiecewisePolynomialBasis",
    "PiecewisePolynomialProd",
    "Polynomial",
    "PolynomialProd",
    "POSITIONAL_EMBEDDINGS",
    "PositionalEmbedding",
    "Product",
    "SinusoidalEmbedding",
    "high_order_fc_layers",
    "positional_embedding",
]

# The types generated for the families without written classes (``BSplineLinear``,
# ``BSplineConvolution2d``, ...; see ``_named``) are public under their generated names too, so a
# family added to BASIS_FAMILIES needs no line here. Type checkers do not see these names.
for _registry in (FAMILY_FC_LAYERS, FAMILY_CONV_LAYERS, FAMILY_CONV_TRANSPOSE_LAYERS):
    for _cls in _registry.values():
        if _cls.__name__ not in globals():
            globals()[_cls.__name__] = _cls
            __all__.append(_cls.__name__)
del _registry, _cls
