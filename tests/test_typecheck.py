"""The package type-checks clean with mypy (configured in ``pyproject.toml``: ``[tool.mypy]``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_is_clean_on_the_package() -> None:
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_keyword_groups_are_checked_statically() -> None:
    """Builders and layers take shared keywords as ``**options: Unpack[TypedDict]``: a misspelt or
    mistyped keyword must stay a type error (``tests/typing/keyword_groups.py`` marks each one, and
    an unneeded ignore fails the check)."""
    pytest.importorskip("mypy")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "tests/typing/keyword_groups.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
