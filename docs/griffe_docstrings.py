"""Griffe extension for the API reference: adapts three habits of the source to mkdocstrings.

1. Constants and class attributes are documented by ``#:`` comments right above them (the Sphinx
   autodoc convention), which griffe does not read. They become the attribute's docstring, so
   the reference shows them.
2. An ``Args:`` entry may describe several parameters at once (``stride, padding: as in ...``),
   which the Google parser of griffe reads as one parameter with an odd name (and warns). Such an
   entry is split into one entry per parameter, each with the shared description.
3. The docstrings refer to other objects the Sphinx way (``:class:`Basis```,
   ``:func:`~high_order_layers_torch.functional.sum_neuron```), which Markdown would print as is.
   Each role is rewritten, before the docstrings are parsed, into

   * a cross-reference (``[`Basis`][high_order_layers_torch.layers.Basis]``) when the name
     resolves to one of the names the API reference renders: a class, function or module in the
     ``__all__`` of the package or one of its public subpackages, or a documented constant there;
   * plain code (`` `torch.nn.Conv2d` ``) otherwise, so that a name the site does not show never
     becomes a broken link.

   A leading ``~`` shows only the last part of the name, as in Sphinx.
4. A function whose keywords are a ``TypedDict`` (``**options: Unpack[ConvOptions]``) or copied
   from another function gets its full signature at import time (``__signature__``, see
   ``high_order_layers_torch._signatures``); griffe reads the source, so the runtime signature
   replaces the one it read, and the reference shows every keyword with its default.

Loaded through the
``extensions`` option of the mkdocstrings Python handler in ``mkdocs.yml``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from typing import Any

import griffe

_ARGS_HEADER = re.compile(r"^(?P<indent> *)(?:Args|Arguments|Parameters|Other Parameters):\s*$")
_GROUPED_ENTRY = re.compile(r"^(?P<indent> +)(?P<names>\w+(?: *, *\w+)+)(?P<rest> *(?:\([^)]*\))? *:.*)$")
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|obj|exc|const):`(?P<tilde>~?)(?P<name>[\w.]+)(?:\(\))?`")


def _objects(obj: griffe.Object) -> Iterator[griffe.Object]:
    """Every object defined in ``obj`` (not aliases), ``obj`` included."""
    yield obj
    for member in obj.members.values():
        if not member.is_alias and member.parent is obj:
            yield from _objects(member)


def split_grouped_args(text: str) -> str:
    """Split every ``a, b: description`` entry of an ``Args:`` section into one entry per name."""
    lines = text.splitlines()
    out: list[str] = []
    section_indent: int | None = None  # indent of the current Args header, None outside one
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip(" "))
        if line.strip() and section_indent is not None and indent <= section_indent:
            section_indent = None
        header = _ARGS_HEADER.match(line)
        if header:
            section_indent = len(header["indent"])
            out.append(line)
            i += 1
            continue
        entry = _GROUPED_ENTRY.match(line) if section_indent is not None else None
        if entry is None:
            out.append(line)
            i += 1
            continue
        # the entry's continuation lines are the following ones indented deeper than the entry
        block_end = i + 1
        while block_end < len(lines) and (
            not lines[block_end].strip() or len(lines[block_end]) - len(lines[block_end].lstrip(" ")) > indent
        ):
            block_end += 1
        while block_end > i + 1 and not lines[block_end - 1].strip():
            block_end -= 1  # leave trailing blank lines where they were
        continuation = lines[i + 1 : block_end]
        for name in (n.strip() for n in entry["names"].split(",")):
            out.append(f"{entry['indent']}{name}{entry['rest']}")
            out.extend(continuation)
        i = block_end
    return "\n".join(out)


def _public_names(package: griffe.Module) -> dict[str, str]:
    """Map the canonical path of every rendered public object to the path it is rendered under."""
    public: dict[str, str] = {}
    modules = [package] + [m for m in package.modules.values() if not m.name.startswith("_")]
    for module in modules:
        public.setdefault(module.path, module.path)
        for name in module.exports or ():
            if not isinstance(name, str) or name not in module.members:
                continue
            member = module.members[name]
            try:
                target = member.final_target if member.is_alias else member
            except griffe.AliasResolutionError:
                continue
            if target.is_attribute and not target.docstring:
                continue  # undocumented constants are not rendered
            public.setdefault(target.path, f"{module.path}.{name}")
    return public


_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: griffe.ParameterKind.positional_only,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: griffe.ParameterKind.positional_or_keyword,
    inspect.Parameter.VAR_POSITIONAL: griffe.ParameterKind.var_positional,
    inspect.Parameter.KEYWORD_ONLY: griffe.ParameterKind.keyword_only,
    inspect.Parameter.VAR_KEYWORD: griffe.ParameterKind.var_keyword,
}


def runtime_signature(function: griffe.Function) -> inspect.Signature | None:
    """The signature a decorator gave ``function`` at import time (its ``__signature__``), if any."""
    try:
        target: Any = importlib.import_module(function.module.path)
    except ImportError:
        return None
    for part in function.path.removeprefix(function.module.path + ".").split("."):
        target = getattr(target, part, None)
    signature = getattr(target, "__signature__", None)
    return signature if isinstance(signature, inspect.Signature) else None


def spelled_out_parameters(signature: inspect.Signature) -> griffe.Parameters:
    """``signature`` as griffe's parameters (annotations and defaults as source text)."""

    def text(value: object) -> str | None:
        if value is inspect.Parameter.empty:
            return None
        return value if isinstance(value, str) else getattr(value, "__name__", repr(value))

    return griffe.Parameters(
        *(
            griffe.Parameter(
                p.name,
                annotation=text(p.annotation),
                kind=_KINDS[p.kind],
                default=None if p.default is inspect.Parameter.empty else repr(p.default),
            )
            for p in signature.parameters.values()
        )
    )


class DocstringFixes(griffe.Extension):
    """Read ``#:`` comments, split grouped ``Args`` entries and rewrite Sphinx roles."""

    def on_attribute_instance(self, *, node: Any, attr: griffe.Attribute, agent: Any, **kwargs: Any) -> None:
        if attr.docstring is not None or attr.lineno is None or not isinstance(agent, griffe.Visitor):
            return
        lines = agent.code.splitlines()
        comment: list[str] = []
        lineno = attr.lineno - 1  # 1-based line of the assignment -> index of the line above
        while lineno > 0 and lines[lineno - 1].strip().startswith("#:"):
            comment.insert(0, lines[lineno - 1].strip()[2:].strip())
            lineno -= 1
        if comment:
            attr.docstring = griffe.Docstring(
                "\n".join(comment),
                lineno=lineno + 1,
                endlineno=attr.lineno - 1,
                parent=attr,
                parser=agent.docstring_parser,
                parser_options=agent.docstring_options,
            )

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        public = _public_names(pkg)
        rendered = set(public.values())

        for obj in _objects(pkg):
            if isinstance(obj, griffe.Function) and (signature := runtime_signature(obj)) is not None:
                obj.parameters = spelled_out_parameters(signature)
            if obj.docstring is None:
                continue

            def replace(match: re.Match[str], obj: griffe.Object = obj) -> str:
                name = match["name"]
                shown = name.rsplit(".", 1)[-1] if match["tilde"] else name
                if name in rendered:
                    return f"[`{shown}`][{name}]"
                try:
                    path = obj.resolve(name)
                except griffe.NameResolutionError:
                    path = None
                if path in public:
                    return f"[`{shown}`][{public[path]}]"
                return f"`{shown}`"

            obj.docstring.value = _ROLE.sub(replace, split_grouped_args(obj.docstring.value))
