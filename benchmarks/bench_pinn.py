"""Physics-informed networks: high-order layers against the tanh PINN of the same size.

    python -m benchmarks.bench_pinn [--quick] [--problems burgers,poisson,helmholtz,allen_cahn]
                                    [--models ...] [--seeds 3] [--out results/bench_pinn.md]

Four problems, every input mapped to ``[-1, 1]`` (time ``t in [0, 1]`` enters as ``s = 2 t - 1``):

* ``burgers``: ``u_t + u u_x = nu u_xx``, ``nu = 0.01 / pi``, ``x in [-1, 1]``, ``u(0, x) = -sin(pi x)``,
  ``u(t, +-1) = 0``; reference by the Cole-Hopf transform (``examples/common/pde_references.py``)
  on a 256 x 101 grid.
* ``poisson``: ``u_xx + u_yy = f`` on ``[-1, 1]^2`` with the manufactured solution
  ``u = sin(pi x) sin(pi y) exp((x + y) / 2)`` (``f`` written out, Dirichlet data from ``u``).
* ``helmholtz``: ``u_xx + u_yy + k^2 u = q`` with ``u = sin(a1 pi x) sin(a2 pi y)``, ``a1 = 1``,
  ``a2 = 4``, ``k = 1`` (the setup of Wang, Teng & Perdikaris 2021), ``u = 0`` on the boundary.
  The residual enters the loss divided by ``(a1^2 + a2^2) pi^2`` (the size of ``q``), the same for
  every model.
* ``allen_cahn``: ``u_t - 1e-4 u_xx + 5 u^3 - 5 u = 0``, ``u(0, x) = x^2 cos(pi x)``, periodic in
  ``x in [-1, 1]`` (``u`` and ``u_x`` equal at ``x = +-1``, as loss terms), ``t in [0, 1]``;
  reference by a Fourier spectral solver with ETDRK4 steps (2048 modes, ``dt = 5e-4``; both
  converged far below the errors measured here), compared on 512 x 101 points.

Every problem trains on fixed collocation points: a scrambled Sobol sequence in the square
(seeded per run), plus evenly spaced-at-random (Sobol, 1-D) points on each boundary and on the
initial line. The loss is the mean squared residual plus the mean squared boundary and initial
errors (weights in :data:`PROBLEMS`); derivatives by ``torch.autograd.grad(create_graph=True)``.
float64, full batch: Adam (cosine decay), then ``torch.optim.LBFGS`` with a strong-Wolfe line
search. The error is the relative L2 error ``|u - u_ref| / |u_ref|`` on the grid; the report gives
the median over seeds and the median wall time of one training run.

Models (:data:`MODELS`) are sized to the tanh MLP's parameter count (within a few per cent; the
counts are printed): the tanh MLP of the PINN literature (Raissi et al.'s 8 hidden layers of 20
for Burgers) and ``HighOrderMLP`` networks of several layer types. ``--quick`` runs every problem
and model on tiny settings in seconds (a smoke run: its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from examples.common.pde_references import allen_cahn, cole_hopf
from torch import Tensor, nn

from benchmarks._timing import cpu_name
from high_order_layers_torch.layers import MaxAbsNormalization, high_order_fc_layers
from high_order_layers_torch.networks import HighOrderMLP, LowOrderMLP

DTYPE = torch.float64
PI = math.pi
BURGERS_NU = 0.01 / PI
HELMHOLTZ_A1, HELMHOLTZ_A2, HELMHOLTZ_K = 1.0, 4.0, 1.0
ALLEN_CAHN_EPS, ALLEN_CAHN_RATE = 1e-4, 5.0

Model = Callable[[Tensor], Tensor]


# ------------------------------------------------------------------------------- derivatives
def derivatives(model: Model, points: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``u, u_1, u_2, u_11`` of ``model`` at ``points`` ``(B, 2)`` (``u_11``: second derivative in the
    first input), each ``(B,)``, all keeping the graph."""
    points = points.detach().requires_grad_(True)
    u = model(points)[:, 0]
    (grad,) = torch.autograd.grad(u.sum(), points, create_graph=True)
    (grad_1,) = torch.autograd.grad(grad[:, 0].sum(), points, create_graph=True)
    return u, grad[:, 0], grad[:, 1], grad_1[:, 0]


