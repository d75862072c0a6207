"""Positional embeddings: shapes, closed-form values, the partition of unity of the piecewise ones,
gradients, validation, and the examples' ``position_embedding`` switch."""

from __future__ import annotations

import math
import pickle
import sys
from pathlib import Path

import pytest
import torch

from high_order_layers_torch.layers import (
    POSITIONAL_EMBEDDINGS,
    FourierEmbedding,
    PiecewiseEmbedding,
    PositionalEmbedding,
    SinusoidalEmbedding,
    positional_embedding,
)

#: (kind, arguments, features per coordinate)
CASES = [
    ("continuous", {"n": 3, "segments": 4}, 9),
    ("continuous", {"n": 4, "segments": 1}, 4),
    ("discontinuous", {"n": 3, "segments": 4}, 12),
    ("discontinuous", {"n": 1, "segments": 5}, 5),
    ("fourier", {"n": 3}, 6),
    ("fourier", {"n": 2, "constant": True}, 5),
    ("sinusoidal", {"features": 6}, 6),
]
IDS = [f"{kind}-{'-'.join(f'{k}{v}' for k, v in args.items())}" for kind, args, _ in CASES]


@pytest.mark.parametrize(("kind", "args", "features"), CASES, ids=IDS)
@pytest.mark.parametrize("shape", [(3,), (5, 3), (2, 4, 3)], ids=["unbatched", "batched", "extra-dim"])
def test_shapes_and_blocks(kind: str, args: dict, features: int, shape: tuple[int, ...]) -> None:
    embedding = positional_embedding(kind, **args)
    assert isinstance(embedding, PositionalEmbedding) and embedding.features == features
    x = torch.rand(shape) * 2 - 1
    y = embedding(x)
    assert y.shape == (*shape[:-1], shape[-1] * features) and y.dtype == x.dtype
    # coordinate i's block is the embedding of that coordinate alone
    blocks = y.unflatten(-1, (shape[-1], features))
    for i in range(shape[-1]):
        torch.testing.assert_close(blocks[..., i, :], embedding(x[..., i : i + 1]))
    assert not list(embedding.parameters())
    assert repr(embedding).startswith(type(embedding).__name__)
    clone = pickle.loads(pickle.dumps(embedding))
    torch.testing.assert_close(clone(x), y)


