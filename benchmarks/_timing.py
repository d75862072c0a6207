"""Shared timing and memory helpers for the benchmark scripts (not part of the package)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


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
