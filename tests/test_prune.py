"""Link scores and pruning: the report names exactly the links that were changed."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from high_order_layers_torch.inspect import PruneReport, evaluate_link, link_scores, prune_links_
from high_order_layers_torch.layers import (
    FourierSeries,
    MaxAbsNormalization,
    PiecewiseDiscontinuousPolynomial,
    PiecewisePolynomial,
    PiecewisePolynomialBasis,
    PiecewisePolynomialProd,
    Product,
)
from high_order_layers_torch.layers._conv import HighOrderConv2d

F64 = torch.float64


def mlp() -> nn.Sequential:
    return nn.Sequential(
        PiecewisePolynomial(3, 5, n=3, segments=2, dtype=F64),
        MaxAbsNormalization(),
        PiecewiseDiscontinuousPolynomial(5, 2, n=4, segments=3, dtype=F64),
    )


def data(rows: int = 64, features: int = 3) -> torch.Tensor:
    return torch.rand(rows, features, dtype=F64) * 2 - 1


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_scores_are_std_and_range_of_each_link() -> None:
    model, x = mlp(), data()
    hidden = model[1](model[0](x))  # what the second layer sees
    with torch.no_grad():
        first, second = model[0].link_functions(x), model[2].link_functions(hidden)  # (B, out, in)
    std = link_scores(model, x)
    assert set(std) == {"0", "2"} and std["0"].shape == (5, 3) and std["2"].shape == (2, 5)
    assert torch.allclose(std["0"], first.std(dim=0, unbiased=False), atol=1e-12)
    assert torch.allclose(std["2"], second.std(dim=0, unbiased=False), atol=1e-12)
    spread = link_scores(model, x, measure="range")
    assert torch.allclose(spread["2"], second.amax(dim=0) - second.amin(dim=0), atol=1e-12)


def test_batches_merge_like_one_batch() -> None:
    model, x = mlp(), data(90)
    loader = [(x[:40], None), (x[40:41], None), (x[41:], None)]  # DataLoader-like (input, target)
    for measure in ("std", "range"):
        whole, merged = link_scores(model, x, measure=measure), link_scores(model, loader, measure=measure)
        for name in whole:
            assert torch.allclose(whole[name], merged[name], atol=1e-12)


def test_pruning_removes_exactly_the_reported_links() -> None:
    model, x = mlp(), data()
    before = weights(model)
    scores = link_scores(model, x)
    pruned, report = prune_links_(model, x, fraction=0.4)
    assert pruned is model and isinstance(report, PruneReport)
    assert report.total_links == 15 + 10
    expected_counts = {"0": math.floor(0.4 * 15), "2": math.floor(0.4 * 10)}
    for name, mask in report.masks.items():
        assert int(mask.sum()) == expected_counts[name]
        # the pruned links are the weakest of their layer
        assert scores[name][mask].max() <= scores[name][~mask].min()
        weight = model.get_submodule(name).weight.detach()
        assert torch.all(weight[mask] == 0)  # all M weights of a pruned link
        assert torch.equal(weight[~mask], before[f"{name}.weight"][~mask])  # the rest untouched
    listed = {(link.layer, link.index) for link in report.links}
    from_masks = {(name, tuple(i)) for name, mask in report.masks.items() for i in mask.nonzero().tolist()}
    assert listed == from_masks and len(report) == len(listed) == 10
    assert set(report.as_tuples()) == {(name, *index) for name, index in listed}
    for link in report.links:  # a pruned link is the zero function
        module = model.get_submodule(link.layer)
        assert torch.all(evaluate_link(module, link.index, torch.linspace(-1, 1, 11, dtype=F64)) == 0)
    out = model(x)
    assert out.shape == (64, 2) and torch.isfinite(out).all()
    assert "pruned 10 of 25 links" in str(report)


def test_threshold_and_model_scope() -> None:
    x = data()
    model = mlp()
    scores = link_scores(model, x)
    threshold = torch.cat([s.reshape(-1) for s in scores.values()]).median().item()
    _, report = prune_links_(model, x, threshold=threshold)
    for name, mask in report.masks.items():
        assert torch.equal(mask, scores[name] < threshold)

    model = mlp()
    _, report = prune_links_(model, x, fraction=0.5, scope="model")
    assert len(report) == math.floor(0.5 * 25)
    scores = report.scores  # of this new model, measured before pruning
    kept = torch.cat([scores[name][~mask] for name, mask in report.masks.items()])
    gone = torch.cat([scores[name][mask] for name, mask in report.masks.items()])
    assert gone.max() <= kept.min()


def test_fraction_ends() -> None:
    x = data()
    _, none = prune_links_(mlp(), x, fraction=0.0)
    assert len(none) == 0
    model = mlp()
    _, everything = prune_links_(model, x, fraction=1)
    assert len(everything) == 25
    assert all(torch.all(p == 0) for p in model.parameters())
    assert torch.all(model[0](x) == 0)


def test_mean_fill_keeps_average_output() -> None:
    model, x = mlp(), data()
    first = model[0]
    with torch.no_grad():
        mean_before = first(x).mean(dim=0)
    _, report = prune_links_(model, x, fraction=0.5, fill="mean")
    mask, values = report.masks["0"], report.fill_values["0"]
    with torch.no_grad():
        links = first.link_functions(x)  # (B, out, in)
        assert torch.allclose(first(x).mean(dim=0), mean_before, atol=1e-12)
    assert torch.allclose(links[:, mask], values[mask].expand(x.shape[0], -1), atol=1e-12)  # constants
    assert torch.all(first.weight.detach()[mask] == values[mask][:, None])


def test_fourier_and_product_layers() -> None:
    x = data()
    fourier = nn.Sequential(FourierSeries(3, 2, n=2, dtype=F64))
    _, report = prune_links_(fourier, x, fraction=0.5, fill="mean")
    weight = fourier[0].weight.detach()[report.masks["0"]]  # (K, 2n + 1): only a0 left
    assert torch.all(weight[:, 1:] == 0) and torch.equal(weight[:, 0], report.fill_values["0"][report.masks["0"]])

    product = nn.Sequential(PiecewisePolynomialProd(3, 2, n=3, dtype=F64), Product(2, 1, dtype=F64))
    with pytest.raises(ValueError, match="LinearBasis: use fill='zero'"):
        prune_links_(product, x, fraction=0.5, fill="mean")
    _, report = prune_links_(product, x, fraction=0.5)
    assert len(report) == 3 + 1 and torch.isfinite(product(x)).all()


def test_conv_taps_scores_and_pruning() -> None:
    conv = HighOrderConv2d(4, 4, 2, PiecewisePolynomialBasis(3, 2), groups=2, dtype=F64)
    model = nn.Sequential(conv, nn.Flatten(), PiecewisePolynomial(4 * 2 * 2, 1, n=2, dtype=F64))
    x = torch.rand(6, 4, 3, 3, dtype=F64) * 2 - 1
    scores = link_scores(model, x)
    assert scores["0"].shape == (4, 2, 2, 2)
    for o, c, ky, kx in [(0, 1, 0, 0), (3, 0, 1, 1), (2, 1, 0, 1)]:
        channel = (o // 2) * 2 + c  # groups=2: output o reads input channels of group o // 2
        with torch.no_grad():
            values = evaluate_link(conv, (o, c, ky, kx), x[:, channel].reshape(-1))
        assert scores["0"][o, c, ky, kx].item() == pytest.approx(values.std(unbiased=False).item(), abs=1e-12)
    before = conv.weight.detach().clone()
    _, report = prune_links_(model, x, fraction=0.25)
    mask = report.masks["0"]  # (out, in_in_group, ky, kx); weight (out, in_in_group, M, ky, kx)
    assert int(mask.sum()) == 8
    weight = conv.weight.detach().movedim(2, -1)
    assert torch.all(weight[mask] == 0) and torch.equal(weight[~mask], before.movedim(2, -1)[~mask])
    assert model(x).shape == (6, 1)


def test_reapply_after_training_step() -> None:
    model, x = mlp(), data()
    _, report = prune_links_(model, x, fraction=0.3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(x).square().mean().backward()
    optimizer.step()
    assert any(bool((model.get_submodule(n).weight[m] != 0).any()) for n, m in report.masks.items())
    report.reapply_(model)
    assert all(bool((model.get_submodule(n).weight[m] == 0).all()) for n, m in report.masks.items())
    with pytest.raises(ValueError, match="no layers named"):
        report.reapply_(nn.Sequential(nn.Linear(1, 1)))


def test_training_mode_is_restored() -> None:
    model = mlp().train()
    model[2].eval()
    link_scores(model, data())
    assert model.training and model[0].training and not model[2].training


@pytest.mark.parametrize("fraction", [-0.1, 1.5, math.nan, "half", True])
def test_fraction_outside_unit_interval_raises(fraction: object) -> None:
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\]"):
        prune_links_(mlp(), data(), fraction=fraction)


def test_bad_arguments_raise() -> None:
    model, x = mlp(), data()
    before = weights(model)
    with pytest.raises(ValueError, match="exactly one of fraction"):
        prune_links_(model, x)
    with pytest.raises(ValueError, match="exactly one of fraction"):
        prune_links_(model, x, fraction=0.1, threshold=0.1)
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0"):
        prune_links_(model, x, threshold=-1.0)
    with pytest.raises(ValueError, match="measure must be one of 'std', 'range'"):
        prune_links_(model, x, fraction=0.1, measure="l1")
    with pytest.raises(ValueError, match="scope must be one of 'layer', 'model'"):
        prune_links_(model, x, fraction=0.1, scope="global")
    with pytest.raises(ValueError, match="fill must be one of 'zero', 'mean'"):
        prune_links_(model, x, fraction=0.1, fill="nan")
    with pytest.raises(ValueError, match="no high-order layer"):
        prune_links_(nn.Sequential(nn.Linear(3, 1)), x, fraction=0.1)
    with pytest.raises(ValueError, match="no batch"):
        prune_links_(model, [], fraction=0.1)
    with pytest.raises(TypeError, match="first element is the model input"):
        link_scores(model, [("not a tensor",)])
    after = weights(model)
    assert all(torch.equal(before[name], after[name]) for name in before)  # nothing changed
