"""Contracting basis values with link weights: the sum and product neurons.

A basis evaluation is described sparsely by ``(start, values)``: for input ``i`` of sample
``b`` only the ``K`` consecutive weights ``start[b, i] .. start[b, i] + K - 1`` of each link
are active, with basis values ``values[b, i, :]``. ``start = None`` means every weight is
active (``K == M``), as for a single polynomial or a Fourier series.

Weights have the layout of ``nn.Linear``, extended by the basis axis: ``(out, in, M)``.
"""

from __future__ import annotations

import torch
from torch import Tensor


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


def link_values(start: Tensor | None, values: Tensor, weight: Tensor) -> Tensor:
    """Every link's function value ``f_oi(x_bi)``, needed by product neurons.

    Shape:
        start: ``(B, I)`` or ``None``. values: ``(B, I, K)``. weight: ``(O, I, M)``.
        Output: ``(B, O, I)``.
    """
    dense = expand_basis(start, values, weight.shape[-1])  # (B, I, M)
    per_input = torch.bmm(dense.transpose(0, 1), weight.permute(1, 2, 0))  # (I, B, O)
    return per_input.permute(1, 2, 0)


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
