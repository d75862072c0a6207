"""The pure-torch references of the operators' backward passes, as explicit formulas.

An operator's implementation runs below autograd, so the reference backward of an operator
cannot differentiate the reference forward; these are the same derivatives written out. They are
what every device without a kernel runs, and the kernels' backward passes are tested against them
(both agree with autograd through the reference forwards to round-off).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..functional import (
    bspline_values,
    chebyshev_lobatto_nodes,
    chebyshev_to_lagrange,
    expand_basis,
    fourier_basis_harmonic,
    link_values_gather,
    locate_segments,
    piecewise_expansion,
    piecewise_sizes,
    piecewise_values,
)

#: Which tensors want a gradient (the backward operators' last argument); the references compute
#: every gradient and ignore it.
Needs = Sequence[bool]


def _inside(x: Tensor, clamp: bool) -> Tensor | None:
    """Where a clamped input passes gradient: inside ``[-1, 1]`` (not NaN), as ``torch.clamp``'s
    backward; ``None`` without ``clamp``."""
    return ((x >= -1) & (x <= 1)).to(x.dtype) if clamp else None


def _chebyshev_slopes(t: Tensor, n: int) -> Tensor:
    """``T_j'(t) = j U_{j-1}(t)`` for ``j = 0 .. n - 1``. Shape: ``(*t.shape, n)``."""
    slopes = [torch.zeros_like(t)]
    older, old = torch.zeros_like(t), torch.ones_like(t)  # U_{-1}, U_0
    for degree in range(1, n):
        slopes.append(degree * old)
        older, old = old, 2 * t * old - older
    return torch.stack(slopes, dim=-1)


def piecewise_values_and_slopes(
    x: Tensor, n: int, segments: int, continuous: bool, clamp: bool
) -> tuple[Tensor | None, Tensor, Tensor]:
    """``(start, values, slopes)``: :func:`~high_order_layers_torch.functional.piecewise_values`
    of ``x`` (clamped first with ``clamp``) and the derivatives of the values with respect to
    ``x`` (zero where the clamp cuts). Shape: ``start (*)``, ``values``/``slopes (*, n)``."""
    limited = x.clamp(-1, 1) if clamp else x
    start, values = piecewise_values(limited, n, segments, continuous)
    _, t = locate_segments(limited, segments)
    to_lagrange = chebyshev_to_lagrange(chebyshev_lobatto_nodes(n, dtype=torch.float64)).to(x)  # (n, n)
    slopes = (_chebyshev_slopes(t, n) @ to_lagrange) * segments  # d t / d x = segments
    inside = _inside(x, clamp)
    return start, values, (slopes if inside is None else slopes * inside.unsqueeze(-1))


def gather_backward(
    grad: Tensor, x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, clamp: bool, needs: Needs = ()
) -> tuple[Tensor, Tensor]:
    """Gradients of the sum neuron of piecewise links. Shapes: grad ``(B, O)``, x ``(B, I)``,
    weight ``(O, I, M)`` -> ``(B, I)``, ``(O, I, M)``."""
    return _sum_neuron_backward(grad, weight, *piecewise_values_and_slopes(x, n, segments, continuous, clamp))


def _sum_neuron_backward(
    grad: Tensor, weight: Tensor, start: Tensor | None, values: Tensor, slopes: Tensor
) -> tuple[Tensor, Tensor]:
    """Gradients of ``y[b, o] = sum_i sum_k values[b, i, k] weight[o, i, start[b, i] + k]`` in ``x``
    (from the values' ``slopes`` in ``x``) and in ``weight``. Shapes: grad ``(B, O)``, start
    ``(B, I)`` or ``None``, values/slopes ``(B, I, K)`` -> ``(B, I)``, ``(O, I, M)``."""
    out_features, in_features, num_weights = weight.shape
    dense = expand_basis(start, values, num_weights)  # (B, I, M)
    grad_weight = (grad.t() @ dense.flatten(1)).view(weight.shape)
    back = (grad @ weight.reshape(out_features, -1)).view(-1, in_features, num_weights)  # (B, I, M)
    if start is not None:
        active = torch.arange(values.shape[-1], device=values.device)
        back = back.gather(-1, start.unsqueeze(-1) + active)  # (B, I, K)
    return (back * slopes).sum(-1), grad_weight


