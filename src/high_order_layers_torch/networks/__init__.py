"""Networks built from high-order layers: plain builder functions, the reference's network
classes (:class:`HighOrderMLP`, :class:`LowOrderMLP`, :class:`HighOrderFullyConvolutionalNetwork`,
:class:`HighOrderFullyDeconvolutionalNetwork`) as thin wrappers over them, and the reference's
network-to-network refinement functions."""

from ..refine import hp_refine_high_order_mlp as hp_refine_high_order_mlp
from ..refine import interpolate_high_order_mlp as interpolate_high_order_mlp
from ._blocks import Residual as Residual
from ._conv_nets import HighOrderFullyConvolutionalNetwork as HighOrderFullyConvolutionalNetwork
from ._conv_nets import HighOrderFullyDeconvolutionalNetwork as HighOrderFullyDeconvolutionalNetwork
from ._conv_nets import high_order_conv_decoder as high_order_conv_decoder
from ._conv_nets import high_order_conv_encoder as high_order_conv_encoder
from ._mlp import HighOrderMLP as HighOrderMLP
from ._mlp import LowOrderMLP as LowOrderMLP
from ._mlp import high_order_mlp as high_order_mlp

__all__ = [
    "HighOrderFullyConvolutionalNetwork",
    "HighOrderFullyDeconvolutionalNetwork",
    "HighOrderMLP",
    "LowOrderMLP",
    "Residual",
    "high_order_conv_decoder",
    "high_order_conv_encoder",
    "high_order_mlp",
    "hp_refine_high_order_mlp",
    "interpolate_high_order_mlp",
]
