"""The accelerated computations as registered operators, and what users do with any module:
``opcheck``, ``torch.compile(fullgraph=True)``, ``torch.func``, LBFGS and flattened parameters,
gradients of gradients, on the kernel paths and on the pure-torch references."""

from __future__ import annotations

import pytest
import torch

from helpers import assert_close_ulps, switch_kernels_off
from high_order_layers_torch.kernels import OPERATORS, _ops
from high_order_layers_torch.layers import (
    CONV_LAYERS,
    FC_LAYERS,
    high_order_convolution_layers,
    high_order_convolution_transpose_layers,
    high_order_fc_layers,
)

F64 = torch.float64
PATHS = ["kernels", "reference"]


@pytest.fixture(autouse=True)
def fresh_compiler() -> None:
    """Every layer compiles from a clean cache (many layers share one ``forward`` code object,
    and ``fullgraph=True`` fails instead of falling back once its recompile limit is reached)."""
    torch._dynamo.reset()


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs with the C++ kernels (where they build) and with the references."""
    if request.param == "reference":
        switch_kernels_off(monkeypatch)
    return request.param


def fc(layer_type: str, segments: int = 3, n: int = 3, **kw) -> torch.nn.Module:
    kw.setdefault("initialization", "linear")  # non-constant links: derivatives worth comparing
    layer = high_order_fc_layers(layer_type, n=n, in_features=4, out_features=3, segments=segments, dtype=F64, **kw)
    with torch.no_grad():  # small product links: the product of 4 factors stays moderate
        if layer.neuron == "product":
            layer.weight.mul_(0.5)
    return layer


def conv(layer_type: str, transposed: bool = False) -> torch.nn.Module:
    build = high_order_convolution_transpose_layers if transposed else high_order_convolution_layers
    return build(layer_type, n=3, in_channels=2, out_channels=3, kernel_size=2, segments=2, dtype=F64)


def conv_input(layer_type: str) -> torch.Tensor:
    dims = int(layer_type[-2])
    return torch.rand(2, 2, *([4] * dims), dtype=F64) * 2.2 - 1.1


def fc_input() -> torch.Tensor:
    return torch.rand(5, 4, dtype=F64) * 2.2 - 1.1


# ---------------------------------------------------------------------------------- operators


def operator_samples() -> list[tuple[object, tuple]]:
    """``(operator, arguments)`` for every operator, forward and backward."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 3, dtype=F64, generator=g) * 2.4 - 1.2
    w = torch.randn(4, 3, 9, dtype=F64, generator=g) * 0.3
    grad = torch.randn(5, 4, dtype=F64, generator=g)
    xc = torch.rand(2, 3, 4, dtype=F64, generator=g) * 2.4 - 1.2
    samples = []
    gather = (x, w, 3, 4, True, True)
    y, pieces = _ops.piecewise_gather.forward_op(*gather)
    samples += [(_ops.piecewise_gather.forward_op, gather)]
    samples += [(_ops.piecewise_gather.backward_op, (grad, x, w, pieces, 3, 4, True, True, [True, True]))]
    bspline = (x, w, 4, 6, True)  # cubic splines on 6 pieces: 9 weights
    _, bspline_pieces = _ops.bspline_gather.forward_op(*bspline)
    samples += [(_ops.bspline_gather.forward_op, bspline)]
    samples += [(_ops.bspline_gather.backward_op, (grad, x, w, bspline_pieces, 4, 6, True, [True, True]))]
    product = (x, w, 3, 4, True, False, 0.5, True)
    _, rest, zeros = _ops.piecewise_product.forward_op(*product)
    samples += [(_ops.piecewise_product.forward_op, product)]
    samples += [
        (_ops.piecewise_product.backward_op, (grad, x, w, rest, zeros, 3, 4, True, False, 0.5, True, [True, True]))
    ]
    expansion = (xc, 3, 2, False, True)
    samples += [(_ops.piecewise_expansion.forward_op, expansion)]
    dense_grad = torch.randn(2, 3 * 6, 4, dtype=F64, generator=g)
    samples += [(_ops.piecewise_expansion.backward_op, (dense_grad, *expansion, [True]))]
    samples += [(_ops.chebyshev_expansion.forward_op, (xc, 4, True))]
    cheb_grad = torch.randn(2, 3 * 3, 4, dtype=F64, generator=g)
    samples += [(_ops.chebyshev_expansion.backward_op, (cheb_grad, xc, 4, True, [True]))]
    samples += [(_ops.fourier_values.forward_op, (x, 3, True, False))]
    fourier_grad = torch.randn(5, 6, 3, dtype=F64, generator=g)
    samples += [(_ops.fourier_values.backward_op, (fourier_grad, x, 3, True, False, [True]))]
    # a strided, padded, grouped 2-d convolution and a transposed one (weights of M = 9, n = 3)
    xs = torch.rand(2, 4, 5, 6, dtype=F64, generator=g) * 2.2 - 1.1
    conv_weight = torch.randn(6, 2, 9, 3, 2, dtype=F64, generator=g)
    conv_args = (3, 4, True, True, [2, 1], [1, 0], [1, 2], False, [0, 0], 2)
    conv_grad = torch.randn_like(_ops.conv_gather_reference(xs, conv_weight, *conv_args))
    samples += [(_ops.piecewise_conv_gather.forward_op, (xs, conv_weight, *conv_args))]
    samples += [(_ops.piecewise_conv_gather.backward_op, (conv_grad, xs, conv_weight, *conv_args, [True, True]))]
    transposed_weight = torch.randn(4, 9, 3, 2, 3, dtype=F64, generator=g)
    transposed_args = (3, 4, True, True, [2, 1], [1, 1], [1, 1], True, [1, 0], 2)
    samples += [(_ops.piecewise_conv_gather.forward_op, (xs, transposed_weight, *transposed_args))]
    assert {op for op, _ in samples} == set(OPERATORS)
    return samples


