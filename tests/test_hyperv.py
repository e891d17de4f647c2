"""The Hyper-V rules (core/rules/hyperv.py): dependencies, spellings by era, capabilities,
checked against QEMU's hyperv.rst facts, libvirt's expected command lines and the CPU
property lists in libvirt's recorded QMP conversations."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from corpus import CORPUS, Case, all_cases
from guestclock.core.model.caps import Cap
from guestclock.core.model.domain import HyperV, HyperVFeature
from guestclock.core.read.domain import read_domain
from guestclock.core.read.qmp import QMPAnswers, answers_from_conversation, caps_from_answers, parse_replies_text
from guestclock.core.rules import hyperv as hv
from guestclock.core.rules.history import _HISTORY, caps_for_version
from guestclock.core.translate import translate

E = hv.Enlightenment
REPLIES = sorted((CORPUS / "caps").glob("caps_*.x86_64.replies"))
HYPERV_CASES = [case for case in all_cases() if Path(case.xml).name.startswith("hyperv")]


def test_dependencies_are_qemus() -> None:
    """The "Requires:" lines of QEMU's hyperv.rst, as issue 13 quotes them."""
    assert set(hv.TABLE[E.STIMER].requires) == {E.VPINDEX, E.SYNIC, E.TIME}
    assert E.STIMER in hv.TABLE[E.STIMER_DIRECT].requires
    assert hv.TABLE[E.SYNIC].requires == (E.VPINDEX,)
    assert hv.TABLE[E.TLBFLUSH].requires == (E.VPINDEX,)
    assert hv.TABLE[E.IPI].requires == (E.VPINDEX,)
    assert hv.TABLE[E.EVMCS].requires == (E.VAPIC,)
    assert hv.TABLE[E.REENLIGHTENMENT].recommends == (E.FREQUENCIES,)
    # the clock-related ones and what they depend on
    assert {E.TIME, E.STIMER, E.STIMER_DIRECT, E.SYNIC, E.VPINDEX, E.FREQUENCIES, E.REENLIGHTENMENT} <= hv.CLOCK_RELATED
    assert E.TLBFLUSH not in hv.CLOCK_RELATED and E.EVMCS not in hv.CLOCK_RELATED
    for e in hv.CLOCK_RELATED:
        assert set(hv.TABLE[e].requires) <= hv.CLOCK_RELATED, e


def test_missing_dependencies_names_each_missing_one() -> None:
    assert hv.missing_dependencies({E.STIMER}) == ((E.STIMER, E.VPINDEX), (E.STIMER, E.SYNIC), (E.STIMER, E.TIME))
    assert hv.missing_dependencies({E.TIME, E.VPINDEX, E.SYNIC, E.STIMER, E.STIMER_DIRECT}) == ()
    assert hv.missing_dependencies({E.TLBFLUSH, E.IPI}) == ((E.TLBFLUSH, E.VPINDEX), (E.IPI, E.VPINDEX))


def test_every_feature_of_the_model_has_a_row() -> None:
    for feature in HyperVFeature:
        e = hv.from_feature(feature)
        assert hv.feature_of(e) is feature
        assert hv.TABLE[e].libvirt == feature.value


def test_history_rows_match_the_table() -> None:
    """versions._HISTORY says the same release for each spelling as the table."""
    history = {cap: (since, until) for cap, since, until, _arches in _HISTORY}
    for e, info in hv.TABLE.items():
        assert history[info.modern_cap] == (info.modern_since, None), e
        if info.legacy_cap is not None:
            assert info.since < hv.HYPHEN_SINCE
            assert history[info.legacy_cap] == (info.since, hv.HYPHEN_SINCE), e
        else:
            assert info.since >= hv.HYPHEN_SINCE, e
    assert history[Cap.CPU_HV_PASSTHROUGH] == ((4, 1, 0), None)


