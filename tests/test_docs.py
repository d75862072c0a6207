"""The documentation: the site builds without warnings, and every public name has a docstring."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The modules whose ``__all__`` makes up the public API, each with a page in docs/api/.
PUBLIC_MODULES = [
    "high_order_layers_torch",
    "high_order_layers_torch.layers",
    "high_order_layers_torch.functional",
    "high_order_layers_torch.kernels",
    "high_order_layers_torch.networks",
    "high_order_layers_torch.refine",
    "high_order_layers_torch.inspect",
    "high_order_layers_torch.network",
]


def _own_docstring(obj: object) -> str | None:
    """The docstring ``obj`` defines itself (a class does not inherit one from its bases here)."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        return doc if isinstance(doc, str) else None
    return inspect.getdoc(obj) if obj.__doc__ is not None else None


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_names_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert (module.__doc__ or "").strip(), f"{module_name} has no module docstring"
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj)):
            continue  # constants: documented by `#:` comments, which only the site's build reads
        if not (_own_docstring(obj) or "").strip():
            missing.append(name)
    assert not missing, f"public names of {module_name} without a docstring: {', '.join(missing)}"


def test_api_pages_cover_public_modules() -> None:
    pages = "\n".join(path.read_text(encoding="utf-8") for path in (ROOT / "docs" / "api").glob("*.md"))
    for module_name in PUBLIC_MODULES:
        if module_name != "high_order_layers_torch.network":  # alias module, described on the package page
            assert f"::: {module_name}\n" in pages, f"no API page renders {module_name}"


def test_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict``: any warning (broken link or anchor, missing page, docstring the
    parser cannot read) fails the build. Takes about 10-15 s."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    pytest.importorskip("mkdocs_jupyter")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml")]
        + ["--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}\n{result.stderr}"
    site = tmp_path / "site"
    assert (site / "index.html").is_file()
    for page in ["convolution", "networks_and_refinement", "inspect", "examples", "gpu"]:
        assert (site / page / "index.html").is_file(), page
    for page in ["package", "layers", "functional", "kernels", "networks", "refine", "inspect"]:
        assert (site / "api" / page / "index.html").is_file(), page
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert (site / "notebooks" / notebook.stem / "index.html").is_file(), notebook.name
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="docs/' not in home and 'src="docs/' not in home, "README links not rewritten"


def test_readme_links_rewritten_for_the_site() -> None:
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    text = (
        "See [the guide](docs/convolution.md#padding), ![fit](docs/images/a.png),\n"
        "[the script](examples/prune_xor.py), [web](https://example.org/docs/x) and [top](#layout).\n"
        "```\n[kept](docs/in_code.md)\n```\n"
    )
    assert hooks.rewrite_readme_links(text) == (
        "See [the guide](convolution.md#padding), ![fit](images/a.png),\n"
        "the script, [web](https://example.org/docs/x) and [top](#layout).\n"
        "```\n[kept](docs/in_code.md)\n```\n"
    )
