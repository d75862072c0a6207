"""Parameter-free normalisations that keep activations inside ``[-1, 1]``."""

from __future__ import annotations

from torch import Tensor


def max_abs_normalize(x: Tensor, eps: float = 1e-6) -> Tensor:
    """``x / (max|x| + eps)`` with the maximum taken per sample over all non-batch axes.

    Shape:
        x: ``(B, ...)``. Output: same as ``x``.
    """
    flat = x.reshape(x.shape[0], -1)
    scale = flat.abs().amax(dim=1).add(eps)
    return x / scale.reshape((x.shape[0],) + (1,) * (x.dim() - 1))
