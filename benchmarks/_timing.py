"""Shared timing and memory helpers for the benchmark scripts (not part of the package)."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch

#: glibc malloc settings under which freed memory stays in the process: no large block is handed
#: back to the kernel on free, so a step never pays for page faults on memory it used a step ago.
#: Under the defaults, a step that allocates tens of MB (a layer's expansion, a convolution's output)
#: pays those faults again and again, by a varying amount, on the layer and on its baseline alike;
#: that noise swamps ratios of a few tens of percent. jemalloc/tcmalloc behave like these settings.
STEADY_ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": str(2**34), "MALLOC_TRIM_THRESHOLD_": str(2**34)}


def reexec_with_steady_allocator(enabled: bool = True) -> None:
    """Restart this process under :data:`STEADY_ALLOCATOR` unless it already runs under it (or
    ``enabled`` is False). Call it first thing in a benchmark's ``main``."""
    if not enabled or all(os.environ.get(key) == value for key, value in STEADY_ALLOCATOR.items()):
        return
    sys.stdout.flush()
    os.execve(sys.executable, sys.orig_argv, {**os.environ, **STEADY_ALLOCATOR})


def allocator_note() -> str:
    """One line for a report saying which allocator settings the timings ran under."""
    if all(os.environ.get(key) == value for key, value in STEADY_ALLOCATOR.items()):
        return "glibc malloc keeps freed memory (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ = 2^34)"
    return "glibc malloc defaults (--system-allocator): page-fault noise on every large allocation"


def cpu_name() -> str:
    """The CPU's model name (as ``lscpu`` prints it), for the heading of a report."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: torch.device) -> str:
    """What a report names the device by: the GPU's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def median_ms(step: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``step`` in milliseconds, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_extra_mb(step: Callable[[], object]) -> float:
    """Peak resident memory of one call of ``step`` above the resident memory before it, in MB.

    Linux only: resets the process's high-water mark through ``/proc/self/clear_refs`` and reads
    ``VmHWM`` afterwards. Memory the allocator keeps after a free stays resident, so call it
    after the timed runs (the figure is then the step's own working set beyond the cached pool).
    """
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_mb("VmRSS")
    step()
    return max(_status_mb("VmHWM") - before, 0.0)


def interleaved_ms(
    step: Callable[[], object], baseline: Callable[[], object], repeats: int, warmup: int = 3
) -> tuple[float, float, float]:
    """Time ``step`` and ``baseline`` alternately: ``(median step ms, median baseline ms, median ratio)``.

    Alternating puts both under the same load at nearly the same moment, so the median of the
    per-pair ratios is far steadier than the ratio of two medians taken one after the other.
    """
    for _ in range(warmup):
        step()
        baseline()
    pairs = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        middle = time.perf_counter()
        baseline()
        end = time.perf_counter()
        pairs.append((middle - start, end - middle))
    return (
        1e3 * statistics.median(a for a, _ in pairs),
        1e3 * statistics.median(b for _, b in pairs),
        statistics.median(a / b for a, b in pairs),
    )
