"""Reading and writing <clock>: round trips, libvirt's conversions, and every model field exercised."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from guestclock.core.model.domain import Basis, Clock, Offset, TickPolicy, Timer, TimerName, Track
from guestclock.core.read.domain import read_domain
from guestclock.core.render.xml import clock_to_xml

GOLDEN_INPUTS = sorted((Path(__file__).parent / "golden" / "valid").glob("*.xml"))


def _clock(xml: str) -> Clock:
    return read_domain(xml).domain.clock


@pytest.mark.parametrize("path", GOLDEN_INPUTS, ids=[p.stem for p in GOLDEN_INPUTS])
def test_round_trip(path: Path) -> None:
    clock = read_domain(path.read_bytes()).domain.clock
    assert _clock(clock_to_xml(clock)) == clock


def test_numeric_adjustment_on_utc_becomes_variable() -> None:
    clock = _clock("<clock offset='localtime' adjustment='-3600'/>")
    assert (clock.offset, clock.adjustment, clock.basis) == (Offset.VARIABLE, -3600, Basis.LOCALTIME)
    assert clock_to_xml(clock) == "<clock offset='variable' adjustment='-3600' basis='localtime'/>\n"


def test_wallclock_is_read_as_track_with_a_warning() -> None:
    result = read_domain("<clock><timer name='rtc' wallclock='guest'/></clock>")
    assert result.domain.clock.timers[0].track is Track.GUEST
    assert "deprecated" in result.warnings[0]


def test_domain_facts() -> None:
    domain = read_domain(
        "<domain type='kvm'><name>g</name><os><type arch='i686' machine='pc-q35-7.2'>hvm</type></os>"
        "<cpu mode='host-passthrough'/><devices><emulator>/usr/bin/qemu-system-i386</emulator></devices>"
        "</domain>"
    ).domain
    assert (domain.virt_type, domain.arch, domain.machine, domain.name) == ("kvm", "i686", "pc-q35-7.2", "g")
    assert domain.cpu is not None and domain.cpu.mode == "host-passthrough"
    assert domain.emulator == "/usr/bin/qemu-system-i386"
    assert domain.clock == Clock()  # no <clock>: libvirt's default, utc


def test_every_model_field_is_exercised_by_the_golden_inputs() -> None:
    """A field that no golden input sets is a rule no test checks (virt-manager's checkprops habit)."""
    clocks = [read_domain(p.read_bytes()).domain.clock for p in GOLDEN_INPUTS]
    timers = [t for c in clocks for t in c.timers]
    unset_clock = {
        f.name
        for f in dataclasses.fields(Clock)
        if f.name not in ("line", "timers") and all(getattr(c, f.name) == f.default for c in clocks)
    }
    unset_timer = {
        f.name
        for f in dataclasses.fields(Timer)
        if f.name != "line" and all(getattr(t, f.name) is None for t in timers)
    }
    assert not unset_clock and not unset_timer
    assert {t.name for t in timers} >= set(TimerName) - {TimerName.PLATFORM}
    assert {t.tickpolicy for t in timers} >= {TickPolicy.DELAY, TickPolicy.CATCHUP, TickPolicy.DISCARD}
    assert {c.offset for c in clocks} == set(Offset)


def test_hyperv_cpu_features_and_os_id_are_read() -> None:
    from guestclock.core.model.domain import HyperVFeature

    domain = read_domain(
        """<domain type='kvm'>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://microsoft.com/win/11"/>
    </libosinfo:libosinfo>
  </metadata>
  <features>
    <hyperv mode='custom'>
      <relaxed state='on'/>
      <spinlocks state='on' retries='8191'/>
      <stimer state='on'><direct state='on'/></stimer>
      <vendor_id state='on' value='KVM Hv'/>
      <tlbflush state='off'/>
    </hyperv>
  </features>
  <cpu mode='host-passthrough'><feature policy='require' name='invtsc'/><feature name='vmx' policy='disable'/></cpu>
  <clock offset='localtime'/>
</domain>"""
    ).domain
    assert domain.os_id == "http://microsoft.com/win/11"
    assert domain.hyperv is not None
    assert domain.hyperv.enabled(HyperVFeature.RELAXED)
    assert domain.hyperv.state(HyperVFeature.TLBFLUSH) is False
    assert domain.hyperv.state(HyperVFeature.SYNIC) is None
    assert (domain.hyperv.stimer_direct, domain.hyperv.spinlock_retries) == (True, 8191)
    assert domain.hyperv.vendor_id == "KVM Hv"
    assert domain.cpu is not None and domain.cpu.wants("invtsc") and not domain.cpu.wants("vmx")


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (
            "<hyperv><bogus state='on'/></hyperv>",
            "unsupported configuration: unsupported HyperV Enlightenment feature: bogus",
        ),
        ("<hyperv><relaxed/></hyperv>", "XML error: Missing required attribute 'state' in element 'relaxed'"),
        (
            "<hyperv><relaxed state='yes'/></hyperv>",
            "XML error: Invalid value for attribute 'state' in element 'relaxed': 'yes'.",
        ),
        ("<hyperv><spinlocks state='on'/></hyperv>", "XML error: missing HyperV spinlock retry count"),
        (
            "<hyperv><spinlocks state='on' retries='100'/></hyperv>",
            "XML error: HyperV spinlock retry count must be at least 4095",
        ),
        (
            "<hyperv><vendor_id state='on'/></hyperv>",
            "XML error: missing 'value' attribute for HyperV feature 'vendor_id'",
        ),
    ],
)
def test_hyperv_refusals(features: str, message: str) -> None:
    from guestclock.errors import XMLError

    with pytest.raises(XMLError) as caught:
        read_domain(f"<domain type='kvm'><features>{features}</features></domain>")
    assert str(caught.value) == message
