"""Accelerated paths, as PyTorch operators.

Every accelerated computation is an operator in the ``high_order_layers`` namespace
(``torch.ops.high_order_layers.*``, defined in :mod:`._ops`) with a C++ kernel on the CPU, a
Triton kernel on CUDA devices for the fully-connected gather, and the pure-torch reference everywhere else;
:mod:`._policy` is the one place that decides which runs. The functions below are the
differentiable entry points the layers use (``torch.compile``, ``torch.func`` and higher
derivatives work through all of them).
"""

from ._build import cpu_isa as cpu_isa
from ._build import cpu_kernels_available as cpu_kernels_available
from ._build import runnable_cpu_isas as runnable_cpu_isas
from ._functions import fused_chebyshev_expansion as fused_chebyshev_expansion
from ._functions import fused_fourier_values as fused_fourier_values
from ._functions import fused_linear_product as fused_linear_product
from ._functions import fused_piecewise_conv as fused_piecewise_conv
from ._functions import fused_piecewise_expansion as fused_piecewise_expansion
from ._functions import fused_piecewise_gather as fused_piecewise_gather
from ._functions import fused_piecewise_product as fused_piecewise_product
from ._functions import product_neuron_twin as product_neuron_twin
from ._functions import triton_piecewise_gather as triton_piecewise_gather
from ._gather_triton import triton_kernels_available as triton_kernels_available
from ._ops import OPERATORS as OPERATORS
from ._policy import AUTOTUNE_RATIOS as AUTOTUNE_RATIOS
from ._policy import CONV_GATHER_MIN_RATIO as CONV_GATHER_MIN_RATIO
from ._policy import CONV_TRITON_GATHER_MIN_RATIO as CONV_TRITON_GATHER_MIN_RATIO
from ._policy import FUSED_GATHER_MIN_RATIO as FUSED_GATHER_MIN_RATIO
from ._policy import TRITON_GATHER_MIN_RATIO as TRITON_GATHER_MIN_RATIO
from ._policy import ConvGeometry as ConvGeometry
from ._policy import conv_contraction as conv_contraction
from ._policy import cpu_kernels_support as cpu_kernels_support
from ._policy import override as override
from ._policy import sum_contraction as sum_contraction
from ._policy import triton_kernels_support as triton_kernels_support

__all__ = [
    "AUTOTUNE_RATIOS",
    "CONV_GATHER_MIN_RATIO",
    "CONV_TRITON_GATHER_MIN_RATIO",
    "FUSED_GATHER_MIN_RATIO",
    "OPERATORS",
    "TRITON_GATHER_MIN_RATIO",
    "ConvGeometry",
    "conv_contraction",
    "cpu_isa",
    "cpu_kernels_available",
    "cpu_kernels_support",
    "fused_chebyshev_expansion",
    "fused_fourier_values",
    "fused_linear_product",
    "fused_piecewise_conv",
    "fused_piecewise_expansion",
    "fused_piecewise_gather",
    "fused_piecewise_product",
    "override",
    "product_neuron_twin",
    "runnable_cpu_isas",
    "sum_contraction",
    "triton_kernels_available",
    "triton_kernels_support",
    "triton_piecewise_gather",
]
