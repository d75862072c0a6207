"""Accuracy per parameter: high-order networks against ReLU and SiLU MLPs of the same size.

    python -m benchmarks.bench_accuracy [--quick] [--sections main,init,optimizers,deep,pde,classification]
                                        [--seeds 3] [--budgets 150,500] [--tasks NAME,...]
                                        [--out results/bench_accuracy.md]

Every model is trained from scratch per task, budget, optimiser and seed, and the report gives the
median over seeds of the test error, with the wall time of the whole section:

* ``main``: regression of 1-D targets (smooth, kinked, discontinuous at 0, oscillating), 2-D and
  3-D targets and six equations of the AI Feynman list (inputs drawn from the published ranges
  and mapped linearly to ``[-1, 1]``), at two parameter budgets, by ``HighOrderMLP`` with
  continuous and discontinuous links against ReLU and SiLU MLPs of (at most) the same parameter
  count; Adam then L-BFGS, float64. Errors are RMSE on 2000 test points, relative to the standard
  deviation of the target.
* ``init``: the same tasks at the smaller budget under every ``initialization=`` scheme.
* ``deep``: ``hidden_layers=4`` stacks under every scheme (does it train at all?).
* ``shape``: continuous links of several ``n`` and ``segments`` at the larger budget.
* ``options``: two hidden layers under each ``out_of_range`` policy, with and without max-abs
  normalisation between layers.
* ``optimizers``: Adam, Adam then L-BFGS, and Lion (``lion-pytorch``) on four of the tasks.
* ``rates``: Adam and Lion at three learning rates each.
* ``pde``: the 1-D Poisson problem ``u'' = f`` with ``u(+-1) = 0`` as a physics-informed fit.
* ``classification``: MNIST (cached; else scikit-learn's 8x8 digits), fully connected, a few epochs.

KANs of the same trainable-parameter count from the peer libraries that import (the ``peers``
extra: pykan, inkan, KANditioned; ``[d, h, 1]``, grid 5 on ``[-1, 1]``) join the ``main`` section,
trained by the same optimiser and schedule as every other model. The ``main`` section also gives
time-to-accuracy: training seconds until the test error first reaches the worst final error of
the row, and a fixed ``1e-2`` ("not reached" where the median run never gets there).
``--quick`` runs two tasks, one seed and few steps: a smoke run (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from benchmarks import _peers
from benchmarks._timing import cpu_name
from high_order_layers_torch.layers import INITIALIZATIONS, MaxAbsNormalization
from high_order_layers_torch.networks import HighOrderMLP, LowOrderMLP

Target = Callable[[Tensor], Tensor]


# ---------------------------------------------------------------------------------------- tasks
@dataclass(frozen=True)
class Task:
    """A regression target on ``[-1, 1]^dims`` (``ranges`` maps each input to the physical range
    the formula is written for)."""

    name: str
    dims: int
    target: Target
    ranges: tuple[tuple[float, float], ...] | None = None
    group: str = "smooth"

    def __call__(self, x: Tensor) -> Tensor:
        if self.ranges is not None:
            low = x.new_tensor([r[0] for r in self.ranges])
            high = x.new_tensor([r[1] for r in self.ranges])
            x = low + (x + 1) / 2 * (high - low)
        return self.target(x)


def _c(x: Tensor, i: int) -> Tensor:
    return x[:, i]


TASKS: tuple[Task, ...] = (
    Task("1d smooth", 1, lambda x: torch.sin(math.pi * _c(x, 0)) * torch.exp(_c(x, 0))),
    Task("1d kinked", 1, lambda x: (_c(x, 0) - 0.3).abs() + 0.5 * _c(x, 0) ** 2, group="kinked"),
    Task(
        "1d jump at 0",
        1,
        lambda x: torch.where(_c(x, 0) < 0, -0.5 + _c(x, 0) ** 2, 0.5 + torch.sin(2 * _c(x, 0))),
        group="discontinuous",
    ),
    Task("1d oscillating", 1, lambda x: torch.sin(4 * math.pi * _c(x, 0)) + 0.3 * _c(x, 0)),
    Task("2d exp(sin(pi x) + y^2)", 2, lambda x: torch.exp(torch.sin(math.pi * _c(x, 0)) + _c(x, 1) ** 2)),
    Task("2d x y", 2, lambda x: _c(x, 0) * _c(x, 1)),
    Task(
        "2d jump at x = 0",
        2,
        lambda x: torch.where(_c(x, 0) < 0, _c(x, 1) ** 2, 1 + torch.sin(math.pi * _c(x, 1))),
        group="discontinuous",
    ),
    Task(
        "3d exp(sin(pi (x^2 + y^2)) + sin(pi (y^2 + z^2)))",
        3,
        lambda x: torch.exp(
            0.5
            * (
                torch.sin(math.pi * (_c(x, 0) ** 2 + _c(x, 1) ** 2))
                + torch.sin(math.pi * (_c(x, 1) ** 2 + _c(x, 2) ** 2))
            )
        ),
    ),
    # AI Feynman equations on their published input ranges.
    Task(
        "Feynman I.6.2a",
        1,
        lambda x: torch.exp(-(_c(x, 0) ** 2) / 2) / math.sqrt(2 * math.pi),
        ranges=((1.0, 3.0),),
    ),
    Task(
        "Feynman I.10.7",
        3,
        lambda x: _c(x, 0) / torch.sqrt(1 - _c(x, 1) ** 2 / _c(x, 2) ** 2),
        ranges=((1.0, 5.0), (1.0, 2.0), (3.0, 10.0)),
    ),
    Task(
        "Feynman I.12.2",
        4,
        lambda x: _c(x, 0) * _c(x, 1) / (4 * math.pi * _c(x, 2) * _c(x, 3) ** 2),
        ranges=((1.0, 5.0),) * 4,
    ),
    Task(
        "Feynman I.18.4",
        4,
        lambda x: (_c(x, 0) * _c(x, 2) + _c(x, 1) * _c(x, 3)) / (_c(x, 0) + _c(x, 1)),
        ranges=((1.0, 5.0),) * 4,
    ),
    Task("Feynman I.29.4", 2, lambda x: _c(x, 0) / _c(x, 1), ranges=((1.0, 10.0), (1.0, 10.0))),
    Task("Feynman I.34.8", 4, lambda x: _c(x, 0) * _c(x, 1) * _c(x, 2) / _c(x, 3), ranges=((1.0, 5.0),) * 4),
)

#: Tasks of the ``optimizers`` section (one of each kind).
OPTIMIZER_TASKS = ("1d kinked", "1d jump at 0", "2d exp(sin(pi x) + y^2)", "Feynman I.12.2")
#: Tasks of the ``deep`` section.
DEEP_TASKS = ("1d smooth", "2d exp(sin(pi x) + y^2)")

TRAIN_SAMPLES, TEST_SAMPLES = 1000, 2000


def regression_data(task: Task, seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Train and test inputs uniform on ``[-1, 1]^dims`` and targets standardised with the
    training set's mean and deviation. float64."""
    generator = torch.Generator().manual_seed(10_000 + seed)
    x = torch.rand(TRAIN_SAMPLES + TEST_SAMPLES, task.dims, generator=generator, dtype=torch.float64) * 2 - 1
    y = task(x).unsqueeze(-1)
    mean, std = y[:TRAIN_SAMPLES].mean(), y[:TRAIN_SAMPLES].std()
    y = (y - mean) / std
    return x[:TRAIN_SAMPLES], y[:TRAIN_SAMPLES], x[TRAIN_SAMPLES:], y[TRAIN_SAMPLES:]


