"""The base of the layers built on a basis (:class:`BasisLayer`), which records in every state
dict what the weights mean. The basis families themselves live in
:mod:`high_order_layers_torch.bases` and are re-exported here.
"""

from __future__ import annotations

import inspect

from torch import Tensor, nn

from .._validation import check_choice
from ..bases import (
    Basis,
    ChebyshevBasis,
    ConfigValue,
    FourierBasis,
    LinearBasis,
    PiecewisePolynomialBasis,
    zero_derivative,
)
from ..functional import CONTRACTIONS, prepare_input

__all__ = [
    "RECORD_KEY",
    "Basis",
    "BasisLayer",
    "ChebyshevBasis",
    "ConfigValue",
    "FourierBasis",
    "LinearBasis",
    "PiecewisePolynomialBasis",
    "describe",
    "zero_derivative",
]

#: Key of a layer's record in its entry of ``state_dict._metadata``.
RECORD_KEY = "link_functions"


def describe(config: object) -> str:
    """A :meth:`BasisLayer.function_config` as text, e.g.
    ``PiecewisePolynomialBasis(n=3, segments=2, continuous=True), neuron='sum'``."""
    if not isinstance(config, dict):
        return repr(config)
    settings = {key: value for key, value in config.items() if key not in ("basis", "neuron")}
    text = f"{config.get('basis')}({', '.join(f'{key}={value!r}' for key, value in settings.items())})"
    return text if "neuron" not in config else f"{text}, neuron={config['neuron']!r}"


class BasisLayer(nn.Module):
    """Base of the layers whose weights are the coefficients of link functions from
    ``self.basis``; it makes their state dicts say what the weights mean.

    Weights alone do not tell their functions apart: ``n = 4`` on 2 segments and ``n = 3`` on 3
    segments both have 7 weights per link, as do a Fourier series with 3 frequencies and a
    polynomial of 7 nodes. So ``state_dict()`` records :meth:`function_config` (plain python
    values) in the state dict's metadata, next to the version torch keeps for every module, and
    ``load_state_dict`` refuses a record that differs from this layer's: it raises torch's
    ``RuntimeError`` naming both configurations, after loading the other modules, and leaves this
    layer's weights unchanged. A state dict without a record (saved by an earlier version, or
    rebuilt as a plain ``dict``, which drops the metadata) loads unchecked, as before.

    The record is metadata rather than an ``_extra_state`` entry so that the state dict keeps
    holding only tensors: code that clones, averages or compares every entry keeps working, and
    ``torch.save``/``torch.load(weights_only=True)`` keep the metadata.
    """

    basis: Basis
    weight: Tensor
    bias: Tensor | None
    #: The input policy, set by the layers' constructors (see
    #: :func:`~high_order_layers_torch.functional.prepare_input`).
    out_of_range: str
    periodicity: float | None
    _contraction: str

    def function_config(self) -> dict[str, ConfigValue]:
        """What this layer's weights mean (see :meth:`Basis.function_config`)."""
        return self.basis.function_config()

    @property
    def n(self) -> int:
        """The basis' ``n`` (nodes per piece, frequencies, or polynomials)."""
        return self.basis.n

    @property
    def segments(self) -> int:
        """The basis' number of pieces (1 for single-piece families)."""
        return self.basis.segments

    @property
    def contraction(self) -> str:
        """``"auto"``, ``"dense"`` or ``"gather"`` (checked when set)."""
        return self._contraction

    @contraction.setter
    def contraction(self, value: str) -> None:
        self._contraction = check_choice("contraction", value, CONTRACTIONS)

    def prepare_input(self, x: Tensor) -> Tensor:
        """Apply the mirror fold and out-of-range policy. Shape: same as ``x``."""
        return prepare_input(x, self.out_of_range, self.periodicity)

    rescale_output: bool
    initialization: str

    @classmethod
    def default_out_of_range(cls) -> str:
        """The ``out_of_range`` policy used when none is given: the constructor's default
        (``"extrapolate"`` for the Fourier types), else ``"clamp"``."""
        parameter = inspect.signature(cls).parameters.get("out_of_range")
        return "clamp" if parameter is None else parameter.default

    def _option_parts(self) -> list[str]:
        """The ``extra_repr`` entries of the options every high-order layer has, where they
        differ from their defaults."""
        defaults = {
            "rescale_output": False,
            "out_of_range": type(self).default_out_of_range(),
            "periodicity": None,
            "contraction": "auto",
            # a class attribute of the convolutions, a property of the fully-connected layers
            "initialization": getattr(self, "default_initialization"),  # noqa: B009
        }
        parts = []
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default:
                parts.append(f"{name}={value}" if isinstance(value, bool | float) else f"{name}={value!r}")
        return parts

    def defer_default_clamp(self, x: Tensor) -> tuple[Tensor, bool]:
        """The input policy, except the plain default clamp: that one comes back as ``True``
        for a kernel to apply in the same pass (it acts on each element alone, so it commutes
        with everything a layer does to its input before the basis, padding included)."""
        if self.out_of_range == "clamp" and self.periodicity is None:
            return x, True
        return self.prepare_input(x), False

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        metadata = getattr(destination, "_metadata", None)
        if metadata is not None:  # state_dict() has just added this module's entry
            metadata.setdefault(prefix[:-1], {})[RECORD_KEY] = self.function_config()

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        saved = local_metadata.get(RECORD_KEY)
        ours = self.function_config()
        if saved is not None and saved != ours:
            error_msgs.append(
                f"{prefix[:-1] or type(self).__name__}: the state_dict holds link functions "
                f"{describe(saved)}, but this {type(self).__name__} has {describe(ours)}; build the layer with the "
                "saved configuration (refine_ can change it after loading)"
            )
            return  # the weights of other functions must not be copied in
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
