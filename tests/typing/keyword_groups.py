"""What a type checker must say about calls through the keyword groups and to the named layer
classes (checked by mypy in ``tests/test_typecheck.py``, never run). Each ``type: ignore[...]``
marks a call that must be an error; with ``warn_unused_ignores`` an ignore that stops being
needed fails the check, so a keyword group or a named class that stopped being checked is
caught."""

from __future__ import annotations

import torch

from high_order_layers_torch.layers import (
    ChebyshevConvolution2d,
    ChebyshevLinear,
    FourierConvolution2d,
    FourierConvolutionTranspose2d,
    FourierEmbedding,
    FourierSeries,
    HighOrderConv2d,
    HighOrderConvTranspose2d,
    LinearReLU,
    PiecewiseEmbedding,
    PiecewisePolynomial,
    PiecewisePolynomialBasis,
    PiecewisePolynomialConvolution2d,
    PiecewisePolynomialConvolutionTranspose2d,
    PolynomialConvolution2d,
    PolynomialProd,
    Product,
    high_order_convolution_layers,
    high_order_convolution_transpose_layers,
    high_order_fc_layers,
)
from high_order_layers_torch.networks import HighOrderMLP, high_order_conv_encoder, high_order_mlp

basis = PiecewisePolynomialBasis(3, 2, dtype=torch.float64)

# accepted
high_order_fc_layers("continuous", 3, 4, 5, segments=2, alpha=0.5, out_of_range=None, dtype=torch.float64)
high_order_convolution_layers("continuous2d", 3, 2, 4, 3, padding="same", padding_mode="circular")
high_order_convolution_transpose_layers("continuous2d", 3, 2, 4, 3, stride=2, output_padding=1)
HighOrderConv2d(2, 4, 3, basis, padding=1, stride=(1, 2), contraction="gather")
HighOrderConvTranspose2d(2, 4, 3, basis, output_padding=0, groups=2)
high_order_mlp("fourier", 3, 2, 1, 1, 8, length=3.0, rescale_output=True)
HighOrderMLP("continuous", 3, 2, 1, 1, 8, segments=4, dropout=0.1)
high_order_conv_encoder("continuous2d", 3, [3, 8], 3, dropout=0.1, normalize_output=False, device="cpu")
PiecewiseEmbedding(3, 4, continuous=False)
FourierEmbedding(4, 2.0, constant=True, device="cpu")
LinearReLU(3, 2, dtype=torch.float64)

# accepted by the named layer classes
PiecewisePolynomial(2, 1, 3, 4, rescale_output=True, out_of_range="mirror", dtype=torch.float64)
FourierSeries(2, 1, n=3, length=3.0, periodicity=2.0)
PolynomialProd(2, 1, 3, alpha=0.5, initialization="random")
Product(2, 1, alpha=0.5, bias=False)
ChebyshevLinear(2, 1, 3, rescale_output=True)
PiecewisePolynomialConvolution2d(2, 4, 3, 3, 2, padding="same", contraction="gather", padding_mode="reflect")
FourierConvolutionTranspose2d(2, 4, 3, 3, length=2.0, stride=2, output_padding=1)
ChebyshevConvolution2d(2, 4, 3, 3, contraction="dense", groups=2)

# misspelt keywords
high_order_fc_layers("continuous", 3, 4, 5, segmnets=2)  # type: ignore[call-arg]
high_order_convolution_layers("continuous2d", 3, 2, 4, 3, output_padding=1)  # type: ignore[call-arg]
HighOrderConv2d(2, 4, 3, basis, paddding=1)  # type: ignore[call-arg]
HighOrderConvTranspose2d(2, 4, 3, basis, padding_modes="zeros")  # type: ignore[call-arg]
HighOrderMLP("continuous", 3, 2, 1, 1, 8, segment=4)  # type: ignore[call-arg]
high_order_conv_encoder("continuous2d", 3, [3, 8], 3, normalise_output=True)  # type: ignore[call-arg]
PiecewiseEmbedding(3, 4, continous=False)  # type: ignore[call-arg]
LinearReLU(3, 2, device_="cpu")  # type: ignore[call-arg]
PiecewisePolynomial(n=3, in_features=2, out_features=1, segmnts=2)  # type: ignore[call-arg]
PiecewisePolynomialConvolutionTranspose2d(2, 4, 3, 3, strides=2)  # type: ignore[call-arg]

# keywords a named class does not offer, and a missing argument
FourierSeries(2, 1, 3, contraction="dense")  # type: ignore[call-arg]
PolynomialProd(2, 1, 3, rescale_output=True)  # type: ignore[call-arg]
ChebyshevLinear(2, 1, 3, alpha=0.5)  # type: ignore[call-arg]
PolynomialConvolution2d(2, 4, 3, 3, contraction="gather")  # type: ignore[call-arg]
PiecewisePolynomialConvolution2d(2, 4, 3, 3, output_padding=1)  # type: ignore[call-arg]
FourierConvolution2d(2, 4, 3, 3, num_spatial_dims=2)  # type: ignore[call-arg]
PiecewisePolynomial(2, 1)  # type: ignore[call-arg]

# wrong types or values
high_order_fc_layers("continuous", 3, 4, 5, out_of_range="wrap")  # type: ignore[arg-type]
high_order_convolution_layers("continuous2d", 3, 2, 4, 3, padding_mode="mirror")  # type: ignore[arg-type]
HighOrderConv2d(2, 4, 3, basis, contraction="sparse")  # type: ignore[arg-type]
high_order_mlp("continuous", 3, 2, 1, 1, 8, initialization="zeros")  # type: ignore[arg-type]
PiecewiseEmbedding("3")  # type: ignore[arg-type]
FourierEmbedding(4, dtype="float64")  # type: ignore[arg-type]
PiecewisePolynomial(2, 1, 3, out_of_range="wrap")  # type: ignore[arg-type]
Product(2, 1, bias="yes")  # type: ignore[arg-type]
FourierConvolution2d(2, 4, 3, 3, length="2")  # type: ignore[arg-type]
PiecewisePolynomialConvolution2d(2, 4, 3, 3, contraction="sparse")  # type: ignore[arg-type]
PiecewisePolynomialConvolutionTranspose2d(2, 4, 3, 3, padding="same")  # type: ignore[arg-type]
