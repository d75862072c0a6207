"""The sdist and the wheel hold what the package needs, and the wheel works once installed.

The distributions are built with ``python -m build`` from a copy of the files git knows about
(tracked, plus untracked ones that ``.gitignore`` does not exclude), so ``.venv/``, build outputs
and other local files cannot hide a packaging gap. The wheel is then installed, with torch alone
as its dependency, into a fresh virtual environment that does not see this one's packages, and a
short script there imports the package, runs every layer type forward and backward and finds the
C++ kernel sources through ``importlib.resources``.

Compiling the CPU kernels from the installed wheel takes one to three minutes, so that check only
runs with ``HIGH_ORDER_LAYERS_TEST_WHEEL_KERNELS=1``; by default the installed sources are checked
to be complete (every file the builder compiles, every header they include) without compiling.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("build")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "high_order_layers_torch"
PACKAGE_DIR = f"src/{PACKAGE}"


def _read_pyproject() -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # build depends on tomli where tomllib is missing
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


PYPROJECT = _read_pyproject()
VERSION = PYPROJECT["project"]["version"]
KERNELS_ENV = "HIGH_ORDER_LAYERS_TEST_WHEEL_KERNELS"


def _git_files() -> list[str]:
    """The repository's files as a clean clone (plus files not yet added) would have them."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to know which files belong to the project")
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    # A tracked file deleted in the working tree is not part of what would be committed.
    return sorted(name for name in listing.split("\0") if name and (ROOT / name).is_file())


