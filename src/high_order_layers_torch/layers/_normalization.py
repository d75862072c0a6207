"""Parameter-free modules that keep activations inside ``[-1, 1]``, where the link functions
are defined: two per-sample normalisations and the mirror-periodic fold."""

from __future__ import annotations

from torch import Tensor, nn

from .._validation import check_positive_float
from ..functional import max_abs_normalize, max_center_normalize, mirror_periodic


class _PerSampleNormalization(nn.Module):
    """Abstract base of the per-sample normalisations: a keyword-only ``eps`` (``> 0``), printed
    by ``extra_repr``; subclasses define ``forward``."""

    def __init__(self, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = check_positive_float("eps", eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class MaxAbsNormalization(_PerSampleNormalization):
    """``x / (max|x| + eps)`` per sample, so each sample's values land in ``[-1, 1]``.

    The maximum is taken over every axis but the first (batch) one, so the module serves flat
    features and N-d feature maps alike (see :func:`~high_order_layers_torch.functional.max_abs_normalize`).

    Args:
        eps: added to the denominator (``> 0``). Keyword-only, so that a builder calling a
            normalisation class with a channel count fails loudly instead of setting ``eps``.

    Shape:
        Input: ``(B, *)``. Output: same.

    Example:
        >>> MaxAbsNormalization()(torch.randn(4, 3, 8, 8)).abs().amax() <= 1
        tensor(True)
    """

    def forward(self, x: Tensor) -> Tensor:
        return max_abs_normalize(x, self.eps)


class MaxCenterNormalization(_PerSampleNormalization):
    """``2 (x - min) / (max - min + eps) - 1`` per sample: an affine map of each sample onto
    ``[-1, 1]`` (minimum to ``-1``, maximum to ``1 - O(eps)``).

    Statistics are taken over every axis but the first (batch) one (see
    :func:`~high_order_layers_torch.functional.max_center_normalize`).

    Args:
        eps: added to the denominator (``> 0``). Keyword-only, so that a builder calling a
            normalisation class with a channel count fails loudly instead of setting ``eps``.

    Shape:
        Input: ``(B, F, *)``. Output: same.

    Example:
        >>> y = MaxCenterNormalization()(torch.randn(4, 10))
        >>> bool(y.amin(dim=1).eq(-1).all())
        True
    """

    def forward(self, x: Tensor) -> Tensor:
        return max_center_normalize(x, self.eps)


class MirrorPeriodic(nn.Module):
    """Fold every value onto ``[-periodicity / 2, periodicity / 2]`` by mirror reflection.

    The identity inside that interval and a reflection at each end (a continuous triangle wave
    of period ``2 * periodicity``); see :func:`~high_order_layers_torch.functional.mirror_periodic`.
    With the default ``periodicity = 2`` everything lands in ``[-1, 1]`` and ``[-1, 1]`` itself is
    left unchanged. Element-wise, so any shape works.

    Args:
        periodicity: width of the interval values are folded onto (``> 0``).

    Shape:
        Input: ``(*)``. Output: same.

    Example:
        >>> MirrorPeriodic()(torch.tensor([0.5, 1.5, -2.5]))
        tensor([0.5000, 0.5000, 0.5000])
    """

    def __init__(self, periodicity: float = 2.0) -> None:
        super().__init__()
        self.periodicity = check_positive_float("periodicity", periodicity)

    def forward(self, x: Tensor) -> Tensor:
        return mirror_periodic(x, self.periodicity)

    def extra_repr(self) -> str:
        return f"periodicity={self.periodicity}"
