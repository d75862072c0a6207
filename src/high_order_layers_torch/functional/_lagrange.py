"""Lagrange interpolation on Chebyshev-Gauss-Lobatto nodes."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._validation import check_int


def chebyshev_lobatto_nodes(
    n: int, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None
) -> Tensor:
    """The ``n`` Chebyshev-Gauss-Lobatto nodes ``x_k = -cos(pi k / (n - 1))`` in ascending order.

    The nodes are computed in float64 and made exactly antisymmetric (``x_k == -x_{n-1-k}``,
    the middle node of odd ``n`` exactly 0, the ends exactly -1 and 1) before the cast, so that
    every dtype sees the same, symmetric node set. ``n = 1`` gives the single node 0.

    Args:
        n: number of nodes, ``n >= 1``.

    Shape:
        Output: ``(n,)``.
    """
    check_int("n", n, minimum=1)
    if n == 1:
        return torch.zeros(1, dtype=dtype, device=device)
    k = torch.arange(n, dtype=torch.float64, device="cpu")  # computed on the CPU, then moved
    nodes = -torch.cos(math.pi * k / (n - 1))
    nodes = 0.5 * (nodes - nodes.flip(0))
    nodes[0], nodes[-1] = -1.0, 1.0
    if n % 2:
        nodes[n // 2] = 0.0
    return nodes.to(dtype=dtype or torch.get_default_dtype(), device=device)


def lagrange_inverse_denominators(nodes: Tensor) -> Tensor:
    """``1 / prod_{j != k} (x_k - x_j)`` for every node, computed in float64.

    Shape:
        nodes: ``(n,)``. Output: ``(n,)`` in the dtype of ``nodes``.
    """
    x = nodes.to(torch.float64)
    diff = x[:, None] - x[None, :]
    diff.fill_diagonal_(1.0)
    return (1.0 / diff.prod(dim=1)).to(nodes.dtype)


def lagrange_basis(t: Tensor, nodes: Tensor, inverse_denominators: Tensor) -> Tensor:
    """Values of the ``n`` Lagrange basis polynomials of ``nodes`` at ``t``.

    ``L_k(t) = prod_{j != k} (t - x_j) / (x_k - x_j)``, with the numerator formed from exclusive
    prefix and suffix products of ``t - x_j``: O(n) work per point and no division by
    ``t - x_k`` (unlike the barycentric form), hence no special case at nodes and smooth
    autograd. The values are then divided by their sum, which is 1 up to rounding: as in the
    second barycentric form this makes the basis an exact partition of unity, and at a node,
    where every other value is exactly zero, exactly a Kronecker delta.

    Args:
        t: evaluation points, any shape, usually in ``[-1, 1]``.
        nodes: interpolation nodes, shape ``(n,)``.
        inverse_denominators: from :func:`lagrange_inverse_denominators`, shape ``(n,)``.

    Shape:
        Output: ``(*t.shape, n)``.
    """
    n = nodes.shape[0]
    if n == 1:
        return torch.ones_like(t).unsqueeze(-1)
    columns = (t.unsqueeze(-1) - nodes).unbind(-1)  # n tensors shaped like t
    # The products run as n elementwise steps rather than ``cumprod``: on CUDA a scan along a
    # dimension of a few elements is slow, and its backward synchronises (it looks for zeros, and
    # at a node one factor is exactly zero). The order of multiplication is the scan's.
    left, right = [torch.ones_like(columns[0])], [torch.ones_like(columns[0])]
    for k in range(n - 1):
        left.append(left[-1] * columns[k])
        right.append(right[-1] * columns[n - 1 - k])
    raw = torch.stack(left, -1) * torch.stack(right[::-1], -1) * inverse_denominators
    return raw / raw.sum(dim=-1, keepdim=True)


def chebyshev_to_lagrange(nodes: Tensor) -> Tensor:
    """The matrix ``Q`` with ``L_k(t) = sum_j T_j(t) Q[j, k]``, computed in float64.

    ``T_j`` are the Chebyshev polynomials of the first kind; ``Q`` is the inverse of the
    Chebyshev-Vandermonde matrix ``V[k, j] = T_j(x_k)``, which on Chebyshev-Gauss-Lobatto nodes
    is a discrete cosine transform and is well conditioned for every ``n``.

    Shape:
        nodes: ``(n,)``. Output: ``(n, n)`` in the dtype of ``nodes``.
    """
    x = nodes.to(torch.float64)
    vandermonde = chebyshev_polynomials(x, x.shape[0])  # (n, n)
    return torch.linalg.inv(vandermonde).to(nodes.dtype)


def _chebyshev_into(t: Tensor, n: int, first: int, out: Tensor, dim: int) -> None:
    """Write ``T_first(t) .. T_{n-1}(t)`` into the slices of ``out`` along ``dim``."""
    twice = t + t
    older, old = torch.ones_like(t), t  # T_0, T_1
    for degree in range(n):
        if degree == 0:
            current = older
        elif degree == 1:
            current = old
        else:
            current = torch.mul(twice, old).sub_(older)
            older, old = old, current
        if degree >= first:
            out.select(dim, degree - first).copy_(current)


class _ChebyshevPolynomials(torch.autograd.Function):
    """The recurrence without an autograd graph per term: the forward writes the values straight
    into their final layout and saves only ``t``; the backward uses ``T_j' = j U_{j-1}`` with the
    Chebyshev polynomials of the second kind, in differentiable torch operations, so higher
    derivatives (as in physics-informed losses) work too; forward mode (``jvp``) scales the same
    derivatives by the tangent."""

    @staticmethod
    def forward(t: Tensor, n: int, dim: int, first: int) -> Tensor:
        shape = list(t.shape)
        shape.insert(dim if dim >= 0 else t.dim() + 1 + dim, n - first)
        out = t.new_empty(shape)
        _chebyshev_into(t, n, first, out, dim)
        return out

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: Tensor) -> None:
        t, ctx.n, ctx.dim, ctx.first = inputs
        ctx.save_for_backward(t)
        ctx.save_for_forward(t)

    @staticmethod
    def vmap(info, in_dims: tuple, t: Tensor, n: int, dim: int, first: int):
        """``torch.func.vmap``: the batch axis first, the degree axis one further along."""
        t = t.movedim(in_dims[0], 0)
        return _ChebyshevPolynomials.apply(t, n, dim + 1 if dim >= 0 else dim, first), 0

    @staticmethod
    def backward(ctx, grad: Tensor):
        (t,) = ctx.saved_tensors
        n, dim, first = ctx.n, ctx.dim, ctx.first
        grad_t = torch.zeros_like(t)
        older, old = torch.zeros_like(t), torch.ones_like(t)  # U_{-1} = 0, U_0 = 1
        for degree in range(1, n):  # T_degree' = degree * U_{degree - 1}
            if degree >= first:
                grad_t = grad_t + degree * grad.select(dim, degree - first) * old
            older, old = old, 2 * t * old - older
        return grad_t, None, None, None

    @staticmethod
    def jvp(ctx, tangent: Tensor, *unused: None) -> Tensor:
        (t,) = ctx.saved_tensors
        n, dim, first = ctx.n, ctx.dim, ctx.first
        derivatives = []
        previous, current = torch.zeros_like(t), torch.ones_like(t)  # U_{degree - 1}, U_degree
        for degree in range(n):  # T_degree' = degree * U_{degree - 1}
            if degree >= first:
                derivatives.append(degree * previous)
            previous, current = current, 2 * t * current - previous
        return torch.stack(derivatives, dim=dim) * tangent.unsqueeze(dim)


def chebyshev_polynomials(t: Tensor, n: int, *, dim: int = -1, first: int = 0) -> Tensor:
    """``[T_first(t), ..., T_{n-1}(t)]`` by the recurrence ``T_{j+1} = 2 t T_j - T_{j-1}``.

    Args:
        t: evaluation points.
        n: one more than the highest degree.
        dim: where the new degree axis goes in the output.
        first: lowest degree returned (``first = 1`` drops the constant ``T_0 = 1``).

    Shape:
        t: any shape. Output: ``t.shape`` with a degree axis of size ``n - first`` inserted at
        ``dim`` (``(*t.shape, n)`` by default).
    """
    if first >= n:
        return t.unsqueeze(dim).narrow(dim, 0, 0)
    if torch.compiler.is_compiling():  # traced graphs fuse the plain recurrence by themselves
        terms = [torch.ones_like(t), t]
        for _ in range(2, n):
            terms.append(2 * t * terms[-1] - terms[-2])
        return torch.stack(terms[first:n], dim=dim)
    return _ChebyshevPolynomials.apply(t, n, dim, first)


def lagrange_basis_chebyshev(t: Tensor, chebyshev_to_lagrange_matrix: Tensor) -> Tensor:
    """The Lagrange basis of :func:`lagrange_basis`, evaluated through its Chebyshev expansion.

    A recurrence and one ``n x n`` product: a few passes over the data instead of the ~7 n of
    the product form, and a cheap backward, which makes it the form the layers use. It agrees
    with :func:`lagrange_basis` to a few ulps; at a node it is a Kronecker delta to round-off
    rather than exactly (use :func:`lagrange_basis` where bit-exactness matters).

    Args:
        t: evaluation points, any shape.
        chebyshev_to_lagrange_matrix: ``Q`` from :func:`chebyshev_to_lagrange`, ``(n, n)``.

    Shape:
        Output: ``(*t.shape, n)``.
    """
    n = chebyshev_to_lagrange_matrix.shape[0]
    dtype = torch.promote_types(t.dtype, chebyshev_to_lagrange_matrix.dtype)  # as elementwise ops would
    # Degree-major (n, points) layout: one wide GEMM instead of a slow skinny one.
    chebyshev = chebyshev_polynomials(t.to(dtype), n, dim=0).reshape(n, -1)
    values = chebyshev_to_lagrange_matrix.to(dtype).t() @ chebyshev  # (n, points)
    return values.reshape(n, *t.shape).movedim(0, -1)


def _poly_mul_linear(coefficients: Tensor, root: float) -> Tensor:
    """Ascending coefficients of ``p(t) * (t - root)``."""
    shifted = torch.cat([coefficients.new_zeros(1), coefficients])
    return shifted - root * torch.cat([coefficients, coefficients.new_zeros(1)])


def lagrange_monomial_matrix(nodes: Tensor) -> Tensor:
    """Monomial coefficients of every Lagrange basis polynomial of ``nodes``, in float64.

    Row ``k`` holds the ascending coefficients of ``L_k(t)``, so a polynomial with node values
    ``w`` has coefficients ``w @ matrix``.

    Shape:
        nodes: ``(n,)``. Output: ``(n, n)``.

    Raises:
        TypeError: if ``nodes`` is not a Tensor.
        ValueError: if ``nodes`` is not 1-d and non-empty, or holds a value twice (no Lagrange
            basis exists then).
    """
    if not isinstance(nodes, Tensor):
        raise TypeError(f"nodes must be a Tensor of shape (n,), got {type(nodes).__name__}")
    if nodes.dim() != 1 or nodes.numel() == 0:
        raise ValueError(f"nodes must have shape (n,) with n >= 1, got {tuple(nodes.shape)}")
    x = nodes.to(torch.float64).cpu()
    n = x.numel()
    if torch.unique(x).numel() != n:
        raise ValueError(f"nodes must be distinct, got {x.tolist()}")
    rows = []
    for k in range(n):
        poly = torch.ones(1, dtype=torch.float64)
        denominator = 1.0
        for j in range(n):
            if j != k:
                poly = _poly_mul_linear(poly, x[j].item())
                denominator *= x[k].item() - x[j].item()
        rows.append(poly / denominator)
    return torch.stack(rows)
