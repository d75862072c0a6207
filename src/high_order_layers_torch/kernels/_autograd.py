"""Autograd, ``torch.func`` and gradients of gradients for the registered operators.

Each accelerated computation is a pair of operators (:mod:`._ops`): a forward and its backward.
This module joins them into one differentiable function:

- the forward operator's backward formula is the backward operator;
- the backward operator's own backward formula differentiates the pure-torch reference twice
  (the kernels' hand-written backward passes are not themselves differentiable), so
  ``create_graph=True`` works on every path, to any order;
- both have a ``jvp`` rule (forward mode: ``torch.func.jvp``, ``jacfwd``, ``hessian`` and
  ``torch.autograd.forward_ad``), the directional derivative of the reference (of its gradient,
  for the backward operator), so forward over reverse works to any order as well;
- both are ``autograd.Function`` subclasses with ``setup_context`` and a ``vmap`` rule, which is
  what ``torch.func`` (``grad``, ``jacrev``, ``vmap``) requires: the generated autograd of
  ``torch.library`` operators does not support ``torch.func`` in PyTorch 2.13 (pytorch#179652).
  The same formulas are registered on the operators with ``register_autograd``, so calling an
  operator directly (``torch.ops.high_order_layers.*``) is differentiable as well.

:func:`~._spec.define` names each pair, with its reference, to :func:`differentiable`, which
turns it into the operator's entry point.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd import forward_ad


def _as_tuple(value: Tensor | Sequence[Tensor]) -> tuple[Tensor, ...]:
    return (value,) if isinstance(value, Tensor) else tuple(value)


def _slice(args: Sequence[Any], in_dims: Sequence[int | None], index: int) -> list[Any]:
    return [arg.select(dim, index) if isinstance(dim, int) else arg for arg, dim in zip(args, in_dims, strict=True)]


def _loop(op: Callable[..., Any], batch_size: int, in_dims: Sequence[int | None], args: Sequence[Any]) -> Any:
    """``vmap`` by running ``op`` once per sample and stacking the results along axis 0."""
    results = [_as_tuple(op(*_slice(args, in_dims, index))) for index in range(batch_size)]
    stacked = tuple(torch.stack(parts) for parts in zip(*results, strict=True))
    return stacked, (0,) * len(stacked)


def _first_order(reference: Callable[..., Tensor], params: Sequence[Any]) -> Callable[..., tuple[Tensor, ...]]:
    """``(grad, *tensors) -> g``, the gradients ``g_j = (d reference / d tensors[j])^T grad`` (what
    the backward operator computes), in ``torch.func``, so they can be differentiated again."""

    def first_order(g: Tensor, *ts: Tensor) -> tuple[Tensor, ...]:
        return torch.func.vjp(lambda *us: reference(*us, *params), *ts)[1](g)

    return first_order


def second_order(
    reference: Callable[..., Tensor],
    grad: Tensor,
    tensors: Sequence[Tensor],
    params: Sequence[Any],
    grad_grads: Sequence[Tensor | None],
) -> tuple[Tensor, ...]:
    """The backward of a backward: with ``g_j = (d reference / d tensors[j])^T grad``, the
    gradients of ``sum_j <grad_grads[j], g_j>`` with respect to ``(grad, *tensors)``, through the
    reference.

    ``torch.func`` keeps this computation apart from the graph the tensors came from (``grad``
    usually depends on the same weights; a plain ``autograd.grad`` would follow that history
    and count it twice), while the results stay differentiable for the next order.
    """
    outputs, pullback = torch.func.vjp(_first_order(reference, params), grad, *tensors)[:2]
    cotangents = tuple(
        g if g is not None and g.shape == out.shape else torch.zeros_like(out)
        for out, g in zip(outputs, grad_grads, strict=True)
    )
    return pullback(cotangents)


def _filled(tensors: Sequence[Tensor], tangents: Sequence[Tensor | None]) -> tuple[Tensor, ...]:
    """The tangents, a zero one where a tensor has none."""
    return tuple(torch.zeros_like(t) if d is None else d for t, d in zip(tensors, tangents, strict=True))


def _jvp(fn: Callable[..., Any], primals: tuple[Tensor, ...], tangents: tuple[Tensor, ...]) -> Any:
    """``torch.func.jvp(fn, primals, tangents)[1]``; inside ``torch.autograd.forward_ad`` (which
    does not nest a second forward level), by two reverse passes: the pullback is linear in its
    cotangent, and the pullback of the pullback is the pushforward."""
    if forward_ad._current_level < 0:
        return torch.func.jvp(fn, primals, tangents)[1]
    output, pullback = torch.func.vjp(fn, *primals)[:2]
    zeros = tuple(torch.zeros_like(o) for o in output) if isinstance(output, tuple) else torch.zeros_like(output)
    return torch.func.vjp(pullback, zeros)[1](tangents)[0]


def reference_jvp(
    reference: Callable[..., Tensor],
    tensors: Sequence[Tensor],
    params: Sequence[Any],
    tangents: Sequence[Tensor | None],
) -> Tensor:
    """The forward-mode derivative of ``reference(*tensors, *params)`` along ``tangents``."""
    return _jvp(lambda *ts: reference(*ts, *params), tuple(tensors), _filled(tensors, tangents))


def first_order_jvp(
    reference: Callable[..., Tensor],
    grad: Tensor,
    tensors: Sequence[Tensor],
    params: Sequence[Any],
    tangents: Sequence[Tensor | None],
) -> tuple[Tensor, ...]:
    """The forward-mode derivative, along ``tangents`` of ``(grad, *tensors)``, of the gradients
    ``g_j = (d reference / d tensors[j])^T grad`` (what the backward operator computes)."""
    primals = (grad, *tensors)
    return _jvp(_first_order(reference, params), primals, _filled(primals, tangents))


@dataclass(frozen=True)
class Pair:
    """A forward operator, its backward operator, and what joining them needs to know.

    Attributes:
        forward: ``forward(*tensors, *params) -> output`` or ``(output, *saved)``.
        backward: ``backward(grad, *tensors, *saved, *params, needs) -> gradient(s)``.
        reference: ``reference(*tensors, *params) -> output`` in twice-differentiable torch.
        tensors: how many leading arguments are tensors.
        saved: how many extra tensors the forward returns for its backward.
        batch_leading: the first tensor and every output have a leading batch axis on which
            samples are independent (``vmap`` over the first tensor alone folds into it).
    """

    forward: Any
    backward: Any
    reference: Callable[..., Tensor]
    tensors: int
    saved: int
    batch_leading: bool


#: name -> its :class:`Pair`. A module-level table (not closures), so torch.compile resolves
#: everything the Functions read.
_PAIRS: dict[str, Pair] = {}


class _Backward(torch.autograd.Function):
    """The backward operator of pair ``name``, differentiable through the reference."""

    @staticmethod
    def forward(name: str, *args: Any) -> tuple[Tensor, ...]:
        return _as_tuple(_PAIRS[name].backward(*args))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        name = inputs[0]
        count, saved = _PAIRS[name].tensors, _PAIRS[name].saved
        ctx.save_for_backward(*inputs[1 : 2 + count])
        ctx.save_for_forward(*inputs[1 : 2 + count])
        ctx.name = name
        ctx.params = inputs[2 + count + saved : -1]
        ctx.needs = inputs[-1]
        ctx.num_inputs = len(inputs)

    @staticmethod
    def backward(ctx: Any, *grad_grads: Tensor | None) -> tuple[Tensor | None, ...]:
        grad, *tensors = ctx.saved_tensors
        found = second_order(_PAIRS[ctx.name].reference, grad, tensors, ctx.params, grad_grads)
        return (None, *found, *([None] * (ctx.num_inputs - 1 - len(found))))

    @staticmethod
    def jvp(ctx: Any, _name: None, *tangents: Tensor | None) -> tuple[Tensor, ...]:
        grad, *tensors = ctx.saved_tensors
        found = first_order_jvp(_PAIRS[ctx.name].reference, grad, tensors, ctx.params, tangents[: 1 + len(tensors)])
        if len(found) == 1:
            return found
        # the operator returns an empty gradient for a tensor that wants none
        return tuple(t if need else t.new_empty(0) for t, need in zip(found, ctx.needs, strict=True))

    @staticmethod
    def vmap(info: Any, in_dims: Sequence[Any], name: str, *args: Any) -> Any:
        return _vmap_backward(name, info, in_dims[1:], *args)


class _Forward(torch.autograd.Function):
    """The forward operator of pair ``name``."""

    @staticmethod
    def forward(name: str, *args: Any) -> tuple[Tensor, ...]:
        return _as_tuple(_PAIRS[name].forward(*args))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        _setup(ctx, inputs[0], inputs[1:], output)

    @staticmethod
    def backward(ctx: Any, grad: Tensor, *unused: Tensor | None) -> tuple[Tensor | None, ...]:
        return (None, *_backward_formula(ctx, grad), *([None] * len(ctx.params)))

    @staticmethod
    def vmap(info: Any, in_dims: Sequence[Any], name: str, *args: Any) -> Any:
        return _vmap_forward(name, info, in_dims[1:], *args)


class _ForwardWithTangents(_Forward):
    """:class:`_Forward` with forward mode too. Two classes because dynamo does not trace a
    Function that defines ``jvp`` (torch 2.13): compiled code takes :class:`_Forward`."""

    @staticmethod
    def jvp(ctx: Any, _name: None, *tangents: Tensor | None) -> tuple[Tensor | None, ...]:
        tensors = ctx.saved_tensors
        tangent = reference_jvp(_PAIRS[ctx.name].reference, tensors, ctx.params, tangents[: len(tensors)])
        return (tangent, *([None] * _PAIRS[ctx.name].saved))


def _vmap_forward(name: str, info: Any, in_dims: Sequence[Any], *args: Any) -> Any:
    """``vmap`` of the forward operator: one call on the folded batch where only the first
    tensor is batched (and the pair allows it), else one call per sample.

    The calls go through the Function, not the bare operator: under an outer ``grad``, ``jvp``
    or ``jacrev`` the tensors are still wrapped for those transforms, which the operators' own
    generated autograd does not support.
    """
    forward = functools.partial(_ForwardWithTangents.apply, name)
    if _PAIRS[name].batch_leading and isinstance(in_dims[0], int) and not any(isinstance(d, int) for d in in_dims[1:]):
        first = args[0].movedim(in_dims[0], 0)
        outer, inner = first.shape[:2]
        outputs = _as_tuple(forward(first.flatten(0, 1), *args[1:]))
        folded = tuple(out.unflatten(0, (outer, inner)) if out.numel() else out for out in outputs)
        return folded, tuple(0 if out.numel() else None for out in outputs)
    return _loop(forward, info.batch_size, in_dims, args)


def _vmap_backward(name: str, info: Any, in_dims: Sequence[Any], *args: Any) -> Any:
    """``vmap`` of the backward operator: one call per sample (weight gradients sum over the
    batch, so the batch cannot be folded), through the Function as in :func:`_vmap_forward`."""
    return _loop(functools.partial(_Backward.apply, name), info.batch_size, in_dims, args)


def _setup(ctx: Any, name: str, inputs: Sequence[Any], output: Any) -> None:
    output = _as_tuple(output)
    count = _PAIRS[name].tensors
    saved = output[1:]
    ctx.mark_non_differentiable(*saved)
    ctx.save_for_backward(*inputs[:count], *saved)
    ctx.save_for_forward(*inputs[:count])
    ctx.name = name
    ctx.params = tuple(inputs[count:])


def _backward_formula(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
    """The forward operator's gradients (``ctx`` as :func:`_setup` fills it)."""
    count = _PAIRS[ctx.name].tensors
    needs = list(ctx.needs_input_grad[-len(ctx.params) - count :][:count])
    args = (grad.contiguous(), *ctx.saved_tensors, *ctx.params, needs)
    # create_graph=True: the backward must be differentiable itself. Otherwise, and while
    # torch.compile traces (it cannot yet trace a Function nested in a backward: higher
    # derivatives of compiled code are not supported), the operator is called directly.
    differentiable = torch.is_grad_enabled() and not torch.compiler.is_compiling()
    grads = _Backward.apply(ctx.name, *args) if differentiable else _as_tuple(_PAIRS[ctx.name].backward(*args))
    return tuple(g if need else None for g, need in zip(grads, needs, strict=True))