def bspline_values_and_slopes(x: Tensor, n: int, segments: int, clamp: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``(start, values, slopes)``: :func:`~high_order_layers_torch.functional.bspline_values` of
    ``x`` (clamped first with ``clamp``) and their derivatives in ``x`` (zero where the clamp
    cuts), from the splines one order lower: ``N_k' = (N^{n-1}_{k-1} - N^{n-1}_k) / h`` on knots
    ``h = 2 / segments`` apart. Shape: ``start (*)``, ``values``/``slopes (*, n)``."""
    limited = x.clamp(-1, 1) if clamp else x
    start, values = bspline_values(limited, n, segments)
    lower = torch.ones_like(limited).unsqueeze(-1) if n == 2 else bspline_values(limited, n - 1, segments)[1]
    padded = torch.nn.functional.pad(lower, (1, 1))  # N^{n-1}_{-1} = N^{n-1}_{n-1} = 0
    slopes = (padded[..., :-1] - padded[..., 1:]) * (segments / 2)
    inside = _inside(x, clamp)
    return start, values, (slopes if inside is None else slopes * inside.unsqueeze(-1))


def bspline_gather_backward(
    grad: Tensor, x: Tensor, weight: Tensor, n: int, segments: int, clamp: bool, needs: Needs = ()
) -> tuple[Tensor, Tensor]:
    """Gradients of the sum neuron of B-spline links. Shapes: grad ``(B, O)``, x ``(B, I)``,
    weight ``(O, I, M)`` -> ``(B, I)``, ``(O, I, M)``."""
    return _sum_neuron_backward(grad, weight, *bspline_values_and_slopes(x, n, segments, clamp))


def _link_values_and_slopes(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, linear: bool, clamp: bool
) -> tuple[Tensor | None, Tensor, Tensor, Tensor]:
    """``(start, values, links (B, O, I), link slopes (B, O, I))`` of piecewise or linear links."""
    if linear:
        start, values = None, (x.clamp(-1, 1) if clamp else x).unsqueeze(-1)
        inside = _inside(x, clamp)
        slopes = torch.ones_like(values) if inside is None else inside.unsqueeze(-1)
    else:
        start, values, slopes = piecewise_values_and_slopes(x, n, segments, continuous, clamp)
    return start, values, link_values_gather(start, values, weight), link_values_gather(start, slopes, weight)


def product_backward(
    grad: Tensor,
    x: Tensor,
    weight: Tensor,
    n: int,
    segments: int,
    continuous: bool,
    linear: bool,
    alpha: float,
    clamp: bool,
    needs: Needs = (),
) -> tuple[Tensor, Tensor]:
    """Gradients of the product neuron ``y = -1 + prod_i (1 + f_i) - (1 - alpha) sum_i f_i``:
    ``d y / d f_i = prod_{j != i} (1 + f_j) - (1 - alpha)``, the product over the others formed
    from prefix and suffix products (no division, so factors equal to zero are exact)."""
    start, values, links, link_slopes = _link_values_and_slopes(x, weight, n, segments, continuous, linear, clamp)
    factors = 1 + links  # (B, O, I)
    ones = torch.ones_like(factors[..., :1])
    before = torch.cat([ones, factors[..., :-1]], dim=-1).cumprod(-1)
    after = torch.cat([factors[..., 1:], ones], dim=-1).flip(-1).cumprod(-1).flip(-1)
    grad_links = grad.unsqueeze(-1) * (before * after - (1 - alpha))  # (B, O, I)
    grad_x = (grad_links * link_slopes).sum(1)
    dense = expand_basis(start, values, weight.shape[-1])  # (B, I, M)
    grad_weight = torch.einsum("boi,bim->oim", grad_links, dense)
    return grad_x, grad_weight


def expansion_backward(
    grad: Tensor, x: Tensor, n: int, segments: int, continuous: bool, clamp: bool, needs: Needs = ()
) -> Tensor:
    """Gradient of the channels-first piecewise expansion. Shapes: grad ``(B, C * M, P)``,
    x ``(B, C, P)`` -> ``(B, C, P)``."""
    batch, channels, positions = x.shape
    _, num_weights = piecewise_sizes(n, segments, continuous)
    start, _, slopes = piecewise_values_and_slopes(x, n, segments, continuous, clamp)  # (B, C, P), (B, C, P, n)
    per_channel = grad.reshape(batch, channels, num_weights, positions).transpose(2, 3)  # (B, C, P, M)
    if start is not None:
        per_channel = per_channel.gather(-1, start.unsqueeze(-1) + torch.arange(n, device=x.device))
    return (per_channel * slopes).sum(-1)


def dense_expansion(x: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    """The channels-first piecewise expansion of a ``(B, C, *S)`` input, ``(B, C * M, *S)``."""
    batch, channels, *spatial = x.shape
    flat = x.reshape(batch, channels, math.prod(spatial))  # explicit sizes: an empty batch stays unambiguous
    dense = piecewise_expansion(flat, n, segments, continuous, clamp=clamp)
    return dense.view(batch, dense.shape[1], *spatial)


def conv_flat_weight(weight: Tensor, transposed: bool) -> Tensor:
    """The layers' weight as ``aten.convolution`` takes it against the dense expansion (channel
    ``c * M + m``): ``(O, C / groups, M, *k)`` -> ``(O, C / groups * M, *k)``, or for transposed
    convolutions ``(C, M, O / groups, *k)`` -> ``(C * M, O / groups, *k)``."""
    return weight.flatten(0, 1) if transposed else weight.flatten(1, 2)


def conv_gather_backward(grad: Tensor, x: Tensor, weight: Tensor, *params: Any) -> tuple[Tensor, Tensor]:
    """Gradients of a convolution of piecewise links (``aten.convolution`` of the dense expansion):
    the convolution's own backward, then the expansion's. ``params`` are the backward operator's,
    ``(n, segments, continuous, clamp, stride, padding, dilation, transposed, output_padding,
    groups, needs)``. Shapes: grad ``(B, O, *S_out)``, x ``(B, C, *S)`` and the layers' weight ->
    gradients of the same shapes."""
    n, segments, continuous, clamp, stride, padding, dilation, transposed, output_padding, groups, needs = params
    dense = dense_expansion(x, n, segments, continuous, clamp)
    flat = conv_flat_weight(weight, transposed)
    mask = [bool(needs[0]), bool(needs[1]), False]
    grad_dense, grad_flat, _ = torch.ops.aten.convolution_backward(
        grad, dense, flat, None, stride, padding, dilation, transposed, output_padding, groups, mask
    )
    grad_x = x.new_empty(0)
    if needs[0]:
        batch, channels, *spatial = x.shape
        positions = math.prod(spatial)
        grad_x = expansion_backward(
            grad_dense.reshape(batch, -1, positions), x.reshape(batch, channels, positions), n, segments,
            continuous, clamp,
        ).view_as(x)  # fmt: skip
    grad_weight = grad_flat.view_as(weight) if needs[1] else weight.new_empty(0)
    return grad_x, grad_weight


def chebyshev_backward(grad: Tensor, x: Tensor, n: int, clamp: bool, needs: Needs = ()) -> Tensor:
    """Gradient of ``T_1 .. T_{n-1}`` channels first. Shapes: grad ``(B, C * (n - 1), P)``,
    x ``(B, C, P)`` -> ``(B, C, P)``."""
    batch, channels, positions = x.shape
    limited = x.clamp(-1, 1) if clamp else x
    slopes = _chebyshev_slopes(limited, n)[..., 1:]  # (B, C, P, n - 1)
    per_channel = grad.reshape(batch, channels, n - 1, positions).transpose(2, 3)
    result = (per_channel * slopes).sum(-1)
    inside = _inside(x, clamp)
    return result if inside is None else result * inside


def fourier_backward(grad: Tensor, angle: Tensor, n: int, rows: bool, constant: bool, needs: Needs = ()) -> Tensor:
    """Gradient of ``[1,] cos(k a), sin(k a)`` (``k = 1..n``) with respect to the angle ``a``.
    Shapes: grad as the values (``(*, W)``, or ``(B, W, I)`` with ``rows``) -> ``angle.shape``."""
    if rows:
        grad = grad.movedim(1, -1)
    values = fourier_basis_harmonic(angle, 1.0, n)  # (*, 2 n + 1): 1, cos 1..n, sin 1..n
    if constant:
        grad = grad[..., 1:]
    degrees = torch.arange(1, n + 1, device=angle.device, dtype=angle.dtype)
    cosines, sines = values[..., 1 : n + 1], values[..., n + 1 :]
    return (degrees * (grad[..., n:] * cosines - grad[..., :n] * sines)).sum(-1)
