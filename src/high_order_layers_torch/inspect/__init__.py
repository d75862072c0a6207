"""Looking inside trained high-order networks: plots, exact formulas and pruning of links.

A *link* is one learnable 1-D function of a layer, addressed by the layer's weight index with
the basis axis removed: ``(out, in)`` for fully-connected layers, ``(out, in_in_group, *k)``
for convolutions, ``(in, out_in_group, *k)`` for transposed convolutions.

Plotting needs matplotlib (``pip install high-order-layers-torch[plots]``), imported only when a
plotting function is called; ``to_sympy`` needs sympy.
"""

from ..functional import lagrange_monomial_matrix as lagrange_monomial_matrix
from ._export import COORDINATES as COORDINATES
from ._export import FourierExport as FourierExport
from ._export import PiecewisePolynomialExport as PiecewisePolynomialExport
from ._export import export_link as export_link
from ._links import evaluate_link as evaluate_link
from ._links import evaluate_links as evaluate_links
from ._links import high_order_modules as high_order_modules
from ._links import link_shape as link_shape
from ._links import link_weights as link_weights
from ._plot import MAX_PANELS as MAX_PANELS
from ._plot import plot_links as plot_links
from ._plot import plot_model as plot_model
from ._prune import PrunedLink as PrunedLink
from ._prune import PruneReport as PruneReport
from ._prune import link_scores as link_scores
from ._prune import prune_links_ as prune_links_

__all__ = [
    "COORDINATES",
    "MAX_PANELS",
    "FourierExport",
    "PiecewisePolynomialExport",
    "PruneReport",
    "PrunedLink",
    "evaluate_link",
    "evaluate_links",
    "export_link",
    "high_order_modules",
    "lagrange_monomial_matrix",
    "link_scores",
    "link_shape",
    "link_weights",
    "plot_links",
    "plot_model",
    "prune_links_",
]
