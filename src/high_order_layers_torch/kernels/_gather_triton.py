"""The fused Triton kernel for piecewise sum neurons on GPUs (``_gather_triton_kernels.py``) and
its autograd wrapper: the GPU counterpart of :mod:`._gather_cpu`, with the same inputs, layout
and results.

Used for CUDA tensors when Triton is installed (``pip install triton``; it comes with the CUDA
builds of PyTorch) unless ``HIGH_ORDER_LAYERS_TRITON=0``. The weight gradient is summed with
atomic adds, so its last bits may differ from run to run; under
``torch.use_deterministic_algorithms(True)`` the layers take the deterministic pure-torch path.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import warnings
from types import ModuleType

import torch
from torch import Tensor

from ..functional import lagrange_inverse_denominators, piecewise_sizes
from ._expand_cpu import local_nodes
from ._gather_cpu import piecewise_gather_twin
from ._twin import twin_gradients

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
    """The kernel module, or ``None`` where Triton is not installed or is switched off."""
    if os.environ.get("HIGH_ORDER_LAYERS_TRITON", "1") == "0":
        return None
    try:
        return importlib.import_module(f"{__package__}._gather_triton_kernels")
    except ImportError:  # Triton is not installed: the usual case without a GPU
        return None
    except Exception as error:  # an installed Triton that fails to load: say so, then use the twin
        warnings.warn(f"Triton kernels unavailable, using pure-torch paths: {error}", RuntimeWarning, stacklevel=3)
        return None


def triton_kernels_available() -> bool:
    """Whether Triton is installed (the kernels compile on first launch)."""
    return triton_kernels() is not None


def triton_kernels_support(tensor: Tensor) -> bool:
    """The Triton kernels take float32/float64 CUDA tensors in eager mode (under
    ``torch.compile`` the pure-torch twin is traced, and Inductor writes its own kernels), and
    are not used when deterministic algorithms are requested."""
    return (
        tensor.device.type == "cuda"
        and tensor.dtype in (torch.float32, torch.float64)
        and not torch.compiler.is_compiling()
        and not torch.are_deterministic_algorithms_enabled()
        and triton_kernels_available()
    )


@functools.cache
def _nodes_and_weights(n: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """A piece's nodes and barycentric weights ``1 / prod_{j != k} (x_k - x_j)``, in float64
    first, then in the kernel's dtype on its device."""
    nodes = local_nodes(n)
    weights = lagrange_inverse_denominators(nodes)
    return nodes.to(dtype=dtype, device=device), weights.to(dtype=dtype, device=device)


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


class _TritonPiecewiseGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x_ib: Tensor, slabs: Tensor, n: int, segments: int, continuous: bool, clamp: bool) -> Tensor:  # type: ignore[override]
        kernels = triton_kernels()
        inputs, batch = x_ib.shape
        _, num_weights, outputs = slabs.shape
        stride, _ = piecewise_sizes(n, segments, continuous)
        nodes, weights = _nodes_and_weights(n, slabs.dtype, slabs.device)
        block_b, block_o = FORWARD_TILE
        tiles = _grid(-(-batch // block_b), -(-outputs // block_o))
        splits = _input_splits(tiles[0] * tiles[1], inputs, slabs.device)
        per_split = -(-inputs // splits)
        splits = -(-inputs // per_split) if inputs else 1  # no empty chunk
        partial = slabs.new_empty(splits, batch, outputs)
        save_piece = any(ctx.needs_input_grad[:2])
        piece = torch.empty(inputs, batch, dtype=torch.int32, device=x_ib.device) if save_piece else partial
        with _on_device_of(x_ib):
            kernels.gather_forward_kernel[(*tiles, splits)](
                x_ib, slabs, nodes, weights, partial, piece, batch, inputs, per_split, outputs, num_weights * outputs,
                SEGMENTS=segments, STRIDE=stride, K=n, CLAMP=clamp, SAVE_PIECE=save_piece,
                BLOCK_B=block_b, BLOCK_O=block_o, **LAUNCH_OPTIONS,
            )  # fmt: skip
        y = partial[0] if splits == 1 else partial.sum(0)
        ctx.save_for_backward(x_ib, slabs, piece if save_piece else None)
        ctx.basis = (n, segments, continuous, clamp)
        return y

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        x_ib, slabs, piece = ctx.saved_tensors
        n, segments, continuous, clamp = ctx.basis
        if torch.is_grad_enabled():  # create_graph=True: differentiate the pure-torch twin
            y = piecewise_gather_twin(x_ib, slabs, n, segments, continuous, clamp)
            return *twin_gradients(y, (x_ib, slabs), ctx.needs_input_grad[:2], grad_out), None, None, None, None
        inputs, batch = x_ib.shape
        _, num_weights, outputs = slabs.shape
        stride, _ = piecewise_sizes(n, segments, continuous)
        nodes, weights = _nodes_and_weights(n, slabs.dtype, slabs.device)
        sorted_piece, order = torch.sort(piece, dim=1)  # each input's samples, piece by piece
        need_x = ctx.needs_input_grad[0]  # not for a first layer: its input needs no gradient
        grad_x = torch.empty_like(x_ib) if need_x else x_ib  # never written without need_x
        grad_slabs = torch.zeros_like(slabs)
        block_b, block_o = BACKWARD_TILE
        with _on_device_of(x_ib):
            triton_kernels().gather_backward_kernel[_grid(-(-batch // block_b), inputs)](
                grad_out.contiguous(), x_ib, slabs, order, sorted_piece, nodes, weights, grad_x, grad_slabs,
                batch, outputs, num_weights * outputs,
                SEGMENTS=segments, STRIDE=stride, K=n, CLAMP=clamp, NEED_X=need_x, BLOCK_B=block_b, BLOCK_O=block_o,
                **LAUNCH_OPTIONS,
            )  # fmt: skip
        return (
            grad_x if need_x else None,
            grad_slabs if ctx.needs_input_grad[1] else None,
            None,
            None,
            None,
            None,
        )


def triton_piecewise_gather(
    x: Tensor, weight: Tensor, n: int, segments: int, continuous: bool, *, clamp: bool = False
) -> Tensor:
    """The sum neuron of a piecewise-polynomial layer through the Triton kernels: the same
    contract as :func:`~high_order_layers_torch.kernels.fused_piecewise_gather` (only the ``n``
    active weights of each link are read, the basis is evaluated inside the contraction).

    Shape:
        x: ``(B, I)``. weight: ``(O, I, M)``. Output: ``(B, O)``.

    Raises:
        RuntimeError: where Triton is not installed or is switched off.
    """
    if not triton_kernels_available():
        raise RuntimeError("the Triton kernels are unavailable: Triton is not installed or HIGH_ORDER_LAYERS_TRITON=0")
    x_ib = x.to(weight.dtype).t().contiguous()  # (I, B)
    slabs = weight.permute(1, 2, 0).contiguous()  # (I, M, O): free for a slab-major weight
    return _TritonPiecewiseGather.apply(x_ib, slabs, n, segments, continuous, clamp)
