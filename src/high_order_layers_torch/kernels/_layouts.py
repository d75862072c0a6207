"""What the kernels need to know of a basis and of a convolution: typed layouts.

A basis says which form its links take (:meth:`~high_order_layers_torch.bases.Basis.layout`);
the decision point (:mod:`._dispatch`) picks the operators for that form. Six forms cover the
families:

- :class:`PiecewiseLagrange`: Lagrange polynomials on Chebyshev-Gauss-Lobatto nodes over equal
  pieces, the form of the C++/Triton gather, product and expansion kernels;
- :class:`UniformBSpline`: B-splines on uniform knots, the form of the C++ B-spline gather;
- :class:`ChebyshevSeries`: one polynomial stored by its Chebyshev coefficients;
- :class:`FourierHarmonics`: a Fourier series by its constant, cosine and sine coefficients;
- :class:`LinearLinks`: ``f(x) = w x``, an ordinary weight;
- :class:`Evaluated`: any other family, through its own evaluation ``basis(x) -> (start, values)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from torch import Tensor

from ..functional import piecewise_sizes


class PiecewiseLagrange(NamedTuple):
    """Lagrange polynomials of degree ``n - 1`` (``n >= 2``) on ``segments`` equal pieces of
    ``[-1, 1]``; neighbouring pieces share their end node when ``continuous``.

    Attributes:
        chebyshev_to_lagrange: the ``(n, n)`` change of basis of the basis module (its dtype and
            device): node values ``w`` of a piece have Chebyshev coefficients ``w @ M.T``.
    """

    n: int
    segments: int
    continuous: bool
    chebyshev_to_lagrange: Tensor

    @property
    def piece_offset(self) -> int:
        """Index of piece ``s + 1``'s first weight minus that of piece ``s``."""
        return piecewise_sizes(self.n, self.segments, self.continuous)[0]

    @property
    def num_weights(self) -> int:
        return piecewise_sizes(self.n, self.segments, self.continuous)[1]

    @property
    def num_active(self) -> int:
        return self.n

    @property
    def basis(self) -> tuple[int, int, bool]:
        """``(n, segments, continuous)``, as the gather operators take them."""
        return self.n, self.segments, self.continuous


class UniformBSpline(NamedTuple):
    """B-splines of order ``n`` (degree ``n - 1``, ``n >= 2``) on ``segments`` equal pieces of
    ``[-1, 1]`` and the extended uniform knots: ``segments + n - 1`` weights, ``n`` active on each
    piece, from weight ``piece`` on
    (:func:`~high_order_layers_torch.functional.bspline_values`)."""

    n: int
    segments: int

    @property
    def num_weights(self) -> int:
        return self.segments + self.n - 1

    @property
    def num_active(self) -> int:
        return self.n


class ChebyshevSeries(NamedTuple):
    """``f(x) = sum_k w_k T_k(x)`` for ``k < n`` (``n >= 2``): every weight active."""

    n: int

    @property
    def num_weights(self) -> int:
        return self.n

    @property
    def num_active(self) -> int:
        return self.n


class FourierHarmonics(NamedTuple):
    """``f(x) = w_0 + sum_k w_k cos(k a x) + w_{n+k} sin(k a x)`` for ``k = 1..n`` (``n >= 1``,
    ``a`` the ``fundamental``): every weight active."""

    n: int
    fundamental: float

    @property
    def num_weights(self) -> int:
        return 2 * self.n + 1

    @property
    def num_active(self) -> int:
        return 2 * self.n + 1


class LinearLinks(NamedTuple):
    """``f(x) = w x``: one weight per link."""

    @property
    def num_weights(self) -> int:
        return 1

    @property
    def num_active(self) -> int:
        return 1


class Evaluated(NamedTuple):
    """A family the kernels know nothing of: ``evaluate(x (B, I)) -> (start (B, I) or None,
    values (B, I, num_active))``, the basis module's own forward."""

    evaluate: Callable[[Tensor], tuple[Tensor | None, Tensor]]
    num_weights: int
    num_active: int


Layout = PiecewiseLagrange | UniformBSpline | ChebyshevSeries | FourierHarmonics | LinearLinks | Evaluated


class ConvGeometry(NamedTuple):
    """Where a convolution's kernel taps read, as
    :func:`~high_order_layers_torch.kernels.fused_piecewise_conv` takes it (``**geometry._asdict()``);
    a padded input has ``padding`` 0 here."""

    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    transposed: bool
    output_padding: tuple[int, ...]
    groups: int
