"""Networks built from high-order layers: plain builder functions, the reference's
:class:`HighOrderMLP`, and the reference's network-to-network refinement functions."""

from ..refine import hp_refine_high_order_mlp as hp_refine_high_order_mlp
from ..refine import interpolate_high_order_mlp as interpolate_high_order_mlp
from ._blocks import Residual as Residual
from ._conv_nets import high_order_conv_decoder as high_order_conv_decoder
from ._conv_nets import high_order_conv_encoder as high_order_conv_encoder
from ._mlp import HighOrderMLP as HighOrderMLP
from ._mlp import high_order_mlp as high_order_mlp

__all__ = [
    "HighOrderMLP",
    "Residual",
    "high_order_conv_decoder",
    "high_order_conv_encoder",
    "high_order_mlp",
    "hp_refine_high_order_mlp",
    "interpolate_high_order_mlp",
]