@pytest.mark.parametrize(("kind", "args", "features"), CASES, ids=IDS)
def test_dtype_and_gradients(kind: str, args: dict, features: int) -> None:
    embedding = positional_embedding(kind, **args).to(torch.float64)
    # away from piece edges, where the discontinuous embedding jumps
    x = (torch.rand(4, 2, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    assert embedding(x).dtype == torch.float64
    torch.autograd.gradcheck(embedding, (x,))


@pytest.mark.parametrize("continuous", [True, False])
@pytest.mark.parametrize(("n", "segments"), [(1, 3), (2, 4), (3, 4), (5, 2)])
def test_piecewise_partition_of_unity_and_linear_reproduction(continuous: bool, n: int, segments: int) -> None:
    embedding = PiecewiseEmbedding(n, segments, continuous=continuous, dtype=torch.float64)
    x = torch.cat([torch.linspace(-1, 1, 101, dtype=torch.float64), torch.rand(50, dtype=torch.float64) * 2 - 1])
    values = embedding(x[:, None])  # (N, features)
    torch.testing.assert_close(values.sum(-1), torch.ones_like(x))
    # at most n non-zero features, all in the coordinate's own piece
    assert (values.abs() > 1e-12).sum(-1).max() <= n
    if n >= 2 or not continuous:  # one shared constant cannot follow x
        nodes = embedding.basis.node_positions()
        reproduced = values @ nodes
        if n >= 2:  # exact for polynomials of degree >= 1
            torch.testing.assert_close(reproduced, x)
        else:  # piecewise constants: the piece centre
            assert (reproduced - x).abs().max() <= 1 / segments + 1e-12


def test_piecewise_one_hot_and_kronecker_at_nodes() -> None:
    one_hot = PiecewiseEmbedding(1, 4, continuous=False)
    assert one_hot(torch.tensor([[-0.9], [-0.1], [0.3], [1.0]])).tolist() == torch.eye(4).tolist()
    embedding = PiecewiseEmbedding(3, 2, dtype=torch.float64)
    nodes = embedding.basis.node_positions()
    torch.testing.assert_close(embedding(nodes[:, None]), torch.eye(len(nodes), dtype=torch.float64))


def test_piecewise_is_continuous_only_when_asked() -> None:
    edge = torch.tensor([[-1e-9], [1e-9]], dtype=torch.float64)
    continuous = PiecewiseEmbedding(3, 2, dtype=torch.float64)(edge)
    torch.testing.assert_close(continuous[0], continuous[1], atol=1e-7, rtol=0)
    discontinuous = PiecewiseEmbedding(3, 2, continuous=False, dtype=torch.float64)(edge)
    assert (discontinuous[0] - discontinuous[1]).abs().max() > 0.5


def test_fourier_closed_form() -> None:
    x = torch.rand(7, 2, dtype=torch.float64) * 2 - 1
    for length, constant in ((2.0, False), (1.0, True), (3.5, False)):
        embedding = FourierEmbedding(3, length, constant=constant, dtype=torch.float64)
        k = torch.arange(1, 4, dtype=torch.float64)
        angle = x[..., None] * k * math.pi / length  # (7, 2, 3)
        parts = [angle.cos(), angle.sin()]
        if constant:
            parts.insert(0, torch.ones(7, 2, 1, dtype=torch.float64))
        expected = torch.cat(parts, dim=-1).flatten(-2)
        torch.testing.assert_close(embedding(x), expected)


def test_sinusoidal_closed_form_and_integer_positions() -> None:
    features = 8
    embedding = SinusoidalEmbedding(features, dtype=torch.float64)
    positions = torch.arange(20)[:, None]  # integer positions, as in the transformer
    values = embedding(positions)
    assert values.dtype == torch.float64
    for i in range(features // 2):
        angle = positions[:, 0].double() / 10000 ** (2 * i / features)
        torch.testing.assert_close(values[:, 2 * i], angle.sin())
        torch.testing.assert_close(values[:, 2 * i + 1], angle.cos())
    # coordinates in [-1, 1] with scale: the same features as the positions they stand for
    scaled = SinusoidalEmbedding(features, scale=9.5, dtype=torch.float64)
    coordinates = torch.linspace(-1, 1, 20, dtype=torch.float64)[:, None]
    shifted = embedding(positions.double() - 9.5)
    torch.testing.assert_close(scaled(coordinates), shifted)
    assert "scale=9.5" in repr(scaled)
    # moved to float64 after construction: frequencies recomputed, not upcast from float32
    moved = SinusoidalEmbedding(features).double()
    torch.testing.assert_close(moved.frequencies, embedding.frequencies, rtol=0, atol=0)


def test_registry_and_validation() -> None:
    assert set(POSITIONAL_EMBEDDINGS) == {"continuous", "discontinuous", "fourier", "sinusoidal"}
    assert positional_embedding("discontinuous", 2, 3).features == 6
    with pytest.raises(ValueError, match="valid kinds: continuous, discontinuous, fourier, sinusoidal"):
        positional_embedding("learned", 3)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        PiecewiseEmbedding(0)
    with pytest.raises(TypeError, match="segments"):
        PiecewiseEmbedding(3, 2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="continuous must be a bool"):
        PiecewiseEmbedding(3, continuous="no")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        FourierEmbedding(0)
    with pytest.raises(ValueError, match="length"):
        FourierEmbedding(2, length=0.0)
    with pytest.raises(ValueError, match="even"):
        SinusoidalEmbedding(5)
    with pytest.raises(ValueError, match="max_period"):
        SinusoidalEmbedding(4, max_period=-1.0)
    with pytest.raises(ValueError, match="scale"):
        SinusoidalEmbedding(4, scale=math.inf)
    with pytest.raises(TypeError, match="floating-point"):
        PiecewiseEmbedding(3)(torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="0-d"):
        FourierEmbedding(2)(torch.tensor(0.5))


# ------------------------------------------------------------------ the examples' switch
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def examples_path():
    pytest.importorskip("lightning")
    pytest.importorskip("hydra")
    sys.path.insert(0, str(EXAMPLES))
    yield
    sys.path.remove(str(EXAMPLES))


def _config(name: str, tmp_path: Path, *overrides: str):
    from hydra import compose, initialize_config_dir

    fast = ["threads=1", "progress_bar=false", "log_every_n_steps=1", f"out_dir={tmp_path / 'out'}"]
    with initialize_config_dir(config_dir=str(EXAMPLES / "config"), version_base=None):
        return compose(config_name=name, overrides=[*fast, *overrides])


@pytest.mark.parametrize("kind", ["continuous", "discontinuous", "fourier", "sinusoidal"])
def test_implicit_image_with_embedding(kind: str, tmp_path: Path, examples_path: None) -> None:
    import implicit_image

    cfg = _config(
        "implicit_image",
        tmp_path,
        "image=generated",
        "generated_size=[8,12]",
        "factor=2",
        "in_segments=2",
        "hidden_width=4",
        "max_epochs=2",
        "batch_size=16",
        "val_every=2",
        f"position_embedding={kind}",
    )
    summary = implicit_image.run(cfg)
    assert summary["position_embedding"] == kind and math.isfinite(summary["psnr"])
    model = implicit_image.build_model(_plain(cfg), 6)  # the network's first module embeds
    assert isinstance(model[0], PositionalEmbedding)
    assert model(torch.zeros(5, 2)).shape == (5, 3)


def _plain(cfg) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True)


@pytest.mark.parametrize("kind", ["continuous", "fourier", "sinusoidal"])
def test_text_generation_with_embedding(kind: str, tmp_path: Path, examples_path: None) -> None:
    import text_generation

    text = tmp_path / "tiny.txt"
    text.write_text("the cat sat on the mat. " * 10, encoding="utf-8")
    cfg = _config(
        "text_generation",
        tmp_path,
        f"text={text}",
        "context=4",
        "hidden_width=8",
        "max_epochs=1",
        "batch_size=32",
        "sample_length=5",
        f"position_embedding={kind}",
    )
    summary = text_generation.run(cfg)
    assert summary["position_embedding"] == kind and math.isfinite(summary["test_bpc"])
    # the body's input: every character's code followed by its position's features
    plain = _plain(cfg)
    model = text_generation.build_model(plain, 9)
    features = model.embedding.features
    first = next(module for module in model.body.modules() if hasattr(module, "in_features"))
    assert first.in_features == 4 * (plain["embedding_dim"] + features)
    assert model(torch.zeros(3, 4, dtype=torch.long)).shape == (3, 9)


def test_examples_refuse_unknown_embedding(examples_path: None) -> None:
    from common.embedding import position_embedding

    assert position_embedding({"position_embedding": "none"}, 10) is None
    with pytest.raises(ValueError, match="position_embedding must be one of none, continuous"):
        position_embedding({"position_embedding": "learned"}, 10)
