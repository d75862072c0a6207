"""Triton kernels for piecewise sum neurons (the GPU twin of ``gather_cpu.cpp``): Lagrange
polynomials on each piece's nodes, or (``BSPLINE``) the uniform B-splines nonzero on it.

    y[b, o] = sum_i sum_k phi_k(t[i, b]) * slabs[i, start[i, b] + k, o]

from the inputs ``x[i, b]`` (transposed, so one input's batch is contiguous) and the weight as
one ``(M, O)`` slab per input. Pieces and Lagrange values are computed where they are used and
only the ``K`` active rows of each link are read, so the work is ``B * I * K * O`` whatever the
number of segments.

This module imports Triton at import time; :mod:`._gather_triton` imports it only when a kernel
is needed (and after ``TRITON_INTERPRET`` is read, which the CPU tests rely on).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _locate(x, SEGMENTS: tl.constexpr, CLAMP: tl.constexpr):
    """Piece index (int32) and local coordinate, as ``functional.locate_segments`` after the
    optional clamp. Comparisons, not min/max, so a NaN input keeps a NaN coordinate (piece 0)."""
    if CLAMP:
        x = tl.where(x < -1.0, -1.0, tl.where(x > 1.0, 1.0, x))
    scaled = (x + 1.0) * (0.5 * SEGMENTS)
    limited = tl.where(scaled > 0.0, tl.where(scaled < SEGMENTS - 1.0, scaled, SEGMENTS - 1.0), 0.0)
    piece = limited.to(tl.int32)  # truncation is the floor here: limited >= 0
    t = (scaled - piece.to(scaled.dtype)) * 2.0 - 1.0
    return piece, t


@triton.jit
def _lagrange(t, nodes_ptr, weights_ptr, k: tl.constexpr, K: tl.constexpr):
    """``phi_k(t) = w_k prod_{j != k} (t - node_j)`` (``w``: barycentric weights)."""
    value = tl.zeros_like(t) + tl.load(weights_ptr + k)
    for j in tl.static_range(K):
        if j != k:
            value = value * (t - tl.load(nodes_ptr + j))
    return value


@triton.jit
def _lagrange_slope(t, nodes_ptr, weights_ptr, k: tl.constexpr, K: tl.constexpr):
    """``phi_k'(t)``, the product rule carried along the product (dual numbers)."""
    value = tl.zeros_like(t) + tl.load(weights_ptr + k)
    slope = tl.zeros_like(t)
    for j in tl.static_range(K):
        if j != k:
            factor = t - tl.load(nodes_ptr + j)
            slope = slope * factor + value
            value = value * factor
    return slope


@triton.jit
def _polynomial(t, coefficients_ptr, K: tl.constexpr):
    """``sum_j c_j t^j`` for the ``K`` ascending coefficients at ``coefficients_ptr`` (Horner)."""
    value = tl.zeros_like(t) + tl.load(coefficients_ptr + K - 1)
    for j in tl.static_range(K - 1):
        value = value * t + tl.load(coefficients_ptr + K - 2 - j)
    return value


@triton.jit
def _polynomial_slope(t, coefficients_ptr, K: tl.constexpr):
    """The derivative of :func:`_polynomial` (Horner, carried along)."""
    value = tl.zeros_like(t) + tl.load(coefficients_ptr + K - 1)
    slope = tl.zeros_like(t)
    for j in tl.static_range(K - 1):
        slope = slope * t + value
        value = value * t + tl.load(coefficients_ptr + K - 2 - j)
    return slope


@triton.jit
def _basis(t, nodes_ptr, weights_ptr, k: tl.constexpr, K: tl.constexpr, BSPLINE: tl.constexpr):
    """Basis function ``k`` of a piece: a Lagrange polynomial, or with ``BSPLINE`` the B-spline
    whose monomial coefficients in ``t`` are row ``k`` of the ``(K, K)`` matrix at ``nodes_ptr``."""
    if BSPLINE:
        return _polynomial(t, nodes_ptr + k * K, K)
    return _lagrange(t, nodes_ptr, weights_ptr, k, K)


