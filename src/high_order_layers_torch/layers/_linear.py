"""Fully-connected layers whose every connection is a learnable 1-D function."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .. import kernels
from .._signatures import FactoryKwargs
from .._validation import (
    check_bool,
    check_choice,
    check_float,
    check_input_dtype,
    check_int,
    check_positive_float,
)
from ..functional import (
    OUT_OF_RANGE_POLICIES,
    Contraction,
    OutOfRange,
)
from ._basis import (
    Basis,
    BasisLayer,
    ConfigValue,
)
from ._init import DEFAULT_INITIALIZATION, Initialization, check_initialization, initialize_links_

Neuron = Literal["sum", "product"]
NEURONS: tuple[str, ...] = ("sum", "product")


class LinkPolicy(FactoryKwargs, total=False):
    """The keywords every layer with link functions takes, generic or named (see
    :class:`HighOrderLinear`): the input policy, the initial link functions, ``device`` and
    ``dtype``."""

    out_of_range: OutOfRange
    periodicity: float | None
    initialization: Initialization | None


class HighOrderLinear(BasisLayer):
    """A fully-connected layer whose connection ``i -> o`` is a function ``f_oi`` from ``basis``.

    Sum neurons compute ``y_o = sum_i f_oi(x_i)``; product neurons compute
    ``y_o = -1 + prod_i (1 + f_oi(x_i)) - (1 - alpha) * sum_i f_oi(x_i)``, which keeps the linear
    part ``sum_i f_oi`` at ``alpha = 1`` and leaves only the cross terms at ``alpha = 0``.

    Inputs first pass the optional mirror fold (``periodicity``), then the ``out_of_range``
    policy (see :func:`high_order_layers_torch.functional.apply_out_of_range`), then the basis.

    Initialisation: by ``initialization`` (see :func:`~high_order_layers_torch.layers.initialize_links_`).
    Sum layers default to ``"constant_random"`` (every link a random constant in
    ``[0, 1 / in)``), the scheme with the lowest error over the tasks of
    ``benchmarks/bench_accuracy.py`` (docs/accuracy.md); product layers keep ``"linear"``, a
    straight line of random slope with a non-zero input gradient from the first step.

    Args:
        in_features: size of each input sample's last axis.
        out_features: size of each output sample's last axis.
        basis: the link function family (a :class:`Basis` module).
        neuron: ``"sum"`` or ``"product"``.
        alpha: product neurons only: weight of the linear part (see above).
        bias: add a learnable bias per output (off by default: a constant is already in every
            link).
        rescale_output: sum neurons only: divide the output by ``in_features``.
        out_of_range: ``"clamp"``, ``"extrapolate"``, ``"mirror"`` or ``"error"``.
        periodicity: if given, fold inputs by mirror reflection at ``+-periodicity / 2``
            before the ``out_of_range`` policy.
        contraction: ``"dense"`` (basis expansion + one GEMM, cost grows with the number of
            weights per link), ``"gather"`` (reads only the active weights, cost independent of
            ``segments``; the ``piecewise_gather`` operator of
            :mod:`high_order_layers_torch.kernels`: C++ on the CPU, Triton on CUDA, else
            ``embedding_bag``) or ``"auto"`` (picks by a cost model, see
            :func:`~high_order_layers_torch.kernels.sum_contraction`). All give the same result
            to round-off. Also settable later: ``layer.contraction = "gather"``. Bases whose
            every weight is active (one polynomial, Fourier series) always contract densely.
            Product layers ignore it: their operator forms each link value where it is used
            (on the CPU never storing the ``(B, out, in)`` tensor of all of them).
        initialization: the initial link functions: ``"linear"``, ``"constant_random"``,
            ``"small_linear"`` or ``"random"`` (see
            :func:`~high_order_layers_torch.layers.initialize_links_`); ``None`` takes
            :attr:`default_initialization`.

    Shape:
        Input: ``(*, in_features)``. Output: ``(*, out_features)``.

    Attributes:
        weight: ``(out_features, in_features, basis.num_weights)``.
        bias: ``(out_features,)`` or ``None``.

    State dict: ``weight`` (and ``bias``), plus a record of :meth:`function_config` (basis
    family, ``n``, ``segments``, continuity, Fourier ``length``, neuron) in its metadata;
    ``load_state_dict`` refuses weights saved under another one (see :class:`BasisLayer`).

    Raises:
        ValueError: on invalid sizes, names or an input whose last axis is not ``in_features``.
        TypeError: on a non-bool ``bias``/``rescale_output``, a non-tensor or non-floating
            input, or an input whose dtype differs from the layer's outside ``torch.autocast``.

    Example:
        >>> layer = HighOrderLinear(3, 2, PiecewisePolynomialBasis(n=4, segments=2))
        >>> layer(torch.rand(8, 3) * 2 - 1).shape
        torch.Size([8, 2])
    """

    #: Axis of ``weight`` that runs over the basis functions of one link.
    basis_dim = 2

    def __init__(
        self,
        in_features: int,
        out_features: int,
        basis: Basis,
        *,
        neuron: Neuron = "sum",
        alpha: float = 1.0,
        bias: bool = False,
        rescale_output: bool = False,
        out_of_range: OutOfRange = "clamp",
        periodicity: float | None = None,
        contraction: Contraction = "auto",
        initialization: Initialization | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.out_features = check_int("out_features", out_features, minimum=1)
        if not isinstance(basis, Basis):
            raise TypeError(f"basis must be a Basis module, got {type(basis).__name__}")
        self.basis = basis.to(device=device, dtype=dtype)  # its buffers follow the layer's factory kwargs
        self.neuron = check_choice("neuron", neuron, NEURONS)
        self.initialization = check_initialization(
            self.default_initialization if initialization is None else initialization
        )
        self.alpha = check_float("alpha", alpha)
        self.rescale_output = check_bool("rescale_output", rescale_output)
        self.out_of_range = check_choice("out_of_range", out_of_range, OUT_OF_RANGE_POLICIES)
        self.periodicity = None if periodicity is None else check_positive_float("periodicity", periodicity)
        self.contraction = contraction
        self.weight = nn.Parameter(
            torch.empty(out_features, in_features, basis.num_weights, device=device, dtype=dtype)
        )
        if check_bool("bias", bias):
            self.bias = nn.Parameter(torch.empty(out_features, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initial link functions by ``self.initialization`` (see
        :func:`~high_order_layers_torch.layers.initialize_links_`); bias 0."""
        initialize_links_(self.weight, self.basis, self.initialization, fan_in=self.in_features, basis_dim=2)
        if self.bias is not None:
            with torch.no_grad():
                self.bias.zero_()

    @property
    def default_initialization(self) -> str:
        """The scheme used when ``initialization`` is not given: ``"constant_random"`` for sum
        neurons (chosen by ``benchmarks/bench_accuracy.py``), ``"linear"`` for product neurons,
        which the suite did not measure."""
        return DEFAULT_INITIALIZATION if self.neuron == "sum" else "linear"

    def function_config(self) -> dict[str, ConfigValue]:
        """The basis' configuration and the neuron type: the same weights summed or multiplied
        are different functions."""
        return {**self.basis.function_config(), "neuron": self.neuron}

    def link_functions(self, x: Tensor) -> Tensor:
        """Every link's value ``f_oi(x_i)``. Shape: ``(*, in)`` -> ``(*, out, in)``."""
        flat = self._flatten(x)
        layout = self.basis.layout()
        links = kernels.link_values(layout, self.prepare_input(flat), self.weight, self.contraction, clamp=False)
        return links.reshape(*x.shape[:-1], self.out_features, self.in_features)

    def forward(self, x: Tensor) -> Tensor:
        # the input policy here, the default clamp deferred into the kernel's own pass
        flat, clamp = self.defer_default_clamp(self._flatten(x).to(self.weight.dtype))  # (B, I)
        layout = self.basis.layout()
        if self.neuron == "sum":
            y = kernels.sum_neuron(layout, flat, self.weight, self.contraction, clamp=clamp)
            if self.rescale_output:
                y = y / self.in_features
        else:
            y = kernels.product_neuron(layout, flat, self.weight, self.alpha, self.contraction, clamp=clamp)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)

    def _flatten(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"input must be a Tensor, got {type(x).__name__}")
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"expected input of shape (*, in_features={self.in_features}), got {tuple(x.shape)}")
        check_input_dtype(x, self.weight.dtype)
        return x.reshape(-1, self.in_features)

    def extra_repr(self) -> str:
        parts = [f"in_features={self.in_features}", f"out_features={self.out_features}"]
        if self.neuron != "sum":
            parts.append(f"neuron={self.neuron!r}, alpha={self.alpha}")
        if self.bias is not None:
            parts.append("bias=True")
        return ", ".join(parts + self._option_parts())
