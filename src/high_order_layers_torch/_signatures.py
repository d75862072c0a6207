"""Keyword groups written once.

Many constructors and builders share a run of keywords (``device``/``dtype``, the link options of
every layer, a network's wiring). Each run is a ``TypedDict`` that functions take as
``**options: Unpack[...]``, so type checkers still check every keyword, and :func:`spell_out`
gives the function the runtime signature with the keywords written out, so ``inspect.signature``,
``help`` and the layer registry (which reads signatures) see every parameter with its default.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypedDict, TypeVar, cast, get_args

import torch

P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])


class FactoryKwargs(TypedDict, total=False):
    """Where and in what dtype a module creates its parameters and buffers, as torch's factory
    functions take them (``None``: torch's defaults)."""

    device: torch.device | str | None
    dtype: torch.dtype | None


def factory_defaults(*, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
    """:class:`FactoryKwargs` spelled out: the source :func:`spell_out` reads its defaults from."""


def factory_kwargs(options: FactoryKwargs) -> FactoryKwargs:
    """The ``device`` and ``dtype`` of ``options`` (any ``TypedDict`` derived from
    :class:`FactoryKwargs`), for a module that a constructor builds on the way, such as a layer's
    basis."""
    return FactoryKwargs(device=options.get("device"), dtype=options.get("dtype"))


def spell_out(*sources: Callable[..., object], order: str = "") -> Callable[[F], F]:
    """Decorator for a function taking ``**options: Unpack[SomeTypedDict]``: its runtime
    signature gets one keyword-only parameter per key of the ``TypedDict`` instead of
    ``**options``, with the default and annotation of the first of ``sources`` (callables) that
    has a parameter of that name.

    Keyword-only parameters come in the order of the function's own, then the ``TypedDict``'s,
    with ``device`` and ``dtype`` last as in torch; ``order`` (names separated by spaces) puts
    the named ones first, where a public signature keeps another order.

    Raises:
        TypeError: when the function is decorated, if it takes no ``Unpack``-ed ``TypedDict``
            or a key has no source: a signature is never silently incomplete.
    """

    def decorate(function: F) -> F:
        signature = inspect.signature(function)
        own = list(signature.parameters.values())
        keys = _unpacked_keys(function, own)
        found: dict[str, inspect.Parameter] = {}
        for source in sources:
            for p in inspect.signature(source).parameters.values():
                if p.name in keys and p.name not in found and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    annotation = getattr(p.annotation, "__forward_arg__", p.annotation)  # NamedTuple fields
                    found[p.name] = p.replace(kind=p.KEYWORD_ONLY, annotation=annotation)
        missing = [key for key in keys if key not in found]
        if missing:
            raise TypeError(f"{function.__qualname__}: no source gives a default for {', '.join(missing)}")
        keyword = [p for p in own if p.kind is p.KEYWORD_ONLY] + [found[key] for key in keys]
        rank = {name: index for index, name in enumerate(order.split())}
        keyword.sort(key=lambda p: (rank.get(p.name, len(rank)), p.name in FactoryKwargs.__annotations__))
        leading = [p for p in own if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
        function.__signature__ = signature.replace(parameters=[*leading, *keyword])  # type: ignore[attr-defined]
        return function

    return decorate


def bind_to_signature(init: F) -> F:
    """Decorator for an ``__init__`` whose runtime signature (its ``__signature__``, as
    :func:`spell_out` gives it) admits less than its definition (``**options``): every call is
    bound to that signature first, so an argument it lacks raises ``TypeError`` naming the class
    (``PiecewisePolynomial: got an unexpected keyword argument 'segmnets'``), and the defaults it
    shows are the ones passed on."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def bound(self: object, *args: object, **kwargs: object) -> None:
        try:
            arguments = signature.bind(self, *args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{type(self).__name__}: {error}") from None
        arguments.apply_defaults()
        init(*arguments.args, **arguments.kwargs)

    return cast(F, bound)


def _unpacked_keys(function: Callable[..., object], parameters: list[inspect.Parameter]) -> list[str]:
    """The keys of the ``TypedDict`` of ``function``'s ``**options: Unpack[...]``, in order."""
    for p in parameters:
        if p.kind is p.VAR_KEYWORD:
            annotation = p.annotation
            if isinstance(annotation, str):  # postponed annotations: look the TypedDict up by name
                name = annotation.removeprefix("Unpack[").removesuffix("]")
                annotation = getattr(function, "__globals__", {}).get(name)
            else:
                annotation = get_args(annotation)[0] if get_args(annotation) else None
            if isinstance(annotation, type) and issubclass(annotation, dict):
                return list(annotation.__annotations__)
    raise TypeError(f"{getattr(function, '__qualname__', function)} takes no **options: Unpack[TypedDict]")


def same_arguments_as(
    function: Callable[P, object],
) -> Callable[[Callable[..., None]], Callable[Concatenate[Any, P], None]]:
    """Decorator for an ``__init__(self, *args, **kwargs)`` that passes its arguments on to
    ``function``: type checkers and ``inspect.signature`` see ``function``'s parameters."""

    def decorate(init: Callable[..., None]) -> Callable[Concatenate[Any, P], None]:
        self_parameter = next(iter(inspect.signature(init).parameters.values()))
        signature = inspect.signature(function)
        parameters = [self_parameter, *signature.parameters.values()]
        init.__signature__ = signature.replace(parameters=parameters, return_annotation=None)  # type: ignore[attr-defined]
        return init

    return decorate
