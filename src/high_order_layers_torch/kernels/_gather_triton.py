"""Launching the Triton kernels for piecewise sum neurons on GPUs (``_gather_triton_kernels.py``):
the CUDA implementation of the ``piecewise_gather`` operator (:mod:`._ops`).

Used for CUDA tensors when Triton is installed (``pip install triton``; it comes with the CUDA
builds of PyTorch) unless ``HIGH_ORDER_LAYERS_TRITON=0`` (see :mod:`._switches`). The weight
gradient is summed with atomic adds, so its last bits may differ from run to run; under
``torch.use_deterministic_algorithms(True)`` the operator runs the deterministic reference.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import warnings
from types import ModuleType

import torch
from torch import Tensor

from ..functional import (
    bspline_monomial_matrix,
    chebyshev_lobatto_nodes,
    lagrange_inverse_denominators,
    piecewise_sizes,
)

#: Tile sizes (samples, outputs) of the forward and backward kernels: the largest of those tried for
#: which ptxas reports no register spills on sm_90 in float32 and float64 (a static check; not yet
#: tuned by timing on a GPU).
FORWARD_TILE = (32, 32)
BACKWARD_TILE = (32, 16)

#: A forward launch with fewer tiles than this many per multiprocessor (small batches) splits
#: the inputs into chunks, one program per tile and chunk, and sums the chunks' partial tiles:
#: otherwise a batch of 1024 with 128 outputs runs 128 programs, fewer than an H100 or H200
#: has multiprocessors, each looping over every input.
FORWARD_PROGRAMS_PER_SM = 4
#: The fewest inputs a chunk gets (below it the extra partial tiles cost more than they save).
MIN_INPUTS_PER_SPLIT = 32

#: Compiler options of every launch. Fused multiply-adds are asked for explicitly: Triton's default
#: for them is changing between releases (and warns while it is unset).
LAUNCH_OPTIONS = {"enable_fp_fusion": True}


@functools.cache
def triton_kernels() -> ModuleType | None:
    """The kernel module, or ``None`` where Triton is not installed."""
    try:
        return importlib.import_module(f"{__package__}._gather_triton_kernels")
    except ImportError:  # Triton is not installed: the usual case without a GPU
        return None
    except Exception as error:  # an installed Triton that fails to load: say so, then use the twin
        warnings.warn(f"Triton kernels unavailable, using pure-torch paths: {error}", RuntimeWarning, stacklevel=3)
        return None


def _loaded_kernels() -> ModuleType:
    """The kernel module, where the caller has found Triton (:mod:`._switches`)."""
    kernels = triton_kernels()
    if kernels is None:
        raise RuntimeError("the Triton kernels are not available (Triton is not installed)")
    return kernels


def triton_kernels_available() -> bool:
    """Whether Triton is installed (the kernels compile on first launch)."""
    return triton_kernels() is not None


@functools.cache
def _nodes_and_weights(n: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """A piece's nodes and barycentric weights ``1 / prod_{j != k} (x_k - x_j)``, in float64
    first, then in the kernel's dtype on its device."""
    nodes = chebyshev_lobatto_nodes(n, dtype=torch.float64)
    weights = lagrange_inverse_denominators(nodes)
    return nodes.to(dtype=dtype, device=device), weights.to(dtype=dtype, device=device)


