"""Gradients of gradients for the kernels: their backward passes are not differentiable, so under
``create_graph=True`` (higher derivatives, e.g. physics-informed losses) every wrapper
differentiates its pure-torch twin instead, through this one helper."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def twin_gradients(
    output: Tensor, inputs: Sequence[Tensor], needs: Sequence[bool], grad: Tensor
) -> list[Tensor | None]:
    """``d output / d input`` applied to ``grad`` for each input that ``needs`` marks (``None`` for
    the others), with a graph, so they can be differentiated again. An input the twin does not
    use differentiably (piecewise constants, a constant series) gets zeros.

    Args:
        output: the twin's result, computed from ``inputs`` with grad mode on.
        inputs: the tensors the kernel took.
        needs: ``ctx.needs_input_grad`` for them.
        grad: the gradient arriving at ``output``.
    """
    wanted = [tensor for tensor, need in zip(inputs, needs, strict=True) if need]
    if output.requires_grad:
        found = torch.autograd.grad(output, wanted, grad, create_graph=True, allow_unused=True, materialize_grads=True)
    else:
        found = tuple(torch.zeros_like(tensor) for tensor in wanted)
    grads = iter(found)
    return [next(grads) if need else None for need in needs]
