"""The dense and gather contractions are two exact formulations of the same layer."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_close_ulps
from high_order_layers_torch.functional import choose_contraction
from high_order_layers_torch.kernels import sum_contraction
from high_order_layers_torch.layers import FC_LAYERS, high_order_fc_layers


def build(layer_type: str, segments: int, **kw):
    # straight-line links: the constant start of sum layers would leave input gradients of zero
    kw.setdefault("initialization", "linear")
    return high_order_fc_layers(layer_type, n=4, in_features=5, out_features=3, segments=segments, **kw)


@pytest.mark.parametrize("layer_type", sorted(FC_LAYERS))
@pytest.mark.parametrize("segments", [1, 3, 40])
def test_dense_and_gather_agree_on_values_and_gradients(layer_type: str, segments: int) -> None:
    layer = build(layer_type, segments, dtype=torch.float64)
    x = torch.rand(6, 2, 5, dtype=torch.float64) * 2 - 1
    results = []
    for contraction in ("dense", "gather"):
        layer.contraction = contraction
        x_ = x.clone().requires_grad_()
        layer.zero_grad()
        y = layer(x_)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)).sum().backward()
        results.append((y, x_.grad, [p.grad.clone() for p in layer.parameters()]))
    (y_d, gx_d, gp_d), (y_g, gx_g, gp_g) = results
    # Different summation orders: equal to round-off at the magnitudes involved.
    assert_close_ulps(y_g, y_d, ulps=64)
    assert_close_ulps(gx_g, gx_d, ulps=64)
    for a, b in zip(gp_g, gp_d, strict=True):
        assert_close_ulps(a, b, ulps=64)


@pytest.mark.parametrize("contraction", ["dense", "gather"])
@pytest.mark.parametrize(
    ("layer_type", "n"),
    [("continuous", 4), ("continuous", 1), ("discontinuous", 3), ("discontinuous_prod", 3), ("fourier", 2)],
)
def test_gradcheck_every_contraction(layer_type: str, n: int, contraction: str) -> None:
    layer = high_order_fc_layers(
        layer_type, n=n, in_features=5, out_features=3, segments=6, dtype=torch.float64, out_of_range="mirror"
    )
    layer.contraction = contraction
    names = [name for name, _ in layer.named_parameters()]
    x = (torch.rand(3, 5, dtype=torch.float64) * 1.9 - 0.95).requires_grad_()

    def call(x, *params):
        return torch.func.functional_call(layer, dict(zip(names, params, strict=True)), (x,))

    assert torch.autograd.gradcheck(call, (x, *layer.parameters()))


def test_cost_model() -> None:
    assert choose_contraction(5, 5) == "dense"
    assert choose_contraction(4 * 64 + 1, 5) == "gather"
    assert choose_contraction(4 * 64 + 1, 5, "dense") == "dense"
    assert choose_contraction(13, 5, gather_min_ratio=2.5) == "gather"
    weight = torch.zeros(2, 2, 257)
    assert sum_contraction(257, 5, "auto", weight) == "gather"
    assert sum_contraction(5, 5, "auto", weight) == "dense"
    assert sum_contraction(257, 5, "dense", weight) == "dense"


def test_gpu_threshold(monkeypatch) -> None:
    """Where the Triton kernels take a weight, "auto" gathers from the GPU's measured threshold."""
    from high_order_layers_torch.kernels import TRITON_GATHER_MIN_RATIO, _switches

    monkeypatch.setattr(_switches, "gather_kernel", lambda device_type, dtype: "triton")
    weight = torch.zeros(1, 1, 1)
    active = 5
    assert sum_contraction(TRITON_GATHER_MIN_RATIO * active, active, "auto", weight) == "gather"
    assert sum_contraction(TRITON_GATHER_MIN_RATIO * active - 1, active, "auto", weight) == "dense"
    assert sum_contraction(16 * 4 + 1, active, "auto", weight) == "gather"  # continuous n = 5, segments 16
    assert sum_contraction(8 * 4 + 1, active, "auto", weight) == "dense"  # segments 8
    assert sum_contraction(8 * 4 + 1, active, "gather", weight) == "gather"


def test_contraction_is_validated() -> None:
    layer = build("continuous", 2)
    with pytest.raises(ValueError, match=r"contraction must be one of 'auto', 'dense', 'gather'; got 'sparse'"):
        layer.contraction = "sparse"
    layer.contraction = "gather"
    assert "contraction='gather'" in repr(layer)


@pytest.mark.parametrize("layer_type", sorted(FC_LAYERS))
def test_torch_compile_matches_eager(layer_type: str) -> None:
    layer = build(layer_type, 3, dtype=torch.float64)
    x = torch.rand(8, 5, dtype=torch.float64) * 2 - 1
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    assert_close_ulps(compiled(x), layer(x), ulps=16)


def test_auto_times_both_contractions_once_per_shape(monkeypatch) -> None:
    """On the CPU with the kernels, a ratio where either contraction may win is decided by timing
    both once for the layer's shape; the switch and deterministic mode keep the fixed threshold."""
    from high_order_layers_torch.kernels import AUTOTUNE_RATIOS, FUSED_GATHER_MIN_RATIO, _autotune, _switches, override

    if not _switches.cpu_kernels_support(torch.zeros(1)):
        pytest.skip("the CPU kernels are not available")
    calls = []
    real = _autotune._time_contractions

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(_autotune, "_time_contractions", counting)
    monkeypatch.setattr(_autotune, "_measured", {})
    weight = torch.zeros(3, 5, 9)  # continuous n = 5 on 2 pieces: 9 weights, 5 active
    assert AUTOTUNE_RATIOS[0] <= 9 / 5 <= AUTOTUNE_RATIOS[1] and FUSED_GATHER_MIN_RATIO <= 9 / 5
    with override(autotune=True):
        first = sum_contraction(9, 5, "auto", weight, batch=40, basis=(5, 2, True))
        assert first in ("dense", "gather")
        assert sum_contraction(9, 5, "auto", weight, batch=60, basis=(5, 2, True)) == first  # same bucket
        assert len(calls) == 1
        sum_contraction(9, 5, "auto", weight, batch=200, basis=(5, 2, True))
        assert len(calls) == 2
        assert sum_contraction(9, 5, "dense", weight, batch=40, basis=(5, 2, True)) == "dense"
        torch.use_deterministic_algorithms(True)
        try:
            assert sum_contraction(9, 5, "auto", weight, batch=1000, basis=(5, 2, True)) == "gather"
        finally:
            torch.use_deterministic_algorithms(False)
    with override(autotune=False):
        assert sum_contraction(9, 5, "auto", weight, batch=1000, basis=(5, 2, True)) == "gather"
    assert len(calls) == 2