@functools.cache
def _bspline_coefficients(n: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The ``(n, n)`` monomial coefficients (in a piece's local coordinate) of the B-splines
    nonzero on a piece, computed in float64, then in the kernel's dtype on its device."""
    return bspline_monomial_matrix(n).to(dtype=dtype, device=device).contiguous()


def _grid(*sizes: int) -> tuple[int, ...]:
    return tuple(max(1, size) for size in sizes)


@functools.cache
def _multiprocessors(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device (4 for the interpreter's CPU tensors)."""
    return torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 4


def _input_splits(tiles: int, inputs: int, device: torch.device) -> int:
    """How many chunks the forward splits the inputs into, so that ``tiles * chunks`` programs
    fill the GPU (see :data:`FORWARD_PROGRAMS_PER_SM`)."""
    wanted = -(-FORWARD_PROGRAMS_PER_SM * _multiprocessors(device) // tiles)
    return max(1, min(wanted, inputs // MIN_INPUTS_PER_SPLIT))


def _on_device_of(tensor: Tensor) -> contextlib.AbstractContextManager:
    """Triton launches on the current CUDA device: make it the tensor's (``cuda:1`` while the
    current device is ``cuda:0`` would otherwise run on the wrong GPU)."""
    return torch.cuda.device(tensor.device) if tensor.is_cuda else contextlib.nullcontext()


def triton_gather_forward(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, clamp: bool
) -> tuple[Tensor, Tensor]:
    """``(y (B, O), pieces (I, B) int32)``: the sum neuron and each input's piece, which the
    backward reuses. Shape: x ``(B, I)``, weight ``(O, I, M)``."""
    nodes, weights = _nodes_and_weights(n, weight.dtype, weight.device)
    stride, _ = piecewise_sizes(n, segments, continuous)
    return _forward(x, weight, n, segments, stride, clamp, nodes, weights, bspline=False)


def triton_bspline_gather_forward(
    x: Tensor, weight: Tensor, n: int, segments: int, clamp: bool
) -> tuple[Tensor, Tensor]:
    """:func:`triton_gather_forward` for uniform B-splines of order ``n`` on ``segments`` pieces."""
    coefficients = _bspline_coefficients(n, weight.dtype, weight.device)
    return _forward(x, weight, n, segments, 1, clamp, coefficients, coefficients, bspline=True)


def _forward(
    x: Tensor, weight: Tensor, n: int, segments: int, stride: int, clamp: bool, nodes: Tensor, weights: Tensor,
    *, bspline: bool,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    kernels = _loaded_kernels()
    x_ib = x.t().contiguous()  # (I, B): one input's batch is contiguous
    slabs = weight.permute(1, 2, 0).contiguous()  # (I, M, O): one slab per input
    inputs, batch = x_ib.shape
    _, num_weights, outputs = slabs.shape
    block_b, block_o = FORWARD_TILE
    tiles = _grid(-(-batch // block_b), -(-outputs // block_o))
    splits = _input_splits(tiles[0] * tiles[1], inputs, slabs.device)
    per_split = -(-inputs // splits)
    splits = -(-inputs // per_split) if inputs else 1  # no empty chunk
    partial = slabs.new_empty(splits, batch, outputs)
    piece = torch.empty(inputs, batch, dtype=torch.int32, device=x_ib.device)
    with _on_device_of(x_ib):
        kernels.gather_forward_kernel[(*tiles, splits)](
            x_ib, slabs, nodes, weights, partial, piece, batch, inputs, per_split, outputs, num_weights * outputs,
            SEGMENTS=segments, STRIDE=stride, K=n, CLAMP=clamp, SAVE_PIECE=True, BSPLINE=bspline,
            BLOCK_B=block_b, BLOCK_O=block_o, **LAUNCH_OPTIONS,
        )  # fmt: skip
    y = partial[0] if splits == 1 else partial.sum(0)
    return y, piece


def triton_gather_backward(
    grad_out: Tensor,
    x: Tensor,
    weight: Tensor,
    piece: Tensor,
    n: int,
    segments: int,
    continuous: bool,
    clamp: bool,
    need_x: bool,
) -> tuple[Tensor, Tensor]:
    """``(grad_x (B, I), grad_weight (O, I, M))`` (``grad_x`` empty without ``need_x``), from
    the ``pieces`` of :func:`triton_gather_forward`."""
    nodes, weights = _nodes_and_weights(n, weight.dtype, weight.device)
    stride, _ = piecewise_sizes(n, segments, continuous)
    return _backward(grad_out, x, weight, piece, n, segments, stride, clamp, need_x, nodes, weights, bspline=False)


def triton_bspline_gather_backward(
    grad_out: Tensor, x: Tensor, weight: Tensor, piece: Tensor, n: int, segments: int, clamp: bool, need_x: bool
) -> tuple[Tensor, Tensor]:
    """:func:`triton_gather_backward` for uniform B-splines (:func:`triton_bspline_gather_forward`)."""
    coefficients = _bspline_coefficients(n, weight.dtype, weight.device)
    return _backward(
        grad_out, x, weight, piece, n, segments, 1, clamp, need_x, coefficients, coefficients, bspline=True
    )


def _backward(
    grad_out: Tensor, x: Tensor, weight: Tensor, piece: Tensor, n: int, segments: int, stride: int, clamp: bool,
    need_x: bool, nodes: Tensor, weights: Tensor, *, bspline: bool,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    x_ib = x.t().contiguous()
    slabs = weight.permute(1, 2, 0).contiguous()
    inputs, batch = x_ib.shape
    _, num_weights, outputs = slabs.shape
    sorted_piece, order = torch.sort(piece, dim=1)  # each input's samples, piece by piece
    grad_x = torch.empty_like(x_ib) if need_x else x_ib  # never written without need_x
    grad_slabs = torch.zeros_like(slabs)
    block_b, block_o = BACKWARD_TILE
    with _on_device_of(x_ib):
        _loaded_kernels().gather_backward_kernel[_grid(-(-batch // block_b), inputs)](
            grad_out.contiguous(), x_ib, slabs, order, sorted_piece, nodes, weights, grad_x, grad_slabs,
            batch, outputs, num_weights * outputs,
            SEGMENTS=segments, STRIDE=stride, K=n, CLAMP=clamp, NEED_X=need_x, BSPLINE=bspline,
            BLOCK_B=block_b, BLOCK_O=block_o, **LAUNCH_OPTIONS,
        )  # fmt: skip
    grad_weight = grad_slabs.permute(2, 0, 1).contiguous()
    return (grad_x.t().contiguous() if need_x else x.new_empty(0)), grad_weight
