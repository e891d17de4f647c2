"""Shared test set-up: the agreement figure of the conformance run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    module = sys.modules.get("test_conformance")
    results = getattr(module, "RESULTS", None)
    if not results:
        return
    agree = sum(1 for value in results.values() if value == "agree")
    listed = sum(1 for value in results.values() if value == "listed")
    disagree = sum(1 for value in results.values() if value == "disagree")
    total = len(results)
    terminalreporter.write_sep("-", "libvirt corpus conformance")
    terminalreporter.write_line(
        f"agreement {agree}/{total}; deliberate differences {listed}; unlisted disagreements {disagree}"
    )
