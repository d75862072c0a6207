"""Train a small high-order network on XOR-like data, prune its weakest links, compare accuracy.

    python examples/prune_xor.py [--steps 150] [--fraction 0.5] [--fill mean] [--plot links.png]

The data: points uniform in [-1, 1]^2 plus ``--noise`` extra inputs that carry only noise; the
label is whether the two real coordinates have the same sign (XOR of their signs). The links
reading the noise inputs should end up with the lowest scores and be the first pruned. Prints
test accuracy before and after pruning, after a short fine-tune with the pruned links held at
their fill (``PruneReport.reapply_``), and the pruned links.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import Tensor, nn

from high_order_layers_torch.inspect import link_scores, plot_model, prune_links_
from high_order_layers_torch.layers import MaxAbsNormalization, PiecewisePolynomial


def make_data(count: int, noise_inputs: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    x = torch.rand(count, 2 + noise_inputs, generator=generator) * 2 - 1
    label = ((x[:, 0] > 0) == (x[:, 1] > 0)).long()
    return x, label


def build(inputs: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(
        PiecewisePolynomial(inputs, hidden, n=3, segments=2),
        MaxAbsNormalization(),
        PiecewisePolynomial(hidden, 2, n=3, segments=2),
    )


def train(model: nn.Module, x: Tensor, y: Tensor, steps: int, lr: float, after_step=None) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if after_step is not None:
            after_step()


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return (model(x).argmax(dim=1) == y).double().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150, help="training steps (full batch Adam)")
    parser.add_argument("--fine-tune-steps", type=int, default=50, help="steps after pruning")
    parser.add_argument("--hidden", type=int, default=8, help="hidden units")
    parser.add_argument("--noise", type=int, default=2, help="extra pure-noise inputs")
    parser.add_argument("--fraction", type=float, default=0.5, help="fraction of each layer's links to prune")
    parser.add_argument("--fill", choices=("zero", "mean"), default="mean", help="what a pruned link becomes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default=None, help="save a diagram of the pruned network to this PNG")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x_train, y_train = make_data(1000, args.noise, generator)
    x_test, y_test = make_data(1000, args.noise, generator)
    model = build(2 + args.noise, args.hidden)

    start = time.perf_counter()
    train(model, x_train, y_train, args.steps, lr=0.02)
    print(f"trained {args.steps} steps in {time.perf_counter() - start:.1f} s")
    print(f"test accuracy before pruning:  {accuracy(model, x_test, y_test):.3f}")

    scores = link_scores(model, x_train)["0"]  # (hidden, inputs)
    print("mean score of first-layer links per input:", [f"{s:.3f}" for s in scores.mean(dim=0).tolist()])

    model, report = prune_links_(model, x_train, fraction=args.fraction, fill=args.fill)
    print(f"test accuracy after pruning:   {accuracy(model, x_test, y_test):.3f}")
    train(model, x_train, y_train, args.fine_tune_steps, lr=0.005, after_step=lambda: report.reapply_(model))
    print(f"after {args.fine_tune_steps} fine-tune steps: {accuracy(model, x_test, y_test):.3f}")
    print(report)
    if args.plot:
        plot_model(model, path=args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