def _differentiated(args: Sequence[Any]) -> bool:
    """Whether any derivative of the result may be asked for: a tensor that requires grad (with
    grad mode on), or forward mode (a ``forward_ad.dual_level``, or a ``torch.func`` transform,
    whose tensors are wrapped: the operators themselves have no forward-mode formula)."""
    tensors = [arg for arg in args if isinstance(arg, Tensor)]
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return True
    if torch.compiler.is_compiling():
        return False
    return forward_ad._current_level >= 0 or any(torch._C._functorch.is_functorch_wrapped_tensor(t) for t in tensors)


def _as_operator_rule(rule: Callable[..., Any]) -> Callable[..., Any]:
    """A ``vmap`` rule for an operator: like the Functions' rules, but an operator with one output
    returns it bare, not as a 1-tuple."""

    def operator_rule(info: Any, in_dims: Sequence[Any], *args: Any) -> Any:
        outputs, dims = rule(info, in_dims, *args)
        return (outputs[0], dims[0]) if len(outputs) == 1 else (outputs, dims)

    return operator_rule


def differentiable(
    qualname: str,
    reference: Callable[..., Tensor],
    *,
    tensors: int,
    saved: int = 0,
    batch_leading: bool = True,
    runs_kernel: Callable[[str, str, torch.dtype], bool] | None = None,
) -> Callable[..., Tensor]:
    """The differentiable function ``f(*tensors, *params) -> output`` of the operator pair
    ``torch.ops.<namespace>.<name>`` and ``<name>_backward`` (``qualname = "<namespace>::<name>"``);
    also registers the same formulas as the operators' autograd and ``vmap`` rules.

    - ``forward(*tensors, *params) -> (output, *saved)``: ``saved`` are extra tensors the kernel
      hands to its backward (the same number on every call; empty tensors where a device's kernel
      needs none).
    - ``backward(grad, *tensors, *saved, *params, needs) -> (grad_0, ..., grad_{tensors-1})``:
      ``needs[j]`` says whether tensor ``j`` wants its gradient (an empty tensor comes back where
      it does not).

    Args:
        qualname: the forward operator's qualified name.
        reference: ``reference(*tensors, *params) -> output`` in differentiable torch operations.
        tensors: how many leading arguments are tensors.
        saved: how many extra tensors the forward returns.
        batch_leading: see :class:`Pair`.
        runs_kernel: ``runs_kernel(name, device_type, dtype)``, whether the operator runs a kernel
            for the last tensor argument's device and dtype; where it does not, ``f`` calls
            ``reference`` directly (plain torch operations, which ``torch.compile`` fuses with their
            neighbours). ``None``: always the operator.
    """
    namespace, name = qualname.split("::")
    operators = getattr(torch.ops, namespace)
    pair = Pair(
        getattr(operators, name).default,
        getattr(operators, f"{name}_backward").default,
        reference,
        tensors,
        saved,
        batch_leading,
    )
    _PAIRS[name] = pair

    def setup_for_operator(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        _setup(ctx, name, inputs, output)

    def backward_for_operator(ctx: Any, grad: Tensor, *unused: Tensor | None) -> tuple[Tensor | None, ...]:
        return (*_backward_formula(ctx, grad), *([None] * len(ctx.params)))

    def setup_backward_for_operator(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        _Backward.setup_context(ctx, (name, *inputs), output)

    def second_order_for_operator(ctx: Any, *grad_grads: Tensor | None) -> tuple[Tensor | None, ...]:
        return _Backward.backward(ctx, *grad_grads)[1:]

    backward_qualname = f"{qualname}_backward"
    torch.library.register_autograd(qualname, backward_for_operator, setup_context=setup_for_operator)
    torch.library.register_autograd(
        backward_qualname, second_order_for_operator, setup_context=setup_backward_for_operator
    )
    torch.library.register_vmap(qualname, _as_operator_rule(functools.partial(_vmap_forward, name)))
    torch.library.register_vmap(backward_qualname, _as_operator_rule(functools.partial(_vmap_backward, name)))

    def apply(*args: Any) -> Tensor:
        last = args[tensors - 1]
        if runs_kernel is not None and not runs_kernel(name, last.device.type, last.dtype):
            return reference(*args)
        if _differentiated(args):
            function = _Forward if torch.compiler.is_compiling() else _ForwardWithTangents
            return function.apply(name, *args)[0]
        # No derivative wanted: the operator alone (which torch.compile also traces more simply)
        return _as_tuple(pair.forward(*args))[0]

    apply.__name__ = name
    return apply
