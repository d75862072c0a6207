"""Small utilities shared by the test modules (``tests/`` is on ``sys.path`` under pytest)."""

from __future__ import annotations

import torch


def graph_names(y: torch.Tensor) -> set[str]:
    """Names of every autograd node behind ``y``."""
    names, stack = set(), [y.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and node.name() not in names:
            names.add(node.name())
            stack.extend(next_node for next_node, _ in node.next_functions)
    return names
