"""-help parsing of every real help text in ../shared/corpus/help against libvirt's expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import CORPUS
from guestclock.core.model.caps import Cap
from guestclock.core.read.helptext import parse_help
from guestclock.errors import CapabilityError

HELP = CORPUS / "help"
EXPECTED = json.loads((HELP / "help-flags.json").read_text()) if HELP.is_dir() else {}
# libvirt's later test (late) supersedes the 2012 one for the files it covers
FLAGS = {**EXPECTED.get("primary_2012", {}), **EXPECTED.get("late", {})}
TEXTS = sorted(p for p in HELP.glob("*") if not p.name.endswith((".md", ".json", "-device")))
CLOCK_FLAGS = ("RTC", "RTC_TD_HACK", "NO_HPET", "NO_KVM_PIT", "TDF", "KVM", "ENABLE_KVM")


def test_every_help_text_is_covered() -> None:
    assert len(TEXTS) >= 16
    missing = {p.name for p in TEXTS} - set(FLAGS)
    # libvirt expects no flags for 1.2.0: it refused -help parsing from 1.2 on (QMP needed)
    assert missing == {"qemu-1.2.0"}


@pytest.mark.parametrize("path", TEXTS, ids=[p.name for p in TEXTS])
def test_help_text(path: Path) -> None:
    info = parse_help(path.read_text(encoding="latin-1"), source=path.name)
    expected = FLAGS.get(path.name)
    if expected is None:
        assert info.version == (1, 2, 0)
        assert info.capabilities.has(Cap.RTC) and info.capabilities.has(Cap.RTC_CLOCK_RT)
        return
    assert info.libvirt_version == expected["version"]
    assert info.is_kvm == expected["is_kvm"]
    assert info.kvm_version == expected["kvm_version"]
    want = {flag for flag in CLOCK_FLAGS if expected["clock_flags"].get(flag)}
    assert set(info.flags) & set(CLOCK_FLAGS) == want


@pytest.mark.parametrize(
    ("name", "has", "lacks"),
    [
        # RHEL 6 qemu-kvm ships without an HPET, hence without -no-hpet
        ("qemu-kvm-0.12.1.2-rhel61", {Cap.RTC, Cap.NO_KVM_PIT, Cap.TDF}, {Cap.NO_HPET, Cap.RTC_TD_HACK}),
        ("qemu-0.10.5", {Cap.RTC_TD_HACK, Cap.NO_HPET, Cap.LOCALTIME}, {Cap.RTC, Cap.NO_KVM_PIT}),
        ("kvm-74", {Cap.TDF, Cap.LOCALTIME, Cap.STARTDATE}, {Cap.NO_KVM_PIT, Cap.NO_HPET, Cap.RTC}),
        ("qemu-1.0", {Cap.RTC, Cap.NO_HPET}, {Cap.RTC_CLOCK_RT, Cap.CPU_FEATURE_PROPS}),
        ("qemu-1.1.0", {Cap.RTC, Cap.RTC_CLOCK_RT}, {Cap.KVM_PIT_TICK_POLICY}),
    ],
)
def test_capabilities_from_help(name: str, has: set[Cap], lacks: set[Cap]) -> None:
    caps = parse_help((HELP / name).read_text(encoding="latin-1")).capabilities
    assert has <= caps.caps
    assert not lacks & caps.caps


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cannot find 'QEMU emulator version X.Y.Z'"),
        ("Usage: true [ignored command line arguments]\n", "this is not QEMU"),
        ("QEMU emulator version 1.0\x00garbage", "NUL bytes"),
    ],
)
def test_not_qemu(text: str, message: str) -> None:
    with pytest.raises(CapabilityError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_help(text)


def test_no_kvm_does_not_match_no_kvm_pit() -> None:
    info = parse_help("QEMU PC emulator version 0.10.5\n-no-kvm-pit     disable KVM kernel mode PIT\n")
    assert "KVM" not in info.flags
