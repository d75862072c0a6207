"""The pure maths: nodes, Lagrange basis, segments, Fourier basis, range policies."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import assert_close_ulps
from high_order_layers_torch import functional as F


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 8, 13])
def test_nodes_are_symmetric_chebyshev_lobatto(n: int) -> None:
    nodes = F.chebyshev_lobatto_nodes(n, dtype=torch.float64)
    expected = torch.tensor(
        [-math.cos(math.pi * k / (n - 1)) for k in range(n)] if n > 1 else [0.0], dtype=torch.float64
    )
    assert_close_ulps(nodes, expected, ulps=8)  # the library's formula against -cos: round-off apart
    assert torch.equal(nodes, -nodes.flip(0))
    assert torch.all(nodes[1:] > nodes[:-1])


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9])
def test_lagrange_basis_is_kronecker_delta_at_nodes(n: int) -> None:
    nodes = F.chebyshev_lobatto_nodes(n, dtype=torch.float64)
    values = F.lagrange_basis(nodes, nodes, F.lagrange_inverse_denominators(nodes))
    assert torch.equal(values, torch.eye(n, dtype=torch.float64))


@pytest.mark.parametrize("n", [2, 5])
def test_lagrange_basis_runs_only_elementwise_products(n: int) -> None:
    """No scans and no data-dependent ops, forward or backward: on CUDA ``cumprod`` along a few
    elements was 25-40x slower, and its backward synchronises on a search for zeros (one factor
    is exactly zero at a node)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            self.names.add(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    nodes = F.chebyshev_lobatto_nodes(n, dtype=torch.float64)
    inverse_denominators = F.lagrange_inverse_denominators(nodes)  # constants, computed once
    t = torch.cat([torch.linspace(-1, 1, 7, dtype=torch.float64), nodes]).requires_grad_()
    with Recorder() as recorder:
        values = F.lagrange_basis(t, nodes, inverse_denominators)
        (values * torch.arange(n, dtype=torch.float64)).sum().backward()
    assert not recorder.names & {"cumprod", "cumsum", "nonzero", "prod", "_local_scalar_dense"}, recorder.names
    assert torch.isfinite(t.grad).all()


@pytest.mark.parametrize("n", [2, 4, 7])
def test_lagrange_basis_reproduces_polynomials_of_lower_degree(n: int) -> None:
    nodes = F.chebyshev_lobatto_nodes(n, dtype=torch.float64)
    t = torch.linspace(-1, 1, 101, dtype=torch.float64)
    basis = F.lagrange_basis(t, nodes, F.lagrange_inverse_denominators(nodes))
    for degree in range(n):
        torch.testing.assert_close(basis @ nodes**degree, t**degree, rtol=0, atol=1e-13)
    torch.testing.assert_close(basis.sum(-1), torch.ones_like(t), rtol=0, atol=1e-14)


@given(segments=st.integers(1, 50), x=st.floats(-1, 1))
def test_locate_segments_maps_into_the_right_piece(segments: int, x: float) -> None:
    index, t = F.locate_segments(torch.tensor([x], dtype=torch.float64), segments)
    width = 2.0 / segments
    lo = -1 + index.item() * width
    assert 0 <= index.item() < segments
    assert lo - 1e-12 <= x <= lo + width + 1e-12
    assert t.item() == pytest.approx(2 * (x - lo) / width - 1, abs=1e-9)


def test_locate_segments_ends_and_nan() -> None:
    index, t = F.locate_segments(torch.tensor([-1.0, 1.0, float("nan")], dtype=torch.float64), 4)
    assert index.tolist() == [0, 3, 0]
    assert t[0].item() == -1.0 and t[1].item() == 1.0 and math.isnan(t[2].item())


def test_fourier_basis_matches_closed_form() -> None:
    x = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64)
    freq = F.fourier_frequencies(3, 2.0, dtype=torch.float64)
    basis = F.fourier_basis(x, freq)
    assert basis.shape == (31, 7)
    torch.testing.assert_close(basis[:, 0], torch.ones_like(x))
    for k in range(1, 4):
        torch.testing.assert_close(basis[:, k], torch.cos(k * math.pi * x / 2))
        torch.testing.assert_close(basis[:, 3 + k], torch.sin(k * math.pi * x / 2))


@pytest.mark.parametrize("n", [0, 1, 2, 7, 30])
def test_harmonic_fourier_basis_matches_direct_evaluation(n: int) -> None:
    x = torch.linspace(-3, 3, 201, dtype=torch.float64)
    direct = F.fourier_basis(x, F.fourier_frequencies(n, 1.7, dtype=torch.float64))
    torch.testing.assert_close(F.fourier_basis_harmonic(x, math.pi / 1.7, n), direct, rtol=0, atol=1e-13)


