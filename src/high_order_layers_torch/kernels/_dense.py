"""The dense contractions of every layout: the basis expansion and one GEMM (or convolution).

Each function takes a :data:`~._layouts.Layout` and runs the operators of :mod:`._functions`
that fit it; what runs where every weight is active, and the ``"dense"`` side of the choice the
decision point (:mod:`._dispatch`) makes for piecewise links.
"""

from __future__ import annotations

import math

from torch import Tensor
from torch.nn import functional as F

from ..functional import (
    bspline_values,
    chebyshev_polynomials,
    clamp_if,
    expand_channels_first,
    lagrange_piece_values,
    sum_neuron,
)
from ._functions import fused_chebyshev_expansion, fused_fourier_values, fused_piecewise_expansion
from ._layouts import (
    ChebyshevSeries,
    ConvGeometry,
    Evaluated,
    FourierHarmonics,
    Layout,
    LinearLinks,
    PiecewiseLagrange,
    UniformBSpline,
)

# torch.nn.functional's convolutions rather than aten.convolution: autocast knows them by name
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def layout_values(layout: Layout, x: Tensor) -> tuple[Tensor | None, Tensor]:
    """The basis values of ``x`` (no input policy applied): ``(start or None, values)``.

    Shape:
        x: ``(B, I)``. Output: ``start (B, I)`` int64 or ``None``, ``values (B, I, num_active)``.
    """
    if isinstance(layout, PiecewiseLagrange):
        return lagrange_piece_values(x, layout.segments, layout.piece_offset, layout.chebyshev_to_lagrange)
    if isinstance(layout, UniformBSpline):
        start, values = bspline_values(x, layout.n, layout.segments)
        return (None if layout.segments == 1 else start), values  # one piece: every weight active
    if isinstance(layout, ChebyshevSeries):
        return None, chebyshev_polynomials(x, layout.n)
    if isinstance(layout, FourierHarmonics):
        return None, fused_fourier_values(x, layout.fundamental, layout.n)
    if isinstance(layout, LinearLinks):
        return None, x.unsqueeze(-1)
    return layout.evaluate(x)


def constant_split(layout: Layout, links: Tensor) -> tuple[Tensor, Tensor] | None:
    """For a layout whose functions include the constant 1 as one term of a form equivalent to
    the weights (one polynomial in its Chebyshev form, a Fourier series): the links in that form
    as ``(constant coefficient, the others)``, so a layer sums the constants into a bias and
    expands only the others (:func:`expansion_without_constant`); else ``None``.

    Shape:
        links: ``(*, num_weights)``. Output: ``(*)`` and ``(*, K)``.
    """
    if isinstance(layout, (ChebyshevSeries, FourierHarmonics)):
        return links[..., 0], links[..., 1:]
    if isinstance(layout, PiecewiseLagrange) and layout.segments == 1:
        # One (links, n) x (n, n) product: as a batched product over the links CUDA runs it as one
        # tiny GEMV per link, slower than the layer's whole GEMM (H200 profile).
        coefficients = (links.reshape(-1, layout.n) @ layout.chebyshev_to_lagrange.t()).view(links.shape)
        return coefficients[..., 0], coefficients[..., 1:]
    return None


def expansion_without_constant(layout: Layout, x: Tensor, *, clamp: bool) -> Tensor:
    """The ``K`` non-constant functions of :func:`constant_split`, channels first.

    Shape:
        x: ``(B, C, P)``. Output: ``(B, C * K, P)``, channel ``c * K + k``.
    """
    if isinstance(layout, FourierHarmonics):
        batch, channels, positions = x.shape
        flat = clamp_if(x, clamp).reshape(batch * channels, positions)
        harmonics = fused_fourier_values(flat, layout.fundamental, layout.n, rows=True, constant=False)
        return harmonics.reshape(batch, channels * 2 * layout.n, positions)  # (B * C, 2 n, P) -> (B, C * 2 n, P)
    if isinstance(layout, (ChebyshevSeries, PiecewiseLagrange)):
        return fused_chebyshev_expansion(x, layout.n, clamp=clamp)  # T_1 .. T_{n-1}
    raise TypeError(f"{type(layout).__name__} has no constant split")


