"""What happens to inputs outside the reference interval ``[-1, 1]``."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

from .._validation import check_choice, check_positive_float

#: Type of the ``out_of_range`` argument of the layers.
OutOfRange = Literal["clamp", "extrapolate", "mirror", "error"]
#: The valid ``out_of_range`` policies (see :func:`apply_out_of_range`).
OUT_OF_RANGE_POLICIES: tuple[str, ...] = ("clamp", "extrapolate", "mirror", "error")


def mirror_periodic(x: Tensor, periodicity: float = 2.0) -> Tensor:
    """Fold the real line onto ``[-periodicity / 2, periodicity / 2]`` by mirror reflection.

    The identity inside that interval, a reflection at each end (a triangle wave of period
    ``2 * periodicity``), so the result is continuous in ``x`` and bounded. With the default
    ``periodicity = 2`` it maps everything into ``[-1, 1]`` and leaves ``[-1, 1]`` unchanged.

    Precision: inside ``[-periodicity / 2, periodicity / 2]`` the result is ``x`` itself (bit for
    bit, ``-0.0`` included, with gradient 1). Outside, the reduction is exact in ``x``'s dtype
    (``torch.fmod`` plus subtractions that are exact by Sterbenz's lemma), so the only error is
    ``periodicity / 2`` rounded to that dtype: a period that the dtype cannot hold is the dtype's
    nearest one. Every finite input gives a finite result in the interval, whatever its
    magnitude; a half period beyond the dtype's largest value leaves every finite input unchanged.
    ``+-inf`` has no fold and gives NaN; NaN propagates.

    Args:
        x: floating-point values (integer tensors are converted to the default dtype).
        periodicity: width of the target interval, a finite number ``> 0``.

    Shape:
        Same as ``x``.

    Raises:
        ValueError: if ``periodicity`` is not finite or not ``> 0``, or if ``periodicity / 2``
            rounds to zero in ``x``'s dtype.
        TypeError: if ``periodicity`` is not a real number.

    Example:
        >>> mirror_periodic(torch.tensor([0.5, 1.5, -2.5, 9.0]), 2.0)
        tensor([0.5000, 0.5000, 0.5000, 1.0000])
    """
    period = check_positive_float("periodicity", periodicity)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    # The half period as the dtype holds it, as an exact Python float, so every scalar below
    # (h, 2h, 4h, or a quarter of them) converts to the dtype without rounding.
    half = torch.tensor(0.5 * period, dtype=x.dtype).item()
    if half == 0.0:
        raise ValueError(
            f"periodicity / 2 must be representable in {x.dtype} (at least {torch.finfo(x.dtype).tiny:g} "
            f"for a normal number); got periodicity={periodicity}"
        )
    if math.isinf(half):  # every finite value is inside; +-inf has no fold
        return torch.where(torch.isinf(x), torch.full_like(x, math.nan), x)
    inside = x.abs() <= half  # NaN compares False and goes through the fold (stays NaN)
    # 4h must not overflow; scaling by a power of two is exact for the values that need folding
    # (|x| > h >= max / 8 when it applies), and the identity branch keeps the unscaled x.
    scale = 4.0 if 4.0 * half > torch.finfo(x.dtype).max else 1.0
    h = half / scale
    r = _exact_fmod(x / scale if scale != 1.0 else x, 4.0 * h)  # in (-4h, 4h), sign of x
    a = r.abs()
    # Triangle wave on [0, 4h): a on [0, h], 2h - a on (h, 3h], a - 4h beyond. Both subtractions
    # are exact where they are used (Sterbenz: the operands are within a factor 2 of each other).
    # The middle branch is chosen by its exact result (2h - a >= -h), not by comparing a with 3h:
    # 3h is rounded, and an a next to it would take the wrong branch, one ulp outside [-h, h].
    descending = 2.0 * h - a
    folded = torch.where(a <= h, a, torch.where(descending >= -h, descending, a - 4.0 * h))
    folded = torch.where(r < 0, -folded, folded)  # the wave is odd
    if scale != 1.0:
        folded = folded * scale
    return torch.where(inside, x, folded)


def _exact_fmod(x: Tensor, modulus: float) -> Tensor:
    """``torch.fmod(x, modulus)`` for a ``modulus`` that ``x``'s dtype holds exactly, exact for
    every finite ``x``.

    ``fmod`` itself is exact, but PyTorch's vectorised CPU ``fmod`` returns NaN once ``x / modulus``
    overflows (a small modulus, a huge ``x``). Reducing first by power-of-two multiples of the
    modulus (themselves exact, and the remainder modulo a multiple is congruent modulo the
    modulus) keeps every quotient below ``2 ** (max_exponent - 1)``; one pass when
    ``modulus >= 2`` in any dtype.
    """
    biggest = torch.finfo(x.dtype).max
    quotient_limit = 2.0 ** (math.frexp(biggest)[1] - 1)
    moduli = [modulus]
    while moduli[-1] * quotient_limit < biggest:
        moduli.append(moduli[-1] * quotient_limit)
    for m in reversed(moduli):
        x = torch.fmod(x, m)
    return x


def apply_out_of_range(x: Tensor, policy: str) -> Tensor:
    """Apply an out-of-range policy to values meant to lie in ``[-1, 1]``.

    Policies:
        * ``"clamp"``: values beyond an end are evaluated at that end; the function is constant
          outside ``[-1, 1]`` (zero gradient with respect to such inputs). ``+-inf`` maps to
          ``+-1``.
        * ``"extrapolate"``: the end pieces' polynomials (or the Fourier series) are evaluated
          as they are; polynomials grow like ``|x|**(n-1)`` and may overflow.
        * ``"mirror"``: :func:`mirror_periodic` with period 4 (reflection at +-1).
        * ``"error"``: raise ``ValueError`` if any value is outside ``[-1, 1]`` or not finite.
          This inspects the values, so it synchronises with a GPU.

    NaN inputs are never corrected: they propagate to every output they feed (``"error"``
    raises instead).

    Shape:
        Same as ``x``.
    """
    check_choice("out_of_range", policy, OUT_OF_RANGE_POLICIES)
    if policy == "clamp":
        return x.clamp(-1.0, 1.0)
    if policy == "mirror":
        return mirror_periodic(x, 2.0)
    if policy == "error":
        outside = ~(x.abs() <= 1.0)  # NaN compares False, so it counts as outside
        if bool(outside.any()):
            bad = x[outside][0].item()
            raise ValueError(
                f"input value {bad} is outside [-1, 1] and out_of_range='error'; "
                f"choose one of {', '.join(map(repr, OUT_OF_RANGE_POLICIES))} to allow it"
            )
    return x


def prepare_input(x: Tensor, out_of_range: str, periodicity: float | None = None) -> Tensor:
    """What every high-order layer does to its input before the basis: the optional mirror fold
    at ``+-periodicity / 2`` (:func:`mirror_periodic`), then the ``out_of_range`` policy
    (:func:`apply_out_of_range`).

    Shape:
        Same as ``x``.
    """
    if periodicity is not None:
        x = mirror_periodic(x, periodicity)
    return apply_out_of_range(x, out_of_range)


def clamp_if(x: Tensor, clamp: bool) -> Tensor:
    """``x`` limited to ``[-1, 1]`` when ``clamp`` (the layers' default policy, deferred to the
    basis evaluation, which a fused kernel does in the same pass)."""
    return apply_out_of_range(x, "clamp") if clamp else x
