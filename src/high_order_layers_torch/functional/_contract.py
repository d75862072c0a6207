"""Contracting basis values with link weights: the sum and product neurons.

A basis evaluation is described sparsely by ``(start, values)``: for input ``i`` of sample
``b`` only the ``K`` consecutive weights ``start[b, i] .. start[b, i] + K - 1`` of each link
are active, with basis values ``values[b, i, :]``. ``start = None`` means every weight is
active (``K == M``), as for a single polynomial or a Fourier series.

Weights have the layout of ``nn.Linear``, extended by the basis axis: ``(out, in, M)``.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

#: Type of the ``contraction`` argument of the layers.
Contraction = Literal["auto", "dense", "gather"]
#: The valid ``contraction`` names.
CONTRACTIONS: tuple[str, ...] = ("auto", "dense", "gather")

#: ``"auto"`` gathers once a link has at least this many weights per active weight. The dense
#: GEMM runs near peak speed but its cost grows with ``M``; the pure-torch gather costs ``K``
#: rows per link whatever ``M`` is, but at memory speed (measured: ``benchmarks/bench_fc.py``).
GATHER_MIN_RATIO = 24


def choose_contraction(
    num_weights: int, num_active: int, contraction: str = "auto", *, gather_min_ratio: float = GATHER_MIN_RATIO
) -> str:
    """Resolve ``"auto"`` to ``"dense"`` or ``"gather"``: gather once ``M >= ratio * K``."""
    if contraction != "auto":
        return contraction
    return "gather" if num_weights >= gather_min_ratio * num_active else "dense"


def _active_rows(start: Tensor | None, values: Tensor, num_weights: int) -> Tensor:
    """Row of every active weight in the ``(I * M, O)`` table. Shape: ``(B, I, K)``."""
    batch, inputs, active = values.shape
    offsets = torch.arange(active, device=values.device)
    base = torch.arange(inputs, device=values.device) * num_weights  # (I,)
    first = base if start is None else start + base  # (B, I) or (I,)
    return (first.unsqueeze(-1) + offsets).expand(batch, inputs, active)


def _weight_table(weight: Tensor) -> Tensor:
    """``(O, I, M)`` -> ``(I * M, O)``: one row per (input, basis function)."""
    out_features, in_features, num_weights = weight.shape
    return weight.permute(1, 2, 0).reshape(in_features * num_weights, out_features)


def expand_basis(start: Tensor | None, values: Tensor, num_weights: int) -> Tensor:
    """Scatter the active basis values into the dense ``(B, I, M)`` basis matrix.

    Shape:
        start: ``(B, I)`` int64 or ``None``. values: ``(B, I, K)``. Output: ``(B, I, M)``.
    """
    if start is None:
        return values
    batch, inputs, active = values.shape
    offsets = torch.arange(active, device=values.device)
    index = start.unsqueeze(-1) + offsets  # (B, I, K)
    dense = values.new_zeros(batch, inputs, num_weights)
    return dense.scatter(-1, index, values)


def sum_neuron(start: Tensor | None, values: Tensor, weight: Tensor) -> Tensor:
    """``y[b, o] = sum_i f_oi(x_bi)``: one GEMM over the dense basis expansion.

    Shape:
        start: ``(B, I)`` or ``None``. values: ``(B, I, K)``. weight: ``(O, I, M)``.
        Output: ``(B, O)``.
    """
    out_features, in_features, num_weights = weight.shape
    dense = expand_basis(start, values, num_weights)  # (B, I, M)
    return torch.nn.functional.linear(
        dense.reshape(dense.shape[0], in_features * num_weights),
        weight.reshape(out_features, in_features * num_weights),
    )


def sum_neuron_chebyshev(piece: Tensor | None, values: Tensor, coefficients: Tensor) -> Tensor:
    """The sum neuron of piecewise polynomials in Chebyshev form: one GEMM.

    ``y[b, o] = sum_i sum_j T_j(t_bi) C[o, i, piece_bi, j]``. With one piece (``piece is None``)
    the constant ``T_0 = 1`` is not expanded: ``values`` holds ``T_1 .. T_{n-1}`` only and the
    constant coefficients sum into a bias, so the GEMM has ``I * (n - 1)`` columns, fewer than
    the ``I * n`` of the nodal form. With several pieces ``values`` holds ``T_0 .. T_{n-1}``,
    scattered into the ``(B, S * n, I)`` expansion first.

    Shape:
        piece: ``(B, I)`` int64 or ``None``. values: ``(B, n, I)``, or ``(B, n - 1, I)`` when
        ``piece is None``. coefficients: ``(O, I, S, n)``. Output: ``(B, O)``.
    """
    batch, _, inputs = values.shape
    out_features, _, pieces, n = coefficients.shape
    if piece is None:
        bias = coefficients[:, :, 0, 0].sum(dim=1)  # (O,)
        if n == 1:
            return bias.expand(batch, out_features)
        weight = coefficients[:, :, 0, 1:].transpose(1, 2).reshape(out_features, (n - 1) * inputs)
        return torch.nn.functional.linear(values.reshape(batch, (n - 1) * inputs), weight, bias)
    index = piece.unsqueeze(1) * n + torch.arange(n, device=values.device)[:, None]  # (B, n, I)
    dense = values.new_zeros(batch, pieces * n, inputs).scatter(1, index, values)  # (B, S * n, I)
    weight = coefficients.permute(0, 2, 3, 1).reshape(out_features, pieces * n * inputs)
    return torch.nn.functional.linear(dense.reshape(batch, pieces * n * inputs), weight)


def sum_neuron_gather(start: Tensor | None, values: Tensor, weight: Tensor) -> Tensor:
    """Same result as :func:`sum_neuron`, reading only the ``K`` active weights of each link.

    ``y[b] = sum_i sum_k values[b, i, k] * weight[:, i, start[b, i] + k]``, computed by
    ``embedding_bag`` (a weighted sum of gathered rows, with autograd) so the cost is
    ``B * I * K * O`` whatever the number of segments, and no ``(B, I, K, O)`` tensor is formed.

    Shape:
        start: ``(B, I)`` or ``None``. values: ``(B, I, K)``. weight: ``(O, I, M)``.
        Output: ``(B, O)``.
    """
    batch, inputs, active = values.shape
    rows = _active_rows(start, values, weight.shape[-1]).reshape(batch, inputs * active)  # (B, I * K)
    return torch.nn.functional.embedding_bag(
        rows, _weight_table(weight), per_sample_weights=values.reshape(batch, inputs * active), mode="sum"
    )


def link_values(start: Tensor | None, values: Tensor, weight: Tensor) -> Tensor:
    """Every link's function value ``f_oi(x_bi)``, needed by product neurons.

    Shape:
        start: ``(B, I)`` or ``None``. values: ``(B, I, K)``. weight: ``(O, I, M)``.
        Output: ``(B, O, I)``.
    """
    dense = expand_basis(start, values, weight.shape[-1])  # (B, I, M)
    per_input = torch.bmm(dense.transpose(0, 1), weight.permute(1, 2, 0))  # (I, B, O)
    return per_input.permute(1, 2, 0)


def link_values_gather(start: Tensor | None, values: Tensor, weight: Tensor) -> Tensor:
    """Same result as :func:`link_values`, reading only the active weights.

    Accumulates one gathered ``(B, I, O)`` slab per active basis function, so memory stays at
    the size of the result.

    Shape:
        start: ``(B, I)`` or ``None``. values: ``(B, I, K)``. weight: ``(O, I, M)``.
        Output: ``(B, O, I)``.
    """
    table = _weight_table(weight)  # (I * M, O)
    rows = _active_rows(start, values, weight.shape[-1])  # (B, I, K)
    links = values[..., 0, None] * table[rows[..., 0]]  # (B, I, O)
    for k in range(1, values.shape[-1]):
        links = links + values[..., k, None] * table[rows[..., k]]
    return links.transpose(1, 2)


def product_neuron(links: Tensor, alpha: float) -> Tensor:
    """``y = -1 + prod_i (1 + f_i) - (1 - alpha) * sum_i f_i`` over the last axis.

    The product already contains the linear part ``sum_i f_i`` plus every cross term;
    ``alpha = 1`` keeps the linear part, ``alpha = 0`` removes it, leaving only cross terms.

    Shape:
        links: ``(..., I)``. Output: ``(...)``.
    """
    result = (1 + links).prod(dim=-1) - 1
    if alpha != 1.0:
        result = result - (1 - alpha) * links.sum(dim=-1)
    return result


def zero_derivative(values: Tensor, x: Tensor) -> Tensor:
    """``values`` unchanged, made a function of ``x`` with derivative zero.

    Constant basis functions (``n = 1`` polynomials, ``n = 0`` Fourier series) give values that
    do not depend on the input, so without this the input of such a layer would get no gradient
    (``x.grad is None``) on the pure-torch path while the kernels give zeros. A ``where`` on a
    false condition rather than ``values + 0 * x``: an infinite input must not turn the values
    into NaN, and the gradient it passes back is 0, not ``0 * inf``.

    Shape:
        ``x`` broadcasts to ``values``; output as ``values``.
    """
    if not (x.requires_grad and torch.is_grad_enabled()):
        return values
    never = torch.zeros((), dtype=torch.bool, device=values.device)
    return torch.where(never, x, values)