def laplacian(model: Model, points: Tensor) -> tuple[Tensor, Tensor]:
    """``u`` and ``u_xx + u_yy`` at ``points`` ``(B, 2)``, each ``(B,)``."""
    points = points.detach().requires_grad_(True)
    u = model(points)[:, 0]
    (grad,) = torch.autograd.grad(u.sum(), points, create_graph=True)
    (grad_x,) = torch.autograd.grad(grad[:, 0].sum(), points, create_graph=True)
    (grad_y,) = torch.autograd.grad(grad[:, 1].sum(), points, create_graph=True)
    return u, grad_x[:, 0] + grad_y[:, 1]


# ------------------------------------------------------------------------------------- residuals
def burgers_residual(model: Model, points: Tensor) -> Tensor:
    """``u_t + u u_x - nu u_xx`` at ``points = (x, s = 2 t - 1)``. Shape: ``(B,)``."""
    u, u_x, u_s, u_xx = derivatives(model, points)
    return 2 * u_s + u * u_x - BURGERS_NU * u_xx


def allen_cahn_residual(model: Model, points: Tensor) -> Tensor:
    """``u_t - eps u_xx + 5 u^3 - 5 u`` at ``points = (x, s = 2 t - 1)``. Shape: ``(B,)``."""
    u, _, u_s, u_xx = derivatives(model, points)
    return 2 * u_s - ALLEN_CAHN_EPS * u_xx + ALLEN_CAHN_RATE * (u**3 - u)


def poisson_exact(points: Tensor) -> Tensor:
    """The manufactured solution ``sin(pi x) sin(pi y) exp((x + y) / 2)``. Shape: ``(B,)``."""
    x, y = points[:, 0], points[:, 1]
    return torch.sin(PI * x) * torch.sin(PI * y) * torch.exp((x + y) / 2)


def poisson_source(points: Tensor) -> Tensor:
    """``f = u_xx + u_yy`` of :func:`poisson_exact`, written out: with ``A(x) = sin(pi x) e^(x/2)``,
    ``A'' = e^(x/2) ((1/4 - pi^2) sin(pi x) + pi cos(pi x))`` and ``f = A''(x) A(y) + A(x) A''(y)``."""
    x, y = points[:, 0], points[:, 1]

    def a(z: Tensor) -> Tensor:
        return torch.sin(PI * z) * torch.exp(z / 2)

    def a2(z: Tensor) -> Tensor:
        return torch.exp(z / 2) * ((0.25 - PI**2) * torch.sin(PI * z) + PI * torch.cos(PI * z))

    return a2(x) * a(y) + a(x) * a2(y)


def poisson_residual(model: Model, points: Tensor) -> Tensor:
    _, lap = laplacian(model, points)
    return lap - poisson_source(points)


def helmholtz_exact(points: Tensor) -> Tensor:
    """``sin(a1 pi x) sin(a2 pi y)``. Shape: ``(B,)``."""
    return torch.sin(HELMHOLTZ_A1 * PI * points[:, 0]) * torch.sin(HELMHOLTZ_A2 * PI * points[:, 1])


def helmholtz_source(points: Tensor) -> Tensor:
    """``q = (k^2 - (a1 pi)^2 - (a2 pi)^2) u`` of :func:`helmholtz_exact`."""
    return (HELMHOLTZ_K**2 - (HELMHOLTZ_A1 * PI) ** 2 - (HELMHOLTZ_A2 * PI) ** 2) * helmholtz_exact(points)


HELMHOLTZ_SCALE = (HELMHOLTZ_A1**2 + HELMHOLTZ_A2**2) * PI**2


def helmholtz_residual(model: Model, points: Tensor) -> Tensor:
    """``(u_xx + u_yy + k^2 u - q) / ((a1^2 + a2^2) pi^2)``. Shape: ``(B,)``."""
    u, lap = laplacian(model, points)
    return (lap + HELMHOLTZ_K**2 * u - helmholtz_source(points)) / HELMHOLTZ_SCALE


# ------------------------------------------------------------------------------- problem data
def sobol(count: int, dims: int, seed: int) -> Tensor:
    """``count`` scrambled Sobol points in ``[-1, 1]^dims``. Shape: ``(count, dims)``."""
    engine = torch.quasirandom.SobolEngine(dims, scramble=True, seed=seed)
    return engine.draw(count, dtype=DTYPE) * 2 - 1


