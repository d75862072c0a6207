"""p- and h-refinement as whole-model, in-place transforms, and the reference's
network-to-network functions."""

from ._copy import copy_functions_ as copy_functions_
from ._copy import hp_refine_high_order_mlp as hp_refine_high_order_mlp
from ._copy import interpolate_high_order_mlp as interpolate_high_order_mlp
from ._refine import LayerRefinement as LayerRefinement
from ._refine import Refine as Refine
from ._refine import refine_ as refine_
from ._transfer import transfer_matrix as transfer_matrix

__all__ = [
    "LayerRefinement",
    "Refine",
    "copy_functions_",
    "hp_refine_high_order_mlp",
    "interpolate_high_order_mlp",
    "refine_",
    "transfer_matrix",
]
