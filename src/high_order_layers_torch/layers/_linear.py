"""Fully-connected layers whose every connection is a learnable 1-D function."""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from .._validation import (
    check_bool,
    check_choice,
    check_float,
    check_input_dtype,
    check_int,
    check_positive_float,
)
from ..functional import (
    CONTRACTIONS,
    OUT_OF_RANGE_POLICIES,
    apply_out_of_range,
    choose_contraction,
    link_values,
    link_values_gather,
    mirror_periodic,
    product_neuron,
    sum_neuron,
    sum_neuron_chebyshev,
)
from ..kernels import (
    fused_chebyshev_expansion,
    fused_fourier_values,
    fused_linear_product,
    fused_piecewise_expansion,
    fused_piecewise_gather,
    fused_piecewise_product,
    sum_contraction,
)
from ._basis import (
    Basis,
    BasisLayer,
    ConfigValue,
    FourierBasis,
    LinearBasis,
    PiecewisePolynomialBasis,
    zero_derivative,
)
from ._init import DEFAULT_INITIALIZATION, check_initialization, initialize_links_

Neuron = Literal["sum", "product"]
NEURONS: tuple[str, ...] = ("sum", "product")


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
        out_of_range: str = "clamp",
        periodicity: float | None = None,
        contraction: str = "auto",
        initialization: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory_kwargs = {"device": device, "dtype": dtype}
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
        self.weight = nn.Parameter(torch.empty(out_features, in_features, basis.num_weights, **factory_kwargs))
        if check_bool("bias", bias):
            self.bias = nn.Parameter(torch.empty(out_features, **factory_kwargs))
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

    @property
    def contraction(self) -> str:
        return self._contraction

    @contraction.setter
    def contraction(self, value: str) -> None:
        self._contraction = check_choice("contraction", value, CONTRACTIONS)

    @property
    def n(self) -> int:
        return self.basis.n

    @property
    def segments(self) -> int:
        return getattr(self.basis, "segments", 1)

    def function_config(self) -> dict[str, ConfigValue]:
        """The basis' configuration and the neuron type: the same weights summed or multiplied
        are different functions."""
        return {**self.basis.function_config(), "neuron": self.neuron}

    def prepare_input(self, x: Tensor) -> Tensor:
        """Apply the mirror fold and out-of-range policy. Shape: same as ``x``."""
        if self.periodicity is not None:
            x = mirror_periodic(x, self.periodicity)
        return apply_out_of_range(x, self.out_of_range)

    def link_functions(self, x: Tensor) -> Tensor:
        """Every link's value ``f_oi(x_i)``. Shape: ``(*, in)`` -> ``(*, out, in)``."""
        flat = self._flatten(x)
        start, values = self.basis(self.prepare_input(flat))
        links = self._link_values(start, values)
        return links.reshape(*x.shape[:-1], self.out_features, self.in_features)

    def forward(self, x: Tensor) -> Tensor:
        flat = self._flatten(x)  # (B, I)
        if self.neuron == "sum":
            y = self._sum_neuron(flat)
            if self.rescale_output:
                y = y / self.in_features
        else:
            y = self._product_neuron(flat)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)

    def defer_default_clamp(self, x: Tensor) -> tuple[Tensor, bool]:
        """The input policy, except the plain default clamp: that one comes back as ``True``
        for a CPU kernel to apply in the same pass (it acts on each element alone, so it commutes
        with everything a layer does to its input before the basis, padding included)."""
        if self.out_of_range == "clamp" and self.periodicity is None:
            return x, True
        return self.prepare_input(x), False

    def _sum_neuron(self, x: Tensor) -> Tensor:
        """The sum neuron on the raw ``(B, I)`` input (the input policy is applied here). Each
        branch calls one operator of :mod:`high_order_layers_torch.kernels`, which runs the
        kernel registered for the weight's device or the pure-torch reference."""
        basis = self.basis
        x, clamp = self.defer_default_clamp(x.to(self.weight.dtype))
        if isinstance(basis, FourierBasis) and basis.n >= 1:
            # The constant terms sum into a bias, so the GEMM has 2 n columns per input, not
            # 2 n + 1: the harmonics as a (B, 2 n, I) block against the matching weight columns.
            x = apply_out_of_range(x, "clamp") if clamp else x
            harmonics = fused_fourier_values(x, math.pi / basis.length, basis.n, rows=True, constant=False)
            weight = self.weight[:, :, 1:].transpose(1, 2).reshape(self.out_features, -1)  # (O, 2 n * I)
            return torch.nn.functional.linear(harmonics.flatten(1), weight, self.weight[:, :, 0].sum(1))
        if not isinstance(basis, PiecewisePolynomialBasis) or basis.n == 1:
            # other bases, and piecewise constants (whose values the basis module keeps in the graph)
            x = apply_out_of_range(x, "clamp") if clamp else x
            return self._sum_neuron_reference(x)
        contraction = sum_contraction(
            basis.num_weights,
            basis.num_active,
            self.contraction,
            self.weight,
            batch=x.shape[0],
            basis=(basis.n, basis.segments, basis.continuous),
        )
        if contraction == "gather":  # the basis is evaluated inside the contraction
            return fused_piecewise_gather(x, self.weight, basis.n, basis.segments, basis.continuous, clamp=clamp)
        if basis.segments == 1:
            # One polynomial: Chebyshev form, whose constant term becomes a bias, so the GEMM is
            # (n - 1) / n as wide as the floor's.
            values = fused_chebyshev_expansion(x.unsqueeze(1), basis.n, clamp=clamp)  # (B, n - 1, I)
            return sum_neuron_chebyshev(None, values, basis.chebyshev_coefficients(self.weight))
        # The nodal basis values as a (B, M, I) block, and one GEMM against the weight in the same
        # (M, I) order: the expansion kernel writes whole rows of inputs, several times faster
        # than the weight's own (I, M) order, for the price of one copy of the weight.
        expansion = fused_piecewise_expansion(x.unsqueeze(1), basis.n, basis.segments, basis.continuous, clamp=clamp)
        weight = self.weight.transpose(1, 2).reshape(self.out_features, -1)  # (O, M * I)
        return torch.nn.functional.linear(expansion.flatten(1), weight)

    def _sum_neuron_reference(self, x: Tensor) -> Tensor:
        """The sum neuron of any basis in pure torch, on an input the policy was applied to."""
        start, values = self.basis(x)
        y = sum_neuron(start, values, self.weight)
        if isinstance(self.basis, PiecewisePolynomialBasis) and self.basis.n == 1:  # y is read without x
            return zero_derivative(y, x[:, :1])
        return y

    def _product_neuron(self, x: Tensor) -> Tensor:
        """The product neuron on the raw ``(B, I)`` input (the input policy is applied here),
        through the product operator, which on the CPU never forms the ``(B, O, I)`` link
        values."""
        basis = self.basis
        piecewise = isinstance(basis, PiecewisePolynomialBasis) and basis.n > 1  # constants: the generic path
        if piecewise or isinstance(basis, LinearBasis):
            x, clamp = self.defer_default_clamp(x.to(self.weight.dtype))
            if isinstance(basis, LinearBasis):
                return fused_linear_product(x, self.weight, self.alpha, clamp=clamp)
            return fused_piecewise_product(
                x, self.weight, basis.n, basis.segments, basis.continuous, self.alpha, clamp=clamp
            )
        start, values = basis(self.prepare_input(x))  # (B, I), (B, I, K)
        return product_neuron(self._link_values(start, values), self.alpha)

    def _link_values(self, start: Tensor | None, values: Tensor) -> Tensor:
        contraction = choose_contraction(self.basis.num_weights, self.basis.num_active, self.contraction)
        return (link_values_gather if contraction == "gather" else link_values)(start, values, self.weight)

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
        if self.rescale_output:
            parts.append("rescale_output=True")
        if self.out_of_range != type(self).default_out_of_range():
            parts.append(f"out_of_range={self.out_of_range!r}")
        if self.periodicity is not None:
            parts.append(f"periodicity={self.periodicity}")
        if self.contraction != "auto":
            parts.append(f"contraction={self.contraction!r}")
        if self.initialization != self.default_initialization:
            parts.append(f"initialization={self.initialization!r}")
        return ", ".join(parts)

    @classmethod
    def default_out_of_range(cls) -> str:
        return "clamp"