# --------------------------------------------------------------------------------------- models
def parameter_count(model: nn.Module) -> int:
    """Trainable parameters (``requires_grad``): what the optimiser fits. pykan also holds frozen
    tensors (its grid, masks and node affines) as parameters; they are not counted."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def widest(build: Callable[[int], nn.Module], budget: int) -> nn.Module:
    """``build(width)`` at the largest width whose parameter count stays within ``budget``."""
    width = 1
    while parameter_count(build(width + 1)) <= budget:
        width += 1
    return build(width)


def high_order(
    layer_type: str, dims: int, budget: int, *, n: int = 5, segments: int = 2, hidden_layers: int = 0, **options
) -> nn.Module:
    """The widest ``HighOrderMLP`` (``dims -> h -> ... -> 1``) within ``budget`` parameters."""
    return widest(
        lambda width: HighOrderMLP(layer_type, n, dims, 1, hidden_layers, width, segments=segments, **options), budget
    )


def low_order(activation: type[nn.Module], dims: int, budget: int, *, hidden_layers: int = 1) -> nn.Module:
    """The widest two-hidden-layer MLP (``hidden_layers`` + 1 hidden layers) within ``budget``."""
    return widest(lambda width: LowOrderMLP(dims, 1, hidden_layers, width, non_linearity=activation), budget)


# ----------------------------------------------------------------------------------- KAN peers
#: Grid intervals of every KAN peer on ``[-1, 1]`` (pykan's default grid and spline order).
KAN_GRID = 5


#: KAN peer -> (importable module, ``(dims, width) -> network``).
PEERS: dict[str, tuple[str, Callable[..., nn.Module]]] = {
    "KAN (pykan)": ("kan", _peers.pykan_net),
    "KAN (inkan)": ("inkan", _peers.inkan_net),
    "KAN (KANditioned)": ("KANditioned", _peers.kanditioned_net),
}


def peer_available(name: str) -> bool:
    return _peers.import_peer(PEERS[name][0]) is not None


def kan_peer(name: str, dims: int, budget: int) -> nn.Module | None:
    """The widest ``[dims, h, 1]`` network of the peer ``name`` within ``budget`` trainable
    parameters, or ``None`` without that package."""
    if not peer_available(name):
        return None
    network = PEERS[name][1]
    if name == "KAN (pykan)":  # pykan reseeds the global generators: derive its seed from them
        seed = int(torch.randint(2**31 - 1, ()).item())
        return widest(lambda width: network(dims, width, grid=KAN_GRID, seed=seed), budget)
    return widest(lambda width: network(dims, width, grid=KAN_GRID), budget)


def kan(dims: int, budget: int) -> nn.Module | None:
    """A ``pykan`` KAN ``[dims, h, 1]`` within ``budget`` parameters, or ``None`` without pykan."""
    return kan_peer("KAN (pykan)", dims, budget)


#: Model name -> builder ``(dims, budget, initialization) -> module``; ``None`` is the layers' default.
MODELS: dict[str, Callable[[int, int, str | None], nn.Module | None]] = {
    "continuous n=5 s=2": lambda d, b, init: high_order("continuous", d, b, initialization=init),
    "discontinuous n=5 s=2": lambda d, b, init: high_order("discontinuous", d, b, initialization=init),
    "polynomial n=5": lambda d, b, init: high_order("polynomial", d, b, initialization=init),
    "fourier n=2": lambda d, b, init: high_order("fourier", d, b, n=2, initialization=init),
    "ReLU MLP": lambda d, b, init: low_order(nn.ReLU, d, b),
    "SiLU MLP": lambda d, b, init: low_order(nn.SiLU, d, b),
    **{name: functools.partial(lambda name, d, b, init: kan_peer(name, d, b), name) for name in PEERS},
}
HIGH_ORDER_MODELS = ("continuous n=5 s=2", "discontinuous n=5 s=2", "polynomial n=5", "fourier n=2")
MLP_MODELS = ("ReLU MLP", "SiLU MLP")


def available_models() -> list[str]:
    """Every model of :data:`MODELS` whose package imports (the KAN peers are optional)."""
    return [name for name in MODELS if name not in PEERS or peer_available(name)]


# ------------------------------------------------------------------------------------ training
@dataclass(frozen=True)
class Schedule:
    adam_steps: int = 1000
    lbfgs_steps: int = 200
    lion_steps: int = 1000


#: Learning rate of each first-phase optimiser, for every model (the ``rates`` section sweeps them).
LEARNING_RATES = {"adam": 1e-2, "lion": 1e-3}


#: A monitored fit records the test error after every this many first-phase steps (and after
#: every function evaluation of L-BFGS).
MONITOR_EVERY = 10


def fit(
    model: nn.Module,
    loss: Callable[[], Tensor],
    optimizer: str,
    schedule: Schedule,
    lr: float | None = None,
    monitor: Callable[[], None] | None = None,
) -> None:
    """Minimise ``loss`` with ``"adam"``, ``"adam+lbfgs"`` (Adam, then L-BFGS with a strong-Wolfe
    line search from where Adam stopped) or ``"lion"``; ``lr`` replaces the first optimiser's
    rate from :data:`LEARNING_RATES`. ``monitor`` is called every :data:`MONITOR_EVERY` steps of
    the first optimiser and after every loss evaluation of L-BFGS (line-search trial points
    included: they are states the parameters took)."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    if optimizer in ("adam", "adam+lbfgs"):
        first: torch.optim.Optimizer = torch.optim.Adam(parameters, lr=lr or LEARNING_RATES["adam"])
        steps = schedule.adam_steps
    elif optimizer == "lion":
        from lion_pytorch import Lion

        first, steps = Lion(parameters, lr=lr or LEARNING_RATES["lion"]), schedule.lion_steps
    else:
        raise ValueError(f"optimizer must be 'adam', 'adam+lbfgs' or 'lion', got {optimizer!r}")
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(first, steps)
    for step in range(steps):
        first.zero_grad(set_to_none=True)
        loss().backward()
        first.step()
        decay.step()
        if monitor is not None and (step + 1) % MONITOR_EVERY == 0:
            monitor()
    if optimizer == "adam+lbfgs":
        lbfgs = torch.optim.LBFGS(
            parameters, lr=1.0, max_iter=schedule.lbfgs_steps, history_size=50, line_search_fn="strong_wolfe"
        )

        def closure() -> Tensor:
            lbfgs.zero_grad(set_to_none=True)
            value = loss()
            value.backward()
            if monitor is not None:
                monitor()
            return value

        lbfgs.step(closure)


