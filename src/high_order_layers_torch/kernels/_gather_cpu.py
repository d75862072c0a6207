"""The fused CPU gather kernel (``gather_cpu.cpp``), compiled on first use with PyTorch's own
extension builder, and its autograd wrapper.

The kernel is optional: if it cannot be built (no C++ compiler, or
``HIGH_ORDER_LAYERS_CPU_KERNEL=0``), :func:`fused_gather_available` is False and the layers use
the pure-torch gather (``embedding_bag``), which gives the same results.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

from ..functional import link_values_gather

_SOURCE = Path(__file__).with_name("gather_cpu.cpp")

#: Vector instructions to compile for, by ``torch.backends.cpu.get_cpu_capability()``.
_ISA_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma"],
    "AVX2": ["-mavx2", "-mfma"],
}


@functools.cache
def _extension() -> ModuleType | None:
    if os.environ.get("HIGH_ORDER_LAYERS_CPU_KERNEL", "1") == "0":
        return None
    try:
        from torch.utils.cpp_extension import load

        logging.getLogger(__name__).info("building the fused CPU gather kernel (once per machine)")
        capability = torch.backends.cpu.get_cpu_capability()
        return load(
            # One build per instruction set, so a cache shared between machines never hands a
            # build to a CPU that lacks its instructions.
            name=f"high_order_layers_gather_cpu_{capability.lower()}",
            sources=[str(_SOURCE)],
            extra_cflags=["-O3", "-fopenmp", *_ISA_FLAGS.get(capability, [])],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as error:  # any build failure: fall back to the pure-torch path
        warnings.warn(
            f"fused CPU gather kernel unavailable, using embedding_bag: {error}", RuntimeWarning, stacklevel=3
        )
        return None


def fused_gather_available() -> bool:
    """Whether the compiled kernel can be used (builds it on the first call)."""
    return _extension() is not None


def fused_gather_supports(weight: Tensor) -> bool:
    """The kernel handles float32/float64 CPU weights in eager mode (not under ``torch.compile``,
    which traces the pure-torch twin instead), and builds on the first call that needs it."""
    return (
        weight.device.type == "cpu"
        and weight.dtype in (torch.float32, torch.float64)
        and not torch.compiler.is_compiling()
        and fused_gather_available()
    )


class _FusedGather(torch.autograd.Function):
    @staticmethod
    def forward(ctx, start_ib: Tensor, values_ibk: Tensor, weight: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(start_ib, values_ibk, weight)
        return _extension().forward(start_ib, values_ibk, weight)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        start_ib, values_ibk, weight = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True (higher derivatives, e.g. physics-informed losses): differentiate
            # the pure-torch twin, whose backward is itself differentiable.
            links = link_values_gather(start_ib.t(), values_ibk.transpose(0, 1), weight)  # (B, O, I)
            grad_values, grad_weight = torch.autograd.grad(
                links.sum(-1), (values_ibk, weight), grad_out, create_graph=True
            )
            return None, grad_values, grad_weight
        grad_values, grad_weight = _extension().backward(grad_out, start_ib, values_ibk, weight)
        return None, grad_values, grad_weight


def fused_gather_sum(start: Tensor | None, values: Tensor, weight: Tensor) -> Tensor:
    """:func:`~high_order_layers_torch.functional.sum_neuron_gather` through the compiled kernel.

    Shape:
        start: ``(B, I)`` or ``None``. values: ``(B, I, K)``. weight: ``(O, I, M)``.
        Output: ``(B, O)``.
    """
    batch, inputs, _ = values.shape
    values = values.to(weight.dtype)
    if start is None:
        start = torch.zeros(batch, inputs, dtype=torch.long, device=values.device)
    start_ib = start.t().contiguous()  # (I, B)
    values_ibk = values.transpose(0, 1).contiguous()  # (I, B, K)
    return _FusedGather.apply(start_ib, values_ibk, weight.contiguous())