def test_qmp_names_map_to_every_capability() -> None:
    """A QEMU listing every hv- and hv_ property gets every capability (qmpcaps mapping)."""
    names = frozenset(name for name, _cap in hv.property_caps())
    answers = QMPAnswers(
        version={"qemu": {"major": 7, "minor": 2, "micro": 0}},
        target={"arch": "x86_64"},
        cpu_properties={"max-x86_64-cpu": names},
    )
    caps = caps_from_answers(answers)
    for _name, cap in hv.property_caps():
        assert caps.has(cap), cap


@pytest.mark.parametrize("replies", REPLIES, ids=lambda p: p.stem)
def test_history_agrees_with_recorded_qemu(replies: Path) -> None:
    """For QEMU 4.2-8.0, the estimate from the version has exactly the Hyper-V properties the
    recorded QEMU listed (hv-avic arrives in 6.2, hv-emsr-bitmap and hv-xmm-input in 7.1)."""
    probed = caps_from_answers(answers_from_conversation(parse_replies_text(replies.read_text())))
    assert probed.version is not None
    estimated = caps_for_version(probed.version)
    hyperv_caps = {cap for _name, cap in hv.property_caps()}
    assert probed.caps & hyperv_caps == estimated.caps & hyperv_caps
    assert probed.has(Cap.CPU_HV_STIMER_DIRECT) and not probed.has(Cap.CPU_HV_STIMER_LEGACY)
    assert probed.has(Cap.CPU_HV_AVIC) == (probed.version >= (6, 2, 0))
    assert probed.has(Cap.CPU_INVTSC)


def _hv_words(args_file: Path) -> list[str]:
    words = shlex.split(args_file.read_text().replace("\\\n", " "))
    cpu = words[words.index("-cpu") + 1]
    return [part for part in cpu.split(",")[1:] if part.startswith(("hv-", "hv_"))]


def test_corpus_has_the_hyperv_cases() -> None:
    assert {Path(c.xml).name for c in HYPERV_CASES} >= {"hyperv.xml", "hyperv-off.xml", "hyperv-stimer-direct.xml"}
    assert len(HYPERV_CASES) >= 6  # libvirt 9.0 and newest


@pytest.mark.parametrize("case", HYPERV_CASES, ids=lambda c: c.id)
def test_libvirt_spells_the_same(case: Case) -> None:
    """The translation's -cpu properties are libvirt's, in its order; cpu_parts says the same."""
    domain = read_domain(case.xml.read_bytes()).domain
    assert domain.hyperv is not None
    translation = translate(domain, case.caps)
    cpu = next((o for o in translation.options if o.name == "-cpu"), None)
    ours = [p.text for p in cpu.parts[1:]] if cpu is not None else []
    assert ours == _hv_words(case.expected)
    hypervclock = "hv-time=on" in ours
    result = hv.cpu_parts(domain.hyperv, case.caps, hypervclock=hypervclock, virt_type=domain.virt_type)
    assert result.refusals == ()
    assert [p.text for p in result.parts] == [word for word in ours if word != "hv-time=on"]


def _full() -> HyperV:
    features = tuple((f, True) for f in HyperVFeature)
    return HyperV(features=features, stimer_direct=True, spinlock_retries=8191, vendor_id="KVM Hv")


def test_old_spellings_and_refusals_by_era() -> None:
    hyperv = _full()
    parts = hv.cpu_parts(hyperv, caps_for_version("3.1.0"), hypervclock=True)
    texts = [p.text for p in parts.parts]
    assert texts[:4] == ["hv_relaxed", "hv_vapic", "hv_spinlocks=0x1fff", "hv_vpindex"]
    assert "hv_vendor_id=KVM Hv" in texts and "hv_evmcs" in texts
    refused = {r.subject: r for r in parts.refusals}
    assert set(refused) == {"stimer direct", "avic", "emsr_bitmap", "xmm_input"}
    assert refused["stimer direct"].capability == "cpu.hv-stimer-direct"
    assert str(refused["avic"]) == (
        "unsupported configuration: Configuring the Hyper-V 'avic' enlightenment is not supported with this QEMU binary"
    )
    modern = hv.cpu_parts(hyperv, caps_for_version("7.2.0"), hypervclock=True)
    assert modern.refusals == ()
    assert [p.text for p in modern.parts][-3:] == ["hv-avic=on", "hv-emsr-bitmap=on", "hv-xmm-input=on"]
    assert all(p.capability.value.startswith("cpu.hv-") for p in modern.parts)
    # before 2.0 nothing at all
    none = hv.cpu_parts(hyperv, caps_for_version("1.5.0"), hypervclock=True)
    assert none.parts == () and len(none.refusals) == len(HyperVFeature) + 1