@dataclass
class Run:
    """One training run: the final relative test RMSE, the training wall time in seconds, and
    (when monitored) the trace ``[(seconds, error), ...]`` from the start (0 s, the initial
    model) to the end. The seconds count training only: the monitor's own test evaluations are
    excluded."""

    error: float
    seconds: float
    trace: list[tuple[float, float]]


def train_regression_run(
    model: nn.Module,
    task: Task,
    seed: int,
    optimizer: str,
    schedule: Schedule,
    lr: float | None = None,
    *,
    monitored: bool = False,
) -> Run:
    """Train ``model`` (in float64) on ``task``'s data for ``seed``."""
    model = model.double()
    x, y, x_test, y_test = regression_data(task, seed)

    def test_error() -> float:
        with torch.no_grad():
            error = torch.sqrt(torch.mean((model(x_test) - y_test) ** 2)).item()
        return error if math.isfinite(error) else float("inf")

    trace: list[tuple[float, float]] = []
    spent, resumed = 0.0, 0.0

    def monitor() -> None:
        nonlocal spent, resumed
        spent += time.perf_counter() - resumed
        trace.append((spent, test_error()))
        resumed = time.perf_counter()

    if monitored:
        trace.append((0.0, test_error()))
    resumed = time.perf_counter()
    fit(model, lambda: torch.mean((model(x) - y) ** 2), optimizer, schedule, lr, monitor if monitored else None)
    spent += time.perf_counter() - resumed
    error = test_error()
    if monitored:
        trace.append((spent, error))
    return Run(error, spent, trace)


