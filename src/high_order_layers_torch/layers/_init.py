"""Initial link functions: the ``initialization=`` schemes every layer accepts.

A pure function of the weight tensor, the layer's basis and its fan-in, so that fully-connected,
convolutional and transposed layers (whose weights hold the basis axis in different places) share
one definition.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from .._validation import check_choice
from ._basis import Basis

Initialization = Literal["linear", "constant_random", "small_linear", "random"]
#: The accepted ``initialization=`` names (see :func:`initialize_links_`).
INITIALIZATIONS: tuple[str, ...] = ("linear", "constant_random", "small_linear", "random")
#: The default scheme of fully-connected sum layers (and the networks built from them), chosen by
#: ``benchmarks/bench_accuracy.py``; product layers and convolutions default to ``"linear"``.
DEFAULT_INITIALIZATION = "constant_random"

#: Relative size of the per-weight noise of the ``"linear"`` scheme.
INIT_NOISE = 0.1
#: Slope of the ``"small_linear"`` lines, relative to the ``"linear"`` ones.
SMALL_SLOPE = 0.1


def check_initialization(initialization: str) -> str:
    """``initialization`` if it names a scheme, else a ``ValueError`` naming the allowed ones."""
    return check_choice("initialization", initialization, INITIALIZATIONS)


def initialize_links_(weight: Tensor, basis: Basis, initialization: str, *, fan_in: float, basis_dim: int) -> Tensor:
    """Fill ``weight`` in place so that every link starts as the scheme's function.

    With ``a = sqrt(3 / fan_in)``:

    * ``"linear"``: ``f(x) = s x``, ``s ~ U(-a, a)``, plus noise ``U(-0.1 a, 0.1 a)`` on every
      weight. A sum neuron fed inputs uniform on ``[-1, 1]`` starts with the spread of its inputs
      and a non-zero input gradient.
    * ``"constant_random"``: the reference's scheme: ``f(x) = c``, ``c ~ U(0, 1) / fan_in``. The
      network starts as a constant; the gradient reaches the first layers only once later layers
      have moved away from constants. (For the linear basis of ``"product"`` layers, which has no
      constant, ``c`` is the slope.)
    * ``"small_linear"``: ``"linear"`` with slopes and noise ten times smaller: close to the
      constant start, with a non-zero gradient everywhere from the first step.
    * ``"random"``: every weight independently ``U(-a, a) / sqrt(num_active)``: random functions
      of the spread of ``"linear"``.

    Shape:
        weight: any shape whose axis ``basis_dim`` runs over ``basis.num_weights``.
    """
    check_initialization(initialization)
    bound = math.sqrt(3.0 / fan_in)
    along_basis = [1] * weight.dim()
    along_basis[basis_dim] = -1
    per_link = list(weight.shape)
    per_link[basis_dim] = 1
    with torch.no_grad():
        if initialization == "constant_random":
            constant = basis.constant_coefficients().to(weight).view(along_basis)
            return weight.copy_(weight.new_empty(per_link).uniform_(0.0, 1.0 / fan_in) * constant)
        if initialization == "random":
            return weight.uniform_(-bound, bound).div_(math.sqrt(basis.num_active))
        scale = SMALL_SLOPE if initialization == "small_linear" else 1.0
        line = basis.linear_coefficients().to(weight).view(along_basis)
        weight.copy_(weight.new_empty(per_link).uniform_(-scale * bound, scale * bound) * line)
        noise = INIT_NOISE * scale * bound
        return weight.add_(torch.empty_like(weight).uniform_(-noise, noise))