def test_off_members_and_passthrough() -> None:
    off = HyperV(features=((HyperVFeature.STIMER, False), (HyperVFeature.RELAXED, False)))
    assert hv.cpu_parts(off, caps_for_version("7.2.0")).parts == ()
    passthrough = HyperV(mode="passthrough")
    assert [p.text for p in hv.cpu_parts(passthrough, caps_for_version("7.2.0")).parts] == ["hv-passthrough=on"]
    refused = hv.cpu_parts(passthrough, caps_for_version("4.0.0")).refusals
    assert [r.capability for r in refused] == ["cpu.hv-passthrough"]


def test_warnings_name_the_missing_dependency_and_tcg() -> None:
    lone = HyperV(features=((HyperVFeature.STIMER, True),))
    warnings = hv.cpu_parts(lone, caps_for_version("7.2.0"), hypervclock=False).warnings
    assert warnings == (
        "Hyper-V 'stimer' requires 'vpindex': QEMU refuses to start under KVM without it",
        "Hyper-V 'stimer' requires 'synic': QEMU refuses to start under KVM without it",
        "Hyper-V 'stimer' requires 'time' (<timer name='hypervclock' present='yes'/>): QEMU refuses to start "
        "under KVM without it",
    )
    vp = HyperV(features=((HyperVFeature.VPINDEX, True),))
    assert any("under TCG" in w for w in hv.cpu_parts(vp, caps_for_version("7.2.0"), virt_type="qemu").warnings)
    assert not hv.cpu_parts(vp, caps_for_version("7.2.0"), virt_type="kvm").warnings


@pytest.mark.parametrize("case", sorted({Path(c.xml) for c in HYPERV_CASES}), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hyperv_xml_round_trip(case: Path) -> None:
    """xmlwrite.hyperv_to_xml writes what xmlread reads back to the same model (libvirt's cases)."""
    from guestclock.core.render.xml import features_to_xml

    hyperv = read_domain(case.read_bytes()).domain.hyperv
    assert hyperv is not None
    text = f"<domain type='kvm'>{features_to_xml(hyperv)}<clock offset='utc'/></domain>"
    assert read_domain(text).domain.hyperv == hyperv


def test_hyperv_xml_writes_values_and_states() -> None:
    from guestclock.core.render.xml import hyperv_to_xml

    hyperv = HyperV(
        mode="custom",
        features=(
            (HyperVFeature.SPINLOCKS, True),
            (HyperVFeature.VENDOR_ID, True),
            (HyperVFeature.STIMER, True),
            (HyperVFeature.EVMCS, False),
        ),
        stimer_direct=False,
        spinlock_retries=8191,
        vendor_id="KVM Hv",
    )
    assert hyperv_to_xml(hyperv, "  ") == (
        "  <hyperv mode='custom'>\n"
        "    <spinlocks state='on' retries='8191'/>\n"
        "    <vendor_id state='on' value='KVM Hv'/>\n"
        "    <stimer state='on'>\n"
        "      <direct state='off'/>\n"
        "    </stimer>\n"
        "    <evmcs state='off'/>\n"
        "  </hyperv>\n"
    )
    assert read_domain(f"<domain><features>{hyperv_to_xml(hyperv)}</features></domain>").domain.hyperv == hyperv
