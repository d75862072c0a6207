"""The cost of one physics-informed training step, with the kernels and without them.

A residual loss differentiates the network twice in its input and once more in the weights. The
kernels' backward operators are differentiable through the pure-torch reference, so on that path
the higher derivatives recompute it; with the kernels off, autograd differentiates the reference
graph directly. This times both, alternately, on one step of ``u_xx + u`` at ``--points``
collocation points (``HighOrderMLP`` with one hidden layer, float64), and prints
``kernels / kernels off`` per layer type.

    python -m benchmarks.bench_pinn_step [--points 2000] [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from benchmarks._timing import cpu_name, interleaved_ms
from high_order_layers_torch.kernels import override
from high_order_layers_torch.networks import HighOrderMLP

#: (layer type, n, segments)
CASES = [("polynomial", 6, 1), ("continuous", 4, 3), ("bspline", 4, 4), ("fourier", 3, 1)]


def residual_step(layer_type: str, n: int, segments: int, points: int, width: int) -> Callable[[], None]:
    """One loss-and-gradient step of ``mean((u_xx + u)^2)``."""
    torch.manual_seed(0)
    net = HighOrderMLP(
        layer_type, n=n, in_width=2, out_width=1, hidden_layers=1, hidden_width=width, segments=segments,
        dtype=torch.float64, initialization="linear",
    )  # fmt: skip
    x = (torch.rand(points, 2, dtype=torch.float64) * 2 - 1).requires_grad_()

    def step() -> None:
        u = net(x)
        (du,) = torch.autograd.grad(u.sum(), x, create_graph=True)
        (ddu,) = torch.autograd.grad(du[:, 0].sum(), x, create_graph=True)
        (ddu[:, 0] + u[:, 0]).square().mean().backward()

    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--width", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"## One PINN step ({args.points} points, width {args.width}, float64, {cpu_name()}, "
        f"{args.threads} thread(s))\n"
    )
    print("| links | kernels ms | kernels off ms | kernels / off |")
    print("|---|---:|---:|---:|")
    for layer_type, n, segments in CASES:
        step = residual_step(layer_type, n, segments, args.points, args.width)

        def with_kernels(step: Callable[[], None] = step) -> None:
            with override(cpu=True):
                step()

        def without(step: Callable[[], None] = step) -> None:
            with override(cpu=False):
                step()

        on, off, ratio = interleaved_ms(with_kernels, without, args.repeats, warmup=2)
        print(f"| {layer_type} n={n} segments={segments} | {on:.1f} | {off:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
