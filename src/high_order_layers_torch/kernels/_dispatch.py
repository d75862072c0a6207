"""Choosing between the dense and gather contractions."""

from __future__ import annotations

from torch import Tensor

from ..functional import choose_contraction
from ._build import cpu_kernels_support

#: With the fused CPU kernel, gathering beats the dense GEMM from a few weights per active one
#: (measured: ``benchmarks/bench_fc.py``); without it, see ``functional.GATHER_MIN_RATIO``.
FUSED_GATHER_MIN_RATIO = 1.5


def sum_contraction(num_weights: int, num_active: int, contraction: str, weight: Tensor) -> str:
    """``"dense"`` or ``"gather"`` for a sum neuron with ``weight``, resolving ``"auto"``.

    The fused kernel is only considered (and built) for layers where it could win.
    """
    if contraction == "auto" and num_weights >= FUSED_GATHER_MIN_RATIO * num_active and cpu_kernels_support(weight):
        return "gather"
    return choose_contraction(num_weights, num_active, contraction)
