"""The operator spec: a new operator, with a kernel, from one :class:`OperatorSpec`, and the
layering of ``kernels/`` that keeps the decision in one place."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
import torch

import high_order_layers_torch
from helpers import assert_close_ulps
from high_order_layers_torch.kernels import Kernel, OperatorSpec, _switches, define, override
from high_order_layers_torch.layers import high_order_fc_layers

F64 = torch.float64
calls: dict[str, int] = {"forward": 0, "backward": 0}


def scaled_cube_reference(x: torch.Tensor, weight: torch.Tensor, scale: float) -> torch.Tensor:
    """``y[b, o] = scale * sum_i weight[o, i] * x[b, i] ** 3``."""
    return scale * (x**3) @ weight.t()


def scaled_cube_backward(grad, x, weight, scale, needs):  # type: ignore[no-untyped-def]
    back = grad @ weight  # (B, I)
    return scale * 3 * x**2 * back, scale * grad.t() @ x**3


def kernel_forward(module, x, weight, scale):  # type: ignore[no-untyped-def]
    calls["forward"] += 1
    cubes = x * x * x
    return scale * torch.einsum("bi,oi->bo", cubes, weight), cubes  # another code path than the reference


def kernel_backward(module, grad, x, weight, cubes, scale, needs):  # type: ignore[no-untyped-def]
    calls["backward"] += 1
    grad_x = 3 * scale * x * x * torch.einsum("bo,oi->bi", grad, weight) if needs[0] else x.new_empty(0)
    return grad_x, scale * torch.einsum("bo,bi->oi", grad, cubes)


def toy_backend(device_type: str, dtype: torch.dtype) -> object | None:
    return "the toy module" if device_type == "cpu" and _switches.switches().cpu else None


TOY = define(
    OperatorSpec(
        name="toy_scaled_cube",
        reference=scaled_cube_reference,
        backward_reference=scaled_cube_backward,
        fake=lambda x, weight, scale: x.new_empty(x.shape[0], weight.shape[0]),
        tensors=2,
        saved={"cubes": None},
        kernels={
            "cpu": Kernel(
                kernel_forward,
                kernel_backward,
                saved=lambda x, weight, scale: (torch.empty_like(x),),
                accepts=lambda x, weight, scale: scale != 0,  # a case the kernel declines
                backend=toy_backend,
            )
        },
    )
)


def toy_inputs() -> tuple[torch.Tensor, torch.Tensor, float]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, 3, dtype=F64, generator=g), torch.randn(4, 3, dtype=F64, generator=g), 0.7


def test_one_spec_makes_the_operators_registrations_and_availability() -> None:
    assert torch.ops.high_order_layers.toy_scaled_cube.default is not None
    assert torch.ops.high_order_layers.toy_scaled_cube_backward.default is not None
    assert set(_switches.KERNELS["toy_scaled_cube"]) == {"cpu"}
    assert _switches.has_kernel("toy_scaled_cube", "cpu", F64)
    assert not _switches.has_kernel("toy_scaled_cube", "meta", F64)
    with override(cpu=False):
        assert not _switches.has_kernel("toy_scaled_cube", "cpu", F64)


def test_the_kernel_runs_and_agrees_with_the_reference() -> None:
    x, weight, scale = toy_inputs()
    x.requires_grad_()
    before = dict(calls)
    y = TOY(x, weight, scale)
    (grad_x,) = torch.autograd.grad(y.sum(), x)
    assert calls["forward"] == before["forward"] + 1 and calls["backward"] == before["backward"] + 1
    xr = x.detach().clone().requires_grad_()
    expected = scaled_cube_reference(xr, weight, scale)
    (expected_grad,) = torch.autograd.grad(expected.sum(), xr)
    assert_close_ulps(y, expected, ulps=16)
    assert_close_ulps(grad_x, expected_grad, ulps=16)


def test_where_the_kernel_declines_or_is_off_the_reference_runs() -> None:
    x, weight, _ = toy_inputs()
    before = dict(calls)
    torch.testing.assert_close(TOY.forward_op(x, weight, 0.0)[0], torch.zeros(5, 4, dtype=F64))
    with override(cpu=False):
        torch.testing.assert_close(TOY(x, weight, 0.7), scaled_cube_reference(x, weight, 0.7))
    assert calls == before


def test_opcheck_forward_and_backward() -> None:
    x, weight, scale = toy_inputs()
    _, cubes = TOY.forward_op(x, weight, scale)
    grad = torch.randn(5, 4, dtype=F64)
    torch.library.opcheck(TOY.forward_op, (x, weight, scale))
    torch.library.opcheck(TOY.forward_op, (x.clone().requires_grad_(), weight.clone().requires_grad_(), scale))
    torch.library.opcheck(TOY.backward_op, (grad, x, weight, cubes, scale, [True, True]))


def test_gradients_of_every_order_and_torch_func() -> None:
    x, weight, scale = toy_inputs()
    x, weight = x.requires_grad_(), weight.requires_grad_()
    torch.autograd.gradcheck(lambda a, b: TOY(a, b, scale), (x, weight))
    torch.autograd.gradgradcheck(lambda a, b: TOY(a, b, scale), (x, weight))
    jacobian = torch.func.jacrev(lambda a: TOY(a, weight.detach(), scale))(x.detach())
    expected = torch.func.jacrev(lambda a: scaled_cube_reference(a, weight.detach(), scale))(x.detach())
    assert_close_ulps(jacobian, expected, ulps=16)
    batched = torch.func.vmap(lambda a: TOY(a, weight.detach(), scale))(x.detach().unsqueeze(1))
    assert_close_ulps(batched.squeeze(1), scaled_cube_reference(x.detach(), weight.detach(), scale), ulps=16)


def test_compiled_with_fullgraph() -> None:
    torch._dynamo.reset()
    x, weight, scale = toy_inputs()
    compiled = torch.compile(lambda a, b: TOY(a, b, scale), backend="aot_eager", fullgraph=True)
    assert_close_ulps(compiled(x, weight), scaled_cube_reference(x, weight, scale), ulps=16)
    torch._dynamo.reset()


# ---------------------------------------------------------------------------------- the path


def project_frames_between(outer: str, c_function: str, run) -> list[str]:  # type: ignore[no-untyped-def]
    """The project's Python functions on the stack when ``c_function`` (a C++ kernel entry) is
    called, from just inside the frame of ``outer`` (a qualified function name) down to the call."""
    package = str(Path(high_order_layers_torch.__file__).parent)
    found: list[list[str]] = []

    def profile(frame, event, arg):  # type: ignore[no-untyped-def]
        if event == "c_call" and getattr(arg, "__name__", "") == c_function and not found:
            names = []
            while frame is not None and frame.f_code.co_qualname != outer:
                if frame.f_code.co_filename.startswith(package):
                    names.append(frame.f_code.co_qualname)
                frame = frame.f_back
            found.append(names[::-1])

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    assert found, f"{c_function} was not called"
    return found[0]


@pytest.mark.parametrize("grad", [True, False])
def test_a_fully_connected_forward_reaches_the_cpp_gather_in_at_most_six_calls(grad: bool) -> None:
    if not _switches.cpu_kernels_support(torch.zeros(1)):
        pytest.skip("the C++ kernels are not built here")
    layer = high_order_fc_layers("continuous", n=3, in_features=4, out_features=3, segments=40)
    x = torch.rand(8, 4).requires_grad_(grad)
    path = project_frames_between("HighOrderLinear.forward", "gather_forward", lambda: layer(x))
    assert path[0] == "sum_neuron" and len(path) <= 6, path


#: kernels/ from the bottom up: a module may import only modules of a lower layer.
LAYERS = [
    {"_build", "_gather_triton_kernels", "_layouts", "_references"},
    {"_gather_triton"},
    {"_switches", "_autograd"},
    {"_spec"},
    {"_ops"},
    {"_functions"},
    {"_dense"},
    {"_autotune"},
    {"_dispatch"},
]


def kernels_imports(path: Path) -> set[str]:
    """The kernels modules ``path`` imports, deferred imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found |= {node.module} if node.module else {alias.name for alias in node.names}
    return found


def test_kernels_modules_import_only_the_layers_below() -> None:
    folder = Path(high_order_layers_torch.__file__).parent / "kernels"
    rank = {name: level for level, names in enumerate(LAYERS) for name in names}
    modules = {path.stem for path in folder.glob("_*.py")} - {"__init__"}
    assert modules == set(rank), "every kernels module has a layer"
    for name in modules:
        above = {other for other in kernels_imports(folder / f"{name}.py") if rank[other] >= rank[name]}
        assert not above, f"{name} imports {above}, not below it"