def with_grad(args: tuple) -> tuple:
    return tuple(
        a.clone().requires_grad_() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args
    )


def test_opcheck_every_operator(path: str) -> None:
    for op, args in operator_samples():
        torch.library.opcheck(op, args)
        torch.library.opcheck(op, with_grad(args))


def test_every_layer_calls_one_operator_per_accelerated_step(path: str) -> None:
    """Graphs of compiled layers hold the operators as single nodes (the kernels are kept); with
    the kernels off they hold the references' torch operations instead."""
    seen = set()
    for layer_type in ("continuous", "polynomial", "fourier", "continuous_prod", "product"):
        layer = fc(layer_type, segments=40 if layer_type == "continuous" else 3)
        graph = torch.export.export(layer, (fc_input(),)).graph
        seen |= {str(node.target) for node in graph.nodes if "high_order_layers" in str(node.target)}
    gather = {"high_order_layers.piecewise_gather.default"}  # everywhere: its operator gives second derivatives
    with_kernels = {
        "high_order_layers.chebyshev_expansion.default",
        "high_order_layers.fourier_values.default",
        "high_order_layers.piecewise_product.default",
    }
    # without a kernel the other references are traced as torch operations, which compilers fuse
    assert seen == (gather | with_kernels if path == "kernels" else gather)


# ---------------------------------------------------------------------------------- compile


def results(layer: torch.nn.Module, x: torch.Tensor, call=None) -> list[torch.Tensor]:  # type: ignore[no-untyped-def]
    call = layer if call is None else call
    x = x.clone().requires_grad_()
    y = call(x)
    weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
    params = [p for p in layer.parameters() if p.requires_grad]
    return [y, *torch.autograd.grad((y * weights).sum(), [x, *params])]


@pytest.mark.parametrize("layer_type", sorted(FC_LAYERS))
def test_compiled_fc_layers_match_eager_with_fullgraph(layer_type: str, path: str) -> None:
    for segments in (1, 3, 40):
        layer = fc(layer_type, segments=segments)
        compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
        x = fc_input()
        for a, b in zip(results(layer, x, compiled), results(layer, x), strict=True):
            assert_close_ulps(a, b, ulps=64)
        torch._dynamo.reset()


@pytest.mark.parametrize("layer_type", ["continuous2d", "polynomial1d", "fourier1d", "discontinuous3d"])
@pytest.mark.parametrize("transposed", [False, True])
def test_compiled_conv_layers_match_eager_with_fullgraph(layer_type: str, transposed: bool, path: str) -> None:
    layer = conv(layer_type, transposed)
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    x = conv_input(layer_type)
    for a, b in zip(results(layer, x, compiled), results(layer, x), strict=True):
        assert_close_ulps(a, b, ulps=64)
    torch._dynamo.reset()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside Inductor's own imports
def test_inductor_keeps_the_kernels() -> None:
    """The default backend: the C++ gather runs inside the compiled graph and agrees with eager."""
    layer = fc("continuous", segments=40)
    compiled = torch.compile(layer, fullgraph=True)
    x = fc_input()
    for a, b in zip(results(layer, x, compiled), results(layer, x), strict=True):
        assert_close_ulps(a, b, ulps=64)
    torch._dynamo.reset()


# ---------------------------------------------------------------------------------- torch.func


