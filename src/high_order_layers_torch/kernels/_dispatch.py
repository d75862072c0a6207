"""Choosing between the dense and gather contractions."""

from __future__ import annotations

from torch import Tensor

from ..functional import choose_contraction
from ._build import cpu_kernels_support
from ._gather_triton import triton_kernels_support

#: With the fused CPU kernel, gathering beats the dense GEMM from a few weights per active one
#: (measured: ``benchmarks/bench_fc.py``); without it, see ``functional.GATHER_MIN_RATIO``.
FUSED_GATHER_MIN_RATIO = 1.5

#: With the Triton kernels on a CUDA GPU, gathering ties the dense GEMM at 13 weights per active
#: one (continuous, segments 16) and wins from 26 (segments 32), at batch 4096 and 16384; dense
#: wins clearly at 6.6 (segments 8). At the tie gather takes 13x less memory, so it starts there
#: (measured on an H200: ``benchmarks/bench_gpu.py``, README "GPU").
TRITON_GATHER_MIN_RATIO = 12


def sum_contraction(num_weights: int, num_active: int, contraction: str, weight: Tensor) -> str:
    """``"dense"`` or ``"gather"`` for a sum neuron with ``weight``, resolving ``"auto"``.

    The fused kernels are only considered (and built) for layers where they could win.
    """
    if contraction == "auto" and num_weights >= FUSED_GATHER_MIN_RATIO * num_active and cpu_kernels_support(weight):
        return "gather"
    if contraction == "auto" and triton_kernels_support(weight):
        return choose_contraction(num_weights, num_active, contraction, gather_min_ratio=TRITON_GATHER_MIN_RATIO)
    return choose_contraction(num_weights, num_active, contraction)
