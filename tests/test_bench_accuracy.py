"""The accuracy suite's ``--quick`` mode: every section runs and reports (a smoke run; its numbers
mean nothing, the full run's are in docs/accuracy.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench_accuracy():  # type: ignore[no-untyped-def]
    pytest.importorskip("lion_pytorch")
    pytest.importorskip("sklearn")
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import bench_accuracy

        yield bench_accuracy
    finally:
        sys.path.remove(str(ROOT))


def test_quick_run_reports_every_section(bench_accuracy, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "accuracy.md"
    text = bench_accuracy.main(["--quick", "--out", str(out)])
    assert out.read_text() == text
    for section in bench_accuracy.SECTIONS:
        assert f"## {section} (" in text
    for scheme in bench_accuracy.INITIALIZATIONS:
        assert f"`{scheme}`" in text
    rows = [line for line in text.splitlines() if line.startswith("| 1d jump at 0 |")]
    assert len(rows) >= 3  # init, deep, main (and one per optimiser)
    for row in rows:  # every cell a number (or "diverged"), never empty
        cells = [cell.strip() for cell in row.strip("|").split("|")[1:]]
        assert cells and all(cells), row


def test_matched_budgets_never_exceed_the_budget(bench_accuracy) -> None:  # type: ignore[no-untyped-def]
    for dims in (1, 4):
        for budget in (150, 500):
            for name in ("continuous n=5 s=2", "discontinuous n=5 s=2", "ReLU MLP", "SiLU MLP"):
                model = bench_accuracy.MODELS[name](dims, budget, "linear")
                count = bench_accuracy.parameter_count(model)
                assert 0.6 * budget <= count <= budget, (name, dims, budget, count)


def test_unknown_section_is_refused(bench_accuracy) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        bench_accuracy.main(["--quick", "--sections", "main,speed"])
