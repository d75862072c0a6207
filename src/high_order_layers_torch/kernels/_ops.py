"""The accelerated computations as PyTorch operators, in the ``high_order_layers`` namespace.

Each computation is a forward operator and a backward operator made with ``torch.library``:

- the function body is the **pure-torch reference**, the implementation on every device without
  a kernel (and the oracle the kernels are tested against);
- ``register_kernel("cpu")`` runs the C++ kernels (``*.cpp``), ``register_kernel("cuda")`` the
  Triton kernels where there are any; either falls back to the reference where
  :mod:`._policy` says its kernel does not take the tensors (switched off, not buildable, a
  dtype it has no code for);
- ``register_fake`` states the shapes, so ``torch.compile`` (``fullgraph=True`` included) keeps
  the kernels as single nodes of its graph;
- :mod:`._autograd` joins each pair into one differentiable function (``torch.func`` and higher
  derivatives included).

Adding a device or a kernel is one ``register_kernel`` in this file. The operators
(``torch.ops.high_order_layers.piecewise_gather`` and the others) can be called directly; the
functions at the bottom of this file are the differentiable entry points the layers use.

Shapes, with ``B`` samples, ``I`` inputs, ``O`` outputs, ``M`` weights per link and ``C``
channels at ``P`` positions:

- ``piecewise_gather``: ``x (B, I)``, ``weight (O, I, M)`` -> ``(B, O)``, the sum neuron of
  piecewise Lagrange links reading only the active weights;
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
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..functional import chebyshev_expansion as chebyshev_expansion_reference_fn
from ..functional import (
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
from ..functional import piecewise_expansion as piecewise_expansion_reference_fn
from . import _policy, _references
from ._autograd import differentiable

NAMESPACE = "high_order_layers"


@functools.cache
def local_nodes(n: int) -> Tensor:
    """The ``n`` CGL nodes of a piece, in float64, as the kernels take them."""
    return chebyshev_lobatto_nodes(n, dtype=torch.float64)


def _no_tensor(like: Tensor) -> Tensor:
    """The empty tensor an operator returns in place of a gradient nobody wants."""
    return like.new_empty(0)


def _wanted(grads: Sequence[Tensor], tensors: tuple[Tensor, Tensor], needs: Sequence[bool]) -> tuple[Tensor, Tensor]:
    """The gradients of ``(x, weight)``: each contiguous where wanted, else an empty tensor."""
    grad_x, grad_weight = (
        g.contiguous() if need else _no_tensor(t) for g, t, need in zip(grads, tensors, needs, strict=True)
    )
    return grad_x, grad_weight


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


def _piecewise_gather_default(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, clamp: bool
) -> tuple[Tensor, Tensor]:
    """``(y (B, O), pieces)``: ``pieces`` is what the device's backward reuses (empty here)."""
    return _gather_lean(x, weight, n, segments, continuous, clamp), _no_tensor(x).int()


piecewise_gather_op = torch.library.custom_op(
    f"{NAMESPACE}::piecewise_gather", _piecewise_gather_default, mutates_args=()
)


