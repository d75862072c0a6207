"""Accelerated paths, as PyTorch operators, and the one place that decides which runs.

Layers call the decision point (:mod:`._dispatch`) with their basis' layout (:mod:`._layouts`):
:func:`sum_neuron`, :func:`product_neuron`, :func:`link_values`, :func:`conv` and
:func:`expansion` choose the operators for the layout and, for piecewise links, dense against
gather. Every accelerated computation is an operator in the ``high_order_layers`` namespace
(``torch.ops.high_order_layers.*``), made from one :class:`OperatorSpec` in :mod:`._ops` by
:func:`define`: a C++ kernel on the CPU, a Triton kernel on CUDA devices for the fully-connected
gather, and the pure-torch reference everywhere else. The ``fused_*`` functions are the
operators with the layers' argument conventions (``torch.compile``, ``torch.func`` and higher
derivatives work through all of them).

Layering, bottom to top: :mod:`._switches` (switches and availability) and :mod:`._layouts`;
:mod:`._autograd`, :mod:`._spec`; :mod:`._ops`; :mod:`._functions`, :mod:`._dense`;
:mod:`._autotune`; :mod:`._dispatch`. No module imports one above it.
"""

from ._build import cpu_isa as cpu_isa
from ._build import runnable_cpu_isas as runnable_cpu_isas
from ._dense import expansion as expansion
from ._dispatch import AUTOTUNE_RATIOS as AUTOTUNE_RATIOS
from ._dispatch import CONV_GATHER_MIN_RATIO as CONV_GATHER_MIN_RATIO
from ._dispatch import CONV_TRITON_GATHER_MIN_RATIO as CONV_TRITON_GATHER_MIN_RATIO
from ._dispatch import FUSED_GATHER_MIN_RATIO as FUSED_GATHER_MIN_RATIO
from ._dispatch import TRITON_GATHER_MIN_RATIO as TRITON_GATHER_MIN_RATIO
from ._dispatch import conv as conv
from ._dispatch import conv_contraction as conv_contraction
from ._dispatch import link_values as link_values
from ._dispatch import product_neuron as product_neuron
from ._dispatch import sum_contraction as sum_contraction
from ._dispatch import sum_neuron as sum_neuron
from ._functions import fused_bspline_gather as fused_bspline_gather
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
from ._layouts import ChebyshevSeries as ChebyshevSeries
from ._layouts import ConvGeometry as ConvGeometry
from ._layouts import Evaluated as Evaluated
from ._layouts import FourierHarmonics as FourierHarmonics
from ._layouts import Layout as Layout
from ._layouts import LinearLinks as LinearLinks
from ._layouts import PiecewiseLagrange as PiecewiseLagrange
from ._layouts import UniformBSpline as UniformBSpline
from ._ops import OPERATORS as OPERATORS
from ._spec import Kernel as Kernel
from ._spec import Operator as Operator
from ._spec import OperatorSpec as OperatorSpec
from ._spec import define as define
from ._switches import cpu_kernels_available as cpu_kernels_available
from ._switches import cpu_kernels_support as cpu_kernels_support
from ._switches import override as override
from ._switches import triton_kernels_support as triton_kernels_support

__all__ = [
    "AUTOTUNE_RATIOS",
    "CONV_GATHER_MIN_RATIO",
    "CONV_TRITON_GATHER_MIN_RATIO",
    "FUSED_GATHER_MIN_RATIO",
    "OPERATORS",
    "TRITON_GATHER_MIN_RATIO",
    "ChebyshevSeries",
    "ConvGeometry",
    "Evaluated",
    "FourierHarmonics",
    "Kernel",
    "Layout",
    "LinearLinks",
    "Operator",
    "OperatorSpec",
    "PiecewiseLagrange",
    "UniformBSpline",
    "conv",
    "conv_contraction",
    "cpu_isa",
    "cpu_kernels_available",
    "cpu_kernels_support",
    "define",
    "expansion",
    "fused_bspline_gather",
    "fused_chebyshev_expansion",
    "fused_fourier_values",
    "fused_linear_product",
    "fused_piecewise_conv",
    "fused_piecewise_expansion",
    "fused_piecewise_gather",
    "fused_piecewise_product",
    "link_values",
    "override",
    "product_neuron",
    "product_neuron_twin",
    "runnable_cpu_isas",
    "sum_contraction",
    "sum_neuron",
    "triton_kernels_available",
    "triton_kernels_support",
    "triton_piecewise_gather",
]
