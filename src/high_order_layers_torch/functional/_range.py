"""What happens to inputs outside the reference interval ``[-1, 1]``."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from .._validation import check_choice

OutOfRange = Literal["clamp", "extrapolate", "mirror", "error"]
OUT_OF_RANGE_POLICIES: tuple[str, ...] = ("clamp", "extrapolate", "mirror", "error")


def mirror_periodic(x: Tensor, periodicity: float = 2.0) -> Tensor:
    """Fold the real line onto ``[-periodicity / 2, periodicity / 2]`` by mirror reflection.

    The identity inside that interval, a reflection at each end (a triangle wave of period
    ``2 * periodicity``), so the result is continuous in ``x`` and bounded. With the default
    ``periodicity = 2`` it maps everything into ``[-1, 1]`` and leaves ``[-1, 1]`` unchanged.

    Shape:
        Same as ``x``.
    """
    half = 0.5 * periodicity
    shifted = torch.remainder(x + half, 2 * periodicity)  # in [0, 2p)
    folded = torch.where(shifted > periodicity, 2 * periodicity - shifted, shifted)
    return folded - half


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