class _PiecewiseSum(HighOrderLinear):
    """Piecewise Lagrange polynomials with sum neurons; ``continuous`` is fixed by subclasses."""

    continuous: ClassVar[bool]

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n: int,
        segments: int = 2,
        *,
        rescale_output: bool = False,
        out_of_range: str = "clamp",
        periodicity: float | None = None,
        initialization: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        basis = PiecewisePolynomialBasis(n, segments, continuous=self.continuous, device=device, dtype=dtype)
        super().__init__(
            in_features,
            out_features,
            basis,
            rescale_output=rescale_output,
            out_of_range=out_of_range,
            periodicity=periodicity,
            initialization=initialization,
            device=device,
            dtype=dtype,
        )


class PiecewisePolynomial(_PiecewiseSum):
    """``layer_type="continuous"``: continuous piecewise Lagrange polynomials, sum neurons.

    Each link has ``segments * (n - 1) + 1`` weights, of which ``n`` are active for any input.
    See :class:`HighOrderLinear` for the other arguments.
    """

    continuous = True


class PiecewiseDiscontinuousPolynomial(_PiecewiseSum):
    """``layer_type="discontinuous"``: independent Lagrange polynomials per piece, sum neurons.

    Each link has ``segments * n`` weights, of which ``n`` are active for any input.
    """

    continuous = False