def test_mirror_periodic_folds_by_reflection() -> None:
    x = torch.tensor([-0.5, 1.0, 1.5, 3.0, 5.0, -1.5, -3.0], dtype=torch.float64)
    expected = torch.tensor([-0.5, 1.0, 0.5, -1.0, 1.0, -0.5, 1.0], dtype=torch.float64)
    torch.testing.assert_close(F.mirror_periodic(x), expected)
    torch.testing.assert_close(F.mirror_periodic(torch.tensor([0.75]), 1.0), torch.tensor([0.25]))


def test_out_of_range_policies() -> None:
    x = torch.tensor([-3.0, -1.0, 0.2, 1.0, 1.5])
    torch.testing.assert_close(F.apply_out_of_range(x, "clamp"), torch.tensor([-1.0, -1.0, 0.2, 1.0, 1.0]))
    torch.testing.assert_close(F.apply_out_of_range(x, "extrapolate"), x)
    torch.testing.assert_close(F.apply_out_of_range(x, "mirror"), torch.tensor([1.0, -1.0, 0.2, 1.0, 0.5]))
    with pytest.raises(ValueError, match=r"-3\.0 is outside \[-1, 1\]"):
        F.apply_out_of_range(x, "error")
    with pytest.raises(ValueError, match="outside"):
        F.apply_out_of_range(torch.tensor([float("nan")]), "error")
    assert torch.equal(F.apply_out_of_range(x[1:4], "error"), x[1:4])
    with pytest.raises(ValueError, match="'clamp', 'extrapolate', 'mirror', 'error'; got 'wrap'"):
        F.apply_out_of_range(x, "wrap")


def test_max_abs_normalize_per_sample() -> None:
    x = torch.tensor([[1.0, -4.0, 2.0], [0.5, 0.25, -0.1]], dtype=torch.float64)
    y = F.max_abs_normalize(x, eps=0.0)
    torch.testing.assert_close(y, torch.tensor([[0.25, -1.0, 0.5], [1.0, 0.5, -0.2]], dtype=torch.float64))
    images = torch.randn(3, 2, 4, 4)
    assert F.max_abs_normalize(images).abs().amax(dim=(1, 2, 3)).le(1).all()


@settings(deadline=None, max_examples=25)
@given(n=st.integers(1, 9), t=st.lists(st.floats(-1, 1), min_size=1, max_size=20))
def test_lagrange_partition_of_unity_property(n: int, t: list[float]) -> None:
    nodes = F.chebyshev_lobatto_nodes(n, dtype=torch.float64)
    basis = F.lagrange_basis(torch.tensor(t, dtype=torch.float64), nodes, F.lagrange_inverse_denominators(nodes))
    torch.testing.assert_close(basis.sum(-1), torch.ones(len(t), dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize(("n", "dim", "first"), [(1, -1, 0), (2, 1, 0), (5, 1, 1), (6, 0, 0), (4, -1, 2)])
def test_chebyshev_polynomials_values_and_derivatives(n: int, dim: int, first: int) -> None:
    t = (torch.rand(3, 4, dtype=torch.float64) * 2 - 1).requires_grad_()
    values = F.chebyshev_polynomials(t, n, dim=dim, first=first)
    degrees = torch.arange(first, n, dtype=torch.float64)
    expected = torch.cos(degrees * torch.arccos(t.detach())[..., None]).movedim(-1, dim)
    torch.testing.assert_close(values, expected, rtol=0, atol=1e-14)
    call = lambda t: F.chebyshev_polynomials(t, n, dim=dim, first=first)  # noqa: E731
    assert torch.autograd.gradcheck(call, (t,))
    assert torch.autograd.gradgradcheck(call, (t,))


def test_layers_have_second_derivatives_in_their_inputs() -> None:
    from high_order_layers_torch.layers import Polynomial

    layer = Polynomial(1, 1, n=4, dtype=torch.float64)
    with torch.no_grad():
        layer.weight[0, 0] = layer.basis.nodes**3  # f(x) = x^3
    x = torch.linspace(-0.9, 0.9, 7, dtype=torch.float64)[:, None].requires_grad_()
    (first,) = torch.autograd.grad(layer(x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    torch.testing.assert_close(first, 3 * x.detach() ** 2, rtol=0, atol=1e-12)
    torch.testing.assert_close(second, 6 * x.detach(), rtol=0, atol=1e-12)