def expansion(layout: Layout, x: Tensor, *, clamp: bool) -> Tensor:
    """Every basis function of every channel, channels first.

    Shape:
        x: ``(B, C, P)``. Output: ``(B, C * num_weights, P)``, channel ``c * num_weights + m``.
    """
    if isinstance(layout, PiecewiseLagrange):
        return fused_piecewise_expansion(x, *layout.basis, clamp=clamp)
    batch, channels, positions = x.shape
    start, values = layout_values(layout, clamp_if(x, clamp).reshape(batch, channels * positions))
    return expand_channels_first(start, values, channels, layout.num_weights)


def dense_sum_neuron(layout: Layout, x: Tensor, weight: Tensor, *, clamp: bool) -> Tensor:
    """``y[b, o] = sum_i f_oi(x[b, i])`` as one GEMM against the channels-first expansion, with
    the constant terms summed into a bias where the layout has a :func:`constant_split`.

    Shape:
        x: ``(B, I)``. weight: ``(O, I, num_weights)``. Output: ``(B, O)``.
    """
    out_features = weight.shape[0]
    if isinstance(layout, (LinearLinks, UniformBSpline, Evaluated)):
        start, values = layout_values(layout, clamp_if(x, clamp))
        return sum_neuron(start, values, weight)
    split = constant_split(layout, weight)  # (O, I), (O, I, K)
    if split is not None:
        constant, rest = split
        dense = expansion_without_constant(layout, x.unsqueeze(1), clamp=clamp)  # (B, K, I)
        return F.linear(dense.flatten(1), rest.transpose(1, 2).reshape(out_features, -1), constant.sum(1))
    # The expansion writes whole rows of inputs, (B, M, I), several times faster than the
    # weight's own (I, M) order, for the price of one copy of the weight.
    dense = expansion(layout, x.unsqueeze(1), clamp=clamp)  # (B, M, I)
    return F.linear(dense.flatten(1), weight.transpose(1, 2).reshape(out_features, -1))


def dense_conv(
    layout: Layout, x: Tensor, weight: Tensor, geometry: ConvGeometry, *, clamp: bool, bias: Tensor | None = None,
    divisor: float | None = None,
) -> Tensor:  # fmt: skip
    """A convolution of link functions as the expansion ``(B, C * M', *S)`` and one
    convolution; where the layout has a :func:`constant_split` (and the convolution is not
    transposed) the constant terms sum into the bias. ``divisor`` divides the
    result before ``bias`` is added (folded into the small weight, not the large output).

    Shape:
        x: ``(B, C, *S)``. weight: ``(O, C / groups, M, *k)``, or ``(C, M, O / groups, *k)``
        transposed. Output: ``(B, O, *S_out)``.
    """
    batch, channels, *spatial = x.shape
    flat = x.reshape(batch, channels, math.prod(spatial))  # explicit sizes: an empty batch stays unambiguous
    # the constant function is 1 at every position, padding included (the input is padded before
    # the expansion), so its terms sum into a bias; not so for a transposed convolution
    split = None if geometry.transposed else constant_split(layout, weight.movedim(2, -1))
    constant: Tensor | None = None
    if split is None:
        dense = expansion(layout, flat, clamp=clamp)  # (B, C * M, P)
        kernel = weight.flatten(0, 1) if geometry.transposed else weight.flatten(1, 2)
    else:  # (O, C / g, *k), (O, C / g, *k, K)
        dense = expansion_without_constant(layout, flat, clamp=clamp)  # (B, C * K, P)
        kernel = split[1].movedim(-1, 2).flatten(1, 2)
        constant = split[0].flatten(1).sum(1)
    if divisor is not None:
        kernel = kernel / divisor
        constant = None if constant is None else constant / divisor
    if constant is not None:
        bias = constant if bias is None else bias + constant
    dense = dense.view(batch, dense.shape[1], *spatial)
    g = geometry
    if g.transposed:
        conv_t = _CONV_TRANSPOSE[len(spatial)]
        return conv_t(dense, kernel, bias, g.stride, g.padding, g.output_padding, g.groups, g.dilation)
    return _CONV[len(spatial)](dense, kernel, bias, g.stride, g.padding, g.dilation, g.groups)
