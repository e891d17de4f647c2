"""The code stays typed (mypy --strict) and ruff-clean; CI installs both through the test extra."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _tool(name: str) -> list[str]:
    if shutil.which(name) is None:
        try:
            __import__(name)
        except ImportError:
            pytest.skip(f"{name} is not installed (python3 -m pip install -e '.[test]' installs it)")
    return [sys.executable, "-m", name]


def test_mypy_strict() -> None:
    ran = subprocess.run([*_tool("mypy")], cwd=ROOT, capture_output=True, text=True, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_ruff() -> None:
    ran = subprocess.run(
        [*_tool("ruff"), "check", "src", "tests"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
