"""The Triton kernels for piecewise sum neurons against their pure-torch twin.

On a GPU the kernels are compiled and run on CUDA tensors. Without one, ``conftest.py`` selects
Triton's interpreter (``TRITON_INTERPRET=1``), which runs the same kernel code on CPU tensors with
NumPy: slow, so the shapes are small, and the tiles are shrunk to cover several per axis.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers import num_weights, permuted_storage, sum_neuron_reference
from high_order_layers_torch.kernels import _gather_triton, _switches, override, triton_kernels_support
from high_order_layers_torch.layers import PiecewiseDiscontinuousPolynomial, PiecewisePolynomial

pytest.importorskip("triton")

CUDA = torch.cuda.is_available()
if not _gather_triton.triton_kernels_available():
    pytest.skip("the Triton kernels are switched off (HIGH_ORDER_LAYERS_TRITON=0)", allow_module_level=True)
if not CUDA and os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("no GPU, and Triton's interpreter was not selected", allow_module_level=True)
DEVICE = "cuda" if CUDA else "cpu"
requires_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def small_tiles(monkeypatch):
    monkeypatch.setattr(_gather_triton, "FORWARD_TILE", (8, 16))
    monkeypatch.setattr(_gather_triton, "BACKWARD_TILE", (8, 4))


class _TritonGather(torch.autograd.Function):
    """The raw launches with autograd, so the kernels can be checked on the interpreter's CPU
    tensors (the ``piecewise_gather`` operator sends only CUDA tensors to them)."""

    @staticmethod
    def forward(ctx, x, weight, n, segments, continuous, clamp):  # type: ignore[no-untyped-def, override]
        y, pieces = _gather_triton.triton_gather_forward(x, weight, n, segments, continuous, clamp)
        ctx.save_for_backward(x, weight, pieces)
        ctx.basis = (n, segments, continuous, clamp)
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def, override]
        x, weight, pieces = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        grad_x, grad_weight = _gather_triton.triton_gather_backward(grad, x, weight, pieces, *ctx.basis, need_x)
        return (grad_x if need_x else None), grad_weight, None, None, None, None


def triton_piecewise_gather(x, weight, n, segments, continuous, *, clamp=False):  # type: ignore[no-untyped-def]
    return _TritonGather.apply(x.to(weight.dtype), weight, n, segments, continuous, clamp)


def count_launches(monkeypatch) -> list[int]:  # type: ignore[no-untyped-def]
    """A list that grows by one at every forward launch of the kernels."""
    launches: list[int] = []
    real = _gather_triton.triton_gather_forward

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        launches.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_gather_triton, "triton_gather_forward", counting)
    return launches


def compare(batch, inputs, outputs, n, segments, continuous, clamp, dtype, *, device=DEVICE, seed=0) -> None:
    generator = torch.Generator().manual_seed(seed)
    scale = 2.4 if clamp else 2.0  # values outside [-1, 1] only where the clamp handles them
    x = (torch.rand(batch, inputs, dtype=dtype, generator=generator) - 0.5) * scale
    weight = torch.randn(outputs, inputs, num_weights(n, segments, continuous), dtype=dtype, generator=generator)
    grad = torch.randn(batch, outputs, dtype=dtype, generator=generator)
    x, grad = x.to(device).requires_grad_(), grad.to(device)
    weight = permuted_storage(weight.to(device)).requires_grad_()
    results = []
    for fn in (triton_piecewise_gather, sum_neuron_reference):
        y = fn(x, weight, n, segments, continuous, clamp=clamp)
        results.append((y, *torch.autograd.grad(y, (x, weight), grad, allow_unused=True, materialize_grads=True)))
    # The kernel and the twin sum in different orders: they may differ by round-off at the scale of
    # the largest term, which for the input gradient is large (it carries a factor `segments`) and
    # can sit next to elements that cancel to nearly zero. Hence tolerances scaled by the largest
    # value of each compared tensor, not fixed ones (the twin itself is 100+ ulps of that scale from
    # a float64 evaluation in float32).
    eps = torch.finfo(dtype).eps
    for fused, twin in zip(*results, strict=True):
        scale = twin.abs().max().item() if twin.numel() else 0.0
        torch.testing.assert_close(fused, twin, rtol=256 * eps, atol=256 * eps * max(scale, 1.0))


@pytest.mark.parametrize(
    ("batch", "inputs", "outputs", "n", "segments", "continuous", "clamp", "dtype"),
    [
        (19, 3, 5, 3, 2, True, True, torch.float64),  # partial tiles on both axes
        (17, 2, 33, 4, 1, False, False, torch.float64),  # one piece: every tile one run
        (24, 2, 7, 5, 40, True, True, torch.float64),  # more pieces than samples per tile
        (9, 3, 4, 1, 3, False, True, torch.float64),  # piecewise constants
        (16, 2, 18, 2, 3, True, False, torch.float32),
        (1, 1, 1, 3, 2, False, True, torch.float32),
    ],
)
def test_matches_twin(batch, inputs, outputs, n, segments, continuous, clamp, dtype):
    compare(batch, inputs, outputs, n, segments, continuous, clamp, dtype)


@pytest.mark.parametrize(("inputs", "min_per_split"), [(7, 1), (10, 3)])
def test_forward_split_over_inputs(inputs, min_per_split, monkeypatch):
    """Small batches split the inputs into chunks summed afterwards (one chunk of one input, and
    chunks of 4, 4 and 2 inputs here)."""
    monkeypatch.setattr(_gather_triton, "FORWARD_PROGRAMS_PER_SM", 64)
    monkeypatch.setattr(_gather_triton, "MIN_INPUTS_PER_SPLIT", min_per_split)
    assert _gather_triton._input_splits(3, inputs, torch.device(DEVICE)) > 1
    compare(19, inputs, 5, 3, 4, True, True, torch.float64)
    compare(19, inputs, 5, 3, 4, False, False, torch.float32)


def test_gradcheck():
    x = (torch.rand(5, 2, dtype=torch.float64, device=DEVICE) * 1.8 - 0.9).requires_grad_()
    weight = torch.randn(3, 2, num_weights(3, 2, True), dtype=torch.float64, device=DEVICE)
    weight = weight.requires_grad_()

    def fn(x, weight):
        return triton_piecewise_gather(x, weight, 3, 2, True)

    assert torch.autograd.gradcheck(fn, (x, weight), fast_mode=True)


def test_nan_and_clamped_inputs():
    x = torch.tensor([[float("nan"), 0.3], [3.0, -7.0], [1.0, -1.0]], dtype=torch.float64, device=DEVICE)
    x.requires_grad_()
    weight = torch.randn(4, 2, num_weights(3, 4, True), dtype=torch.float64, device=DEVICE)
    weight = weight.requires_grad_()
    y = triton_piecewise_gather(x, weight, 3, 4, True, clamp=True)
    expected = sum_neuron_reference(x, weight, 3, 4, True, True)
    torch.testing.assert_close(y, expected, equal_nan=True)
    assert y[0].isnan().all() and y[1:].isfinite().all()
    (grad_x,) = torch.autograd.grad(y[1:].sum(), x)
    assert (grad_x[1] == 0).all()  # clamped away: no gradient, as torch.clamp
    assert grad_x[2].isfinite().all()


@requires_cuda
def test_layers_use_the_kernel(monkeypatch):
    """The gather path of piecewise layers on CUDA runs through the kernel and matches the
    pure-torch reference."""
    for layer_cls, out_of_range in [(PiecewisePolynomial, "clamp"), (PiecewiseDiscontinuousPolynomial, "mirror")]:
        layer = layer_cls(3, 4, n=3, segments=3, out_of_range=out_of_range).double().to(DEVICE)
        layer.contraction = "gather"
        x = torch.rand(10, 3, dtype=torch.float64, device=DEVICE) * 3 - 1.5
        with override(triton=False):
            expected = layer(x)
        launches = count_launches(monkeypatch)
        y = layer(x)
        assert launches
        torch.testing.assert_close(y, expected)


def test_switch_off(monkeypatch):
    """``HIGH_ORDER_LAYERS_TRITON=0`` is read (once) by the policy, which then never hands a
    tensor to the kernels."""
    monkeypatch.setenv("HIGH_ORDER_LAYERS_TRITON", "0")
    _switches._environment_switches.cache_clear()
    try:
        assert not _switches.switches().triton
        assert _switches.triton_kernels_for(torch.zeros(1, device=DEVICE)) is None
    finally:
        monkeypatch.undo()
        _switches._environment_switches.cache_clear()


def test_not_used_for_cpu_tensors():
    assert not triton_kernels_support(torch.zeros(1))


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("segments", "continuous", "clamp"), [(1, True, True), (4, False, False), (64, True, True)])
def test_cuda_matches_twin_at_full_tiles(dtype, segments, continuous, clamp, monkeypatch):
    monkeypatch.undo()  # the shipped tile sizes
    compare(300, 37, 70, 5, segments, continuous, clamp, dtype)


@requires_cuda
def test_cuda_layer_uses_the_kernel(monkeypatch):
    layer = PiecewisePolynomial(16, 8, n=4, segments=64).cuda()
    launches = count_launches(monkeypatch)
    layer(torch.rand(32, 16, device="cuda") * 2 - 1)
    assert len(launches) == 1
    torch.use_deterministic_algorithms(True)
    try:
        layer(torch.zeros(2, 16, device="cuda"))
        assert len(launches) == 1  # the deterministic reference ran
    finally:
        torch.use_deterministic_algorithms(False)


def test_kernels_compile_to_gpu_machine_code(tmp_path):
    """The kernels lower to cubins for Ampere and Hopper with Triton's bundled ptxas, no GPU
    needed (in a child process: this one may run them in the interpreter)."""
    environment = {key: value for key, value in os.environ.items() if key != "TRITON_INTERPRET"}
    environment["TRITON_CACHE_DIR"] = str(tmp_path)
    script = Path(__file__).with_name("triton_compile_check.py")
    done = subprocess.run(
        [sys.executable, str(script), "80", "90"], env=environment, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("bytes") == 24  # 3 configurations, 2 dtypes, 2 kernels, 2 architectures


def test_weight_gradient_alone_for_an_input_without_grad():
    x = torch.rand(19, 3, dtype=torch.float64, device=DEVICE) * 2.4 - 1.2
    weight = torch.randn(5, 3, num_weights(3, 4, False), dtype=torch.float64, device=DEVICE)
    weight = weight.requires_grad_()
    grad = torch.randn(19, 5, dtype=torch.float64, device=DEVICE)
    (fused,) = torch.autograd.grad(triton_piecewise_gather(x, weight, 3, 4, False, clamp=True), weight, grad)
    (expected,) = torch.autograd.grad(sum_neuron_reference(x, weight, 3, 4, False, True), weight, grad)
    torch.testing.assert_close(fused, expected, rtol=1e-11, atol=1e-11)


def test_a_triton_that_fails_to_load_warns_and_falls_back(monkeypatch):
    def broken(name):
        raise RuntimeError("incompatible Triton")

    monkeypatch.setattr(_gather_triton.importlib, "import_module", broken)
    _gather_triton.triton_kernels.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="incompatible Triton"):
            assert not _gather_triton.triton_kernels_available()
    finally:
        monkeypatch.undo()
        _gather_triton.triton_kernels.cache_clear()
    assert _gather_triton.triton_kernels_available()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_cuda_kernels_run_on_the_tensors_gpu():
    layer = PiecewisePolynomial(8, 4, n=3, segments=40).double()
    layer.contraction = "gather"
    x = torch.rand(16, 8, dtype=torch.float64) * 2 - 1
    expected = layer(x)
    on_second = layer.to("cuda:1")
    with torch.cuda.device(0):  # another GPU is current
        y = on_second(x.to("cuda:1"))
    torch.testing.assert_close(y.cpu(), expected)


# ------------------------------------------------------------------ the B-spline gather


class _TritonBSplineGather(torch.autograd.Function):
    """The B-spline launches with autograd, as :class:`_TritonGather`."""

    @staticmethod
    def forward(ctx, x, weight, n, segments, clamp):  # type: ignore[no-untyped-def, override]
        y, pieces = _gather_triton.triton_bspline_gather_forward(x, weight, n, segments, clamp)
        ctx.save_for_backward(x, weight, pieces)
        ctx.basis = (n, segments, clamp)
        return y

    @staticmethod
    def backward(ctx, grad):  # type: ignore[no-untyped-def, override]
        x, weight, pieces = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        grad_x, grad_weight = _gather_triton.triton_bspline_gather_backward(grad, x, weight, pieces, *ctx.basis, need_x)
        return (grad_x if need_x else None), grad_weight, None, None, None


@pytest.mark.parametrize(
    ("batch", "inputs", "outputs", "n", "segments", "clamp", "dtype"),
    [
        (19, 3, 5, 4, 5, True, torch.float64),  # partial tiles, cubic splines
        (17, 2, 9, 2, 1, False, torch.float64),  # one piece of hat functions
        (24, 2, 7, 6, 40, True, torch.float64),  # more pieces than samples per tile
        (16, 2, 18, 3, 3, False, torch.float32),
    ],
)
def test_bspline_kernels_match_the_reference(batch, inputs, outputs, n, segments, clamp, dtype):
    from high_order_layers_torch.kernels import _ops

    generator = torch.Generator().manual_seed(1)
    scale = 2.4 if clamp else 2.0
    x = ((torch.rand(batch, inputs, dtype=dtype, generator=generator) - 0.5) * scale).to(DEVICE).requires_grad_()
    weight = torch.randn(outputs, inputs, segments + n - 1, dtype=dtype, generator=generator).to(DEVICE)
    weight = permuted_storage(weight).requires_grad_()
    grad = torch.randn(batch, outputs, dtype=dtype, generator=generator).to(DEVICE)
    results = []
    for fn in (_TritonBSplineGather.apply, _ops._bspline_reference):
        y = fn(x, weight, n, segments, clamp)
        results.append((y, *torch.autograd.grad(y, (x, weight), grad)))
    eps = torch.finfo(dtype).eps
    for fused, twin in zip(*results, strict=True):
        scale = twin.abs().max().item()
        torch.testing.assert_close(fused, twin, rtol=256 * eps, atol=256 * eps * max(scale, 1.0))


@requires_cuda
def test_bspline_layers_run_the_triton_kernel_on_cuda(monkeypatch):
    from high_order_layers_torch.layers import high_order_fc_layers

    launches = []
    real = _gather_triton.triton_bspline_gather_forward
    monkeypatch.setattr(_gather_triton, "triton_bspline_gather_forward", lambda *a: launches.append(1) or real(*a))
    layer = high_order_fc_layers("bspline", n=4, in_features=8, out_features=16, segments=20, device="cuda")
    x = torch.rand(64, 8, device="cuda") * 2 - 1
    y = layer(x)
    y.sum().backward()
    assert launches
    with override(triton=False):
        torch.testing.assert_close(layer(x), y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("operator", ["piecewise_gather", "bspline_gather"])
def test_the_specs_cuda_kernels_run_the_launches(operator):
    """The ``Kernel`` entries the operators register for CUDA, called as the registration calls
    them (here on the interpreter's tensors), against the operators' references."""
    from high_order_layers_torch.kernels import _ops

    spec = getattr(_ops, operator).spec
    params = (3, 4, True, True) if operator == "piecewise_gather" else (3, 4, True)
    generator = torch.Generator().manual_seed(2)
    x = (torch.rand(10, 3, dtype=torch.float64, generator=generator) * 2.4 - 1.2).to(DEVICE)
    weight = torch.randn(5, 3, 9 if operator == "piecewise_gather" else 6, dtype=torch.float64, generator=generator)
    weight = weight.to(DEVICE)
    grad = torch.randn(10, 5, dtype=torch.float64, generator=generator).to(DEVICE)
    kernel = spec.kernels["cuda"]
    y, pieces = kernel.forward(None, x, weight, *params)
    torch.testing.assert_close(y, spec.reference(x, weight, *params), rtol=1e-12, atol=1e-12)
    found = kernel.backward(None, grad, x, weight, pieces, *params, [True, True])
    wanted = spec.backward_reference(grad, x, weight, *params, [True, True])
    for a, b in zip(found, wanted, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-11)
