"""Conformance with libvirt's own test corpus (../shared/corpus).

Each expectation file of each case is one test: guestclock's clock-related
arguments must equal libvirt's, or libvirt's error text must equal ours, unless
the difference is listed, exactly, in conformance-differences.toml.
"""

from __future__ import annotations

import fnmatch
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from corpus import CORPUS, Case, all_cases, clock_items, libvirt_items
from guestclock.core.read.domain import read_domain
from guestclock.core.translate import translate
from guestclock.errors import UnsupportedConfigError, XMLError
from guestclock.host.clock import host_now

DIFFERENCES: list[dict[str, Any]] = tomllib.loads((Path(__file__).parent / "conformance-differences.toml").read_text())[
    "difference"
]

if not CORPUS.is_dir():  # pragma: no cover
    pytest.skip(f"the shared corpus is not at {CORPUS}", allow_module_level=True)

CASES = all_cases()
RESULTS: dict[str, str] = {}  # case id -> "agree" | "listed" | "disagree"
USED_DIFFERENCES: set[int] = set()


def test_corpus_is_not_empty() -> None:
    eras = {case.era for case in CASES}
    assert eras == {"libvirt-9.0", "libvirt-newest", "seed-era"}
    assert len(CASES) >= 40


@pytest.fixture
def libvirt_now(monkeypatch: pytest.MonkeyPatch) -> Any:
    """libvirt's test driver: TZ=VIR00:30 and now = 1234567890."""
    monkeypatch.setenv("TZ", "VIR00:30")
    time.tzset()
    yield host_now(1234567890)
    monkeypatch.undo()
    time.tzset()


def _ours(case: Case, now: Any) -> list[str]:
    result = read_domain(case.xml.read_bytes())
    try:
        translation = translate(result.domain, case.caps, now)
    except (UnsupportedConfigError, XMLError) as exc:
        return [f"error: {exc}"]
    return clock_items(translation.argv, translation.environ)


def _theirs(case: Case) -> list[str] | None:
    if case.expected.name.endswith(".err-missing"):
        return None  # libvirt refuses; its text was not recorded
    if case.expected.suffix == ".err":
        return [f"error: {case.expected.read_text().strip()}"]
    return libvirt_items(case.expected)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_case(case: Case, libvirt_now: Any) -> None:
    ours = _ours(case, libvirt_now)
    theirs = _theirs(case)
    if theirs is None:
        assert ours and ours[0].startswith("error: "), f"libvirt refuses {case.id}; guestclock gave {ours}"
        RESULTS[case.id] = "agree"
        return
    if ours == theirs:
        RESULTS[case.id] = "agree"
        return
    only_libvirt = sorted(set(theirs) - set(ours))
    only_ours = sorted(set(ours) - set(theirs))
    for index, entry in enumerate(DIFFERENCES):
        if (
            fnmatch.fnmatch(case.id, entry["cases"])
            and sorted(entry["libvirt"]) == only_libvirt
            and sorted(entry["guestclock"]) == only_ours
        ):
            RESULTS[case.id] = "listed"
            USED_DIFFERENCES.add(index)
            return
    RESULTS[case.id] = "disagree"
    pytest.fail(
        f"{case.id} (caps {case.caps.source}):\n  libvirt only:    {only_libvirt}\n"
        f"  guestclock only: {only_ours}\n  libvirt:    {theirs}\n  guestclock: {ours}"
    )


def test_every_listed_difference_still_occurs() -> None:
    """Runs after the cases (pytest keeps file order): a stale entry hides nothing."""
    if len(RESULTS) < len(CASES):
        pytest.skip("run the whole module to check the differences list")
    stale = [entry["cases"] for index, entry in enumerate(DIFFERENCES) if index not in USED_DIFFERENCES]
    # the seed-era pit mapping entry is a rule for kept-back cases and may match none here
    stale = [glob for glob in stale if "*" not in glob]
    assert not stale, f"differences listed but no longer occurring: {stale}"