class Polynomial(HighOrderLinear):
    """``layer_type="polynomial"``: one Lagrange polynomial of degree ``n - 1`` per link."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n: int,
        *,
        rescale_output: bool = False,
        out_of_range: str = "clamp",
        periodicity: float | None = None,
        initialization: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        basis = PiecewisePolynomialBasis(n, 1, device=device, dtype=dtype)
        super().__init__(
            in_features,
            out_features,
            basis,
            rescale_output=rescale_output,
            out_of_range=out_of_range,
            periodicity=periodicity,
            initialization=initialization,
            device=device,
            dtype=dtype,
        )


class FourierSeries(HighOrderLinear):
    """``layer_type="fourier"``: a Fourier series with ``n`` frequencies per link, sum neurons.

    A Fourier series is bounded everywhere, so inputs outside ``[-1, 1]`` are extrapolated by
    default (the series simply continues periodically).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n: int,
        *,
        length: float = 2.0,
        rescale_output: bool = False,
        out_of_range: str = "extrapolate",
        periodicity: float | None = None,
        initialization: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        basis = FourierBasis(n, length, device=device, dtype=dtype)
        super().__init__(
            in_features,
            out_features,
            basis,
            rescale_output=rescale_output,
            out_of_range=out_of_range,
            periodicity=periodicity,
            initialization=initialization,
            device=device,
            dtype=dtype,
        )

    @classmethod
    def default_out_of_range(cls) -> str:
        return "extrapolate"


class _PiecewiseProd(HighOrderLinear):
    """Piecewise Lagrange polynomials with product neurons; ``continuous`` is fixed by subclasses."""

    continuous: ClassVar[bool]

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n: int,
        segments: int = 2,
        *,
        alpha: float = 1.0,
        out_of_range: str = "clamp",
        periodicity: float | None = None,
        initialization: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        basis = PiecewisePolynomialBasis(n, segments, continuous=self.continuous, device=device, dtype=dtype)
        super().__init__(
            in_features,
            out_features,
            basis,
            neuron="product",
            alpha=alpha,
            out_of_range=out_of_range,
            periodicity=periodicity,
            initialization=initialization,
            device=device,
            dtype=dtype,
        )


class PiecewisePolynomialProd(_PiecewiseProd):
    """``layer_type="continuous_prod"``: continuous piecewise polynomials, product neurons."""

    continuous = True


class PiecewiseDiscontinuousPolynomialProd(_PiecewiseProd):
    """``layer_type="discontinuous_prod"``: discontinuous piecewise polynomials, product neurons."""

    continuous = False


class PolynomialProd(HighOrderLinear):
    """``layer_type="polynomial_prod"``: one polynomial per link, product neurons."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        n: int,
        *,
        alpha: float = 1.0,
        out_of_range: str = "clamp",
        periodicity: float | None = None,
        initialization: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        basis = PiecewisePolynomialBasis(n, 1, device=device, dtype=dtype)
        super().__init__(
            in_features,
            out_features,
            basis,
            neuron="product",
            alpha=alpha,
            out_of_range=out_of_range,
            periodicity=periodicity,
            initialization=initialization,
            device=device,
            dtype=dtype,
        )


class Product(HighOrderLinear):
    """``layer_type="product"``: plain weights ``f_oi(x) = w_oi x`` with a product neuron and
    a bias: ``y_o = -1 + prod_i (1 + w_oi x_i) - (1 - alpha) sum_i w_oi x_i + b_o``.

    ``n`` and ``segments`` do not apply.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        alpha: float = 1.0,
        bias: bool = True,
        out_of_range: str = "clamp",
        periodicity: float | None = None,
        initialization: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            in_features,
            out_features,
            LinearBasis(),
            neuron="product",
            alpha=alpha,
            bias=bias,
            out_of_range=out_of_range,
            periodicity=periodicity,
            initialization=initialization,
            device=device,
            dtype=dtype,
        )

    @property
    def n(self) -> int:
        return 1