def train_regression(
    model: nn.Module, task: Task, seed: int, optimizer: str, schedule: Schedule, lr: float | None = None
) -> float:
    """Train ``model`` (in float64) on ``task``'s data for ``seed``; its relative test RMSE."""
    return train_regression_run(model, task, seed, optimizer, schedule, lr).error


def seeded_runs(
    task: Task,
    build: Callable[[], nn.Module],
    seeds: int,
    schedule: Schedule,
    optimizer: str = "adam+lbfgs",
    lr: float | None = None,
    *,
    monitored: bool = False,
) -> list[Run]:
    """One run of ``build()`` (seeded before it is built) per seed."""
    runs = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        runs.append(train_regression_run(build(), task, seed, optimizer, schedule, lr, monitored=monitored))
    return runs


def median_error(
    task: Task,
    build: Callable[[], nn.Module],
    seeds: int,
    schedule: Schedule,
    optimizer: str = "adam+lbfgs",
    lr: float | None = None,
) -> float:
    """Median over ``seeds`` of the relative test RMSE of ``build()`` (seeded before it is built)."""
    return statistics.median(run.error for run in seeded_runs(task, build, seeds, schedule, optimizer, lr))


def time_to_target(trace: Sequence[tuple[float, float]], target: float) -> float:
    """The first time in ``trace`` at which the error is at or below ``target``; ``inf`` if never."""
    return next((seconds for seconds, error in trace if error <= target), float("inf"))


def median_time_to_target(runs: Sequence[Run], target: float) -> float:
    """Median over the runs of :func:`time_to_target`: ``inf`` ("not reached") when the median
    run never reaches ``target``."""
    return statistics.median(time_to_target(run.trace, target) for run in runs)


def fmt(value: float) -> str:
    return "diverged" if not math.isfinite(value) else f"{value:.2e}"


def fmt_seconds(value: float) -> str:
    return "not reached" if not math.isfinite(value) else f"{value:.2f}"


# ------------------------------------------------------------------------------------- sections
#: The fixed target of the time-to-accuracy tables: 1% of the target's deviation.
FIXED_TARGET = 1e-2


