"""The pure QMP reader on libvirt's recorded QMP conversations (corpus/caps/*.replies)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from guestclock.core.model.caps import Cap
from guestclock.core.read.qmp import (
    PC_MACHINE_TYPE,
    QMPAnswers,
    answers_from_conversation,
    caps_from_answers,
    first_round,
    parse_replies_text,
    second_round,
)
from guestclock.errors import CapabilityError

CAPS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "caps"
REPLIES = sorted(CAPS_DIR.glob("caps_*.replies"))


def test_corpus_is_there() -> None:
    assert REPLIES, f"no caps_*.replies in {CAPS_DIR}"


def _flags(xml: Path) -> set[str]:
    return set(re.findall(r"<flag name='([^']+)'", xml.read_text()))


def _version(xml: Path) -> tuple[int, int, int]:
    match = re.search(r"<version>(\d+)</version>", xml.read_text())
    assert match is not None
    number = int(match.group(1))
    return (number // 1_000_000, number // 1_000 % 1_000, number % 1_000)


@pytest.mark.parametrize("replies", REPLIES, ids=lambda p: p.stem)
def test_replies_agree_with_libvirts_conclusions(replies: Path) -> None:
    """For every flag libvirt still probes, our reading of the same answers agrees."""
    caps = caps_from_answers(answers_from_conversation(parse_replies_text(replies.read_text())))
    xml = replies.with_suffix(".xml")
    flags = _flags(xml)
    assert caps.version == _version(xml)
    assert caps.has(Cap.KVM_PIT_TICK_POLICY) == ("kvm-pit-lost-tick-policy" in flags)
    assert caps.has(Cap.MACHINE_HPET) == ("machine-hpet" in flags)
    assert caps.has(Cap.KVM) == ("kvm" in flags)
    assert caps.has(Cap.TCG) == ("tcg" in flags)
    assert caps.has(Cap.CPU_KVM_NO_ADJVTIME) == ("cpu.kvm-no-adjvtime" in flags)
    assert caps.has(Cap.RTC) and caps.has(Cap.RTC_CLOCK_RT)
    if caps.arch == "x86_64":
        assert {Cap.CPU_KVMCLOCK, Cap.CPU_HV_TIME, Cap.CPU_TSC_FREQUENCY, Cap.CPU_FEATURE_PROPS} <= caps.caps
        assert caps.default_machine is not None and caps.default_machine.startswith("pc-i440fx-")
        # QMP cannot show -no-hpet: it comes from the option history (x86 QEMU 0.10-8.2 all have it)
        assert caps.has(Cap.NO_HPET)


def test_machine_hpet_from_the_80_command_line_options() -> None:
    text = (CAPS_DIR / "caps_8.0.0.x86_64.replies").read_text()
    caps = caps_from_answers(answers_from_conversation(parse_replies_text(text)))
    assert caps.hpet_machines is None  # no machine type was asked: decided by family
    assert caps.machine_has_hpet("pc-q35-8.0") and not caps.machine_has_hpet("microvm")


def _live_like(hpet: bool, *, hpet_device: bool = True) -> QMPAnswers:
    machine_props = frozenset({"hpet", "smm"}) if hpet else frozenset({"smm"})
    return QMPAnswers(
        version={"qemu": {"major": 7, "minor": 2, "micro": 22}},
        target={"arch": "x86_64"},
        kvm={"present": True, "enabled": False},
        command_line_options={"rtc": frozenset({"base", "clock", "driftfix"}), "machine": frozenset()},
        machines=[
            {"name": "pc-i440fx-7.2", "alias": "pc", "is-default": True},
            {"name": "pc-q35-7.2", "alias": "q35"},
            {"name": "pc-q35-4.0.1"},
            {"name": "microvm"},
        ],
        machine_properties={PC_MACHINE_TYPE: machine_props},
        device_properties={
            "kvm-pit": frozenset({"lost_tick_policy"}),
            "mc146818rtc": frozenset({"lost_tick_policy"}),
            "hpet": frozenset({"timers"}) if hpet_device else None,
        },
        cpu_properties={"max-x86_64-cpu": frozenset({"kvmclock", "hv-time", "tsc-frequency"})},
        accelerators=frozenset({"tcg-accel"}),
    )


def test_hpet_machines_cover_the_pc_families_and_their_aliases() -> None:
    caps = caps_from_answers(_live_like(True))
    assert caps.hpet_machines == frozenset({"pc-i440fx-7.2", "pc", "pc-q35-7.2", "q35", "pc-q35-4.0.1"})
    assert caps.default_machine == "pc-i440fx-7.2"
    assert caps.has(Cap.MACHINE_HPET)


def test_no_hpet_property_means_no_machine_hpet() -> None:
    caps = caps_from_answers(_live_like(False))
    assert not caps.has(Cap.MACHINE_HPET)
    assert caps.hpet_machines == frozenset()


def test_build_without_hpet_device() -> None:
    caps = caps_from_answers(_live_like(True, hpet_device=False))
    assert not caps.has(Cap.MACHINE_HPET)
    assert not caps.has(Cap.NO_HPET)  # nothing to switch off: present='yes' must be refused
    assert any("without an HPET" in note for note in caps.notes)


def test_help_text_decides_plain_options() -> None:
    from guestclock.core.model.caps import Capabilities

    plain = Capabilities(caps=frozenset({Cap.NO_HPET, Cap.TCG}), source="help")
    caps = caps_from_answers(_live_like(True), plain_options=plain)
    assert caps.has(Cap.NO_HPET)
    assert not caps.has(Cap.LOCALTIME)
    assert not any("option history" in note for note in caps.notes)
    none = Capabilities(caps=frozenset({Cap.TCG}), source="help")
    assert not caps_from_answers(_live_like(True), plain_options=none).has(Cap.NO_HPET)


def test_rounds() -> None:
    requests = first_round("x86_64")
    assert ("qom-list-properties", {"typename": "max-x86_64-cpu"}) in requests
    assert ("device-list-properties", {"typename": "kvm-pit"}) in requests
    assert ("device-list-properties", {"typename": "mc146818rtc"}) in requests
    # the generic PC machine answered: nothing more to ask
    assert second_round(_live_like(True)) == []
    # it did not: one machine type per family, newest first
    answers = QMPAnswers(
        target={"arch": "x86_64"},
        machines=[{"name": "pc-i440fx-7.1"}, {"name": "pc-i440fx-7.2"}, {"name": "pc-q35-7.2"}],
        machine_properties={PC_MACHINE_TYPE: None},
        cpu_properties={"max-x86_64-cpu": frozenset()},
    )
    assert sorted(str(args) for _cmd, args in second_round(answers)) == [
        "{'typename': 'pc-i440fx-7.2-machine'}",
        "{'typename': 'pc-q35-7.2-machine'}",
    ]
    # the CPU type guessed from the binary's name was wrong
    wrong = QMPAnswers(target={"arch": "aarch64"}, cpu_properties={"max-x86_64-cpu": None})
    assert second_round(wrong) == [("qom-list-properties", {"typename": "max-arm-cpu"})]


def test_not_qemu() -> None:
    with pytest.raises(CapabilityError, match="did not answer query-version"):
        caps_from_answers(QMPAnswers())
    with pytest.raises(CapabilityError, match="not JSON"):
        parse_replies_text('{"execute": "query-version"}\n{garbage')
    with pytest.raises(CapabilityError, match="expected an object"):
        parse_replies_text("[1, 2]")