@triton.jit
def _basis_slope(t, nodes_ptr, weights_ptr, k: tl.constexpr, K: tl.constexpr, BSPLINE: tl.constexpr):
    """The derivative in ``t`` of :func:`_basis`."""
    if BSPLINE:
        return _polynomial_slope(t, nodes_ptr + k * K, K)
    return _lagrange_slope(t, nodes_ptr, weights_ptr, k, K)


@triton.jit
def _add_within_runs(value_a, flag_a, value_b, flag_b):
    """Segmented sum: a set flag starts a new run."""
    return tl.where(flag_b != 0, value_b, value_a + value_b), flag_a | flag_b


@triton.jit
def gather_forward_kernel(
    x_ptr,  # (I, B)
    slabs_ptr,  # (I, M, O)
    nodes_ptr,  # (K,), or the (K, K) B-spline coefficients
    weights_ptr,  # (K,)
    y_ptr,  # (SPLITS, B, O): one partial sum per chunk of inputs
    piece_ptr,  # (I, B) int32, written when SAVE_PIECE
    B,
    INPUTS,
    INPUTS_PER_SPLIT,
    OUTPUTS,
    SLAB_SIZE,  # M * O
    SEGMENTS: tl.constexpr,
    STRIDE: tl.constexpr,
    K: tl.constexpr,
    CLAMP: tl.constexpr,
    SAVE_PIECE: tl.constexpr,
    BSPLINE: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_O: tl.constexpr,
):
    """One ``(BLOCK_B, BLOCK_O)`` tile of ``y``, accumulated in registers over one chunk of
    ``INPUTS_PER_SPLIT`` inputs (``program_id(2)``: all of them unless a small batch leaves too few
    tiles to fill the GPU; the wrapper then sums the chunks' partial tiles)."""
    pid_b = tl.program_id(0)
    pid_o = tl.program_id(1)
    split = tl.program_id(2)
    first = split * INPUTS_PER_SPLIT
    last = tl.minimum(first + INPUTS_PER_SPLIT, INPUTS)
    offs_b = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)
    offs_o = pid_o * BLOCK_O + tl.arange(0, BLOCK_O)
    mask_b = offs_b < B
    mask_o = offs_o < OUTPUTS
    mask = mask_b[:, None] & mask_o[None, :]
    save_mask = mask_b & ((offs_b * 0 + pid_o) == 0)  # the first column of tiles writes the pieces
    acc = tl.zeros((BLOCK_B, BLOCK_O), dtype=y_ptr.dtype.element_ty)
    # per-input pointers advance by whole rows: 64-bit pointer arithmetic, no int32 products
    x_row = x_ptr + first.to(tl.int64) * B + offs_b
    piece_row = piece_ptr + first.to(tl.int64) * B + offs_b
    slab = slabs_ptr + first.to(tl.int64) * SLAB_SIZE + offs_o[None, :]
    for _ in range(first, last):
        x = tl.load(x_row, mask=mask_b, other=0.0)
        piece, t = _locate(x, SEGMENTS, CLAMP)
        if SAVE_PIECE:
            tl.store(piece_row, piece, mask=save_mask)
        rows = slab + (piece * STRIDE)[:, None].to(tl.int64) * OUTPUTS
        for k in tl.static_range(K):
            phi = _basis(t, nodes_ptr, weights_ptr, k, K, BSPLINE)
            acc += phi[:, None] * tl.load(rows + k * OUTPUTS, mask=mask, other=0.0)
        x_row += B
        piece_row += B
        slab += SLAB_SIZE
    y_tile = y_ptr + split.to(tl.int64) * B * OUTPUTS + offs_b[:, None].to(tl.int64) * OUTPUTS + offs_o[None, :]
    tl.store(y_tile, acc, mask=mask)


