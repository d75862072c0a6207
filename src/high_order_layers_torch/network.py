"""Alias of :mod:`high_order_layers_torch.networks` for the refinement functions.

Some published examples import ``hp_refine_high_order_mlp`` from ``high_order_layers_torch.network``
(singular); this module keeps those imports working.
"""

from .networks import hp_refine_high_order_mlp as hp_refine_high_order_mlp
from .networks import interpolate_high_order_mlp as interpolate_high_order_mlp

__all__ = ["hp_refine_high_order_mlp", "interpolate_high_order_mlp"]
