"""Parameter-free normalisations and the mirror-periodic fold, on small hand-checked tensors."""

from __future__ import annotations

import pickle

import pytest
import torch

from high_order_layers_torch import functional as F
from high_order_layers_torch.layers import MaxAbsNormalization, MaxCenterNormalization, MirrorPeriodic

F64 = torch.float64


def test_max_abs_flat_input_by_hand() -> None:
    x = torch.tensor([[2.0, -4.0, 1.0], [0.0, 0.0, 0.0], [0.5, 0.25, 0.0]], dtype=F64)
    expected = torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0], [1.0, 0.5, 0.0]], dtype=F64)
    torch.testing.assert_close(MaxAbsNormalization(eps=1e-300)(x), expected, rtol=0, atol=1e-15)
    eps = 0.5
    torch.testing.assert_close(F.max_abs_normalize(x, eps), x / torch.tensor([[4.5], [0.5], [1.0]], dtype=F64))


def test_max_abs_nd_input_uses_every_non_batch_axis() -> None:
    x = torch.zeros(2, 3, 2, 2, dtype=F64)
    x[0, 1, 0, 1] = -8.0
    x[0, 2, 1, 1] = 2.0
    x[1, 0, 0, 0] = 0.5
    y = F.max_abs_normalize(x, eps=0.0)
    assert y[0, 1, 0, 1] == -1.0 and y[0, 2, 1, 1] == 0.25 and y[1, 0, 0, 0] == 1.0
    assert y.shape == x.shape


def test_max_abs_one_value_per_sample() -> None:
    x = torch.tensor([3.0, -0.5, 0.0], dtype=F64)
    torch.testing.assert_close(F.max_abs_normalize(x, eps=0.0)[:2], torch.tensor([1.0, -1.0], dtype=F64))
    assert F.max_abs_normalize(x)[2] == 0.0


def test_max_center_by_hand() -> None:
    x = torch.tensor([[1.0, 3.0, 2.0, 5.0], [-2.0, -2.0, 6.0, 0.0]], dtype=F64)
    expected = torch.tensor([[-1.0, 0.0, -0.5, 1.0], [-1.0, -1.0, 1.0, -0.5]], dtype=F64)
    torch.testing.assert_close(F.max_center_normalize(x, eps=0.0), expected, rtol=0, atol=1e-15)
    eps = 1.0
    manual = 2 * (x[0] - 1.0) / (4.0 + eps) - 1
    torch.testing.assert_close(MaxCenterNormalization(eps=eps)(x)[0], manual)


def test_max_center_maps_each_sample_onto_minus_one_one() -> None:
    x = torch.randn(4, 2, 5, 5, dtype=F64) * 7 + 3
    y = MaxCenterNormalization(eps=1e-12)(x)
    assert torch.equal(y.amin(dim=(1, 2, 3)), torch.full((4,), -1.0, dtype=F64))
    torch.testing.assert_close(y.amax(dim=(1, 2, 3)), torch.ones(4, dtype=F64))
    # affine per sample: the ordering inside each sample is kept
    assert torch.equal(x[0].flatten().argsort(), y[0].flatten().argsort())


def test_max_center_constant_sample_maps_to_minus_one() -> None:
    y = F.max_center_normalize(torch.full((1, 3), 4.0, dtype=F64))
    assert torch.equal(y, torch.full((1, 3), -1.0, dtype=F64))


def test_mirror_periodic_module_by_hand() -> None:
    x = torch.tensor([-3.5, -1.5, -1.0, 0.25, 1.0, 1.5, 2.5, 5.0], dtype=F64)
    expected = torch.tensor([0.5, -0.5, -1.0, 0.25, 1.0, 0.5, -0.5, 1.0], dtype=F64)
    assert torch.equal(MirrorPeriodic()(x), expected)  # the fold is exact (functional.mirror_periodic)
    torch.testing.assert_close(
        MirrorPeriodic(4.0)(torch.tensor([3.0, -2.5], dtype=F64)), torch.tensor([1.0, -1.5], dtype=F64)
    )
    assert torch.equal(MirrorPeriodic()(x), F.mirror_periodic(x, 2.0))


@pytest.mark.parametrize("module", [MaxAbsNormalization(), MaxCenterNormalization(), MirrorPeriodic(3.0)])
def test_modules_have_no_state_and_pickle(module: torch.nn.Module) -> None:
    assert not list(module.parameters()) and not module.state_dict()
    x = torch.randn(2, 5, dtype=F64)
    assert torch.equal(pickle.loads(pickle.dumps(module))(x), module(x))
    assert ("periodicity=3.0" if isinstance(module, MirrorPeriodic) else "eps=1e-06") in repr(module)


def test_gradients_flow() -> None:
    x = torch.randn(3, 4, dtype=F64, requires_grad=True)
    for fn in (F.max_center_normalize, F.max_abs_normalize):
        assert torch.autograd.gradcheck(lambda t, f=fn: f(t, 0.1), (x,))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        F.max_abs_normalize(torch.ones(2, 2), -1.0)
    with pytest.raises(ValueError, match="batch axis"):
        F.max_abs_normalize(torch.tensor(1.0))
    with pytest.raises(ValueError, match="at least one feature axis"):
        F.max_center_normalize(torch.ones(3))
    with pytest.raises(TypeError, match="floating-point"):
        F.max_center_normalize(torch.ones(2, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="eps must be a positive finite number"):
        MaxAbsNormalization(eps=0.0)
    with pytest.raises(TypeError):
        MaxCenterNormalization(16)  # eps is keyword-only: a channel count must not become eps
    with pytest.raises(ValueError, match="periodicity must be a positive finite number"):
        MirrorPeriodic(-2.0)
