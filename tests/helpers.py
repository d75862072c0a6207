"""Small utilities shared by the test modules (``tests/`` is on ``sys.path`` under pytest)."""

from __future__ import annotations

import torch

from high_order_layers_torch.functional import piecewise_values, sum_neuron


def graph_names(y: torch.Tensor) -> set[str]:
    """Names of every autograd node behind ``y``."""
    seen, stack = set(), [y.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node not in seen:  # by node: two nodes may share a name
            seen.add(node)
            stack.extend(next_node for next_node, _ in node.next_functions)
    return {node.name() for node in seen}


def num_weights(n: int, segments: int, continuous: bool) -> int:
    """Weights per link of a piecewise basis, written out independently of the library."""
    return segments * (n - 1) + 1 if continuous else segments * n


def sum_neuron_reference(x, weight, n, segments, continuous, clamp):
    """The piecewise sum neuron by the pure-torch product-form basis and the dense contraction."""
    start, values = piecewise_values(x, n, segments, continuous, clamp=clamp)
    return sum_neuron(start, values, weight)
