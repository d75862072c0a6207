"""Normalisation modules without parameters."""

from __future__ import annotations

from torch import Tensor, nn

from .._validation import check_positive_float
from ..functional import max_abs_normalize


class MaxAbsNormalization(nn.Module):
    """``x / (max|x| + eps)`` per sample, so each sample's values land in ``[-1, 1]``.

    Shape:
        Input: ``(B, *)``. Output: same.
    """

    def __init__(self, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = check_positive_float("eps", eps)

    def forward(self, x: Tensor) -> Tensor:
        return max_abs_normalize(x, self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"
