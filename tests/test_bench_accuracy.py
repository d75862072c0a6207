"""The accuracy suite's ``--quick`` mode: every section runs and reports (a smoke run; its numbers
mean nothing, the full run's are in docs/accuracy.md)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

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


PEERS = ("KAN (pykan)", "KAN (inkan)", "KAN (KANditioned)")


def _peer_or_skip(bench_accuracy, name: str) -> None:  # type: ignore[no-untyped-def]
    if not bench_accuracy.peer_available(name):
        pytest.skip(f"{name}: its package is not installed (the peers extra)")


@pytest.mark.parametrize("name", PEERS)
def test_kan_peers_fit_the_budget_and_train_every_counted_parameter(bench_accuracy, name) -> None:  # type: ignore[no-untyped-def]
    _peer_or_skip(bench_accuracy, name)
    for dims in (1, 4):
        for budget in (150, 500):
            torch.manual_seed(0)
            model = bench_accuracy.MODELS[name](dims, budget, None).double()
            count = bench_accuracy.parameter_count(model)
            assert 0.6 * budget <= count <= budget, (name, dims, budget, count)
            x = torch.rand(16, dims, dtype=torch.float64) * 2 - 1
            y = model(x)
            assert y.shape == (16, 1) and y.dtype == torch.float64
            y.square().sum().backward()
            counted = [p for p in model.parameters() if p.requires_grad]
            assert sum(p.numel() for p in counted) == count
            # every counted parameter takes part in the output: none is dead weight in the budget
            for p in counted:
                assert p.grad is not None and torch.isfinite(p.grad).all()
                assert p.grad.abs().sum() > 0


def test_pykan_takes_its_seed_from_torch(bench_accuracy) -> None:  # type: ignore[no-untyped-def]
    """pykan reseeds the global generators with a fixed seed unless told otherwise: the suite's
    seeds must still give different (and reproducible) starts."""
    _peer_or_skip(bench_accuracy, "KAN (pykan)")

    def start(seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        model = bench_accuracy.MODELS["KAN (pykan)"](2, 150, None)
        return torch.cat([p.detach().flatten() for p in model.parameters() if p.requires_grad])

    # pykan fits its initial coefficients by least squares, reproducible to round-off only
    torch.testing.assert_close(start(0), start(0), rtol=0, atol=1e-6)
    assert (start(0) - start(1)).abs().max() > 1e-2


@pytest.mark.parametrize("name", PEERS)
def test_kan_peers_train_under_the_suite_schedule(bench_accuracy, name) -> None:  # type: ignore[no-untyped-def]
    _peer_or_skip(bench_accuracy, name)
    task = next(t for t in bench_accuracy.TASKS if t.name == "1d smooth")
    torch.manual_seed(0)
    model = bench_accuracy.MODELS[name](1, 150, None)
    run = bench_accuracy.train_regression_run(
        model, task, 0, "adam+lbfgs", bench_accuracy.Schedule(100, 20, 0), monitored=True
    )
    assert math.isfinite(run.error)
    assert run.error < 0.5 * run.trace[0][1]  # well below the untrained model's error


def test_time_to_target_is_the_first_time_at_or_below_it(bench_accuracy) -> None:  # type: ignore[no-untyped-def]
    trace = [(0.0, 1.0), (0.5, 0.1), (1.0, 0.05), (1.5, 0.2), (2.0, 0.01)]
    assert bench_accuracy.time_to_target(trace, 0.1) == 0.5  # reaching the target counts
    assert bench_accuracy.time_to_target(trace, 0.07) == 1.0
    assert bench_accuracy.time_to_target(trace, 0.02) == 2.0  # not fooled by the later rise
    assert bench_accuracy.time_to_target(trace, 1.5) == 0.0
    assert bench_accuracy.time_to_target(trace, 1e-3) == math.inf
    assert bench_accuracy.fmt_seconds(math.inf) == "not reached"
    run = bench_accuracy.Run
    reached = run(0.05, 1.0, [(0.0, 1.0), (0.4, 0.05)])
    missed = run(0.5, 1.0, [(0.0, 1.0), (1.0, 0.5)])
    assert bench_accuracy.median_time_to_target([reached, reached, missed], 0.1) == 0.4
    assert bench_accuracy.median_time_to_target([reached, missed, missed], 0.1) == math.inf


def test_monitored_run_traces_training_time_and_test_error(bench_accuracy) -> None:  # type: ignore[no-untyped-def]
    task = next(t for t in bench_accuracy.TASKS if t.name == "1d kinked")
    schedule = bench_accuracy.Schedule(50, 10, 0)
    torch.manual_seed(0)
    run = bench_accuracy.train_regression_run(
        bench_accuracy.MODELS["continuous n=5 s=2"](1, 150, None), task, 0, "adam+lbfgs", schedule, monitored=True
    )
    times = [seconds for seconds, _ in run.trace]
    assert times[0] == 0.0 and times == sorted(times)
    assert run.trace[-1] == (run.seconds, run.error)
    # the initial model, every MONITOR_EVERY Adam steps, each L-BFGS evaluation (at least one), the end
    assert len(run.trace) >= 1 + schedule.adam_steps // bench_accuracy.MONITOR_EVERY + 1 + 1
    assert run.trace[0][1] > run.error
    assert bench_accuracy.time_to_target(run.trace, run.error) <= run.seconds
    # the same seed unmonitored: the same fit (monitoring only reads the model)
    torch.manual_seed(0)
    plain = bench_accuracy.train_regression_run(
        bench_accuracy.MODELS["continuous n=5 s=2"](1, 150, None), task, 0, "adam+lbfgs", schedule
    )
    assert plain.trace == [] and plain.error == pytest.approx(run.error, rel=1e-9)


def test_main_section_times_every_model_to_the_worst_final_error(bench_accuracy) -> None:  # type: ignore[no-untyped-def]
    """With one seed, the worst model ends exactly at the row's first target, so every model
    that did not diverge reaches it; every error cell and time cell is filled."""
    task = next(t for t in bench_accuracy.TASKS if t.name == "1d jump at 0")
    lines = bench_accuracy.section_main([task], [60], 1, bench_accuracy.Schedule(30, 10, 30))
    models = bench_accuracy.available_models()
    worst_at = next(i for i, line in enumerate(lines) if "worst final error" in line)
    fixed_at = next(i for i, line in enumerate(lines) if "relative RMSE of" in line)
    errors_row = next(line for line in lines[:worst_at] if line.startswith("| 1d jump at 0 |"))
    worst_row = next(line for line in lines[worst_at:fixed_at] if line.startswith("| 1d jump at 0 |"))
    fixed_row = next(line for line in lines[fixed_at:] if line.startswith("| 1d jump at 0 |"))
    error_cells = [cell.strip() for cell in errors_row.strip("|").split("|")[2 : 2 + len(models)]]
    worst_cells = [cell.strip() for cell in worst_row.strip("|").split("|")[3:]]
    assert len(worst_cells) == len(models) == len(error_cells)
    for error, cell in zip(error_cells, worst_cells, strict=True):
        if error.startswith("diverged"):
            continue
        seconds, total = cell.replace("(", " ").replace(")", " ").split()
        assert 0 <= float(seconds) <= float(total), cell
    assert fixed_row.split("|")[3].strip() == "1.00e-02"
    if any(name in bench_accuracy.PEERS for name in models):
        assert "best KAN / best high-order" in lines[0]
