"""Families of link functions, each one module implementing the :class:`Basis` protocol.

:data:`BASIS_FAMILIES` names them for the layer helpers: ``high_order_fc_layers("chebyshev", ...)``
and ``high_order_convolution_layers("chebyshev2d", ...)`` build a layer of any family listed
here, and refinement, export, pruning and plots work through the protocol alone.
"""

from ._base import Basis as Basis
from ._base import ClosedForm as ClosedForm
from ._base import ConfigValue as ConfigValue
from ._base import FourierTerms as FourierTerms
from ._base import PolynomialPieces as PolynomialPieces
from ._base import zero_derivative as zero_derivative
from ._bspline import BSplineBasis as BSplineBasis
from ._chebyshev import ChebyshevBasis as ChebyshevBasis
from ._chebyshev import chebyshev_monomial_matrix as chebyshev_monomial_matrix
from ._fourier import FourierBasis as FourierBasis
from ._linear import LinearBasis as LinearBasis
from ._piecewise import PiecewisePolynomialBasis as PiecewisePolynomialBasis

#: Every family by name. A new family: one module defining its Basis subclass, one line here.
BASIS_FAMILIES: dict[str, type[Basis]] = {
    "piecewise": PiecewisePolynomialBasis,
    "fourier": FourierBasis,
    "linear": LinearBasis,
    "chebyshev": ChebyshevBasis,
    "bspline": BSplineBasis,
}

__all__ = [
    "BASIS_FAMILIES",
    "BSplineBasis",
    "Basis",
    "ChebyshevBasis",
    "ClosedForm",
    "ConfigValue",
    "FourierBasis",
    "FourierTerms",
    "LinearBasis",
    "PiecewisePolynomialBasis",
    "PolynomialPieces",
    "chebyshev_monomial_matrix",
    "zero_derivative",
]
