"""The dense channels-first basis expansion that convolutions contract with their weights."""

from __future__ import annotations

import torch
from torch import Tensor

from ._lagrange import chebyshev_lobatto_nodes, lagrange_basis, lagrange_inverse_denominators
from ._segments import locate_segments


def expand_channels_first(start: Tensor | None, values: Tensor, channels: int, num_weights: int) -> Tensor:
    """Scatter a basis evaluation into the dense channels-first expansion, in one pass.

    The basis was evaluated on the ``(B, C * P)`` view of a ``(B, C, *spatial)`` input
    (``P = prod(spatial)``). Output channel ``c * M + m`` holds weight ``m``'s basis value for
    input channel ``c``, so a reshape of a ``(out, in, M, *kernel)`` weight to
    ``(out, in * M, *kernel)`` lines up with it, and the result is already contiguous for the
    convolution: the only full-size write is the zero fill plus the scatter of the active values
    (a single transposing copy when every weight is active).

    Shape:
        start: ``(B, C * P)`` int64 or ``None``. values: ``(B, C * P, K)``.
        Output: ``(B, C * M, P)``.
    """
    batch, _, active = values.shape
    positions = values.shape[1] // channels
    per_channel = values.reshape(batch, channels, positions, active).transpose(2, 3)  # (B, C, K, P)
    if start is None:
        return per_channel.reshape(batch, channels * active, positions)  # (B, C * M, P), K == M
    offsets = torch.arange(active, device=values.device).view(active, 1)
    index = start.reshape(batch, channels, 1, positions) + offsets  # (B, C, K, P)
    dense = values.new_zeros(batch, channels, num_weights, positions)
    dense.scatter_(2, index, per_channel)
    return dense.view(batch, channels * num_weights, positions)


def piecewise_values(
    x: Tensor, n: int, segments: int, continuous: bool, *, clamp: bool = False
) -> tuple[Tensor | None, Tensor]:
    """Piecewise Lagrange basis values of ``x`` in the product form: the offset of each value's
    first active weight and its ``n`` active basis values (``n`` CGL nodes on each of
    ``segments`` equal pieces of ``[-1, 1]``). With ``clamp``, ``x`` is first limited to
    ``[-1, 1]``. The reference the fused CPU kernels are tested against, and what their backward
    differentiates when a graph of the gradient is wanted.

    Shape:
        x: any shape ``(*)``. Output: ``(start (*) int64 or None for one piece, values (*, n))``.
    """
    if clamp:
        x = x.clamp(-1, 1)
    nodes = chebyshev_lobatto_nodes(n, dtype=torch.float64)
    inverse_denominators = lagrange_inverse_denominators(nodes)
    piece, t = locate_segments(x, segments)
    values = lagrange_basis(t, nodes.to(x), inverse_denominators.to(x))
    stride = n - 1 if continuous else n
    return (None if segments == 1 else piece * stride), values


def piecewise_expansion(x: Tensor, n: int, segments: int, continuous: bool, *, clamp: bool = False) -> Tensor:
    """The channels-first expansion of ``x`` in piecewise Lagrange polynomials
    (:func:`piecewise_values`), as the convolutions use it.

    Shape:
        x: ``(B, C, P)``. Output: ``(B, C * M, P)``, ``M = segments * (n - 1) + 1`` if
        ``continuous`` else ``segments * n``.
    """
    batch, channels, positions = x.shape
    start, values = piecewise_values(x.reshape(batch, channels * positions), n, segments, continuous, clamp=clamp)
    stride = n - 1 if continuous else n
    num_weights = segments * stride + (1 if continuous else 0)
    return expand_channels_first(start, values, channels, num_weights)