def edges(count: int, seed: int) -> list[Tensor]:
    """``count`` points on each side of the square ``[-1, 1]^2``: ``x = -1, x = 1, y = -1, y = 1``."""
    along = sobol(count, 1, seed + 7)
    minus, plus = -torch.ones_like(along), torch.ones_like(along)
    return [torch.cat(pair, dim=1) for pair in ((minus, along), (plus, along), (along, minus), (along, plus))]


Loss = Callable[[Model], Tensor]


@dataclass(frozen=True)
class Data:
    """One run's loss and its evaluation grid."""

    loss: Loss
    grid: Tensor  # (G, 2) network inputs
    reference: Tensor  # (G,)


def burgers_data(collocation: int, boundary: int, seed: int, resolution: float = 1.0) -> Data:
    inside = sobol(collocation, 2, seed)
    x0 = sobol(boundary, 1, seed + 1)
    initial = torch.cat([x0, -torch.ones_like(x0)], dim=1)  # t = 0
    u0 = -torch.sin(PI * x0[:, 0])
    walls = torch.cat(edges(boundary, seed)[:2])  # x = -1 and x = 1

    def loss(model: Model) -> Tensor:
        pde = burgers_residual(model, inside).pow(2).mean()
        ic = (model(initial)[:, 0] - u0).pow(2).mean()
        bc = model(walls).pow(2).mean()
        return pde + ic + bc

    x, t = np.linspace(-1, 1, _scaled(256, resolution)), np.linspace(0, 1, _scaled(101, resolution))
    reference = cole_hopf(x, t, BURGERS_NU)  # (T, X)
    return Data(loss, _grid(x, 2 * t - 1), torch.as_tensor(reference.ravel(), dtype=DTYPE))


def poisson_data(collocation: int, boundary: int, seed: int, resolution: float = 1.0) -> Data:
    return _dirichlet_data(poisson_residual, poisson_exact, collocation, boundary, seed, resolution)


def helmholtz_data(collocation: int, boundary: int, seed: int, resolution: float = 1.0) -> Data:
    return _dirichlet_data(helmholtz_residual, helmholtz_exact, collocation, boundary, seed, resolution)


def _dirichlet_data(
    residual: Callable[[Model, Tensor], Tensor],
    exact: Callable[[Tensor], Tensor],
    collocation: int,
    boundary: int,
    seed: int,
    resolution: float,
) -> Data:
    inside = sobol(collocation, 2, seed)
    wall = torch.cat(edges(boundary, seed))
    wall_values = exact(wall)

    def loss(model: Model) -> Tensor:
        return residual(model, inside).pow(2).mean() + (model(wall)[:, 0] - wall_values).pow(2).mean()

    axis = np.linspace(-1, 1, _scaled(201, resolution))
    grid = _grid(axis, axis)
    return Data(loss, grid, exact(grid))


