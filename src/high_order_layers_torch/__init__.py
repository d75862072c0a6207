"""Neural-network layers whose connections carry learnable 1-D functions: piecewise Lagrange
polynomials on Chebyshev-Gauss-Lobatto nodes, single polynomials and Fourier series."""

from . import functional as functional
from . import inspect as inspect
from . import layers as layers
from . import networks as networks
from . import refine as refine

__version__ = "0.1.0"

__all__ = ["__version__", "functional", "inspect", "layers", "networks", "refine"]
