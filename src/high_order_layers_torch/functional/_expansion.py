"""Dense channels-first basis expansions, and the product-form piecewise basis the CPU kernels
are checked against."""

from __future__ import annotations

import torch
from torch import Tensor

from ._lagrange import (
    chebyshev_lobatto_nodes,
    chebyshev_polynomials,
    lagrange_basis,
    lagrange_basis_chebyshev,
    lagrange_inverse_denominators,
)
from ._segments import locate_segments, piecewise_sizes


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


def lagrange_piece_values(
    x: Tensor, segments: int, piece_offset: int, chebyshev_to_lagrange_matrix: Tensor
) -> tuple[Tensor | None, Tensor]:
    """Piecewise Lagrange basis values of ``x`` through the Chebyshev expansion
    (:func:`~high_order_layers_torch.functional.lagrange_basis_chebyshev`), the form the layers
    evaluate: the offset of each value's first active weight (``piece * piece_offset``; ``None``
    for one piece) and its ``n`` active basis values.

    Shape:
        x: any shape ``(*)``. chebyshev_to_lagrange_matrix: ``(n, n)``. Output: ``(start (*)
        int64 or None, values (*, n))``.
    """
    if segments == 1:
        return None, lagrange_basis_chebyshev(x, chebyshev_to_lagrange_matrix)
    index, t = locate_segments(x, segments)
    return index * piece_offset, lagrange_basis_chebyshev(t, chebyshev_to_lagrange_matrix)


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
    stride, _ = piecewise_sizes(n, segments, continuous)
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
    _, num_weights = piecewise_sizes(n, segments, continuous)
    return expand_channels_first(start, values, channels, num_weights)


def chebyshev_expansion(x: Tensor, n: int, *, clamp: bool = False) -> Tensor:
    """Chebyshev polynomials ``T_1 .. T_{n-1}`` of ``x`` (optionally clamped to ``[-1, 1]``),
    channels first: row ``c * (n - 1) + j - 1`` holds ``T_j`` of channel ``c``. The expansion of
    one-piece polynomials whose constant term is carried by a bias.

    Shape:
        x: ``(B, C, P)``. Output: ``(B, C * (n - 1), P)``.
    """
    if clamp:
        x = x.clamp(-1, 1)
    return chebyshev_polynomials(x, n, dim=2, first=1).flatten(1, 2)
