"""The input-range policies of ``functional/_range.py``: precision of the mirror fold for any
period and any finite input, the promised behaviour at the edges (infinities, NaN, bad periods),
and the policies seen through a layer."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import high_order_layers_torch.functional as F
from high_order_layers_torch.layers import PiecewisePolynomial

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def held_half(periodicity: float, dtype: torch.dtype) -> float:
    """``periodicity / 2`` as ``dtype`` holds it (the half period the fold works with)."""
    return torch.tensor(0.5 * periodicity, dtype=dtype).item()


def exact_fold(x: float, half: float) -> float:
    """The triangle wave of half-width ``half`` at ``x`` in exact rational arithmetic."""
    h = Fraction(half)
    r = Fraction(x) % (4 * h)  # in [0, 4h)
    if r <= h:
        folded = r
    elif r <= 3 * h:
        folded = 2 * h - r
    else:
        folded = r - 4 * h
    return float(folded)


def bits(t: torch.Tensor) -> torch.Tensor:
    """The bit patterns of ``t`` (``-0.0`` differs from ``0.0``)."""
    signed = {2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()]
    return t.view(signed)


@pytest.mark.parametrize("periodicity", [1e6, 1e8, 1e30])
def test_mirror_periodic_is_the_identity_inside_for_large_periods(periodicity: float) -> None:
    # Was 0.3125 three times for 1e6 and zeros for 1e8: the shift by p/2 rounded the input away.
    x = torch.tensor([0.3, 0.31, 0.32, -0.0, 1e-30, -5e5])
    assert torch.equal(bits(F.mirror_periodic(x, periodicity)), bits(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mirror_periodic_is_bit_exact_identity_inside(dtype: torch.dtype) -> None:
    x = torch.linspace(-1, 1, 257, dtype=dtype)
    x = torch.cat([x, torch.tensor([-0.0, 0.0, torch.finfo(dtype).tiny], dtype=dtype)])
    assert torch.equal(bits(F.mirror_periodic(x, 2.0)), bits(x))
    assert torch.equal(bits(F.apply_out_of_range(x, "mirror")), bits(x))
    assert torch.equal(bits(F.apply_out_of_range(x, "clamp")), bits(x))
    assert torch.equal(bits(F.apply_out_of_range(x, "extrapolate")), bits(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mirror_periodic_folds_huge_inputs_exactly(dtype: torch.dtype) -> None:
    # The period-4 fold of the "mirror" policy on inputs far beyond the interval: the reduction
    # is exact, so the result equals the exact triangle wave of the stored input.
    big = torch.finfo(dtype).max
    x = torch.tensor([2.0**10 + 0.5, 2.0**20 + 1.5, big, -big, big / 3, 3e3, -7.25], dtype=dtype)
    x = x[torch.isfinite(x)]  # 2**20 overflows float16
    expected = torch.tensor([exact_fold(v, 1.0) for v in x.tolist()], dtype=dtype)
    for y in (F.mirror_periodic(x, 2.0), F.apply_out_of_range(x, "mirror")):
        assert torch.equal(y, expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mirror_periodic_with_a_period_near_the_dtype_limit(dtype: torch.dtype) -> None:
    big = torch.finfo(dtype).max
    x = torch.tensor([big, -big, 0.9 * big, 0.5, -0.5 * big, big / 7], dtype=dtype)
    periodicities = [big / 2, big, 1.5 * big, 3 * big, 1e39]  # in Python doubles
    for periodicity in [p for p in periodicities if math.isfinite(p)]:
        y = F.mirror_periodic(x, periodicity)
        half = held_half(periodicity, dtype)
        assert torch.isfinite(y).all()
        assert (y.abs() <= half).all()
        if not math.isinf(half):
            expected = torch.tensor([exact_fold(v, half) for v in x.tolist()], dtype=dtype)
            assert torch.equal(y, expected), periodicity


def test_layer_with_a_period_beyond_float32_is_finite() -> None:
    # 1e39 overflows float32: the fold shifted by inf and returned NaN.
    torch.manual_seed(0)
    layer = PiecewisePolynomial(1, 1, n=3, periodicity=1e39)
    plain = PiecewisePolynomial(1, 1, n=3)
    plain.load_state_dict(layer.state_dict())
    x = torch.tensor([[0.5], [-0.25], [1.0]])
    assert torch.equal(layer(x), plain(x))


def test_mirror_periodic_non_finite_inputs() -> None:
    # The promise is "finite in, finite out"; +-inf has no fold and gives NaN, NaN propagates.
    x = torch.tensor([math.inf, -math.inf, math.nan, 0.5])
    for periodicity in (2.0, 1e39):
        y = F.mirror_periodic(x, periodicity)
        assert torch.isnan(y[:3]).all() and y[3].item() == 0.5
    assert torch.isnan(F.apply_out_of_range(x, "mirror")[:3]).all()
    assert F.apply_out_of_range(x, "clamp")[:2].tolist() == [1.0, -1.0]
    assert torch.isnan(F.apply_out_of_range(x, "clamp")[2])
    assert torch.equal(F.apply_out_of_range(x, "extrapolate")[:2], x[:2])
    for value in (math.inf, -math.inf, math.nan):
        with pytest.raises(ValueError, match="is outside"):
            F.apply_out_of_range(torch.tensor([value]), "error")


def test_clamp_policy_is_exact_for_huge_inputs() -> None:
    big = torch.finfo(torch.float32).max
    x = torch.tensor([big, -big, 1.0 + 2**-23, -1.0 - 2**-23, 0.75])
    assert F.apply_out_of_range(x, "clamp").tolist() == [1.0, -1.0, 1.0, -1.0, 0.75]
    with pytest.raises(ValueError, match=r"outside \[-1, 1\]"):
        F.apply_out_of_range(torch.tensor([1.0 + 2**-23]), "error")


@pytest.mark.parametrize(
    ("periodicity", "error", "match"),
    [
        (0.0, ValueError, "periodicity must be a positive finite number, got 0.0"),
        (-2.0, ValueError, "periodicity must be a positive finite number, got -2.0"),
        (math.nan, ValueError, "periodicity must be a positive finite number, got nan"),
        (math.inf, ValueError, "periodicity must be a positive finite number, got inf"),
        (-math.inf, ValueError, "periodicity must be a positive finite number, got -inf"),
        (True, TypeError, "periodicity must be a positive finite number, got True"),
        ("2", TypeError, "periodicity must be a positive finite number, got '2'"),
    ],
)
def test_mirror_periodic_rejects_bad_periods(periodicity, error, match) -> None:
    with pytest.raises(error, match=match):
        F.mirror_periodic(torch.zeros(3), periodicity)


def test_mirror_periodic_rejects_a_period_the_dtype_rounds_to_zero() -> None:
    with pytest.raises(ValueError, match=r"representable in torch\.float16.*got periodicity=1e-10"):
        F.mirror_periodic(torch.zeros(3, dtype=torch.float16), 1e-10)
    tiny_period = F.mirror_periodic(torch.tensor([3e-10], dtype=torch.float64), 1e-10)
    assert tiny_period.item() == exact_fold(3e-10, held_half(1e-10, torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mirror_periodic_small_period_and_huge_inputs_is_finite(dtype: torch.dtype) -> None:
    # PyTorch's vectorised CPU fmod returns NaN when x / modulus overflows (32 values take the
    # vectorised path); the fold reduces in stages so that never happens.
    big = torch.finfo(dtype).max
    x = torch.full((32,), big / 3, dtype=dtype)
    for periodicity in (1e-10, 1e-30, torch.finfo(dtype).tiny * 64):
        y = F.mirror_periodic(x, periodicity)
        half = held_half(periodicity, dtype)
        assert torch.equal(y, torch.full_like(x, exact_fold(x[0].item(), half)))


def test_mirror_periodic_gradient_is_one_inside_and_signed_outside() -> None:
    x = torch.tensor([0.0, -0.0, 0.5, -0.99, 1.5, 3.5, -1.5, 1e6 + 0.5], dtype=torch.float64, requires_grad=True)
    F.mirror_periodic(x, 2.0).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0]


def test_mirror_periodic_integer_input_uses_the_default_dtype() -> None:
    y = F.mirror_periodic(torch.arange(-5, 6), 4.0)
    assert y.dtype == torch.get_default_dtype()
    assert y.tolist() == [1.0, 0.0, -1.0, -2.0, -1.0, 0.0, 1.0, 2.0, 1.0, 0.0, -1.0]


def test_mirror_periodic_stays_inside_next_to_three_half_periods() -> None:
    """0.5 against a period of 1/3: the stored half period times 3 rounds to 0.5 exactly, and a
    branch chosen by comparing with it gave -(h + 1 ulp) (found by the property test below)."""
    y = F.mirror_periodic(torch.tensor([0.5, -0.5], dtype=torch.float64), 1 / 3)
    half = torch.tensor(1 / 6, dtype=torch.float64).item()
    assert (y.abs() <= half).all()
    assert y.tolist() == [0.5 - 4 * half, 4 * half - 0.5]


@settings(deadline=None, max_examples=300)
@given(data=st.data(), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_mirror_periodic_property(data: st.DataObject, dtype: torch.dtype) -> None:
    width = 32 if dtype == torch.float32 else 64
    values = data.draw(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=width), min_size=1, max_size=40))
    periodicity = data.draw(st.floats(min_value=0.0, exclude_min=True, allow_infinity=False), label="periodicity")
    x = torch.tensor(values, dtype=dtype)
    half = held_half(periodicity, dtype)
    if half == 0.0:
        with pytest.raises(ValueError, match="representable"):
            F.mirror_periodic(x, periodicity)
        return
    y = F.mirror_periodic(x, periodicity)
    # Finite, in the interval, the identity (bit for bit) inside.
    assert torch.isfinite(y).all()
    assert (y.abs() <= half).all()
    inside = x.abs() <= half
    assert torch.equal(bits(y[inside]), bits(x[inside]))
    # Exact everywhere: the exact triangle wave of the stored input and the stored half period.
    if not math.isinf(half):
        expected = torch.tensor([exact_fold(v, half) for v in values], dtype=dtype)
        assert torch.equal(y, expected)
    # Odd symmetry holds exactly (negation is exact).
    assert torch.equal(F.mirror_periodic(-x, periodicity), -y)
    # Period 2 * periodicity and reflection at p/2, to the round-off of the shifted input (the
    # fold is 1-Lipschitz, so it cannot amplify that rounding).
    eps = torch.finfo(dtype).eps
    for shifted in (x + 4 * half, 2 * half - x):
        keep = torch.isfinite(shifted)
        err = (F.mirror_periodic(shifted[keep], periodicity) - y[keep]).abs()
        assert (err <= eps * shifted[keep].abs()).all()