@piecewise_gather_op.register_fake
def _(x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> tuple[Tensor, Tensor]:
    kernels = _policy.triton_kernels_for(weight)
    pieces = x.new_empty(x.shape[1], x.shape[0], dtype=torch.int32) if kernels is not None else x.new_empty(0).int()
    return x.new_empty(x.shape[0], weight.shape[0]), pieces


def _piecewise_gather_backward_default(
    grad: Tensor,
    x: Tensor,
    weight: Tensor,
    pieces: Tensor,
    n: int,
    segments: int,
    continuous: bool,
    clamp: bool,
    needs: list[bool],
) -> tuple[Tensor, Tensor]:
    grads = _references.gather_backward(grad, x, weight, n, segments, continuous, clamp)
    return _wanted(grads, (x, weight), needs)


piecewise_gather_backward_op = torch.library.custom_op(
    f"{NAMESPACE}::piecewise_gather_backward", _piecewise_gather_backward_default, mutates_args=()
)


@piecewise_gather_backward_op.register_fake
def _(grad, x, weight, pieces, n, segments, continuous, clamp, needs):
    return tuple(torch.empty_like(t) if need else _no_tensor(t) for t, need in zip((x, weight), needs, strict=True))


@piecewise_gather_op.register_kernel("cpu")
def _(x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> tuple[Tensor, Tensor]:
    kernels = _policy.cpu_kernels_for(weight)
    if kernels is None:
        return _piecewise_gather_default(x, weight, n, segments, continuous, clamp)
    stride, _ = piecewise_sizes(n, segments, continuous)
    y = kernels.gather_forward(x.t().contiguous(), weight.contiguous(), local_nodes(n), segments, stride, clamp)
    return y, _no_tensor(x).int()


@piecewise_gather_backward_op.register_kernel("cpu")
def _(grad, x, weight, pieces, n, segments, continuous, clamp, needs):
    kernels = _policy.cpu_kernels_for(weight)
    if kernels is None:
        return _piecewise_gather_backward_default(grad, x, weight, pieces, n, segments, continuous, clamp, needs)
    stride, _ = piecewise_sizes(n, segments, continuous)
    grad_x, grad_weight = kernels.gather_backward(
        grad.contiguous(), x.t().contiguous(), weight.contiguous(), local_nodes(n), segments, stride, clamp, needs[0]
    )
    return _wanted((grad_x.t(), grad_weight), (x, weight), needs)


@piecewise_gather_op.register_kernel("cuda")
def _(x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> tuple[Tensor, Tensor]:
    if _policy.triton_kernels_for(weight) is None:
        return _piecewise_gather_default(x, weight, n, segments, continuous, clamp)
    from ._gather_triton import triton_gather_forward

    return triton_gather_forward(x, weight, n, segments, continuous, clamp)


@piecewise_gather_backward_op.register_kernel("cuda")
def _(grad, x, weight, pieces, n, segments, continuous, clamp, needs):
    if pieces.numel() == 0 or _policy.triton_kernels_for(weight) is None:
        return _piecewise_gather_backward_default(grad, x, weight, pieces, n, segments, continuous, clamp, needs)
    from ._gather_triton import triton_gather_backward

    grad_x, grad_weight = triton_gather_backward(grad, x, weight, pieces, n, segments, continuous, clamp, needs[0])
    return _wanted((grad_x, grad_weight), (x, weight), needs)


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


piecewise_conv_gather_op = torch.library.custom_op(
    f"{NAMESPACE}::piecewise_conv_gather", conv_gather_reference, mutates_args=()
)


def _conv_output_channels(weight: Tensor, transposed: bool, groups: int) -> int:
    return weight.shape[2] * groups if transposed else weight.shape[0]


@piecewise_conv_gather_op.register_fake
def _(x: Tensor, weight: Tensor, *params: Any) -> Tensor:
    stride, padding, dilation, transposed, output_padding, groups = params[4:]
    kernel = weight.shape[3:]
    size = convolution_output_size(x.shape[2:], kernel, stride, padding, dilation, transposed, output_padding)
    return x.new_empty(x.shape[0], _conv_output_channels(weight, transposed, groups), *size)


def _piecewise_conv_gather_backward_default(
    grad: Tensor, x: Tensor, weight: Tensor, *params: Any
) -> tuple[Tensor, Tensor]:
    """``params``: the forward's parameters, then ``needs``, as :func:`_backward_schema` types them."""
    grads = _references.conv_gather_backward(grad, x, weight, *params)
    return _wanted(grads, (x, weight), params[-1])


def _backward_schema(forward: Callable[..., Any]) -> str:
    """The schema of a backward operator that takes the gradient, the forward's own arguments
    (with the types ``custom_op`` infers from the forward's annotations), then ``needs`` (one flag
    per input tensor), and returns the gradients of ``x`` and ``weight``."""
    forward_schema = torch.library.infer_schema(forward, mutates_args=())  # "(Tensor x, ...) -> Tensor"
    arguments = forward_schema[1 : forward_schema.index(") ->")]
    return f"(Tensor grad, {arguments}, bool[] needs) -> (Tensor, Tensor)"


piecewise_conv_gather_backward_op = torch.library.custom_op(
    f"{NAMESPACE}::piecewise_conv_gather_backward",
    _piecewise_conv_gather_backward_default,
    mutates_args=(),
    schema=_backward_schema(conv_gather_reference),
)


@piecewise_conv_gather_backward_op.register_fake
def _(grad: Tensor, x: Tensor, weight: Tensor, *params: Any) -> tuple[Tensor, ...]:
    needs = params[-1]  # after the forward's parameters
    return tuple(torch.empty_like(t) if need else _no_tensor(t) for t, need in zip((x, weight), needs, strict=True))


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


@piecewise_conv_gather_op.register_kernel("cpu")
def _(x: Tensor, weight: Tensor, *params: Any) -> Tensor:
    kernels = _policy.cpu_kernels_for(weight)
    if kernels is None:
        return conv_gather_reference(x, weight, *params)
    geometry, flat, basis = _conv_kernel_arguments(x, weight, params)
    y = kernels.conv_gather_forward(flat, weight.contiguous(), _cached_taps(*geometry), *basis)
    return y.view(x.shape[0], y.shape[1], *convolution_output_size(*geometry))


@piecewise_conv_gather_backward_op.register_kernel("cpu")
def _(grad: Tensor, x: Tensor, weight: Tensor, *params: Any) -> tuple[Tensor, Tensor]:
    kernels = _policy.cpu_kernels_for(weight)
    if kernels is None:
        return _piecewise_conv_gather_backward_default(grad, x, weight, *params)
    *forward_params, needs = params
    geometry, flat, basis = _conv_kernel_arguments(x, weight, forward_params)
    grad_flat = grad.reshape(grad.shape[0], grad.shape[1], math.prod(grad.shape[2:]))
    inverse = _cached_inverse_taps(*geometry)
    grad_x, grad_weight = kernels.conv_gather_backward(grad_flat, flat, weight.contiguous(), inverse, *basis, needs[0])
    grads = (grad_x.view_as(x) if needs[0] else grad_x, grad_weight)
    return _wanted(grads, (x, weight), needs)


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


def _piecewise_product_default(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, linear: bool, alpha: float, clamp: bool
) -> tuple[Tensor, Tensor, Tensor]:
    """``(y (B, O), rest, zeros)``: ``rest`` and ``zeros`` (``(B, O)`` from the CPU kernel,
    empty here) are what its backward reuses."""
    y = product_reference(x, weight, n, segments, continuous, linear, alpha, clamp)
    return y, _no_tensor(y), _no_tensor(y)


piecewise_product_op = torch.library.custom_op(
    f"{NAMESPACE}::piecewise_product", _piecewise_product_default, mutates_args=()
)


@piecewise_product_op.register_fake
def _(x, weight, n, segments, continuous, linear, alpha, clamp):
    y = x.new_empty(x.shape[0], weight.shape[0])
    if _policy.cpu_kernels_for(weight) is not None:
        return y, torch.empty_like(y), torch.empty_like(y)
    return y, _no_tensor(y), _no_tensor(y)


def _piecewise_product_backward_default(
    grad: Tensor,
    x: Tensor,
    weight: Tensor,
    rest: Tensor,
    zeros: Tensor,
    n: int,
    segments: int,
    continuous: bool,
    linear: bool,
    alpha: float,
    clamp: bool,
    needs: list[bool],
) -> tuple[Tensor, Tensor]:
    grads = _references.product_backward(grad, x, weight, n, segments, continuous, linear, alpha, clamp)
    return _wanted(grads, (x, weight), needs)


piecewise_product_backward_op = torch.library.custom_op(
    f"{NAMESPACE}::piecewise_product_backward", _piecewise_product_backward_default, mutates_args=()
)


@piecewise_product_backward_op.register_fake
def _(grad, x, weight, rest, zeros, n, segments, continuous, linear, alpha, clamp, needs):
    return tuple(torch.empty_like(t) if need else _no_tensor(t) for t, need in zip((x, weight), needs, strict=True))


def _product_kernel_basis(n: int, segments: int, continuous: bool, linear: bool) -> tuple[Tensor, int, int]:
    """``(nodes, segments, stride)`` as the product kernel takes them."""
    if linear:
        return local_nodes(1), 1, 0
    stride, _ = piecewise_sizes(n, segments, continuous)
    return local_nodes(n), segments, stride


@piecewise_product_op.register_kernel("cpu")
def _(x, weight, n, segments, continuous, linear, alpha, clamp):
    kernels = _policy.cpu_kernels_for(weight)
    if kernels is None or weight.shape[0] == 0:  # the kernel splits its work by outputs
        return _piecewise_product_default(x, weight, n, segments, continuous, linear, alpha, clamp)
    nodes, pieces, stride = _product_kernel_basis(n, segments, continuous, linear)
    y, rest, zeros = kernels.product_forward(
        x.t().contiguous(), weight.contiguous(), nodes, pieces, stride, linear, alpha, clamp
    )
    return y, rest, zeros


@piecewise_product_backward_op.register_kernel("cpu")
def _(grad, x, weight, rest, zeros, n, segments, continuous, linear, alpha, clamp, needs):
    kernels = _policy.cpu_kernels_for(weight)
    if kernels is None or rest.numel() == 0:
        return _piecewise_product_backward_default(
            grad, x, weight, rest, zeros, n, segments, continuous, linear, alpha, clamp, needs
        )
    nodes, pieces, stride = _product_kernel_basis(n, segments, continuous, linear)
    grad_x, grad_weight = kernels.product_backward(
        grad.contiguous(), x.t().contiguous(), weight.contiguous(), rest, zeros, nodes, pieces, stride, linear, alpha,
        clamp,
    )  # fmt: skip
    return _wanted((grad_x.t(), grad_weight), (x, weight), needs)


# ----------------------------------------------------------------------------------------------
# piecewise_expansion: the dense channels-first expansion of the convolutions


def piecewise_expansion_reference(x: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    return piecewise_expansion_reference_fn(x, n, segments, continuous, clamp=clamp)


piecewise_expansion_op = torch.library.custom_op(
    f"{NAMESPACE}::piecewise_expansion", piecewise_expansion_reference, mutates_args=()
)


@piecewise_expansion_op.register_fake
def _(x: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    _, num_weights = piecewise_sizes(n, segments, continuous)
    return x.new_empty(x.shape[0], x.shape[1] * num_weights, x.shape[2])


def _piecewise_expansion_backward_default(
    grad: Tensor, x: Tensor, n: int, segments: int, continuous: bool, clamp: bool, needs: list[bool]
) -> Tensor:
    return _references.expansion_backward(grad, x, n, segments, continuous, clamp).contiguous()


piecewise_expansion_backward_op = torch.library.custom_op(
    f"{NAMESPACE}::piecewise_expansion_backward", _piecewise_expansion_backward_default, mutates_args=()
)


@piecewise_expansion_backward_op.register_fake
def _(grad, x, n, segments, continuous, clamp, needs):
    return torch.empty_like(x)


@piecewise_expansion_op.register_kernel("cpu")
def _(x: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:
    kernels = _policy.cpu_kernels_for(x)
    if kernels is None:
        return piecewise_expansion_reference(x, n, segments, continuous, clamp)
    stride, num_weights = piecewise_sizes(n, segments, continuous)
    return kernels.expand_forward(x.contiguous(), local_nodes(n), segments, stride, num_weights, clamp)


@piecewise_expansion_backward_op.register_kernel("cpu")
def _(grad, x, n, segments, continuous, clamp, needs):
    kernels = _policy.cpu_kernels_for(x)
    if kernels is None:
        return _piecewise_expansion_backward_default(grad, x, n, segments, continuous, clamp, needs)
    stride, num_weights = piecewise_sizes(n, segments, continuous)
    return kernels.expand_backward(
        grad.contiguous(), x.contiguous(), local_nodes(n), segments, stride, num_weights, clamp
    )


# ----------------------------------------------------------------------------------------------
# chebyshev_expansion: T_1 .. T_{n-1}, channels first


def chebyshev_expansion_reference(x: Tensor, n: int, clamp: bool) -> Tensor:
    return chebyshev_expansion_reference_fn(x, n, clamp=clamp)


chebyshev_expansion_op = torch.library.custom_op(
    f"{NAMESPACE}::chebyshev_expansion", chebyshev_expansion_reference, mutates_args=()
)


@chebyshev_expansion_op.register_fake
def _(x: Tensor, n: int, clamp: bool) -> Tensor:
    return x.new_empty(x.shape[0], x.shape[1] * (n - 1), x.shape[2])


def _chebyshev_expansion_backward_default(grad: Tensor, x: Tensor, n: int, clamp: bool, needs: list[bool]) -> Tensor:
    return _references.chebyshev_backward(grad, x, n, clamp).contiguous()


chebyshev_expansion_backward_op = torch.library.custom_op(
    f"{NAMESPACE}::chebyshev_expansion_backward", _chebyshev_expansion_backward_default, mutates_args=()
)


@chebyshev_expansion_backward_op.register_fake
def _(grad, x, n, clamp, needs):
    return torch.empty_like(x)


@chebyshev_expansion_op.register_kernel("cpu")
def _(x: Tensor, n: int, clamp: bool) -> Tensor:
    kernels = _policy.cpu_kernels_for(x)
    if kernels is None or n < 2:
        return chebyshev_expansion_reference(x, n, clamp)
    return kernels.chebyshev_forward(x.contiguous(), n, clamp)


@chebyshev_expansion_backward_op.register_kernel("cpu")
def _(grad, x, n, clamp, needs):
    kernels = _policy.cpu_kernels_for(x)
    if kernels is None or n < 2:
        return _chebyshev_expansion_backward_default(grad, x, n, clamp, needs)
    return kernels.chebyshev_backward(grad.contiguous(), x.contiguous(), n, clamp)


# ----------------------------------------------------------------------------------------------
# fourier_values: 1, cos(k a), sin(k a) for k = 1..n


def fourier_values_reference(angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:
    values = fourier_basis_harmonic(angle, 1.0, n)
    if not constant:
        values = values[..., 1:]
    return values.movedim(-1, 1) if rows else values


def _fourier_values_default(angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:
    return fourier_values_reference(angle, n, rows, constant).contiguous()


fourier_values_op = torch.library.custom_op(f"{NAMESPACE}::fourier_values", _fourier_values_default, mutates_args=())


@fourier_values_op.register_fake
def _(angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:
    width = 2 * n + (1 if constant else 0)
    if rows:
        return angle.new_empty(angle.shape[0], width, *angle.shape[1:])
    return angle.new_empty(*angle.shape, width)


def _fourier_values_backward_default(
    grad: Tensor, angle: Tensor, n: int, rows: bool, constant: bool, needs: list[bool]
) -> Tensor:
    return _references.fourier_backward(grad, angle, n, rows, constant).contiguous()


fourier_values_backward_op = torch.library.custom_op(
    f"{NAMESPACE}::fourier_values_backward", _fourier_values_backward_default, mutates_args=()
)


@fourier_values_backward_op.register_fake
def _(grad, angle, n, rows, constant, needs):
    return torch.empty_like(angle)


@fourier_values_op.register_kernel("cpu")
def _(angle: Tensor, n: int, rows: bool, constant: bool) -> Tensor:
    kernels = _policy.cpu_kernels_for(angle)
    if kernels is None:
        return _fourier_values_default(angle, n, rows, constant)
    angle = angle.contiguous()
    return kernels.fourier_forward(angle.cos(), angle.sin(), n, rows, constant)


@fourier_values_backward_op.register_kernel("cpu")
def _(grad, angle, n, rows, constant, needs):
    kernels = _policy.cpu_kernels_for(angle)
    if kernels is None:
        return _fourier_values_backward_default(grad, angle, n, rows, constant, needs)
    angle = angle.contiguous()
    return kernels.fourier_backward(grad.contiguous(), angle.cos(), angle.sin(), n, rows, constant)


# ----------------------------------------------------------------------------------------------
# The differentiable entry points

piecewise_gather = differentiable(f"{NAMESPACE}::piecewise_gather", _gather_reference, tensors=2, saved=1)
piecewise_conv_gather = differentiable(f"{NAMESPACE}::piecewise_conv_gather", conv_gather_reference, tensors=2)
piecewise_product = differentiable(f"{NAMESPACE}::piecewise_product", product_reference, tensors=2, saved=2)
piecewise_expansion = differentiable(f"{NAMESPACE}::piecewise_expansion", piecewise_expansion_reference, tensors=1)
chebyshev_expansion = differentiable(f"{NAMESPACE}::chebyshev_expansion", chebyshev_expansion_reference, tensors=1)
fourier_values = differentiable(f"{NAMESPACE}::fourier_values", fourier_values_reference, tensors=1)

#: Every operator of the namespace, forward then backward, for tests and ``opcheck``.
OPERATORS = (
    piecewise_gather_op,
    piecewise_gather_backward_op,
    piecewise_conv_gather_op,
    piecewise_conv_gather_backward_op,
    piecewise_product_op,
    piecewise_product_backward_op,
    piecewise_expansion_op,
    piecewise_expansion_backward_op,
    chebyshev_expansion_op,
    chebyshev_expansion_backward_op,
    fourier_values_op,
    fourier_values_backward_op,
)
