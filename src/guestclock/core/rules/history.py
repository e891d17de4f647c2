"""Capabilities estimated from a bare QEMU version number (QEMU's option history).

An estimate only: distributions backport and remove features (RHEL's qemu-kvm
has no HPET at all), so the result carries ``estimated=True`` and a note.
Dates follow QEMU's deprecation records (spec/RULES.md, "QEMU option history").
"""

from __future__ import annotations

import re

from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.rules.platform import DEFAULT_ARCH, X86_ARCHES, default_machine
from guestclock.errors import CapabilityError

__all__ = ["NEWEST_KNOWN", "caps_for_version", "parse_version"]

#: the newest QEMU release whose options guestclock knows
NEWEST_KNOWN = (10, 1, 0)

Version = tuple[int, int, int]

# (capability, first version that has it, first version that no longer has it, arches)
_X86 = X86_ARCHES
_ANY: frozenset[str] = frozenset()
_HISTORY: tuple[tuple[Cap, Version, Version | None, frozenset[str]], ...] = (
    (Cap.RTC, (0, 12, 0), None, _ANY),
    (Cap.RTC_CLOCK_RT, (1, 1, 0), None, _ANY),
    (Cap.RTC_TD_HACK, (0, 10, 0), (3, 1, 0), _X86),
    (Cap.LOCALTIME, (0, 0, 0), (3, 1, 0), _ANY),
    (Cap.STARTDATE, (0, 0, 0), (3, 1, 0), _ANY),
    (Cap.NO_HPET, (0, 10, 0), (9, 0, 0), _X86),
    (Cap.MACHINE_HPET, (5, 2, 0), None, _X86),
    # qemu-kvm had these long before; upstream QEMU took them over in 1.3
    (Cap.NO_KVM_PIT, (1, 3, 0), (3, 0, 0), _X86),
    (Cap.TDF, (1, 3, 0), (2, 12, 0), _X86),
    (Cap.KVM_PIT_TICK_POLICY, (1, 2, 0), None, _X86),
    (Cap.CPU_FEATURE_PROPS, (2, 4, 0), None, _ANY),
    (Cap.CPU_KVMCLOCK, (0, 12, 0), None, _X86),
    (Cap.CPU_HV_TIME_LEGACY, (2, 0, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_TIME, (4, 1, 0), None, _X86),
    (Cap.CPU_TSC_FREQ_LEGACY, (1, 1, 0), (2, 1, 0), _X86),
    (Cap.CPU_TSC_FREQUENCY, (2, 1, 0), None, _X86),
    (Cap.CPU_KVM_NO_ADJVTIME, (5, 0, 0), None, frozenset({"aarch64"})),
    # Hyper-V enlightenments: first release per libvirt's formatdomain.rst (QEMU version in
    # brackets), the hv- spellings from 4.1, hv-avic/-emsr-bitmap/-xmm-input as first seen in
    # libvirt's recorded QMP conversations (6.2, 7.1); core/rules/hyperv.py holds the same table
    (Cap.CPU_HV_RELAXED_LEGACY, (2, 0, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_RELAXED, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_VAPIC_LEGACY, (2, 0, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_VAPIC, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_SPINLOCKS_LEGACY, (2, 0, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_SPINLOCKS, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_VPINDEX_LEGACY, (2, 5, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_VPINDEX, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_RUNTIME_LEGACY, (2, 5, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_RUNTIME, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_SYNIC_LEGACY, (2, 6, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_SYNIC, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_STIMER_LEGACY, (2, 6, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_STIMER, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_RESET_LEGACY, (2, 5, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_RESET, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_VENDOR_ID_LEGACY, (2, 5, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_VENDOR_ID, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_FREQUENCIES_LEGACY, (2, 12, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_FREQUENCIES, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_REENLIGHTENMENT_LEGACY, (3, 0, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_REENLIGHTENMENT, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_TLBFLUSH_LEGACY, (3, 0, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_TLBFLUSH, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_IPI_LEGACY, (3, 1, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_IPI, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_EVMCS_LEGACY, (3, 1, 0), (4, 1, 0), _X86),
    (Cap.CPU_HV_EVMCS, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_STIMER_DIRECT, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_PASSTHROUGH, (4, 1, 0), None, _X86),
    (Cap.CPU_HV_AVIC, (6, 2, 0), None, _X86),
    (Cap.CPU_HV_EMSR_BITMAP, (7, 1, 0), None, _X86),
    (Cap.CPU_HV_XMM_INPUT, (7, 1, 0), None, _X86),
    # invtsc: QEMU 2.1
    (Cap.CPU_INVTSC, (2, 1, 0), None, _X86),
    (Cap.KVM, (1, 3, 0), None, frozenset({"i686", "x86_64", "aarch64", "s390x", "ppc64", "ppc64le"})),
    (Cap.TCG, (0, 0, 0), None, _ANY),
)

_VERSION = re.compile(r"^\s*v?(\d{1,3})\.(\d{1,3})(?:\.(\d{1,3}))?\s*$")


def parse_version(text: str) -> Version:
    """``"7.2"`` / ``"7.2.0"`` -> ``(7, 2, 0)``; anything else is a CapabilityError."""
    match = _VERSION.match(text)
    if match is None:
        raise CapabilityError(
            f"invalid QEMU version '{text}': expected MAJOR.MINOR or MAJOR.MINOR.MICRO",
            subject=text,
        )
    return (int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def _in_range(version: Version, since: Version, until: Version | None) -> bool:
    return version >= since and (until is None or version < until)


def caps_for_version(version: Version | str, arch: str = DEFAULT_ARCH) -> Capabilities:
    """The capabilities QEMU ``version`` for ``arch`` has per upstream's option history."""
    if isinstance(version, str):
        version = parse_version(version)
    caps = frozenset(
        cap
        for cap, since, until, arches in _HISTORY
        if _in_range(version, since, until) and (not arches or arch in arches)
    )
    text = ".".join(str(part) for part in version)
    note = (
        f"capabilities of QEMU {text} are estimated from upstream's option history; "
        "distribution builds backport and remove features, probe the binary to be sure"
    )
    return Capabilities(
        caps=caps,
        source=f"version:{text}",
        version=version,
        arch=arch,
        estimated=True,
        default_machine=default_machine(arch),
        notes=(note,),
    )


def history_caps(version: Version, arch: str) -> frozenset[Cap]:
    """The capabilities upstream QEMU ``version`` had, without the estimate wrapper."""
    return caps_for_version(version, arch).caps