def section_main(tasks: Sequence[Task], budgets: Sequence[int], seeds: int, schedule: Schedule) -> list[str]:
    """Errors of every available model at each budget, then the training time each needs to
    reach two targets: the worst final (median) error among the models of the row, which every
    model reaches by its end in at least half of its runs, and :data:`FIXED_TARGET`."""
    models = available_models()
    peers = [m for m in models if m in PEERS]
    header = f"| task | budget | {' | '.join(models)} | best high-order / best MLP |"
    header += " best KAN / best high-order |" if peers else ""
    errors = [header, "|---|---:|" + "---:|" * (len(models) + 1 + bool(peers))]
    time_header = "| task | budget | target | " + " | ".join(models) + " |"
    time_rule = "|---|---:|---:|" + "---:|" * len(models)
    worst_times, fixed_times = [time_header, time_rule], [time_header, time_rule]
    for task in tasks:
        for budget in budgets:
            cells, medians, runs = [], {}, {}
            for name in models:
                build = functools.partial(MODELS[name], task.dims, budget, None)
                runs[name] = seeded_runs(task, build, seeds, schedule, monitored=True)  # type: ignore[arg-type]
                medians[name] = statistics.median(run.error for run in runs[name])
                cells.append(f"{fmt(medians[name])} ({parameter_count(build())})")  # type: ignore[arg-type]
            high = min(medians[m] for m in HIGH_ORDER_MODELS)
            low = min(medians[m] for m in MLP_MODELS)
            row = f"| {task.name} | {budget} | {' | '.join(cells)} | {ratio(high, low)} |"
            if peers:
                row += f" {ratio(min(medians[m] for m in peers), high)} |"
            errors.append(row)
            print(row, flush=True)
            finite = [value for value in medians.values() if math.isfinite(value)]
            for lines, target in ((worst_times, max(finite, default=math.inf)), (fixed_times, FIXED_TARGET)):
                times = [
                    f"{fmt_seconds(median_time_to_target(runs[m], target))} "
                    f"({statistics.median(run.seconds for run in runs[m]):.2f})"
                    for m in models
                ]
                lines.append(f"| {task.name} | {budget} | {fmt(target)} | {' | '.join(times)} |")
                print(lines[-1], flush=True)
    return [
        *errors,
        "",
        "Training seconds to reach the worst final error of the row (median over seeds; the whole "
        "fit's seconds in brackets; test evaluations excluded):",
        "",
        *worst_times,
        "",
        f"Training seconds to reach a relative RMSE of {FIXED_TARGET:g} (median over seeds; "
        "'not reached' where the median run never gets there; the whole fit's seconds in brackets):",
        "",
        *fixed_times,
    ]


def ratio(numerator: float, denominator: float) -> str:
    if not (math.isfinite(numerator) and math.isfinite(denominator)) or denominator <= 0:
        return "n/a"
    return f"{numerator / denominator:.3f}"


