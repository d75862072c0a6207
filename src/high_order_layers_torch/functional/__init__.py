"""Pure, stateless maths behind the layers: bases, segment lookup, neurons, range policies."""

from ._bspline import bspline_greville_abscissae as bspline_greville_abscissae
from ._bspline import bspline_monomial_matrix as bspline_monomial_matrix
from ._bspline import bspline_spaces_nested as bspline_spaces_nested
from ._bspline import bspline_transfer_matrix as bspline_transfer_matrix
from ._bspline import bspline_values as bspline_values
from ._contract import CONTRACTIONS as CONTRACTIONS
from ._contract import Contraction as Contraction
from ._contract import choose_contraction as choose_contraction
from ._contract import expand_basis as expand_basis
from ._contract import link_values as link_values
from ._contract import link_values_gather as link_values_gather
from ._contract import product_neuron as product_neuron
from ._contract import sum_neuron as sum_neuron
from ._contract import sum_neuron_chebyshev as sum_neuron_chebyshev
from ._contract import sum_neuron_gather as sum_neuron_gather
from ._contract import zero_derivative as zero_derivative
from ._expansion import chebyshev_expansion as chebyshev_expansion
from ._expansion import expand_channels_first as expand_channels_first
from ._expansion import lagrange_piece_values as lagrange_piece_values
from ._expansion import piecewise_expansion as piecewise_expansion
from ._expansion import piecewise_values as piecewise_values
from ._fourier import fourier_basis as fourier_basis
from ._fourier import fourier_basis_harmonic as fourier_basis_harmonic
from ._fourier import fourier_frequencies as fourier_frequencies
from ._lagrange import chebyshev_lobatto_nodes as chebyshev_lobatto_nodes
from ._lagrange import chebyshev_polynomials as chebyshev_polynomials
from ._lagrange import chebyshev_to_lagrange as chebyshev_to_lagrange
from ._lagrange import lagrange_basis as lagrange_basis
from ._lagrange import lagrange_basis_chebyshev as lagrange_basis_chebyshev
from ._lagrange import lagrange_inverse_denominators as lagrange_inverse_denominators
from ._lagrange import lagrange_monomial_matrix as lagrange_monomial_matrix
from ._normalization import max_abs_normalize as max_abs_normalize
from ._normalization import max_center_normalize as max_center_normalize
from ._range import OUT_OF_RANGE_POLICIES as OUT_OF_RANGE_POLICIES
from ._range import OutOfRange as OutOfRange
from ._range import apply_out_of_range as apply_out_of_range
from ._range import clamp_if as clamp_if
from ._range import mirror_periodic as mirror_periodic
from ._range import prepare_input as prepare_input
from ._segments import locate_segments as locate_segments
from ._segments import piecewise_sizes as piecewise_sizes
from ._taps import convolution_output_size as convolution_output_size
from ._taps import convolution_taps as convolution_taps

__all__ = [
    "bspline_greville_abscissae",
    "bspline_monomial_matrix",
    "bspline_spaces_nested",
    "bspline_transfer_matrix",
    "bspline_values",
    "chebyshev_polynomials",
    "chebyshev_to_lagrange",
    "lagrange_basis_chebyshev",
    "CONTRACTIONS",
    "Contraction",
    "choose_contraction",
    "link_values_gather",
    "sum_neuron_chebyshev",
    "sum_neuron_gather",
    "OUT_OF_RANGE_POLICIES",
    "OutOfRange",
    "apply_out_of_range",
    "chebyshev_lobatto_nodes",
    "expand_basis",
    "chebyshev_expansion",
    "expand_channels_first",
    "piecewise_expansion",
    "piecewise_values",
    "fourier_basis",
    "fourier_basis_harmonic",
    "fourier_frequencies",
    "lagrange_basis",
    "lagrange_inverse_denominators",
    "lagrange_monomial_matrix",
    "link_values",
    "locate_segments",
    "piecewise_sizes",
    "max_abs_normalize",
    "max_center_normalize",
    "mirror_periodic",
    "prepare_input",
    "product_neuron",
    "sum_neuron",
    "zero_derivative",
    "lagrange_piece_values",
    "clamp_if",
    "convolution_output_size",
    "convolution_taps",
]
