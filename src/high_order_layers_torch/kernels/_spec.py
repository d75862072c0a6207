"""One declarative spec per operator, and :func:`define`, which makes everything else from it.

An :class:`OperatorSpec` names an accelerated computation and gives its maths (a
twice-differentiable pure-torch ``reference`` and the ``backward_reference`` of its gradients),
its shapes (``fake``) and, per device type, a :class:`Kernel`. :func:`define` turns it into:

- the forward operator ``<namespace>::<name>`` and the backward operator ``<name>_backward``
  (``torch.library.custom_op``, schemas inferred from the reference's annotations);
- their fake kernels (the backward's from the tensors it differentiates);
- one ``register_kernel`` per device type, each falling back to the reference where its module
  does not take the tensors (switched off, not built, another dtype, arguments it does not
  accept), so results never depend on which ran;
- the entry of the operator in the availability table (:data:`._switches.KERNELS`);
- autograd, ``torch.func`` (``vmap``, ``grad``, ``jacrev``) and gradients of gradients
  (:func:`._autograd.differentiable`);
- the entry point the layers' functions call (:attr:`Operator.apply`).

Adding a kernel for a new device is one more :class:`Kernel` in a spec; adding an operator is
one spec (``tests/test_operator_spec.py`` defines a toy one).

Conventions, with ``tensors`` leading tensor arguments and the rest ``params``:

- ``reference(*tensors, *params) -> output``;
- ``backward_reference(grad, *tensors, *params, needs) -> gradient`` (one tensor) or a tuple of
  one gradient per tensor (``needs[j]``: whether tensor ``j`` wants one; it may be ignored);
- ``Kernel.forward(module, *tensors, *params)`` -> ``output``, or ``(output, *saved)`` for a kernel
  that hands tensors to its backward (``Kernel.saved`` given);
- ``Kernel.backward(module, grad, *tensors, *saved, *params, needs)`` -> gradient(s) as the
  backward reference returns them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from . import _switches
from ._autograd import differentiable

NAMESPACE = "high_order_layers"


def _always(*args: Any) -> bool:
    return True


@dataclass(frozen=True)
class Kernel:
    """How one device type runs an operator.

    Attributes:
        forward: ``forward(module, *tensors, *params)``; returns the output, or ``(output, *saved)``
            where :attr:`saved` is given.
        backward: ``backward(module, grad, *tensors, *saved, *params, needs)``; the gradients.
        saved: ``saved(*tensors, *params)``, empty tensors shaped like those this kernel's forward
            hands its backward (for fake tensors); ``None``: it hands none (the operator's saved
            outputs are empty).
        accepts: ``accepts(*tensors, *params)``: whether the kernel takes these arguments (else
            the reference runs).
        backend: ``backend(device_type, dtype) -> module or None``; ``None`` takes the device's
            kernel module (:func:`._switches.device_kernels`).
    """

    forward: Callable[..., Any]
    backward: Callable[..., Any]
    saved: Callable[..., tuple[Tensor, ...]] | None = None
    accepts: Callable[..., bool] = _always
    backend: _switches.Backend | None = None


@dataclass(frozen=True)
class OperatorSpec:
    """Everything about one operator (see the module's conventions).

    Attributes:
        name: the operator's name in :data:`NAMESPACE`.
        reference: the pure-torch computation, differentiable twice; its annotations give the
            schema.
        backward_reference: the gradients in pure torch, what the backward operator runs where
            no kernel does.
        fake: ``fake(*tensors, *params)``, an empty output of the right shape, with
            ``torch._check`` on what the shapes must satisfy.
        tensors: how many leading arguments are tensors.
        saved: name and dtype (``None``: the output's) of each tensor a kernel's forward may hand
            its backward; empty where no kernel does.
        kernels: device type (``"cpu"``, ``"cuda"``) -> its :class:`Kernel`.
        default: what the forward operator runs where no kernel does (default ``reference``: a
            cheaper once-differentiable form may stand in, as ``embedding_bag`` does for the
            gather).
        inline_reference: the entry point calls ``reference`` itself where no kernel runs, so
            compilers see its torch operations; ``False`` keeps the operator everywhere.
        batch_leading: the first tensor and the output have a leading batch axis on which samples
            are independent (``vmap`` folds into it).
    """

    name: str
    reference: Callable[..., Tensor]
    backward_reference: Callable[..., Any]
    fake: Callable[..., Tensor]
    tensors: int = 1
    saved: Mapping[str, torch.dtype | None] = field(default_factory=dict)
    kernels: Mapping[str, Kernel] = field(default_factory=dict)
    default: Callable[..., Tensor] | None = None
    inline_reference: bool = True
    batch_leading: bool = True


@dataclass(frozen=True)
class Operator:
    """A defined operator: its two ``torch.library`` operators and its entry point.

    Attributes:
        spec: what it was defined from.
        forward_op: ``torch.ops.<namespace>.<name>`` (a ``CustomOpDef``).
        backward_op: ``torch.ops.<namespace>.<name>_backward``.
        apply: the entry point, ``apply(*tensors, *params) -> output``: the kernel where one
            runs, else the reference; differentiable (to any order) and ``torch.func``-transformable
            either way. Calling the operator calls it (hot paths call ``apply`` itself, one Python
            call fewer).
    """

    spec: OperatorSpec
    forward_op: Any
    backward_op: Any
    apply: Callable[..., Tensor]

    def __call__(self, *args: Any) -> Tensor:
        return self.apply(*args)


def _schemas(spec: OperatorSpec) -> tuple[str, str]:
    """The forward and backward schemas, from the reference's annotations."""
    inferred = torch.library.infer_schema(spec.reference, mutates_args=())  # "(Tensor x, ...) -> Tensor"
    arguments = inferred[1 : inferred.index(") ->")].split(", ")
    tensors, params = arguments[: spec.tensors], arguments[spec.tensors :]
    outputs = ", ".join(["Tensor"] * (1 + len(spec.saved)))
    forward = f"({', '.join(arguments)}) -> ({outputs})" if spec.saved else f"({', '.join(arguments)}) -> Tensor"
    saved = [f"Tensor {name}" for name in spec.saved]
    grads = "Tensor" if spec.tensors == 1 else f"({', '.join(['Tensor'] * spec.tensors)})"
    backward = f"({', '.join(['Tensor grad', *tensors, *saved, *params, 'bool[] needs'])}) -> {grads}"
    return forward, backward


def _empty_saved(spec: OperatorSpec, output: Tensor) -> tuple[Tensor, ...]:
    """The stand-ins for saved tensors where nothing is handed to the backward."""
    return tuple(output.new_empty(0, dtype=dtype) for dtype in spec.saved.values())


def _gradients(spec: OperatorSpec, grads: Any, tensors: Sequence[Tensor], needs: Sequence[bool]) -> Any:
    """The backward operator's result: one contiguous gradient, or one per tensor where wanted
    (an empty tensor where not)."""
    if spec.tensors == 1:
        return (grads[0] if isinstance(grads, tuple) else grads).contiguous()
    return tuple(g.contiguous() if need else t.new_empty(0) for g, t, need in zip(grads, tensors, needs, strict=True))


def define(spec: OperatorSpec) -> Operator:
    """Make and register everything of one operator from its spec (see the module docstring)."""
    count = spec.tensors
    default = spec.default or spec.reference
    forward_schema, backward_schema = _schemas(spec)

    def forward_default(*args: Any) -> Any:
        output = default(*args)
        return (output, *_empty_saved(spec, output)) if spec.saved else output

    def backward_default(grad: Tensor, *args: Any) -> Any:
        tensors, rest = args[:count], args[count + len(spec.saved) :]
        return _gradients(spec, spec.backward_reference(grad, *tensors, *rest), tensors, rest[-1])

    qualname = f"{NAMESPACE}::{spec.name}"
    forward_op = torch.library.custom_op(qualname, forward_default, mutates_args=(), schema=forward_schema)
    backward_op = torch.library.custom_op(
        f"{qualname}_backward", backward_default, mutates_args=(), schema=backward_schema
    )

    def forward_fake(*args: Any) -> Any:
        output = spec.fake(*args)
        if not spec.saved:
            return output
        last = args[count - 1]
        kernel = spec.kernels.get(last.device.type)
        if kernel is not None and kernel.saved is not None and _module(kernel, last, args) is not None:
            return (output, *kernel.saved(*args))
        return (output, *_empty_saved(spec, output))

    def backward_fake(grad: Tensor, *args: Any) -> Any:
        tensors, needs = args[:count], args[-1]
        if count == 1:
            return torch.empty_like(tensors[0])
        return tuple(torch.empty_like(t) if need else t.new_empty(0) for t, need in zip(tensors, needs, strict=True))

    forward_op.register_fake(forward_fake)
    backward_op.register_fake(backward_fake)
    for device_type, kernel in spec.kernels.items():
        _register_kernel(spec, forward_op, backward_op, device_type, kernel, forward_default, backward_default)
    _switches.KERNELS[spec.name] = {device_type: kernel.backend for device_type, kernel in spec.kernels.items()}

    entry = differentiable(
        qualname,
        spec.reference,
        tensors=count,
        saved=len(spec.saved),
        batch_leading=spec.batch_leading,
        runs_kernel=_switches.has_kernel if spec.inline_reference else None,
    )
    return Operator(spec, forward_op, backward_op, entry)


def _module(kernel: Kernel, last: Tensor, args: Sequence[Any]) -> Any | None:
    """The module ``kernel`` runs with for these forward arguments, or ``None`` where the
    reference must run (``last`` is the last tensor argument, whose device and dtype decide)."""
    if kernel.backend is None:
        module = _switches.device_kernels(last.device.type, last.dtype)
    else:
        module = kernel.backend(last.device.type, last.dtype)
    return module if module is not None and kernel.accepts(*args) else None


def _register_kernel(
    spec: OperatorSpec,
    forward_op: Any,
    backward_op: Any,
    device_type: str,
    kernel: Kernel,
    forward_default: Callable[..., Any],
    backward_default: Callable[..., Any],
) -> None:
    """``register_kernel(device_type)`` on both operators, with the fallbacks to the reference."""
    count = spec.tensors

    def forward(*args: Any) -> Any:
        module = _module(kernel, args[count - 1], args)
        if module is None:
            return forward_default(*args)
        output = kernel.forward(module, *args)
        if spec.saved and kernel.saved is None:
            return (output, *_empty_saved(spec, output))
        return output

    def backward(grad: Tensor, *args: Any) -> Any:
        tensors, saved, rest = args[:count], args[count : count + len(spec.saved)], args[count + len(spec.saved) :]
        module = _module(kernel, tensors[-1], (*tensors, *rest[:-1]))
        # a forward that fell back to the reference handed empty saved tensors
        if module is None or (kernel.saved is not None and any(t.numel() == 0 for t in saved)):
            return backward_default(grad, *args)
        return _gradients(spec, kernel.backward(module, grad, *args), tensors, rest[-1])

    forward_op.register_kernel(device_type)(forward)
    backward_op.register_kernel(device_type)(backward)
