"""Golden files: tests/golden/{valid,invalid}/NAME.xml with NAME.json / NAME.err beside it.

Each input names its QEMU (and --now, TZ) in a comment
``<?guestclock-test ARGS [; env: NAME=VALUE]?>`` (a processing
instruction: XML comments cannot hold ``--``); ``{corpus}`` stands for
../shared/corpus. A valid case must produce exactly NAME.json (``guestclock argv
--format json``); an invalid case must exit 1 with exactly the line in NAME.err
(``{file}`` stands for the input's path). GUESTCLOCK_REGEN=1 rewrites the
expectations on purpose.
"""

from __future__ import annotations

import os
import re
import shlex
import time
from pathlib import Path

import pytest

from corpus import CORPUS
from guestclock.cli import main

GOLDEN = Path(__file__).parent / "golden"
REGEN = os.environ.get("GUESTCLOCK_REGEN") == "1"
_HEADER = re.compile(r"<\?guestclock-test (?P<args>[^;?]*?)(?: ; env: (?P<env>[^?]*?))?\?>")

VALID = sorted((GOLDEN / "valid").glob("*.xml"))
INVALID = sorted((GOLDEN / "invalid").glob("*.xml"))


def test_golden_globs_are_not_empty() -> None:
    assert len(VALID) >= 15
    assert len(INVALID) >= 30


def _run(path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    header = _HEADER.search(path.read_text())
    assert header is not None, f"{path.name} lacks its '<?guestclock-test ...?>' header"
    args = shlex.split(header.group("args").replace("{corpus}", str(CORPUS)))
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.setenv("PATH", "/nonexistent")  # never pick up a QEMU binary from the host
    for pair in (header.group("env") or "").split():
        name, value = pair.split("=", 1)
        monkeypatch.setenv(name, value)
    time.tzset()
    try:
        status = main(["argv", str(path), "--format", "json", *args])
    finally:
        monkeypatch.undo()
        time.tzset()
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _compare(expected_path: Path, actual: str) -> None:
    if REGEN:
        expected_path.write_text(actual)
    assert expected_path.exists(), f"missing {expected_path.name}; run with GUESTCLOCK_REGEN=1 to create it"
    assert actual == expected_path.read_text()


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid(path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(path, monkeypatch, capsys)
    assert status == 0, err
    # capability sources name corpus files; the corpus may live anywhere
    _compare(path.with_suffix(".json"), out.replace(str(CORPUS), "{corpus}"))


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid(path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(path, monkeypatch, capsys)
    assert status == 1
    assert out == ""
    lines = [line for line in err.splitlines() if not line.startswith("guestclock: warning:")]
    assert len(lines) == 1, err
    _compare(path.with_suffix(".err"), lines[0].replace(str(path), "{file}") + "\n")
