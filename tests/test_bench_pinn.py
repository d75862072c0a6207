"""The PINN benchmark: its ``--quick`` mode runs every problem and model and reports finite errors
at matched sizes (a smoke run; the full run's numbers are in docs/pde.md), its references are right
and its residuals vanish on exact solutions."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench_pinn():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import bench_pinn

        yield bench_pinn
    finally:
        sys.path.remove(str(ROOT))


def table_rows(text: str, title: str) -> dict[str, list[str]]:
    """The rows (model -> cells after the name) of the table under the heading ``## title``."""
    lines = text.splitlines()
    start = lines.index(f"## {title}")
    rows: dict[str, list[str]] = {}
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("| ") and not line.startswith(("| model", "|---")):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_quick_run_reports_every_problem_and_model(bench_pinn, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "pinn.md"
    text = bench_pinn.main(["--quick", "--out", str(out)])
    assert out.read_text() == text
    assert bench_pinn.cpu_name() in text and "1 torch thread(s)" in text
    for problem in bench_pinn.PROBLEMS.values():
        rows = table_rows(text, problem.title)
        assert list(rows) == list(bench_pinn.MODELS), problem.name
        tanh_params = int(rows[bench_pinn.BASELINE][0].replace(",", ""))
        for name, (params, median, spread, steps, cpu, wall, ratio) in rows.items():
            count = int(params.replace(",", ""))
            assert abs(count - tanh_params) <= 0.05 * tanh_params, (problem.name, name, count, tanh_params)
            error = float(median)
            assert math.isfinite(error) and 0 < error < 100, (problem.name, name, median)
            low, high = (float(v) for v in spread.split(" .. "))
            assert low <= error <= high
            adam, lbfgs = (int(v) for v in steps.split(" + "))
            assert adam == 5 and 1 <= lbfgs <= 5, (problem.name, name, steps)  # the quick schedule's steps
            assert float(cpu) >= 0 and float(wall) >= 0
            assert float(ratio) == pytest.approx(float(rows[bench_pinn.BASELINE][1]) / error, rel=0.02)
    ratios = table_rows(text, "Ratios (tanh MLP error / model error; > 1: the model is more accurate)")
    assert list(ratios) == [name for name in bench_pinn.MODELS if name != bench_pinn.BASELINE]
    assert all(
        len(cells) == len(bench_pinn.PROBLEMS) and all(math.isfinite(float(c)) for c in cells)
        for cells in ratios.values()
    )


def test_unknown_names_are_refused(bench_pinn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        bench_pinn.main(["--quick", "--problems", "burgers,navier_stokes"])
    with pytest.raises(SystemExit):
        bench_pinn.main(["--quick", "--models", "relu"])


def test_models_match_the_tanh_budget(bench_pinn) -> None:  # type: ignore[no-untyped-def]
    for problem in bench_pinn.PROBLEMS.values():
        budget = bench_pinn.parameter_count(bench_pinn.build(bench_pinn.BASELINE, problem))
        for name in bench_pinn.MODELS:
            count = bench_pinn.parameter_count(bench_pinn.build(name, problem))
            assert abs(count - budget) <= 0.05 * budget, (problem.name, name, count, budget)
    burgers = bench_pinn.PROBLEMS["burgers"]
    assert bench_pinn.parameter_count(bench_pinn.build(bench_pinn.BASELINE, burgers)) == 3021  # Raissi et al.'s 8 x 20


def test_cole_hopf_is_odd_in_x_and_starts_at_the_initial_condition(bench_pinn) -> None:  # type: ignore[no-untyped-def]
    x, t = np.linspace(-1, 1, 101), np.array([0.0, 0.25, 1 / np.pi, 0.75, 1.0])
    u = bench_pinn.cole_hopf(x, t, bench_pinn.BURGERS_NU)
    np.testing.assert_allclose(u, -u[:, ::-1], atol=1e-12)  # u(-x, t) = -u(x, t)
    np.testing.assert_allclose(u[0], -np.sin(np.pi * x), atol=1e-15)
    assert np.abs(u[:, [0, 50, -1]]).max() < 1e-12  # zero at the walls and at x = 0
    step = 1e-7  # the classic benchmark's steepest slope at x = 0, t = 1.6037 / pi
    edge = bench_pinn.cole_hopf(np.array([-step, step]), [1.6037 / np.pi], bench_pinn.BURGERS_NU)
    assert (edge[0, 1] - edge[0, 0]) / (2 * step) == pytest.approx(-152.00516, rel=1e-5)


def test_allen_cahn_reference_converges_at_fourth_order(bench_pinn) -> None:  # type: ignore[no-untyped-def]
    t = np.array([0.0, 0.5, 1.0])
    finest = bench_pinn.allen_cahn(t, points=128, dt=2.5e-4)[1]
    errors = [np.abs(bench_pinn.allen_cahn(t, points=128, dt=dt)[1] - finest).max() for dt in (1e-2, 5e-3, 2.5e-3)]
    assert errors[0] < 1e-6
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert 10 < coarse / fine < 24  # halving the step divides the error by about 2^4 = 16
    x, u = bench_pinn.allen_cahn(t, points=128, dt=1e-3)
    np.testing.assert_allclose(u[0], x**2 * np.cos(np.pi * x), atol=1e-14)
    np.testing.assert_allclose(u[:, 1:], u[:, :0:-1], atol=1e-10)  # the initial state is even, so is u
    assert u.min() > -1 - 1e-6 and u.max() < 1 + 1e-6  # the maximum principle of Allen-Cahn


def test_allen_cahn_reference_converges_in_space(bench_pinn) -> None:  # type: ignore[no-untyped-def]
    t = np.array([1.0])
    fine = bench_pinn.allen_cahn(t, points=2048, dt=1e-3)[1]
    assert np.abs(bench_pinn.allen_cahn(t, points=1024, dt=1e-3)[1] - fine[:, ::2]).max() < 1e-4


def test_residuals_vanish_on_exact_solutions(bench_pinn) -> None:  # type: ignore[no-untyped-def]
    points = torch.rand(64, 2, dtype=torch.float64) * 2 - 1

    def as_model(function):  # type: ignore[no-untyped-def]
        return lambda p: function(p).unsqueeze(-1)

    zero = torch.zeros(64, dtype=torch.float64)
    torch.testing.assert_close(bench_pinn.poisson_residual(as_model(bench_pinn.poisson_exact), points), zero)
    torch.testing.assert_close(bench_pinn.helmholtz_residual(as_model(bench_pinn.helmholtz_exact), points), zero)
    for value in (-1.0, 0.0, 1.0):  # the fixed points of u' = 5 (u - u^3)
        constant = as_model(lambda p, v=value: v + 0 * p[:, 0] ** 3)  # keeps a graph to differentiate
        torch.testing.assert_close(bench_pinn.allen_cahn_residual(constant, points), zero)
    assert bench_pinn.allen_cahn_residual(as_model(lambda p: 0.5 + 0 * p[:, 0] ** 3), points).abs().min() > 1


def test_time_dependent_residuals_use_the_time_map(bench_pinn) -> None:  # type: ignore[no-untyped-def]
    """u = sin(x) s with s = 2 t - 1: u_t = 2 sin(x), u_x = cos(x) s, u_xx = -sin(x) s."""
    points = torch.rand(64, 2, dtype=torch.float64) * 2 - 1
    x, s = points[:, 0], points[:, 1]
    u = torch.sin(x) * s
    burgers = bench_pinn.burgers_residual(lambda p: (torch.sin(p[:, 0]) * p[:, 1]).unsqueeze(-1), points)
    torch.testing.assert_close(burgers, 2 * torch.sin(x) + u * torch.cos(x) * s + bench_pinn.BURGERS_NU * u)
    allen_cahn = bench_pinn.allen_cahn_residual(lambda p: (torch.sin(p[:, 0]) * p[:, 1]).unsqueeze(-1), points)
    torch.testing.assert_close(allen_cahn, 2 * torch.sin(x) + 1e-4 * u + 5 * (u**3 - u))


def test_manufactured_sources_match_autograd(bench_pinn) -> None:  # type: ignore[no-untyped-def]
    """The written-out Poisson source is the Laplacian of the solution (autograd as the check)."""
    points = torch.rand(32, 2, dtype=torch.float64) * 2 - 1
    _, lap = bench_pinn.laplacian(lambda p: bench_pinn.poisson_exact(p).unsqueeze(-1), points)
    torch.testing.assert_close(bench_pinn.poisson_source(points), lap)
    assert bench_pinn.poisson_exact(torch.tensor([[0.5, 0.5]], dtype=torch.float64)).item() == pytest.approx(
        math.e**0.5
    )
