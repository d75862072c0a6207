"""Building the CPU kernels (``*.cpp`` beside this file) into one extension module, on first use,
with PyTorch's own extension builder.

The kernels are optional: if the module cannot be built (no C++ compiler, or
``HIGH_ORDER_LAYERS_CPU_KERNEL=0``), :func:`cpu_kernels_available` is False and every layer uses
its pure-torch twin, which gives the same results.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import warnings
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

_HERE = Path(__file__).parent
_SOURCES = ("gather_cpu.cpp", "product_cpu.cpp", "expand_cpu.cpp", "fourier_cpu.cpp", "bindings.cpp")
_HEADERS = ("piecewise_basis.h", "vector_lanes.h")


def _sources_digest() -> str:
    """A digest of every kernel file. PyTorch's builder rebuilds when a source or a flag changes
    but not when only a header does; passing this as a flag closes that gap."""
    digest = hashlib.sha256()
    for name in (*_SOURCES, *_HEADERS):
        digest.update((_HERE / name).read_bytes())
    return digest.hexdigest()[:16]


#: Vector instructions to compile for, by ``torch.backends.cpu.get_cpu_capability()``.
_ISA_FLAGS = {
    "AVX512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma"],
    "AVX2": ["-mavx2", "-mfma"],
}


@functools.cache
def cpu_kernels() -> ModuleType | None:
    """The compiled module, or ``None`` where it cannot be built (a warning says why)."""
    if os.environ.get("HIGH_ORDER_LAYERS_CPU_KERNEL", "1") == "0":
        return None
    try:
        from torch.utils.cpp_extension import load

        logging.getLogger(__name__).info("building the CPU kernels (once per machine)")
        capability = torch.backends.cpu.get_cpu_capability()
        return load(
            # One build per instruction set, so a cache shared between machines never hands a
            # build to a CPU that lacks its instructions.
            name=f"high_order_layers_cpu_kernels_{capability.lower()}",
            sources=[str(_HERE / source) for source in _SOURCES],
            # -fno-trapping-math lets GCC vectorise comparisons and selects; results are unchanged
            # (floating-point exceptions are never unmasked here).
            extra_cflags=[
                "-O3",
                "-fno-trapping-math",
                "-fopenmp",
                *_ISA_FLAGS.get(capability, []),
                f"-DHIGH_ORDER_LAYERS_SOURCES={_sources_digest()}",
            ],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as error:  # any build failure: fall back to the pure-torch paths
        warnings.warn(f"CPU kernels unavailable, using pure-torch paths: {error}", RuntimeWarning, stacklevel=3)
        return None


def cpu_kernels_available() -> bool:
    """Whether the compiled kernels can be used (builds them on the first call)."""
    return cpu_kernels() is not None


def cpu_kernels_support(tensor: Tensor) -> bool:
    """The kernels take float32/float64 CPU tensors in eager mode (under ``torch.compile`` the
    pure-torch twins are traced instead), and are built on the first call that needs them."""
    return (
        tensor.device.type == "cpu"
        and tensor.dtype in (torch.float32, torch.float64)
        and not torch.compiler.is_compiling()
        and cpu_kernels_available()
    )
