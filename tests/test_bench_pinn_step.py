"""``benchmarks/bench_pinn_step.py`` runs, times every case both ways and prints its table."""

from __future__ import annotations

import re

import pytest
from benchmarks import bench_pinn_step


def test_prints_one_row_per_case_with_positive_times(capsys: pytest.CaptureFixture[str]) -> None:
    bench_pinn_step.main(["--points", "40", "--width", "3", "--repeats", "1"])
    output = capsys.readouterr().out
    rows = re.findall(r"^\| (\w+) n=\d+ segments=\d+ \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$", output, re.MULTILINE)
    assert [row[0] for row in rows] == [case[0] for case in bench_pinn_step.CASES]
    assert all(float(value) > 0 for row in rows for value in row[1:])
    assert "float64" in output and "thread" in output