def _run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure the assertion shows its output."""
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, command))} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def project_files() -> list[str]:
    return _git_files()


@pytest.fixture(scope="module")
def dists(project_files: list[str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(sdist, wheel)`` built from a copy of the project's files."""
    source = tmp_path_factory.mktemp("source")
    for name in project_files:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    out = tmp_path_factory.mktemp("dist")
    # Without --sdist/--wheel, build makes the sdist and then the wheel *from the sdist*, so a file
    # the sdist leaves out breaks the wheel too. Where the build backend is already installed the
    # build runs without isolation (no index needed); otherwise build fetches it into an isolated
    # environment.
    command = [sys.executable, "-m", "build", "--outdir", str(out), str(source)]
    if importlib.util.find_spec("hatchling") is not None:
        command.insert(3, "--no-isolation")
    _run(command)
    sdists = list(out.glob("*.tar.gz"))
    wheels = list(out.glob("*.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())
    return sdists[0], wheels[0]


def test_wheel_contents(dists: tuple[Path, Path], project_files: list[str]) -> None:
    _, wheel = dists
    assert wheel.name == f"{PACKAGE}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"{PACKAGE}-{VERSION}.dist-info"
        metadata = archive.read(f"{dist_info}/METADATA").decode()

    # Every file of the package directory, whatever its kind, is installed.
    package_files = {name.removeprefix("src/") for name in project_files if name.startswith(f"{PACKAGE_DIR}/")}
    assert package_files, "no package files found"
    assert not package_files - names, f"missing from the wheel: {sorted(package_files - names)}"
    # The ones the package cannot work without, named so that a rename is noticed here.
    kernels = f"{PACKAGE}/kernels"
    required = {
        f"{PACKAGE}/__init__.py",
        f"{PACKAGE}/py.typed",
        f"{kernels}/_build.py",
        f"{kernels}/_gather_triton.py",
        f"{kernels}/_gather_triton_kernels.py",
        f"{kernels}/piecewise_basis.h",
        f"{kernels}/vector_lanes.h",
        f"{kernels}/bindings.cpp",
    }
    assert not required - names, f"missing from the wheel: {sorted(required - names)}"
    assert {name for name in names if name.startswith(f"{kernels}/") and name.endswith(".cpp")} >= {
        f"{kernels}/{name}" for name in ("gather_cpu.cpp", "product_cpu.cpp", "expand_cpu.cpp", "fourier_cpu.cpp")
    }
    # Nothing but the package and its metadata; no byte code or stray top-level modules.
    strays = {name for name in names if not name.startswith((f"{PACKAGE}/", f"{dist_info}/"))}
    assert not strays, f"unexpected files in the wheel: {sorted(strays)}"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    # The licence travels with the wheel, and the metadata says what pyproject.toml says.
    assert f"{dist_info}/licenses/LICENSE" in names
    fields = [line.partition(": ") for line in metadata.splitlines() if ": " in line]
    values: dict[str, list[str]] = {}
    for key, _, value in fields:
        values.setdefault(key, []).append(value)
    assert values["Name"] == ["high-order-layers-torch"]
    assert values["Version"] == [VERSION]
    assert values["License-Expression"] == ["MIT"]
    assert values["Requires-Python"] == [PYPROJECT["project"]["requires-python"]]
    assert any(requirement.startswith("torch") for requirement in values["Requires-Dist"])


def test_sdist_contents(dists: tuple[Path, Path], project_files: list[str]) -> None:
    sdist, _ = dists
    assert sdist.name == f"{PACKAGE}-{VERSION}.tar.gz"
    top = f"{PACKAGE}-{VERSION}"
    with tarfile.open(sdist) as archive:
        names = {member.name.removeprefix(f"{top}/") for member in archive.getmembers() if member.isfile()}
    required = {"pyproject.toml", "README.md", "LICENSE", "PKG-INFO"}
    assert not required - names, f"missing from the sdist: {sorted(required - names)}"
    package_files = {name for name in project_files if name.startswith(f"{PACKAGE_DIR}/")}
    assert not package_files - names, f"missing from the sdist: {sorted(package_files - names)}"
    assert not [name for name in names if name.startswith((".venv/", ".git/")) or "__pycache__" in name]


# Run in the fresh environment: with the wheel's package, not this checkout's.
SMOKE = textwrap.dedent(
    """
    import importlib.resources
    import json
    import os
    import re
    import sys
    import warnings

    # torch without NumPy says so on import; this environment has no NumPy on purpose.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
        import torch
    warnings.simplefilter("error")

    import high_order_layers_torch as hol
    from high_order_layers_torch import kernels
    from high_order_layers_torch.kernels import _build
    from high_order_layers_torch.layers import (
        CONV_LAYERS,
        CONV_TRANSPOSE_LAYERS,
        FC_LAYERS,
        high_order_convolution_layers,
        high_order_convolution_transpose_layers,
        high_order_fc_layers,
    )
    from high_order_layers_torch.networks import HighOrderMLP

    report = {"file": hol.__file__, "prefix": sys.prefix, "version": hol.__version__}

    # The kernel sources, found the way an installed package finds its data.
    files = importlib.resources.files("high_order_layers_torch.kernels")
    names = [*_build._SOURCES, *_build._HEADERS]
    report["missing"] = [name for name in names if not (files / name).is_file()]
    includes = set()
    for name in names:
        if (files / name).is_file():
            includes |= set(re.findall(r'#include "([^"]+)"', (files / name).read_text()))
    report["missing_includes"] = sorted(name for name in includes if not (files / name).is_file())
    report["py_typed"] = importlib.resources.files("high_order_layers_torch").joinpath("py.typed").is_file()
    report["triton_module"] = (files / "_gather_triton_kernels.py").is_file()

    torch.manual_seed(0)
    checked = []

    def forward_backward(name, layer, x):
        x = x.clone().requires_grad_(True)
        y = layer(x)
        y.square().sum().backward()
        grads = [x.grad, *(p.grad for p in layer.parameters())]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert torch.isfinite(y).all(), name
        checked.append(name)

    for layer_type in FC_LAYERS:
        layer = high_order_fc_layers(layer_type, n=3, in_features=5, out_features=4, segments=2)
        forward_backward(layer_type, layer, torch.rand(6, 5) * 2 - 1)
    for registry, build in ((CONV_LAYERS, high_order_convolution_layers),
                            (CONV_TRANSPOSE_LAYERS, high_order_convolution_transpose_layers)):
        for layer_type in registry:
            dims = int(layer_type[-2])
            layer = build(layer_type, n=3, in_channels=2, out_channels=3, kernel_size=2, segments=2)
            x = torch.rand(2, 2, *([4] * dims)) * 2 - 1
            forward_backward(f"{build.__name__}:{layer_type}", layer, x)
    net = HighOrderMLP("continuous", n=3, in_width=4, out_width=2, hidden_layers=1, hidden_width=5)
    forward_backward("HighOrderMLP", net, torch.rand(3, 4) * 2 - 1)
    report["checked"] = checked
    report["cpu_kernels"] = kernels.cpu_kernels_available()
    print("REPORT " + json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def wheel_python(dists: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The interpreter of a fresh virtual environment with the wheel and torch installed (removed
    afterwards: with torch it takes about 1 GB, and pytest keeps its last three temporary trees)."""
    _, wheel = dists
    env_dir = tmp_path_factory.mktemp("wheel-venv")
    # A real, isolated environment (no --system-site-packages): only what the wheel declares.
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _run([*pip, "--no-deps", str(wheel)])
    # torch is installed in the version this suite runs with (scripts/setup.sh pins the 2.13.0
    # CPU build, which pip takes from the local wheel cache in about 20 s) rather than resolved
    # from the wheel's range, which could pick a multi-GB CUDA build.
    _run([*pip, f"torch=={torch.__version__.split('+')[0]}"])
    _run([str(python), "-m", "pip", "check", "--disable-pip-version-check"])
    yield python
    shutil.rmtree(env_dir, ignore_errors=True)


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the variables that would steer the package or Python."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HIGH_ORDER_LAYERS_", "TRITON_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update(extra)
    return env


def _smoke(python: Path, cwd: Path, **env: str) -> dict[str, object]:
    script = cwd / "smoke.py"
    script.write_text(SMOKE)
    result = _run([str(python), str(script)], cwd=cwd, env=_clean_env(**env))
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert lines, result.stdout + result.stderr
    report = json.loads(lines[-1].removeprefix("REPORT "))
    # The package imported is the installed wheel's, not this checkout's src/.
    assert Path(report["file"]).resolve().is_relative_to(Path(report["prefix"]).resolve()), report["file"]
    assert report["version"] == VERSION
    assert report["missing"] == [], f"kernel files missing from the installed package: {report['missing']}"
    assert report["missing_includes"] == [], f"headers missing: {report['missing_includes']}"
    assert report["py_typed"] and report["triton_module"]
    return report


def test_installed_wheel_runs(wheel_python: Path, tmp_path: Path) -> None:
    report = _smoke(wheel_python, tmp_path, HIGH_ORDER_LAYERS_CPU_KERNEL="0")
    checked = report["checked"]
    assert isinstance(checked, list)
    assert {"continuous", "discontinuous", "polynomial", "fourier", "product", "HighOrderMLP"} <= set(checked)
    # Every FC, conv and transposed-conv layer type of the registries (8, 12 and 12 today), and a network.
    assert len(checked) >= 8 + 12 + 12 + 1
    assert report["cpu_kernels"] is False


@pytest.mark.skipif(os.environ.get(KERNELS_ENV) != "1", reason=f"compiling takes minutes; set {KERNELS_ENV}=1")
def test_installed_wheel_builds_cpu_kernels(wheel_python: Path, tmp_path: Path) -> None:
    if shutil.which("c++") is None or shutil.which("ninja") is None:
        pytest.skip("needs a C++ compiler and ninja")
    # A private extension cache, so the build cannot reuse (or overwrite) the checkout's.
    report = _smoke(wheel_python, tmp_path, TORCH_EXTENSIONS_DIR=str(tmp_path / "torch_extensions"))
    assert report["cpu_kernels"] is True
