"""The CPU kernels under every instruction-set variant this machine runs.

The kernels are compiled for one instruction set (``HIGH_ORDER_LAYERS_CPU_ISA``, default: the one
PyTorch detects), and FMA contraction and vector width change their last bits. A tolerance that
holds under one variant can fail under another, so the kernel-against-twin agreement tests run
here in a subprocess per variant, with PyTorch's own ops forced to the same variant
(``ATEN_CPU_CAPABILITY``). Each variant is a separate build (about a minute the first time, then
cached). By default a short subset runs; ``HIGH_ORDER_LAYERS_TEST_ISA=full`` runs the whole
kernel test files under each variant.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from high_order_layers_torch.kernels import _build
from high_order_layers_torch.kernels._build import ISA_ENV, cpu_isa, runnable_cpu_isas

TESTS = Path(__file__).parent

#: Kernel-against-twin agreement under each variant (short: a few parameters of each kernel).
SHORT = [
    "tests/test_kernels.py::test_fused_matches_the_twin",
    "tests/test_kernels.py::test_embedding_bag_twin_agrees",
    "tests/test_kernels.py::test_layers_with_many_segments_use_the_kernel_and_agree_with_dense",
    "tests/test_kernels.py::test_fourier_kernel_matches_the_recurrence_twin",
    "tests/test_kernels.py::test_chebyshev_kernel_matches_its_twin",
    "tests/test_product_kernel.py::test_kernel_matches_the_twin",
    "tests/test_bspline_kernel.py::test_kernel_matches_reference_and_oracle",
    "tests/test_expand_kernel.py::test_fused_expansion_matches_the_twin",
    "tests/test_expand_kernel.py::test_nodes_and_joints_give_exact_one_hot_rows_up_to_rounding",
    "tests/test_fc_layers.py::test_one_segment_piecewise_equals_polynomial",
    "tests/test_conv_gather.py::test_gather_handles_wide_narrow_and_single_sample_shapes",
    "tests/test_conv_gather.py::test_gather_equals_dense_for_every_basis_size_and_range_policy",
    "tests/test_range_policy.py",  # PyTorch's own fmod differs by variant
    "tests/test_isa_variants.py::test_forced_isa_is_the_one_built",
]
FULL = [
    "tests/test_kernels.py",
    "tests/test_product_kernel.py",
    "tests/test_bspline_kernel.py",
    "tests/test_expand_kernel.py",
    "tests/test_conv_gather.py",
    "tests/test_contraction.py",
    "tests/test_fc_layers.py",
    "tests/test_range_policy.py",
    "tests/test_isa_variants.py::test_forced_isa_is_the_one_built",
]


def _have_compiler() -> bool:
    return any(shutil.which(name) for name in (os.environ.get("CXX", "c++"), "g++", "clang++"))


needs_kernels = pytest.mark.skipif(
    not _have_compiler() or os.environ.get("HIGH_ORDER_LAYERS_CPU_KERNEL", "1") == "0",
    reason="no C++ compiler (or HIGH_ORDER_LAYERS_CPU_KERNEL=0): the CPU kernels are not built",
)


def test_unknown_variant_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ISA_ENV, "sse9")
    with pytest.raises(ValueError, match=r"must be one of 'avx512', 'avx2', 'default'; got 'sse9'"):
        cpu_isa()


def test_variant_the_cpu_lacks_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_build, "_cpu_flags", lambda: {"sse2", "avx2", "fma"})
    monkeypatch.setenv(ISA_ENV, "AVX512")
    with pytest.raises(ValueError, match=r"lacks \(avx512bw, avx512dq, avx512f, avx512vl\); .*'avx2', 'default'"):
        cpu_isa()
    monkeypatch.setenv(ISA_ENV, "avx2")
    assert cpu_isa() == "avx2"


def test_runnable_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_build, "_cpu_flags", lambda: {"sse2", "avx2"})  # AVX2 without FMA
    assert runnable_cpu_isas() == ("default",)
    monkeypatch.setattr(_build, "_cpu_flags", lambda: None)  # no /proc/cpuinfo: ask PyTorch
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert runnable_cpu_isas() == ("avx2", "default")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "SVE256")
    assert runnable_cpu_isas() == ("default",)
    monkeypatch.delenv(ISA_ENV, raising=False)
    assert cpu_isa() == "default"


@needs_kernels
def test_forced_isa_is_the_one_built() -> None:
    """Run inside each variant's subprocess: the module loaded is that variant's build."""
    forced = os.environ.get(ISA_ENV)
    if not forced:
        pytest.skip(f"{ISA_ENV} is not set (this check runs in test_kernels_agree_with_twins_under_every_variant)")
    module = _build.cpu_kernels()
    if module is None:
        pytest.skip("the CPU kernels could not be built")
    assert cpu_isa() == forced
    assert module.__name__ == f"high_order_layers_cpu_kernels_{forced}"


@needs_kernels
@pytest.mark.parametrize("isa", ["avx512", "avx2", "default"])
def test_kernels_agree_with_twins_under_every_variant(isa: str) -> None:
    if isa not in runnable_cpu_isas():
        pytest.skip(f"this CPU cannot run {isa}")
    full = os.environ.get("HIGH_ORDER_LAYERS_TEST_ISA") == "full"
    if not full and os.environ.get(ISA_ENV) is None and isa == cpu_isa():
        pytest.skip(f"{isa} is this CPU's own build, which the rest of the suite already tests")
    targets = FULL if full else SHORT
    env = {**os.environ, ISA_ENV: isa, "ATEN_CPU_CAPABILITY": isa}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *targets]
    result = subprocess.run(command, cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, f"{isa}:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert " passed" in result.stdout and "could not be built" not in result.stdout, result.stdout[-2000:]