@pytest.mark.filterwarnings("ignore:There is a performance drop:UserWarning")  # vmap of unfold's backward
@pytest.mark.parametrize("layer_type", sorted(FC_LAYERS))
def test_torch_func_on_fc_layers(layer_type: str, path: str) -> None:
    layer = fc(layer_type, segments=40 if "prod" not in layer_type else 3)
    params = {name: p.detach() for name, p in layer.named_parameters()}
    x = fc_input()

    def output(params, x):  # type: ignore[no-untyped-def]
        return torch.func.functional_call(layer, params, (x,))

    # jacrev in x against autograd, row by row
    jacobian = torch.func.jacrev(output, argnums=1)(params, x)  # (B, O, B, I)
    xg = x.clone().requires_grad_()
    y = layer(xg)
    for o in range(y.shape[1]):
        (row,) = torch.autograd.grad(y[:, o].sum(), xg, retain_graph=True)
        assert_close_ulps(jacobian[:, o].sum(0), row, ulps=64)
    # grad in the parameters
    grads = torch.func.grad(lambda p: output(p, x).pow(2).sum())(params)
    layer.zero_grad()
    layer(x).pow(2).sum().backward()
    for name, p in layer.named_parameters():
        assert_close_ulps(grads[name], p.grad, ulps=64)
    # vmap over samples: one sample at a time
    per_sample = torch.func.vmap(lambda row: output(params, row.unsqueeze(0)).squeeze(0))(x)
    assert_close_ulps(per_sample, layer(x), ulps=64)
    # per-sample gradients
    per_sample_grads = torch.func.vmap(
        torch.func.grad(lambda p, row: output(p, row.unsqueeze(0)).sum()), in_dims=(None, 0)
    )(params, x)
    for name in params:
        assert_close_ulps(per_sample_grads[name].sum(0), torch.func.grad(lambda p: output(p, x).sum())(params)[name])


@pytest.mark.parametrize("layer_type", ["continuous2d", "fourier1d"])
def test_torch_func_on_conv_layers(layer_type: str, path: str) -> None:
    layer = conv(layer_type)
    params = {name: p.detach() for name, p in layer.named_parameters()}
    x = conv_input(layer_type)
    grads = torch.func.grad(lambda p: torch.func.functional_call(layer, p, (x,)).pow(2).sum())(params)
    layer(x).pow(2).sum().backward()
    for name, p in layer.named_parameters():
        assert_close_ulps(grads[name], p.grad, ulps=64)
    sample = x[:1]
    jacobian = torch.func.jacrev(layer)(sample)  # (*output, *input)
    xg = sample.clone().requires_grad_()
    (total,) = torch.autograd.grad(layer(xg).sum(), xg)
    assert_close_ulps(jacobian.sum(dim=tuple(range(jacobian.dim() - sample.dim()))), total, ulps=64)


# ---------------------------------------------------------------------------------- parameters


def every_layer() -> list[tuple[str, torch.nn.Module, torch.Tensor]]:
    layers = [(name, fc(name), fc_input()) for name in sorted(FC_LAYERS)]
    layers += [(name, conv(name), conv_input(name)) for name in sorted(CONV_LAYERS)]
    layers += [(f"{name} transposed", conv(name, True), conv_input(name)) for name in ("continuous2d", "fourier1d")]
    return layers


def test_every_parameter_is_contiguous_and_flattens() -> None:
    for name, layer, _ in every_layer():
        for p in layer.parameters():
            assert p.is_contiguous(), name
        vector = torch.nn.utils.parameters_to_vector(layer.parameters())
        torch.nn.utils.vector_to_parameters(vector * 2, layer.parameters())
        assert torch.equal(torch.nn.utils.parameters_to_vector(layer.parameters()), vector * 2), name


def test_an_lbfgs_step_lowers_the_loss_on_every_layer() -> None:
    for name, layer, x in every_layer():
        target = torch.zeros_like(layer(x))
        optimizer = torch.optim.LBFGS(layer.parameters(), max_iter=5)

        def closure(layer=layer, x=x, target=target, optimizer=optimizer):  # type: ignore[no-untyped-def]
            optimizer.zero_grad()
            loss = (layer(x) - target).pow(2).mean()
            loss.backward()
            return loss

        before = closure().item()
        optimizer.step(closure)
        assert closure().item() < before, name


# ---------------------------------------------------------------------------------- higher derivatives


@pytest.mark.parametrize(
    ("layer_type", "n", "segments"),
    [
        ("continuous", 2, 64),
        ("discontinuous", 3, 24),
        ("fourier", 3, 1),
        ("continuous_prod", 3, 8),
        ("polynomial", 5, 1),
    ],
)
def test_second_derivatives_on_every_path_equal_the_dense_reference(
    layer_type: str, n: int, segments: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``create_graph=True`` through the kernels, through the references with the kernels off
    (>= 24 weights per active one: the gather reference), and densely, all agree."""
    layer = fc(layer_type, segments=segments, n=n)
    x = fc_input()

    def hessian_vector() -> list[torch.Tensor]:
        xg = x.clone().requires_grad_()
        (gx,) = torch.autograd.grad(layer(xg).pow(2).sum(), xg, create_graph=True)
        return list(torch.autograd.grad(gx.sin().sum(), [xg, *layer.parameters()]))

    layer.contraction = "auto"
    kernels = hessian_vector()
    switch_kernels_off(monkeypatch)
    reference = hessian_vector()
    if hasattr(layer, "contraction"):
        layer.contraction = "dense"
    dense = hessian_vector()
    for a, b, c in zip(kernels, reference, dense, strict=True):
        assert_close_ulps(a, c, ulps=256)
        assert_close_ulps(b, c, ulps=256)
