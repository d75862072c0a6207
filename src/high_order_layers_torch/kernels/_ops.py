"""The accelerated computations, one :class:`~._spec.OperatorSpec` each, in the
``high_order_layers`` namespace.

Every section below is one operator: its pure-torch reference (the implementation on every device
without a kernel, and the oracle the kernels are tested against), its fake, and its kernels by
device type. :func:`~._spec.define` makes the ``torch.library`` operators, registrations,
availability entry and autograd from the spec, so adding a kernel for a device is one
:class:`~._spec.Kernel` in a spec, and a new operator one spec.

The operators (``torch.ops.high_order_layers.piecewise_gather`` and the others) can be called
directly; each :class:`~._spec.Operator` here is the differentiable entry point
(:mod:`._functions` wraps them with the layers' argument conventions).

Shapes, with ``B`` samples, ``I`` inputs, ``O`` outputs, ``M`` weights per link and ``C``
channels at ``P`` positions:

- ``piecewise_gather``: ``x (B, I)``, ``weight (O, I, M)`` -> ``(B, O)``, the sum neuron of
  piecewise Lagrange links reading only the active weights;
- ``bspline_gather``: the same shapes, the sum neuron of uniform B-spline links;
- ``piecewise_conv_gather``: ``x (B, C, *S)``, the convolutions' weight -> ``(B, O, *S_out)``,
  a convolution (or transposed convolution) of piecewise Lagrange links reading only the active
  weights, equal to ``aten.convolution`` of the dense expansion;
- ``piecewise_product``: the same shapes, the product neuron (``linear``: links ``w x``);
- ``piecewise_expansion``: ``x (B, C, P)`` -> ``(B, C * M, P)``;
- ``chebyshev_expansion``: ``x (B, C, P)`` -> ``(B, C * (n - 1), P)``, ``T_1 .. T_{n-1}``;
- ``fourier_values``: ``angle (*)`` -> ``(*, W)``, or ``(B, I)`` -> ``(B, W, I)`` with ``rows``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..functional import (
    bspline_values,
    chebyshev_lobatto_nodes,
    convolution_output_size,
    convolution_taps,
    fourier_basis_harmonic,
    link_values_gather,
    piecewise_sizes,
    piecewise_values,
    product_neuron,
    sum_neuron,
    sum_neuron_gather,
)
from ..functional import chebyshev_expansion as chebyshev_expansion_reference_fn
from ..functional import piecewise_expansion as piecewise_expansion_reference_fn
from . import _gather_triton, _references
from ._spec import NAMESPACE, Kernel, OperatorSpec, define

__all__ = ["NAMESPACE", "OPERATORS"]


@functools.cache
def local_nodes(n: int) -> Tensor:
    """The ``n`` CGL nodes of a piece, in float64, as the kernels take them."""
    return chebyshev_lobatto_nodes(n, dtype=torch.float64)


def _check_links(x: Tensor, weight: Tensor) -> None:
    """The shapes of a fully-connected operator: ``x (B, I)`` and ``weight (O, I, M)``."""
    torch._check(x.dim() == 2, lambda: f"x must be (B, I), got {tuple(x.shape)}")
    torch._check(weight.dim() == 3, lambda: f"weight must be (O, I, M), got {tuple(weight.shape)}")
    torch._check(x.shape[1] == weight.shape[1], lambda: f"x has {x.shape[1]} inputs, weight {weight.shape[1]}")


def _check_channels(x: Tensor) -> None:
    torch._check(x.dim() == 3, lambda: f"x must be (B, C, P), got {tuple(x.shape)}")


# ----------------------------------------------------------------------------------------------
# piecewise_gather: the sum neuron of piecewise Lagrange links


def _gather_reference(x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    """Twice differentiable (the dense expansion and one GEMM)."""
    start, values = piecewise_values(x, n, segments, continuous, clamp=clamp)
    return sum_neuron(start, values, weight)


def _gather_lean(x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    """Once differentiable, reading only the active weights (``embedding_bag``)."""
    start, values = piecewise_values(x, n, segments, continuous, clamp=clamp)
    return sum_neuron_gather(start, values, weight)


def _gather_fake(x: Tensor, weight: Tensor, *params: Any) -> Tensor:
    _check_links(x, weight)
    return x.new_empty(x.shape[0], weight.shape[0])


def _cpu_gather_forward(kernels: Any, x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, clamp: bool):
    stride, _ = piecewise_sizes(n, segments, continuous)
    return kernels.gather_forward(x.t().contiguous(), weight.contiguous(), local_nodes(n), segments, stride, clamp)


def _cpu_gather_backward(kernels: Any, grad, x, weight, pieces, n, segments, continuous, clamp, needs):
    stride, _ = piecewise_sizes(n, segments, continuous)
    grad_x, grad_weight = kernels.gather_backward(
        grad.contiguous(), x.t().contiguous(), weight.contiguous(), local_nodes(n), segments, stride, clamp, needs[0]
    )
    return grad_x.t(), grad_weight


def _triton_forward(launch: str) -> Any:
    """A :class:`Kernel` forward running ``_gather_triton.<launch>(*tensors, *params)`` (looked up
    at each call, so it can be wrapped; it loads the Triton module itself)."""

    def forward(kernels: Any, *args: Any) -> Any:
        return getattr(_gather_triton, launch)(*args)

    return forward


def _triton_backward(launch: str) -> Any:
    """A :class:`Kernel` backward running ``_gather_triton.<launch>(grad, *tensors, pieces, *params,
    need_x)``."""

    def backward(kernels: Any, *args: Any) -> Any:
        *rest, needs = args
        return getattr(_gather_triton, launch)(*rest, needs[0])

    return backward


def _triton_pieces(x: Tensor, *args: Any) -> tuple[Tensor]:
    return (x.new_empty(x.shape[1], x.shape[0], dtype=torch.int32),)  # each input's piece, (I, B)


piecewise_gather = define(
    OperatorSpec(
        name="piecewise_gather",
        reference=_gather_reference,
        backward_reference=_references.gather_backward,
        fake=_gather_fake,
        tensors=2,
        saved={"pieces": torch.int32},
        kernels={
            "cpu": Kernel(_cpu_gather_forward, _cpu_gather_backward),
            "cuda": Kernel(
                _triton_forward("triton_gather_forward"),
                _triton_backward("triton_gather_backward"),
                saved=_triton_pieces,
            ),
        },
        default=_gather_lean,
        # everywhere the operator: the lean default has no second derivative, its autograd has
        inline_reference=False,
    )
)


# ----------------------------------------------------------------------------------------------
# bspline_gather: the sum neuron of uniform B-spline links


def _bspline_reference(x: Tensor, weight: Tensor, n: int, segments: int, clamp: bool) -> Tensor:
    """Twice differentiable (the dense expansion and one GEMM)."""
    start, values = bspline_values(x.clamp(-1, 1) if clamp else x, n, segments)
    return sum_neuron(start, values, weight)


def _bspline_lean(x: Tensor, weight: Tensor, n: int, segments: int, clamp: bool) -> Tensor:
    """Once differentiable, reading only the active weights (``embedding_bag``)."""
    start, values = bspline_values(x.clamp(-1, 1) if clamp else x, n, segments)
    return sum_neuron_gather(start, values, weight)


def _cpu_bspline_forward(kernels: Any, x: Tensor, weight: Tensor, n: int, segments: int, clamp: bool) -> Tensor:
    return kernels.bspline_gather_forward(x.t().contiguous(), weight.contiguous(), segments, clamp)


def _cpu_bspline_backward(kernels: Any, grad, x, weight, pieces, n, segments, clamp, needs):
    grad_x, grad_weight = kernels.bspline_gather_backward(
        grad.contiguous(), x.t().contiguous(), weight.contiguous(), segments, clamp, needs[0]
    )
    return grad_x.t(), grad_weight


def _bspline_accepts(x: Tensor, weight: Tensor, n: int, segments: int, clamp: bool) -> bool:
    return n >= 2 and weight.shape[-1] == segments + n - 1


bspline_gather = define(
    OperatorSpec(
        name="bspline_gather",
        reference=_bspline_reference,
        backward_reference=_references.bspline_gather_backward,
        fake=_gather_fake,
        tensors=2,
        saved={"pieces": torch.int32},
        kernels={
            "cpu": Kernel(_cpu_bspline_forward, _cpu_bspline_backward, accepts=_bspline_accepts),
            "cuda": Kernel(
                _triton_forward("triton_bspline_gather_forward"),
                _triton_backward("triton_bspline_gather_backward"),
                saved=_triton_pieces,
                accepts=_bspline_accepts,
            ),
        },
        default=_bspline_lean,
        inline_reference=False,  # as piecewise_gather: the lean default has no second derivative
    )
)


# ----------------------------------------------------------------------------------------------
# piecewise_conv_gather: convolutions of piecewise Lagrange links reading only the active weights


def conv_gather_reference(
    x: Tensor,
    weight: Tensor,
    n: int,
    segments: int,
    continuous: bool,
    clamp: bool,
    stride: list[int],
    padding: list[int],
    dilation: list[int],
    transposed: bool,
    output_padding: list[int],
    groups: int,
) -> Tensor:
    """The dense expansion and one ``aten.convolution`` (twice differentiable)."""
    dense = _references.dense_expansion(x, n, segments, continuous, clamp)
    flat = _references.conv_flat_weight(weight, transposed)
    return torch.ops.aten.convolution(dense, flat, None, stride, padding, dilation, transposed, output_padding, groups)


def _conv_fake(x: Tensor, weight: Tensor, *params: Any) -> Tensor:
    stride, padding, dilation, transposed, output_padding, groups = params[4:]
    torch._check(x.dim() == weight.dim() - 1, lambda: f"x {tuple(x.shape)} and weight {tuple(weight.shape)} differ")
    size = convolution_output_size(x.shape[2:], weight.shape[3:], stride, padding, dilation, transposed, output_padding)
    channels = weight.shape[2] * groups if transposed else weight.shape[0]
    return x.new_empty(x.shape[0], channels, *size)


@functools.lru_cache(maxsize=256)
def _cached_taps(*geometry: tuple[int, ...] | bool) -> Tensor:
    """:func:`convolution_taps` of ``geometry = (input size, kernel size, stride, padding,
    dilation, transposed, output padding)``, once per geometry (the kernels only read it)."""
    return convolution_taps(*geometry)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=256)
def _cached_inverse_taps(*geometry: tuple[int, ...] | bool) -> Tensor:
    """The inverse of :func:`_cached_taps`: ``(P, J)``, the output position that reads input position
    ``p`` through tap ``j``, or -1 (each (position, tap) pair is read at most once)."""
    taps = _cached_taps(*geometry).long()  # (R, J)
    positions = math.prod(geometry[0])  # type: ignore[arg-type]
    inverse = torch.full((positions + 1, taps.shape[1]), -1, dtype=torch.int64)
    outputs = torch.arange(taps.shape[0]).unsqueeze(1).expand_as(taps)
    rows = torch.where(taps >= 0, taps, positions)  # unread pairs land in a spare row, dropped below
    inverse.scatter_(0, rows, outputs)
    return inverse[:positions].to(torch.int32).contiguous()


def _conv_kernel_arguments(x: Tensor, weight: Tensor, params: Sequence[Any]) -> tuple[tuple, Tensor, tuple]:
    """``(geometry, x as (B, C, P), the CPU kernel's basis arguments)`` for the operator's
    parameters ``(n, segments, continuous, clamp, stride, padding, dilation, transposed,
    output_padding, groups)``."""
    n, segments, continuous, clamp, stride, padding, dilation, transposed, output_padding, groups = params
    kernel = tuple(weight.shape[3:])
    geometry: tuple[Any, ...] = (tuple(x.shape[2:]), kernel, tuple(stride), tuple(padding), tuple(dilation), transposed)
    geometry += (tuple(output_padding),)
    flat = x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:])).contiguous()
    piece_stride, _ = piecewise_sizes(n, segments, continuous)
    return geometry, flat, (local_nodes(n), segments, piece_stride, clamp, transposed, groups)


def _cpu_conv_forward(kernels: Any, x: Tensor, weight: Tensor, *params: Any) -> Tensor:
    geometry, flat, basis = _conv_kernel_arguments(x, weight, params)
    y = kernels.conv_gather_forward(flat, weight.contiguous(), _cached_taps(*geometry), *basis)
    return y.view(x.shape[0], y.shape[1], *convolution_output_size(*geometry))


def _cpu_conv_backward(kernels: Any, grad: Tensor, x: Tensor, weight: Tensor, *params: Any) -> tuple[Tensor, Tensor]:
    *forward_params, needs = params
    geometry, flat, basis = _conv_kernel_arguments(x, weight, forward_params)
    grad_flat = grad.reshape(grad.shape[0], grad.shape[1], math.prod(grad.shape[2:]))
    inverse = _cached_inverse_taps(*geometry)
    grad_x, grad_weight = kernels.conv_gather_backward(grad_flat, flat, weight.contiguous(), inverse, *basis, needs[0])
    return (grad_x.view_as(x) if needs[0] else grad_x), grad_weight


piecewise_conv_gather = define(
    OperatorSpec(
        name="piecewise_conv_gather",
        reference=conv_gather_reference,
        backward_reference=_references.conv_gather_backward,
        fake=_conv_fake,
        tensors=2,
        kernels={"cpu": Kernel(_cpu_conv_forward, _cpu_conv_backward)},
    )
)


# ----------------------------------------------------------------------------------------------
# piecewise_product: the product neuron of piecewise Lagrange (or linear) links


def product_reference(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, linear: bool, alpha: float, clamp: bool
) -> Tensor:
    if linear:
        start, values = None, (x.clamp(-1, 1) if clamp else x).unsqueeze(-1)  # (B, I, 1)
    else:
        start, values = piecewise_values(x, n, segments, continuous, clamp=clamp)  # (B, I), (B, I, n)
    return product_neuron(link_values_gather(start, values, weight), alpha)


def _product_kernel_basis(n: int, segments: int, continuous: bool, linear: bool) -> tuple[Tensor, int, int]:
    """``(nodes, segments, stride)`` as the product kernel takes them."""
    if linear:
        return local_nodes(1), 1, 0
    stride, _ = piecewise_sizes(n, segments, continuous)
    return local_nodes(n), segments, stride


def _cpu_product_forward(kernels, x, weight, n, segments, continuous, linear, alpha, clamp):
    """``(y, rest, zeros)``: ``rest`` and ``zeros`` ``(B, O)`` are what the kernel's backward reuses."""
    nodes, pieces, stride = _product_kernel_basis(n, segments, continuous, linear)
    return kernels.product_forward(x.t().contiguous(), weight.contiguous(), nodes, pieces, stride, linear, alpha, clamp)


def _cpu_product_backward(kernels, grad, x, weight, rest, zeros, n, segments, continuous, linear, alpha, clamp, needs):
    nodes, pieces, stride = _product_kernel_basis(n, segments, continuous, linear)
    grad_x, grad_weight = kernels.product_backward(
        grad.contiguous(), x.t().contiguous(), weight.contiguous(), rest, zeros, nodes, pieces, stride, linear, alpha,
        clamp,
    )  # fmt: skip
    return grad_x.t(), grad_weight


def _product_saved(x: Tensor, weight: Tensor, *params: Any) -> tuple[Tensor, Tensor]:
    return x.new_empty(x.shape[0], weight.shape[0]), x.new_empty(x.shape[0], weight.shape[0])


piecewise_product = define(
    OperatorSpec(
        name="piecewise_product",
        reference=product_reference,
        backward_reference=_references.product_backward,
        fake=_gather_fake,
        tensors=2,
        saved={"rest": None, "zeros": None},
        kernels={
            "cpu": Kernel(
                _cpu_product_forward,
                _cpu_product_backward,
                saved=_product_saved,
                accepts=lambda x, weight, *params: weight.shape[0] != 0,  # the kernel splits its work by outputs
            )
        },
    )
)


# ----------------------------------------------------------------------------------------------
# piecewise_expansion: the dense channels-first expansion of the convolutions


def piecewise_expansion_reference(x: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    return piecewise_expansion_reference_fn(x, n, segments, continuous, clamp=clamp)


def _expansion_fake(x: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    _check_channels(x)
    _, num_weights = piecewise_sizes(n, segments, continuous)
    return x.new_empty(x.shape[0], x.shape[1] * num_weights, x.shape[2])


def _cpu_expansion_forward(kernels: Any, x: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    stride, num_weights = piecewise_sizes(n, segments, continuous)
    return kernels.expand_forward(x.contiguous(), local_nodes(n), segments, stride, num_weights, clamp)


def _cpu_expansion_backward(kernels, grad, x, n, segments, continuous, clamp, needs):
    stride, num_weights = piecewise_sizes(n, segments, continuous)
    return kernels.expand_backward(
        grad.contiguous(), x.contiguous(), local_nodes(n), segments, stride, num_weights, clamp
    )


piecewise_expansion = define(
    OperatorSpec(
        name="piecewise_expansion",
        reference=piecewise_expansion_reference,
        backward_reference=_references.expansion_backward,
        fake=_expansion_fake,
        kernels={"cpu": Kernel(_cpu_expansion_forward, _cpu_expansion_backward)},
    )
)


# ----------------------------------------------------------------------------------------------
# chebyshev_expansion: T_1 .. T_{n-1}, channels first


def chebyshev_expansion_reference(x: Tensor, n: int, clamp: bool) -> Tensor:
    return chebyshev_expansion_reference_fn(x, n, clamp=clamp)


def _chebyshev_fake(x: Tensor, n: int, clamp: bool) -> Tensor:
    _check_channels(x)
    return x.new_empty(x.shape[0], x.shape[1] * (n - 1), x.shape[2])


chebyshev_expansion = define(
    OperatorSpec(
        name="chebyshev_expansion",
        reference=chebyshev_expansion_reference,
        backward_reference=_references.chebyshev_backward,
        fake=_chebyshev_fake,
        kernels={
            "cpu": Kernel(
                lambda kernels, x, n, clamp: kernels.chebyshev_forward(x.contiguous(), n, clamp),
                lambda kernels, grad, x, n, clamp, needs: kernels.chebyshev_backward(
                    grad.contiguous(), x.contiguous(), n, clamp
                ),
                accepts=lambda x, n, clamp: n >= 2,
            )
        },
    )
)


# ----------------------------------------------------------------------------------------------
# fourier_values: 1, cos(k a), sin(k a) for k = 1..n


def fourier_values_reference(angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:
    values = fourier_basis_harmonic(angle, 1.0, n)
    if not constant:
        values = values[..., 1:]
    return values.movedim(-1, 1) if rows else values


def _fourier_values_default(angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:
    return fourier_values_reference(angle, n, rows, constant).contiguous()


def _fourier_fake(angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:
    width = 2 * n + (1 if constant else 0)
    if rows:
        torch._check(angle.dim() == 2, lambda: f"rows=True takes a (B, I) angle, got {tuple(angle.shape)}")
        return angle.new_empty(angle.shape[0], width, *angle.shape[1:])
    return angle.new_empty(*angle.shape, width)


def _cpu_fourier_forward(kernels: Any, angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:
    angle = angle.contiguous()
    return kernels.fourier_forward(angle.cos(), angle.sin(), n, rows, constant)


def _cpu_fourier_backward(kernels, grad, angle, n, rows, constant, needs):
    angle = angle.contiguous()
    return kernels.fourier_backward(grad.contiguous(), angle.cos(), angle.sin(), n, rows, constant)


fourier_values = define(
    OperatorSpec(
        name="fourier_values",
        reference=fourier_values_reference,
        backward_reference=_references.fourier_backward,
        fake=_fourier_fake,
        kernels={"cpu": Kernel(_cpu_fourier_forward, _cpu_fourier_backward)},
        default=_fourier_values_default,
    )
)


#: Every operator of the namespace, forward then backward, for tests and ``opcheck``.
OPERATORS = tuple(
    op
    for operator in (
        piecewise_gather,
        bspline_gather,
        piecewise_conv_gather,
        piecewise_product,
        piecewise_expansion,
        chebyshev_expansion,
        fourier_values,
    )
    for op in (operator.forward_op, operator.backward_op)
)
