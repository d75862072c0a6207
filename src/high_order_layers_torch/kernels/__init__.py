"""Optional accelerated paths. Each has a pure-torch twin in :mod:`high_order_layers_torch.functional`
that gives the same results, used whenever the accelerated one is unavailable."""

from ._build import cpu_isa as cpu_isa
from ._build import cpu_kernels_available as cpu_kernels_available
from ._build import cpu_kernels_support as cpu_kernels_support
from ._build import runnable_cpu_isas as runnable_cpu_isas
from ._dispatch import FUSED_GATHER_MIN_RATIO as FUSED_GATHER_MIN_RATIO
from ._dispatch import TRITON_GATHER_MIN_RATIO as TRITON_GATHER_MIN_RATIO
from ._dispatch import sum_contraction as sum_contraction
from ._expand_cpu import fused_chebyshev_expansion as fused_chebyshev_expansion
from ._expand_cpu import fused_piecewise_expansion as fused_piecewise_expansion
from ._fourier_cpu import basis_major_weight as basis_major_weight
from ._fourier_cpu import fused_fourier_values as fused_fourier_values
from ._gather_cpu import fused_piecewise_gather as fused_piecewise_gather
from ._gather_cpu import slab_major_weight as slab_major_weight
from ._gather_triton import triton_kernels_available as triton_kernels_available
from ._gather_triton import triton_kernels_support as triton_kernels_support
from ._gather_triton import triton_piecewise_gather as triton_piecewise_gather
from ._product_cpu import fused_linear_product as fused_linear_product
from ._product_cpu import fused_piecewise_product as fused_piecewise_product
from ._product_cpu import product_neuron_twin as product_neuron_twin

__all__ = [
    "FUSED_GATHER_MIN_RATIO",
    "TRITON_GATHER_MIN_RATIO",
    "basis_major_weight",
    "cpu_isa",
    "cpu_kernels_available",
    "cpu_kernels_support",
    "fused_chebyshev_expansion",
    "fused_fourier_values",
    "fused_linear_product",
    "fused_piecewise_expansion",
    "fused_piecewise_gather",
    "fused_piecewise_product",
    "product_neuron_twin",
    "runnable_cpu_isas",
    "slab_major_weight",
    "sum_contraction",
    "triton_kernels_available",
    "triton_kernels_support",
    "triton_piecewise_gather",
]