@triton.jit
def gather_backward_kernel(
    grad_ptr,  # (B, O)
    x_ptr,  # (I, B)
    slabs_ptr,  # (I, M, O)
    order_ptr,  # (I, B) int: each input's samples sorted by piece
    sorted_piece_ptr,  # (I, B) int32: their pieces
    nodes_ptr,
    weights_ptr,
    grad_x_ptr,  # (I, B)
    grad_slabs_ptr,  # (I, M, O), zeroed; receives atomic adds
    B,
    OUTPUTS,
    SLAB_SIZE,  # M * O
    SEGMENTS: tl.constexpr,
    STRIDE: tl.constexpr,
    K: tl.constexpr,
    CLAMP: tl.constexpr,
    NEED_X: tl.constexpr,
    BSPLINE: tl.constexpr,
    BLOCK_B: tl.constexpr,
    BLOCK_O: tl.constexpr,
):
    """Input (with ``NEED_X``) and weight gradients for ``BLOCK_B`` consecutive samples of one input in piece order.

    ``grad_x[i, b] = SEGMENTS * sum_k phi_k'(t) <grad[b], slabs[i, start + k]>``. Samples on one
    piece share their ``K`` weight rows, so each run of them within the tile is summed by a
    segmented scan and added to the rows once, from the run's last sample: atomic adds, but
    only one per run and tile rather than one per sample.
    """
    pid_b = tl.program_id(0)
    row = tl.program_id(1).to(tl.int64)
    offs = pid_b * BLOCK_B + tl.arange(0, BLOCK_B)
    mask_b = offs < B
    sample = tl.load(order_ptr + row * B + offs, mask=mask_b, other=0).to(tl.int64)
    piece = tl.load(sorted_piece_ptr + row * B + offs, mask=mask_b, other=0)
    x = tl.load(x_ptr + row * B + sample, mask=mask_b, other=0.0)
    _, t = _locate(x, SEGMENTS, CLAMP)

    # runs of equal pieces inside this tile
    previous = tl.load(sorted_piece_ptr + row * B + offs - 1, mask=mask_b & (offs > pid_b * BLOCK_B), other=-1)
    in_tile_next = (offs + 1 < B) & (offs + 1 < (pid_b + 1) * BLOCK_B)
    following = tl.load(sorted_piece_ptr + row * B + offs + 1, mask=in_tile_next, other=-1)
    starts_run = (previous != piece).to(tl.int32)
    ends_run = (following != piece) & mask_b

    grad_rows = grad_ptr + sample[:, None] * OUTPUTS
    slab_rows = slabs_ptr + row * SLAB_SIZE + (piece * STRIDE)[:, None].to(tl.int64) * OUTPUTS
    grad_slab_rows = grad_slabs_ptr + row * SLAB_SIZE + (piece * STRIDE)[:, None].to(tl.int64) * OUTPUTS
    flags = tl.broadcast_to(starts_run[:, None], (BLOCK_B, BLOCK_O))
    grad_x = tl.zeros((BLOCK_B,), dtype=x.dtype)
    for o0 in range(0, OUTPUTS, BLOCK_O):
        offs_o = o0 + tl.arange(0, BLOCK_O)
        mask_o = (offs_o < OUTPUTS)[None, :]
        mask = mask_b[:, None] & mask_o
        g = tl.load(grad_rows + offs_o[None, :], mask=mask, other=0.0)
        for k in tl.static_range(K):
            if NEED_X:
                w = tl.load(slab_rows + k * OUTPUTS + offs_o[None, :], mask=mask, other=0.0)
                grad_x += _basis_slope(t, nodes_ptr, weights_ptr, k, K, BSPLINE) * tl.sum(g * w, axis=1)
            contribution = _basis(t, nodes_ptr, weights_ptr, k, K, BSPLINE)[:, None] * g
            run_sums = tl.associative_scan((contribution, flags), 0, _add_within_runs)[0]
            tl.atomic_add(grad_slab_rows + k * OUTPUTS + offs_o[None, :], run_sums, mask=ends_run[:, None] & mask_o)
    if NEED_X:
        grad_x = grad_x * SEGMENTS  # d t / d x
        if CLAMP:  # the clamp passes no gradient outside [-1, 1] (nor for NaN), as torch.clamp
            grad_x = tl.where((x >= -1.0) & (x <= 1.0), grad_x, 0.0)
        tl.store(grad_x_ptr + row * B + sample, grad_x, mask=mask_b)
