"""Shared timing and memory helpers for the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
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


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_extra_mb_in_subprocess(module: str, case: dict) -> float:
    """Run ``python -m module --memory-case JSON`` in a fresh process; it prints the peak extra MB."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--memory-case", json.dumps(case)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])