def allen_cahn_data(collocation: int, boundary: int, seed: int, resolution: float = 1.0) -> Data:
    inside = sobol(collocation, 2, seed)
    x0 = sobol(boundary, 1, seed + 1)
    initial = torch.cat([x0, -torch.ones_like(x0)], dim=1)
    u0 = x0[:, 0] ** 2 * torch.cos(PI * x0[:, 0])
    left, right = edges(boundary, seed)[:2]

    def loss(model: Model) -> Tensor:
        pde = allen_cahn_residual(model, inside).pow(2).mean()
        ic = (model(initial)[:, 0] - u0).pow(2).mean()
        u_left, ux_left, _, _ = derivatives(model, left)
        u_right, ux_right, _, _ = derivatives(model, right)
        periodic = (u_left - u_right).pow(2).mean() + (ux_left - ux_right).pow(2).mean()
        return pde + ALLEN_CAHN_IC_WEIGHT * ic + periodic

    t = np.linspace(0, 1, _scaled(101, resolution))
    modes = 2048 if resolution >= 1 else 256
    x, u = allen_cahn(t, points=modes, dt=5e-4 if resolution >= 1 else 2e-3)
    step = max(1, modes // _scaled(512, resolution))
    x, u = x[::step], u[:, ::step]
    return Data(loss, _grid(x, 2 * t - 1), torch.as_tensor(u.ravel(), dtype=DTYPE))


#: Weight of the initial-condition term of Allen-Cahn (the interfaces grow from its small
#: features, so the initial state must be matched far more closely than the residual).
ALLEN_CAHN_IC_WEIGHT = 100.0


def _scaled(count: int, resolution: float) -> int:
    return max(8, int(round(count * resolution)))


def _grid(first: np.ndarray, second: np.ndarray) -> Tensor:
    """Points ``(first, second)`` of the grid, row by row in ``second``. Shape: ``(len(second) * len(first), 2)``."""
    ss, ff = np.meshgrid(second, first, indexing="ij")
    return torch.as_tensor(np.stack([ff.ravel(), ss.ravel()], axis=-1), dtype=DTYPE)


# ------------------------------------------------------------------------------------- training
@dataclass(frozen=True)
class Schedule:
    """Collocation and optimiser settings of one problem."""

    collocation: int = 8192
    boundary: int = 256
    adam_steps: int = 1000
    lr: float = 1e-2
    lbfgs_steps: int = 5000
    history: int = 50


@dataclass(frozen=True)
class Problem:
    name: str
    title: str
    data: Callable[[int, int, int, float], Data]
    schedule: Schedule = field(default_factory=Schedule)
    #: hidden layers of the tanh MLP; its width 20 sets the parameter budget of the problem
    tanh_depth: int = 8
    tanh_width: int = 20


PROBLEMS: dict[str, Problem] = {
    "burgers": Problem("burgers", "Burgers, nu = 0.01/pi", burgers_data),
    "poisson": Problem("poisson", "Poisson 2-D, manufactured", poisson_data, Schedule(4096, lbfgs_steps=2000)),
    "helmholtz": Problem(
        "helmholtz", "Helmholtz 2-D, a1 = 1, a2 = 4, k = 1", helmholtz_data, Schedule(4096, lbfgs_steps=2000)
    ),
    "allen_cahn": Problem("allen_cahn", "Allen-Cahn 1-D, eps = 1e-4", allen_cahn_data),
}


def fit(
    model: nn.Module, loss: Loss, schedule: Schedule, *, cpu_limit: float | None = None, chunk: int = 25
) -> dict[str, float]:
    """Adam (cosine decay) then L-BFGS (strong Wolfe) on ``loss``; returns the final loss and the
    steps taken. L-BFGS runs in chunks of ``chunk`` iterations (its history carries over); a chunk
    that ends in a non-finite loss is undone and L-BFGS stops there. With ``cpu_limit``, training
    stops once this process has used that many CPU seconds on it (``time.process_time``, which
    other jobs on the machine do not inflate), checked every Adam step and every chunk."""
    start = time.process_time()

    def out_of_time() -> bool:
        return cpu_limit is not None and time.process_time() - start > cpu_limit

    parameters = list(model.parameters())
    adam = torch.optim.Adam(parameters, lr=schedule.lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(adam, max(schedule.adam_steps, 1))
    adam_steps = 0
    for _ in range(schedule.adam_steps):
        if out_of_time():
            break
        adam.zero_grad(set_to_none=True)
        loss(model).backward()
        adam.step()
        decay.step()
        adam_steps += 1
    lbfgs = torch.optim.LBFGS(
        parameters,
        lr=1.0,
        max_iter=chunk,
        history_size=schedule.history,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        lbfgs.zero_grad(set_to_none=True)
        out = loss(model)
        out.backward()
        return out

    done = 0
    while done < schedule.lbfgs_steps and not out_of_time():
        lbfgs.param_groups[0]["max_iter"] = min(chunk, schedule.lbfgs_steps - done)
        saved = copy.deepcopy(model.state_dict())
        lbfgs.step(closure)
        done += lbfgs.param_groups[0]["max_iter"]
        if not torch.isfinite(loss(model).detach()):
            model.load_state_dict(saved)
            break
    value = float(loss(model).detach())
    return {"loss": value, "adam_steps": adam_steps, "lbfgs_steps": done, "cpu_s": time.process_time() - start}


def relative_l2(model: nn.Module, data: Data) -> float:
    with torch.no_grad():
        prediction = model(data.grid)[:, 0]
    error = float((prediction - data.reference).norm() / data.reference.norm())
    return error if math.isfinite(error) else float("inf")


# --------------------------------------------------------------------------------------- models
def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tanh_mlp(depth: int, width: int) -> nn.Module:
    """The PINN literature's MLP: ``depth`` hidden layers of ``width`` tanh units."""
    return LowOrderMLP(2, 1, depth - 1, width, non_linearity=nn.Tanh)


@dataclass(frozen=True)
class HighOrder:
    """A ``HighOrderMLP`` recipe; its width is chosen to match a parameter budget."""

    layer_type: str
    n: int
    segments: int = 1
    hidden_layers: int = 1
    between: str = "tanh"  # what every layer after the first sees: "tanh", "maxabs" or "none"
    #: links start as random lines (a PINN needs an input gradient from the first step; the
    #: layers' default, constant links, gives none)
    initialization: str = "linear"
    options: tuple[tuple[str, object], ...] = ()  # more HighOrderMLP keywords (in_segments, n_in, ...)

    def build(self, width: int) -> nn.Module:
        between = {
            "tanh": {"non_linearity": nn.Tanh},
            "maxabs": {"normalization": MaxAbsNormalization},
            "none": {},
        }[self.between]
        return HighOrderMLP(
            self.layer_type,
            self.n,
            2,
            1,
            self.hidden_layers,
            width,
            segments=self.segments,
            initialization=self.initialization,
            **between,
            **dict(self.options),
        )

    def matched(self, budget: int) -> nn.Module:
        """The width whose parameter count is nearest ``budget``."""
        best, best_gap = 1, math.inf
        for width in range(1, 200):
            count = parameter_count(self.build(width))
            if abs(count - budget) < best_gap:
                best, best_gap = width, abs(count - budget)
            if count > budget:
                break
        return self.build(best)


#: Model name -> recipe; ``"tanh MLP"`` is the baseline every ratio divides by. ``bspline ... in=16``:
#: cubic B-splines (C2, so ``u_xx`` is a function) on 16 pieces in the input layer, 4 after it.
MODELS: dict[str, HighOrder | None] = {
    "tanh MLP": None,
    "polynomial n=6": HighOrder("polynomial", 6),
    "chebyshev n=6": HighOrder("chebyshev", 6),
    "continuous n=4 s=3": HighOrder("continuous", 4, segments=3),
    "fourier n=3": HighOrder("fourier", 3),
}


def _has_layer_type(name: str) -> bool:
    try:
        high_order_fc_layers(name, n=4, in_features=1, out_features=1)
    except ValueError:
        return False
    return True


if _has_layer_type("bspline"):  # the B-spline family joins where the installed package has it
    MODELS["bspline n=4 s=4 in=16"] = HighOrder("bspline", 4, segments=4, options=(("in_segments", 16),))
BASELINE = "tanh MLP"


def build(name: str, problem: Problem) -> nn.Module:
    recipe = MODELS[name]
    tanh = tanh_mlp(problem.tanh_depth, problem.tanh_width)
    model = tanh if recipe is None else recipe.matched(parameter_count(tanh))
    return model.to(DTYPE)


def train(
    name: str,
    problem: Problem,
    seed: int,
    schedule: Schedule,
    resolution: float = 1.0,
    cpu_limit: float | None = None,
) -> dict[str, float]:
    """One training run: ``{"error", "wall_s", "cpu_s", "params", "loss", "adam_steps", "lbfgs_steps"}``."""
    data = problem.data(schedule.collocation, schedule.boundary, seed, resolution)
    torch.manual_seed(seed)
    model = build(name, problem)
    start = time.perf_counter()
    result = fit(model, data.loss, schedule, cpu_limit=cpu_limit)
    wall = time.perf_counter() - start
    return {"error": relative_l2(model, data), "wall_s": wall, "params": parameter_count(model), **result}


# --------------------------------------------------------------------------------------- report
def fmt(value: float) -> str:
    return "diverged" if not math.isfinite(value) else f"{value:.2e}"


def run_problem(
    problem: Problem,
    models: Sequence[str],
    seeds: int,
    schedule: Schedule,
    resolution: float,
    cpu_limit: float | None = None,
) -> tuple[list[str], dict[str, float]]:
    """The problem's markdown table and its ratios (model -> tanh error / model error)."""
    s = schedule
    limit = f"; each run stopped after {cpu_limit:g} CPU seconds" if cpu_limit else ""
    lines = [
        f"## {problem.title}",
        "",
        f"{s.collocation} Sobol collocation points, {s.boundary} per boundary line; Adam up to {s.adam_steps} steps "
        f"(lr {s.lr:g}, cosine), then L-BFGS up to {s.lbfgs_steps} iterations (history {s.history}, strong Wolfe)"
        f"{limit}. Steps: the Adam + L-BFGS steps taken (median).",
        "",
        "| model | params | rel. L2 (median) | min .. max | steps | CPU s | wall s | tanh error / this |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = []
    for name in models:
        runs = [train(name, problem, seed, schedule, resolution, cpu_limit) for seed in range(seeds)]
        errors = [r["error"] for r in runs]
        row = {
            "name": name,
            "params": int(runs[0]["params"]),
            "median": statistics.median(errors),
            "low": min(errors),
            "high": max(errors),
            "adam": int(statistics.median(r["adam_steps"] for r in runs)),
            "lbfgs": int(statistics.median(r["lbfgs_steps"] for r in runs)),
            "cpu": statistics.median(r["cpu_s"] for r in runs),
            "wall": statistics.median(r["wall_s"] for r in runs),
        }
        rows.append(row)
        print(f"  {problem.name} / {name}: errors {[fmt(e) for e in errors]}, {row['wall']:.1f} s", flush=True)
    baseline = next((row["median"] for row in rows if row["name"] == BASELINE), math.nan)
    ratios = {}
    for row in rows:
        ratio = ratios[row["name"]] = baseline / row["median"] if row["median"] > 0 else math.inf
        lines.append(
            f"| {row['name']} | {row['params']:,} | {fmt(row['median'])} | {fmt(row['low'])} .. {fmt(row['high'])} "
            f"| {row['adam']} + {row['lbfgs']} | {row['cpu']:.0f} | {row['wall']:.0f} | {ratio:.2f} |"
        )
    return lines, ratios


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every problem and model on tiny settings")
    parser.add_argument("--problems", default=",".join(PROBLEMS), help=f"comma-separated: {', '.join(PROBLEMS)}")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated names of MODELS")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    for name in ("collocation", "adam_steps", "lbfgs_steps"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, help=f"override every problem's {name}")
    parser.add_argument("--cpu-limit", type=float, help="stop each run after this many CPU seconds (time.process_time)")
    parser.add_argument("--out", type=Path, help="markdown file (default results/bench_pinn.md; --quick writes none)")
    args = parser.parse_args(argv)
    problems = _names(parser, "--problems", args.problems, PROBLEMS)
    models = _names(parser, "--models", args.models, MODELS)
    if BASELINE not in models:
        models.insert(0, BASELINE)
    torch.set_num_threads(args.threads)
    seeds = 1 if args.quick else args.seeds
    resolution = 0.1 if args.quick else 1.0
    report = [
        f"# Physics-informed networks ({cpu_name()}, {torch.get_num_threads()} torch thread(s), "
        f"torch {torch.__version__}, float64, {seeds} seed(s))",
        "",
        "Relative L2 error against the reference on the evaluation grid, median over seeds; CPU and wall "
        "time of one training run (median over seeds; the wall time grows when other jobs share the CPU, "
        "the CPU time does not).",
    ]
    ratios: dict[str, dict[str, float]] = {}
    for key in problems:
        problem = PROBLEMS[key]
        schedule = Schedule(60, 16, 5, 1e-2, 5, 10) if args.quick else problem.schedule
        overrides = {k: getattr(args, k) for k in ("collocation", "adam_steps", "lbfgs_steps") if getattr(args, k)}
        schedule = replace(schedule, **overrides)
        start = time.perf_counter()
        lines, ratios[key] = run_problem(problem, models, seeds, schedule, resolution, args.cpu_limit)
        report += ["", *lines, "", f"({time.perf_counter() - start:.0f} s for the section)"]
    report += ["", "## Ratios (tanh MLP error / model error; > 1: the model is more accurate)", ""]
    report += ["| model | " + " | ".join(problems) + " |", "|---|" + "---:|" * len(problems)]
    for name in models[1:]:
        report.append(f"| {name} | " + " | ".join(f"{ratios[p].get(name, math.nan):.2f}" for p in problems) + " |")
    text = "\n".join(report) + "\n"
    print(text)
    out = args.out or (None if args.quick else Path("results/bench_pinn.md"))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    return text


def _names(parser: argparse.ArgumentParser, flag: str, value: str, valid: dict) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in names if v not in valid]
    if unknown:
        parser.error(f"{flag}: unknown {unknown}; choose from {', '.join(valid)}")
    return names


if __name__ == "__main__":
    main()
