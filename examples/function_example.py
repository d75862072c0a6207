"""Fit 1-D functions with one link of every layer type, next to a small ReLU network.

    python examples/function_example.py [--steps 1500] [--out results/function_example]

Each high-order model is a single connection (1 input, 1 output): the whole model *is* one
learnable 1-D function. The baseline is a ReLU MLP 1 -> 7 -> 1 (22 parameters), about the
parameter count of the polynomial links. Prints a markdown table (parameters, test RMSE on
a 2001-point grid per target with the best in bold, mean fit time) and writes one PNG per
target plus ``results.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from high_order_layers_torch.kernels import cpu_kernels_available
from high_order_layers_torch.layers import high_order_fc_layers

TARGETS: dict[str, Callable[[Tensor], Tensor]] = {
    "smooth": lambda x: torch.exp(-2 * x**2) * torch.sin(3 * x),
    "kinked": lambda x: (x.abs() - 0.5).abs(),
    "discontinuous": lambda x: torch.where(x < 0.2, -0.5 + 0.3 * x, 0.5 - 0.2 * x**2),
    "oscillating": lambda x: torch.sin(12 * x) * (1 - 0.3 * x),
    "periodic": lambda x: torch.sin(5 * math.pi * x) + 0.5 * torch.cos(4 * math.pi * x),
}

# (label, layer_type, n, segments): n is nodes per segment, or frequencies for fourier.
MODELS: list[tuple[str, str, int, int]] = [
    ("continuous n=5 s=5", "continuous", 5, 5),
    ("discontinuous n=5 s=5", "discontinuous", 5, 5),
    ("polynomial n=21", "polynomial", 21, 1),
    ("fourier n=10", "fourier", 10, 1),
    ("continuous_prod n=5 s=5", "continuous_prod", 5, 5),
    ("discontinuous_prod n=5 s=5", "discontinuous_prod", 5, 5),
    ("polynomial_prod n=21", "polynomial_prod", 21, 1),
    ("product", "product", 1, 1),
]


def relu_baseline(hidden: int = 7) -> nn.Module:
    return nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))


def build_models(seed: int = 0) -> dict[str, nn.Module]:
    """Every model, each initialised from ``seed`` (so one model's draws never shift another's)."""
    models: dict[str, nn.Module] = {}
    for label, layer_type, n, segments in MODELS:
        torch.manual_seed(seed)
        models[label] = high_order_fc_layers(layer_type, n=n, in_features=1, out_features=1, segments=segments)
    torch.manual_seed(seed)
    models["ReLU MLP 1-7-1"] = relu_baseline()
    return models


def fit(model: nn.Module, x: Tensor, y: Tensor, steps: int) -> float:
    """Full-batch Adam with cosine decay; returns the wall time in seconds."""
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        schedule.step()
    return time.perf_counter() - start


def plot_target(
    name: str, target: Callable[[Tensor], Tensor], models: dict[str, nn.Module], grid: Tensor, path: Path
) -> None:
    """One panel per model: high-order links drawn by ``inspect.plot_links`` (nodes and joints
    marked, target dashed), the ReLU baseline as a plain curve."""
    from matplotlib.figure import Figure

    from high_order_layers_torch.inspect import plot_links

    columns = 3
    rows = math.ceil(len(models) / columns)
    figure = Figure(figsize=(4 * columns, 2.8 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).reshape(-1)
    for ax, (label, model) in zip(axes, models.items(), strict=False):
        if hasattr(model, "basis"):
            plot_links(model, [(0, 0)], target=target, margin=0.0, ax=ax)
        else:
            with torch.no_grad():
                ax.plot(grid[:, 0], target(grid)[:, 0], "k--", lw=1, label="target")
                ax.plot(grid[:, 0], model(grid)[:, 0], color="C3", lw=1.5, label="ReLU MLP")
        ax.set_title(label, fontsize=9)
    for ax in axes[len(models) :]:
        ax.set_visible(False)
    figure.suptitle(f"target: {name}")
    figure.savefig(path, dpi=80)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500, help="Adam steps per fit")
    parser.add_argument("--points", type=int, default=400, help="training points on [-1, 1]")
    parser.add_argument("--out", type=Path, default=Path("results/function_example"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    cpu_kernels_available()  # build (or load) the CPU kernels now, outside the timed fits

    x_train = torch.rand(args.points, 1, generator=torch.Generator().manual_seed(args.seed)) * 2 - 1
    grid = torch.linspace(-1, 1, 2001)[:, None]
    rows = []
    for name, target in TARGETS.items():
        models = build_models(args.seed)
        for label, model in models.items():
            seconds = fit(model, x_train, target(x_train), args.steps)
            with torch.no_grad():
                prediction = model(grid)
            rmse = (prediction - target(grid)).pow(2).mean().sqrt().item()
            params = sum(p.numel() for p in model.parameters())
            rows.append((name, label, params, rmse, seconds))
            print(f"{name:14s} {label:28s} params={params:3d} rmse={rmse:.2e} time={seconds:.2f}s", flush=True)
        if not args.no_plots:
            plot_target(name, target, models, grid, args.out / f"fit_{name}.png")

    labels = list(dict.fromkeys(r[1] for r in rows))
    rmse = {(r[0], r[1]): r[3] for r in rows}
    params = {r[1]: r[2] for r in rows}
    seconds = {label: sum(r[4] for r in rows if r[1] == label) / len(TARGETS) for label in labels}
    best = {name: min(rmse[name, label] for label in labels) for name in TARGETS}

    def cell(name: str, label: str) -> str:
        value = f"{rmse[name, label]:.1e}"
        return f"**{value}**" if rmse[name, label] == best[name] else value

    lines = [
        "| model | params | " + " | ".join(TARGETS) + " | fit time (s) |",
        "|---|---:|" + "---:|" * len(TARGETS) + "---:|",
        *(
            f"| {label} | {params[label]} | "
            + " | ".join(cell(name, label) for name in TARGETS)
            + f" | {seconds[label]:.2f} |"
            for label in labels
        ),
    ]
    table = "\n".join(lines)
    (args.out / "results.md").write_text(table + "\n")
    print()
    print(table)
    print(f"\nwrote {args.out}/results.md" + ("" if args.no_plots else " and fit_*.png"))
    return table


if __name__ == "__main__":
    main()