def section_init(
    tasks: Sequence[Task], budget: int, seeds: int, schedule: Schedule, models: Sequence[str] = HIGH_ORDER_MODELS
) -> list[str]:
    """Every high-order model under every ``initialization=`` scheme."""
    lines = [
        "| task | " + " | ".join(f"{m.split()[0]} `{i}`" for m in models for i in INITIALIZATIONS) + " |",
        "|---|" + "---:|" * (len(models) * len(INITIALIZATIONS)),
    ]
    for task in tasks:
        cells = []
        for model in models:
            for init in INITIALIZATIONS:
                build = functools.partial(MODELS[model], task.dims, budget, init)
                cells.append(fmt(median_error(task, build, seeds, schedule)))  # type: ignore[arg-type]
        lines.append(f"| {task.name} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines


def section_deep(tasks: Sequence[Task], budget: int, seeds: int, schedule: Schedule) -> list[str]:
    lines = [
        "| task | " + " | ".join(f"continuous `{i}`" for i in INITIALIZATIONS) + " | ReLU MLP (5 hidden) |",
        "|---|" + "---:|" * (len(INITIALIZATIONS) + 1),
    ]
    for task in tasks:
        builds = [
            functools.partial(high_order, "continuous", task.dims, budget, hidden_layers=4, initialization=init)
            for init in INITIALIZATIONS
        ]
        builds.append(functools.partial(low_order, nn.ReLU, task.dims, budget, hidden_layers=4))
        cells = [fmt(median_error(task, build, seeds, schedule)) for build in builds]
        lines.append(f"| {task.name} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines


#: Tasks of the ``options`` and ``rates`` sections.
OPTION_TASKS = ("1d smooth", "1d jump at 0", "2d exp(sin(pi x) + y^2)", "Feynman I.12.2")


def section_options(tasks: Sequence[Task], budget: int, seeds: int, schedule: Schedule) -> list[str]:
    """Two hidden layers of continuous links (``hidden_layers=1``): the ``out_of_range`` policy
    of the layers after the first, and max-abs normalisation between layers."""
    variants = [
        (f"`{policy}`{', max-abs' if normalize else ''}", policy, normalize)
        for normalize in (False, True)
        for policy in ("clamp", "extrapolate")
    ]
    lines = ["| task | " + " | ".join(v[0] for v in variants) + " |", "|---|" + "---:|" * len(variants)]
    for task in tasks:
        cells = []
        for _, policy, normalize in variants:
            build = functools.partial(
                high_order,
                "continuous",
                task.dims,
                budget,
                hidden_layers=1,
                out_of_range=policy,
                normalization=MaxAbsNormalization if normalize else None,
            )
            cells.append(fmt(median_error(task, build, seeds, schedule)))
        lines.append(f"| {task.name} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines


#: Learning rates of the ``rates`` section, per optimiser.
RATES = {"adam": (3e-3, 1e-2, 3e-2), "lion": (1e-4, 3e-4, 1e-3)}


def section_rates(tasks: Sequence[Task], budget: int, seeds: int, schedule: Schedule) -> list[str]:
    """Adam alone and Lion alone at three learning rates each (the rate of the Adam phase of
    Adam then L-BFGS is Adam's)."""
    models = ("continuous n=5 s=2", "SiLU MLP")
    columns = [(optimizer, lr) for optimizer, rates in RATES.items() for lr in rates]
    lines = [
        "| task | model | " + " | ".join(f"{o} {lr:g}" for o, lr in columns) + " |",
        "|---|---|" + "---:|" * len(columns),
    ]
    for task in tasks:
        for name in models:
            cells = []
            build = functools.partial(MODELS[name], task.dims, budget, None)
            for optimizer, lr in columns:
                cells.append(fmt(median_error(task, build, seeds, schedule, optimizer, lr)))  # type: ignore[arg-type]
            lines.append(f"| {task.name} | {name} | {' | '.join(cells)} |")
            print(lines[-1], flush=True)
    return lines


def section_optimizers(tasks: Sequence[Task], budget: int, seeds: int, schedule: Schedule) -> list[str]:
    models = ["continuous n=5 s=2", "discontinuous n=5 s=2", "ReLU MLP", "SiLU MLP"]
    optimizers = ("adam", "adam+lbfgs", "lion")
    lines = [
        "| task | optimiser | " + " | ".join(models) + " |",
        "|---|---|" + "---:|" * len(models),
    ]
    for task in tasks:
        for optimizer in optimizers:
            cells = []
            for model in models:
                build = functools.partial(MODELS[model], task.dims, budget, None)
                cells.append(fmt(median_error(task, build, seeds, schedule, optimizer)))  # type: ignore[arg-type]
            lines.append(f"| {task.name} | {optimizer} | {' | '.join(cells)} |")
            print(lines[-1], flush=True)
    return lines


#: ``(n, segments)`` pairs of the ``shape`` section.
SHAPES = ((3, 1), (3, 2), (3, 4), (5, 1), (5, 2), (5, 4), (7, 1), (7, 2))
SHAPE_TASKS = ("1d smooth", "1d kinked", "2d exp(sin(pi x) + y^2)", "Feynman I.12.2")


def section_shape(tasks: Sequence[Task], budget: int, seeds: int, schedule: Schedule, init: str | None) -> list[str]:
    """Continuous links of several ``n`` and ``segments`` at the same parameter budget."""
    lines = [
        "| task | " + " | ".join(f"n={n} s={s}" for n, s in SHAPES) + " |",
        "|---|" + "---:|" * len(SHAPES),
    ]
    for task in tasks:
        cells = []
        for n, segments in SHAPES:
            build = functools.partial(
                high_order, "continuous", task.dims, budget, n=n, segments=segments, initialization=init
            )
            cells.append(fmt(median_error(task, build, seeds, schedule)))
        lines.append(f"| {task.name} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines


def poisson_error(model_name: str, budget: int, seed: int, schedule: Schedule, init: str | None = None) -> float:
    """``u'' = f`` on ``[-1, 1]``, ``u(+-1) = 0``, exact ``u = sin(pi x) + 0.1 sin(3 pi x)``, fitted
    through the residual at 200 random collocation points (a physics-informed loss); RMSE against
    the exact solution on 1000 points, relative to its deviation."""
    torch.manual_seed(seed)
    model = MODELS[model_name](1, budget, init).double()

    def exact(x: Tensor) -> Tensor:
        return torch.sin(math.pi * x) + 0.1 * torch.sin(3 * math.pi * x)

    def source(x: Tensor) -> Tensor:
        return -(math.pi**2) * (torch.sin(math.pi * x) + 0.9 * torch.sin(3 * math.pi * x))

    generator = torch.Generator().manual_seed(20_000 + seed)
    x = (torch.rand(200, 1, generator=generator, dtype=torch.float64) * 2 - 1).requires_grad_()
    boundary = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)
    scale = 1.0 / math.pi**2  # residuals of order 1

    def loss() -> Tensor:
        u = model(x)
        (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        (d2u,) = torch.autograd.grad(du.sum(), x, create_graph=True)
        residual = (d2u - source(x)) * scale
        return residual.pow(2).mean() + model(boundary).pow(2).mean()

    fit(model, loss, "adam+lbfgs", schedule)
    grid = torch.linspace(-1, 1, 1000, dtype=torch.float64).unsqueeze(-1)
    with torch.no_grad():
        error = torch.sqrt(torch.mean((model(grid) - exact(grid)) ** 2)) / exact(grid).std()
    return error.item() if math.isfinite(error.item()) else float("inf")


def section_pde(budgets: Sequence[int], seeds: int, schedule: Schedule) -> list[str]:
    models = ["continuous n=5 s=2", "discontinuous n=5 s=2", "ReLU MLP", "SiLU MLP"]
    lines = ["| budget | " + " | ".join(models) + " |", "|---:|" + "---:|" * len(models)]
    for budget in budgets:
        cells = [fmt(statistics.median([poisson_error(m, budget, s, schedule) for s in range(seeds)])) for m in models]
        lines.append(f"| {budget} | {' | '.join(cells)} |")
        print(lines[-1], flush=True)
    return lines


def classification_data(quick: bool) -> tuple[str, Tensor, Tensor, Tensor, Tensor]:
    """MNIST from the examples' cache (pixels scaled to ``[-1, 1]``), or, in a quick run or without
    the cache, scikit-learn's 8x8 digits."""
    if not quick:
        try:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from examples.common.data import load_mnist

            data = load_mnist(download=False)

            def prepare(images, labels):  # type: ignore[no-untyped-def]
                x = torch.from_numpy(images).reshape(len(images), -1).float() / 255 * 2 - 1
                return x, torch.from_numpy(labels).long()

            x, y = prepare(data["x_train"], data["y_train"])
            x_test, y_test = prepare(data["x_test"], data["y_test"])
            return "MNIST (60k train, 10k test)", x, y, x_test, y_test
        except Exception as error:  # no cache: fall back to the bundled digits
            print(f"MNIST unavailable ({error}); using scikit-learn digits", flush=True)
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data, dtype=torch.float32) / 16 * 2 - 1
    y = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]
    return "digits 8x8 (1400 train, 397 test)", x[:1400], y[:1400], x[1400:], y[1400:]


def section_classification(seeds: int, epochs: int, quick: bool) -> list[str]:
    name, x, y, x_test, y_test = classification_data(quick)
    features = x.shape[1]
    hidden = 16 if features > 100 else 8
    builders = {
        "continuous n=3 s=2": lambda: HighOrderMLP("continuous", 3, features, 10, 0, hidden, segments=2),
        "discontinuous n=3 s=2": lambda: HighOrderMLP("discontinuous", 3, features, 10, 0, hidden, segments=2),
        "continuous n=3 s=2, `linear`": lambda: HighOrderMLP(
            "continuous", 3, features, 10, 0, hidden, segments=2, initialization="linear"
        ),
    }
    budget = parameter_count(builders["continuous n=3 s=2"]())
    builders["ReLU MLP"] = lambda: _classifier_mlp(features, budget, nn.ReLU)
    builders["SiLU MLP"] = lambda: _classifier_mlp(features, budget, nn.SiLU)
    lines = [
        f"{name}, {epochs} epochs of Adam (lr 1e-3, batch 128), test accuracy, median of {seeds} seeds:",
        "",
        "| model | parameters | accuracy |",
        "|---|---:|---:|",
    ]
    for model_name, build in builders.items():
        accuracies = []
        for seed in range(seeds):
            torch.manual_seed(seed)
            model = build()
            adam = torch.optim.Adam(model.parameters(), lr=1e-3)
            for _ in range(epochs):
                for batch in torch.randperm(len(x)).split(128):
                    adam.zero_grad(set_to_none=True)
                    nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
                    adam.step()
            with torch.no_grad():
                accuracies.append((model(x_test).argmax(-1) == y_test).float().mean().item())
        lines.append(f"| {model_name} | {parameter_count(build())} | {statistics.median(accuracies):.4f} |")
        print(lines[-1], flush=True)
    return lines


def _classifier_mlp(features: int, budget: int, activation: type[nn.Module]) -> nn.Module:
    """``features -> H -> 10`` with the widest ``H`` within ``budget`` parameters."""
    width = 1
    while parameter_count(LowOrderMLP(features, 10, 0, width + 1, non_linearity=activation)) <= budget:
        width += 1
    return LowOrderMLP(features, 10, 0, width, non_linearity=activation)


# ----------------------------------------------------------------------------------------- main
SECTIONS = ("init", "deep", "main", "shape", "options", "optimizers", "rates", "pde", "classification")


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two tasks, one seed, few steps: a smoke run")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tasks", help="comma-separated task names (default: all; see TASKS)")
    parser.add_argument(
        "--budgets", help="comma-separated parameter budgets of the regression sections (default 150,500)"
    )
    parser.add_argument(
        "--out", type=Path, help="markdown file (default results/bench_accuracy.md; --quick writes none)"
    )
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"--sections: unknown {unknown}; choose from {', '.join(SECTIONS)}")
    torch.set_num_threads(1)  # tiny models: a second thread only adds synchronisation
    if args.quick:
        schedule, seeds, budgets, epochs = Schedule(30, 10, 30), 1, (60,), 1
        tasks = [t for t in TASKS if t.name in ("1d jump at 0", "Feynman I.12.2")]
    else:
        schedule, seeds, budgets, epochs = Schedule(), args.seeds, (150, 500), 2
        tasks = list(TASKS)
    if args.budgets:
        budgets = tuple(int(b) for b in args.budgets.split(","))
    if args.tasks:
        names = [name.strip() for name in args.tasks.split(",")]
        missing = sorted(set(names) - {t.name for t in TASKS})
        if missing:
            parser.error(f"--tasks: unknown {missing}; choose from {', '.join(t.name for t in TASKS)}")
        tasks = [t for t in TASKS if t.name in names]
    by_name = {t.name: t for t in tasks}
    report = [
        f"# Accuracy per parameter ({cpu_name()}, 1 thread, torch {torch.__version__}, {seeds} seed(s), "
        f"budgets {', '.join(map(str, budgets))}, float64 regression)",
        "",
        f"Adam {schedule.adam_steps} steps (cosine decay) then L-BFGS {schedule.lbfgs_steps} iterations unless "
        "a table says otherwise; relative test RMSE (RMSE / deviation of the target), median over seeds; "
        "parameter counts in brackets.",
    ]
    builders = {
        "main": lambda: section_main(tasks, budgets, seeds, schedule),
        "init": lambda: section_init(tasks, budgets[0], seeds, schedule),
        "deep": lambda: section_deep(
            [by_name[n] for n in DEEP_TASKS if n in by_name] or tasks[:1], budgets[-1] * 4, seeds, schedule
        ),
        "optimizers": lambda: section_optimizers(
            [by_name[n] for n in OPTIMIZER_TASKS if n in by_name] or tasks[:1], budgets[0], seeds, schedule
        ),
        "shape": lambda: section_shape(
            [by_name[n] for n in SHAPE_TASKS if n in by_name] or tasks[:1], budgets[-1], seeds, schedule, None
        ),
        "options": lambda: section_options(
            [by_name[n] for n in OPTION_TASKS if n in by_name] or tasks[:1], budgets[-1], seeds, schedule
        ),
        "rates": lambda: section_rates(
            [by_name[n] for n in OPTION_TASKS if n in by_name] or tasks[:1], budgets[0], seeds, schedule
        ),
        "pde": lambda: section_pde(budgets, seeds, schedule),
        "classification": lambda: section_classification(seeds, epochs, args.quick),
    }
    for section in sections:
        start = time.perf_counter()
        print(f"## {section}", flush=True)
        lines = builders[section]()
        report += ["", f"## {section} ({time.perf_counter() - start:.0f} s)", "", *lines]
    text = "\n".join(report) + "\n"
    print(text)
    out = args.out or (None if args.quick else Path("results/bench_accuracy.md"))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    return text


if __name__ == "__main__":
    main()
