"""Building the CPU kernels (``*.cpp`` beside this file) into one extension module, on first use,
with PyTorch's own extension builder.

The kernels are optional: if the module cannot be built (no C++ compiler), or is switched off
(``HIGH_ORDER_LAYERS_CPU_KERNEL=0``, read by :mod:`._switches`), :func:`~._switches.cpu_kernels_available` is
False and every operator runs its pure-torch reference, which gives the same results.

The instruction set compiled for follows ``torch.backends.cpu.get_cpu_capability()`` (AVX-512,
AVX2, else none beyond the compiler's default). ``HIGH_ORDER_LAYERS_CPU_ISA=avx512|avx2|default``
forces one, so the kernels' rounding can be checked under every variant a machine runs (FMA
contraction and vector width change the last bits); a variant this CPU cannot execute, or an
unknown name, raises ``ValueError`` instead of building. Both variables are read once, on the
first use of the kernels in a process.
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

_HERE = Path(__file__).parent
_SOURCES = (
    "gather_cpu.cpp",
    "product_cpu.cpp",
    "expand_cpu.cpp",
    "fourier_cpu.cpp",
    "conv_gather_cpu.cpp",
    "bindings.cpp",
)
_HEADERS = ("piecewise_basis.h", "vector_lanes.h")


def _sources_digest() -> str:
    """A digest of every kernel file. PyTorch's builder rebuilds when a source or a flag changes
    but not when only a header does; passing this as a flag closes that gap."""
    digest = hashlib.sha256()
    for name in (*_SOURCES, *_HEADERS):
        digest.update((_HERE / name).read_bytes())
    return digest.hexdigest()[:16]


#: Compiler flags of each instruction-set variant (the names ``HIGH_ORDER_LAYERS_CPU_ISA`` takes).
_ISA_FLAGS: dict[str, list[str]] = {
    "avx512": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx2", "-mfma"],
    "avx2": ["-mavx2", "-mfma"],
    "default": [],
}
#: The ``/proc/cpuinfo`` flags each variant's instructions need.
_ISA_CPU_FLAGS: dict[str, tuple[str, ...]] = {
    "avx512": ("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx2", "fma"),
    "avx2": ("avx2", "fma"),
    "default": (),
}
ISA_ENV = "HIGH_ORDER_LAYERS_CPU_ISA"


def _cpu_flags() -> set[str] | None:
    """The CPU feature flags from ``/proc/cpuinfo``, or ``None`` where it has none (not Linux/x86)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return None


def runnable_cpu_isas() -> tuple[str, ...]:
    """The instruction-set variants this CPU can execute, widest first (``"default"`` always).

    From ``/proc/cpuinfo`` where it lists flags, else from PyTorch's detected capability.
    """
    flags = _cpu_flags()
    if flags is None:
        capability = torch.backends.cpu.get_cpu_capability().lower()
        order = tuple(_ISA_FLAGS)  # widest first; each includes the ones after it
        return order[order.index(capability) :] if capability in order else ("default",)
    return tuple(isa for isa, needed in _ISA_CPU_FLAGS.items() if all(flag in flags for flag in needed))


def cpu_isa() -> str:
    """The instruction-set variant the kernels are (or will be) built for.

    ``HIGH_ORDER_LAYERS_CPU_ISA`` if set (``avx512``, ``avx2`` or ``default``), else the one
    matching ``torch.backends.cpu.get_cpu_capability()``.

    Raises:
        ValueError: if the variable names an unknown variant, or one this CPU cannot execute.
    """
    forced = os.environ.get(ISA_ENV, "").strip().lower()
    if not forced:
        capability = torch.backends.cpu.get_cpu_capability().lower()
        return capability if capability in _ISA_FLAGS else "default"
    if forced not in _ISA_FLAGS:
        raise ValueError(f"{ISA_ENV} must be one of {', '.join(map(repr, _ISA_FLAGS))}; got {forced!r}")
    runnable = runnable_cpu_isas()
    if forced not in runnable:
        missing = sorted(set(_ISA_CPU_FLAGS[forced]) - (_cpu_flags() or set()))
        raise ValueError(
            f"{ISA_ENV}={forced!r} needs CPU flags this machine lacks ({', '.join(missing) or 'unknown'}); "
            f"this CPU runs {', '.join(map(repr, runnable))}"
        )
    return forced


def _build_needed(name: str) -> bool:
    """Whether ``load`` will compile ``name``: torch's extension folder holds no built module, or one
    older than a kernel file. Only decides whether the "building" message is shown; ninja decides
    the build itself (it also rebuilds after a torch upgrade, which this does not see)."""
    try:
        from torch.utils.cpp_extension import _get_build_directory

        folder = Path(_get_build_directory(name, verbose=False))
        built = [path.stat().st_mtime for path in folder.glob(f"{name}.*") if path.suffix in (".so", ".pyd")]
        newest_source = max((_HERE / file).stat().st_mtime for file in (*_SOURCES, *_HEADERS))
    except Exception:  # a private torch helper or the file system changed: say "building" to be safe
        return True
    return not built or max(built) < newest_source


@functools.cache
def cpu_kernels() -> ModuleType | None:
    """The compiled module, or ``None`` where it cannot be built (a warning says why). Whether
    it may be used at all is :mod:`._switches`' decision (``HIGH_ORDER_LAYERS_CPU_KERNEL``)."""
    isa = cpu_isa()  # a bad HIGH_ORDER_LAYERS_CPU_ISA raises here, not as a silent fallback
    try:
        from torch.utils.cpp_extension import load

        name = f"high_order_layers_cpu_kernels_{isa}"
        if _build_needed(name):
            logging.getLogger(__name__).info("building the CPU kernels for %s (once per machine)", isa)
        else:
            logging.getLogger(__name__).debug("loading the CPU kernels for %s from torch's extension cache", isa)
        return load(
            # One build per instruction set, so a cache shared between machines never hands a
            # build to a CPU that lacks its instructions.
            name=name,
            sources=[str(_HERE / source) for source in _SOURCES],
            # -fno-trapping-math lets GCC vectorise comparisons and selects; results are unchanged
            # (floating-point exceptions are never unmasked here).
            extra_cflags=[
                "-O3",
                "-fno-trapping-math",
                "-fopenmp",
                *_ISA_FLAGS[isa],
                f"-DHIGH_ORDER_LAYERS_SOURCES={_sources_digest()}",
            ],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as error:  # any build failure: fall back to the pure-torch paths
        warnings.warn(f"CPU kernels unavailable, using pure-torch paths: {error}", RuntimeWarning, stacklevel=3)
        return None
