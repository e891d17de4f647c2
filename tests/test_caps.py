"""Capability loaders: libvirt dumps (real and hand-made), version estimates, JSON round trip."""

from __future__ import annotations

import pytest

from corpus import CORPUS
from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.read.capsdump import load_libvirt_caps
from guestclock.core.rules.history import NEWEST_KNOWN, caps_for_version, parse_version
from guestclock.errors import CapabilityError

DUMPS = sorted((CORPUS / "caps").glob("caps_*.xml"))


def test_dumps_found() -> None:
    assert len(DUMPS) >= 15


@pytest.mark.parametrize("path", DUMPS, ids=[p.name for p in DUMPS])
def test_every_dump_loads(path: object) -> None:
    from pathlib import Path

    assert isinstance(path, Path)
    caps = load_libvirt_caps(path.read_bytes(), source=path.name)
    arch = path.name.split(".")[-2]
    assert caps.arch == arch
    assert caps.version is not None
    assert caps.has(Cap.TCG)
    if arch == "x86_64":
        assert caps.has(Cap.RTC) and caps.has(Cap.KVM_PIT_TICK_POLICY)
        # -no-hpet is implied for every x86 QEMU before 9.0
        assert caps.has(Cap.NO_HPET)


def test_machine_hpet_follows_version_and_flag() -> None:
    assert not load_libvirt_caps((CORPUS / "caps" / "caps_5.1.0.x86_64.xml").read_bytes()).has(Cap.MACHINE_HPET)
    assert load_libvirt_caps((CORPUS / "caps" / "caps_5.2.0.x86_64.xml").read_bytes()).has(Cap.MACHINE_HPET)
    latest = load_libvirt_caps((CORPUS / "caps" / "caps_8.0.0.x86_64.xml").read_bytes())
    assert latest.machine_has_hpet("pc") and latest.machine_has_hpet("pc-q35-7.2")
    assert not latest.machine_has_hpet("microvm") and not latest.machine_has_hpet("isapc")


def test_aarch64_dump_has_adjvtime_and_no_pc_timers() -> None:
    caps = load_libvirt_caps((CORPUS / "caps" / "caps_7.0.0.aarch64.xml").read_bytes())
    assert caps.has(Cap.CPU_KVM_NO_ADJVTIME)
    assert not caps.has(Cap.NO_HPET) and not caps.has(Cap.KVM_PIT_TICK_POLICY)


def test_hand_made_flag_dump_means_exactly_its_flags() -> None:
    caps = load_libvirt_caps(
        b"<qemuCaps>\n  <flag name='rtc'/>\n  <flag name='no-kvm-pit'/>\n  <arch>i686</arch>\n</qemuCaps>\n"
    )
    assert caps.arch == "i686"
    assert caps.has(Cap.RTC) and caps.has(Cap.NO_KVM_PIT)
    assert not caps.has(Cap.NO_HPET) and not caps.has(Cap.KVM_PIT_TICK_POLICY)
    assert not caps.has(Cap.CPU_FEATURE_PROPS)  # old -cpu +feature syntax


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<domain/>", "expected <qemuCaps>"),
        (b"<qemuCaps><version>seven</version></qemuCaps>", "invalid <version>"),
        (b"not xml at all", "not a libvirt capability dump"),
    ],
)
def test_bad_dumps(data: bytes, message: str) -> None:
    with pytest.raises(CapabilityError, match=message):
        load_libvirt_caps(data)


@pytest.mark.parametrize(
    ("version", "has", "lacks"),
    [
        ("0.11.0", {Cap.NO_HPET, Cap.RTC_TD_HACK, Cap.LOCALTIME}, {Cap.RTC}),
        ("2.0.0", {Cap.RTC, Cap.TDF, Cap.NO_KVM_PIT, Cap.CPU_HV_TIME_LEGACY}, {Cap.CPU_FEATURE_PROPS}),
        ("3.1.0", {Cap.RTC, Cap.CPU_FEATURE_PROPS}, {Cap.LOCALTIME, Cap.RTC_TD_HACK, Cap.TDF, Cap.NO_KVM_PIT}),
        ("7.2.0", {Cap.NO_HPET, Cap.MACHINE_HPET, Cap.CPU_HV_TIME}, {Cap.CPU_HV_TIME_LEGACY}),
        # QEMU 9.0 removed -no-hpet; launchers that kept it broke
        ("9.0.0", {Cap.MACHINE_HPET, Cap.KVM_PIT_TICK_POLICY}, {Cap.NO_HPET}),
    ],
)
def test_version_history(version: str, has: set[Cap], lacks: set[Cap]) -> None:
    caps = caps_for_version(version)
    assert caps.estimated and caps.notes
    assert has <= caps.caps
    assert not lacks & caps.caps


def test_version_parsing() -> None:
    assert parse_version("7.2") == (7, 2, 0)
    assert parse_version("v10.1.2") == (10, 1, 2)
    assert caps_for_version(NEWEST_KNOWN).version == NEWEST_KNOWN
    for bad in ("", "seven", "7", "7.2.0.1", "7.2.x"):
        with pytest.raises(CapabilityError, match="invalid QEMU version"):
            parse_version(bad)


def test_json_round_trip() -> None:
    caps = load_libvirt_caps((CORPUS / "caps" / "caps_8.0.0.x86_64.xml").read_bytes(), source="x")
    again = Capabilities.from_json(caps.to_json())
    assert again == caps


def test_machine_types_of_a_dump_and_the_warning_for_a_missing_one() -> None:
    from guestclock.core.read.domain import read_domain
    from guestclock.core.translate import translate

    caps = load_libvirt_caps((CORPUS / "caps" / "caps_5.2.0.x86_64.xml").read_bytes())
    assert caps.machines is not None
    assert {"pc", "q35", "pc-q35-5.2", "pc-i440fx-5.2"} <= caps.machines
    assert "pc-q35-7.2" not in caps.machines

    def warnings(machine: str, on: Capabilities) -> tuple[str, ...]:
        xml = f"<domain type='kvm'><os><type arch='x86_64' machine='{machine}'>hvm</type></os></domain>"
        return translate(read_domain(xml).domain, on).warnings

    assert any("no machine type 'pc-q35-7.2'" in w for w in warnings("pc-q35-7.2", caps))
    assert not any("machine type" in w for w in warnings("q35", caps))
    # a version estimate does not know the machine list: no claim either way
    assert not any("machine type" in w for w in warnings("pc-q35-7.2", caps_for_version("5.2.0")))
