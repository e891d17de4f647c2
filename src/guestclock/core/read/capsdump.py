"""Capabilities from libvirt's recorded capability dumps (``tests/qemucapabilitiesdata/caps_*.xml``).

A dump with a ``<version>`` lists only the flags libvirt still probed when it was
recorded; the ones libvirt had retired (``rtc``, ``no-hpet``, ...) or never
probed for that release (``machine-hpet`` before QEMU 8.0's query-command-line-options
listed machine properties) follow from the version. A dump without a
``<version>`` (how libvirt's fake-capability tests state their flags) means
exactly the flags it lists.
"""

from __future__ import annotations

from dataclasses import replace

from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.read.safexml import parse_document
from guestclock.core.rules.history import history_caps
from guestclock.core.rules.platform import DEFAULT_ARCH, X86_ARCHES
from guestclock.errors import CapabilityError, XMLError

__all__ = ["LIBVIRT_FLAGS", "caps_from_libvirt_flags", "load_libvirt_caps"]

#: libvirt's capability names (as in dumps) -> ours
LIBVIRT_FLAGS: dict[str, Cap] = {
    "rtc": Cap.RTC,
    "rtc-td-hack": Cap.RTC_TD_HACK,
    "no-hpet": Cap.NO_HPET,
    "machine-hpet": Cap.MACHINE_HPET,
    "no-kvm-pit": Cap.NO_KVM_PIT,
    "tdf": Cap.TDF,
    "kvm-pit-lost-tick-policy": Cap.KVM_PIT_TICK_POLICY,
    "cpu.kvm-no-adjvtime": Cap.CPU_KVM_NO_ADJVTIME,
    "kvm": Cap.KVM,
    "enable-kvm": Cap.KVM,
    "tcg": Cap.TCG,
}

#: libvirt's QEMU_CAPS_* enum names (as test drivers write them) -> dump names
LIBVIRT_ENUM_NAMES: dict[str, str] = {
    "RTC": "rtc",
    "RTC_TD_HACK": "rtc-td-hack",
    "NO_HPET": "no-hpet",
    "MACHINE_HPET": "machine-hpet",
    "NO_KVM_PIT": "no-kvm-pit",
    "TDF": "tdf",
    "KVM_PIT_TICK_POLICY": "kvm-pit-lost-tick-policy",
    "CPU_KVM_NO_ADJVTIME": "cpu.kvm-no-adjvtime",
    "KVM": "kvm",
    "ENABLE_KVM": "enable-kvm",
    "TCG": "tcg",
}

# capabilities libvirt keeps probing: a dump's flag list is authoritative for these
_PROBED = frozenset({Cap.KVM_PIT_TICK_POLICY, Cap.CPU_KVM_NO_ADJVTIME, Cap.KVM})


def caps_from_libvirt_flags(
    flags: list[str] | frozenset[str],
    *,
    arch: str = DEFAULT_ARCH,
    version: tuple[int, int, int] | None = None,
    source: str = "libvirt-flags",
    default_machine: str | None = None,
) -> Capabilities:
    """Capabilities from libvirt flag names, plus what ``version`` implies."""
    caps = {LIBVIRT_FLAGS[name] for name in flags if name in LIBVIRT_FLAGS}
    caps.add(Cap.TCG)
    if version is not None:
        caps |= history_caps(version, arch) - _PROBED
    else:
        # libvirt's old code emitted -localtime on any QEMU without -rtc, and the
        # kvmclock, hv_time and tsc-frequency CPU properties without asking
        caps.add(Cap.LOCALTIME)
        if arch in X86_ARCHES:
            caps |= {Cap.CPU_KVMCLOCK, Cap.CPU_HV_TIME_LEGACY, Cap.CPU_TSC_FREQUENCY}
    if default_machine is None and arch in X86_ARCHES:
        default_machine = "pc"
    return Capabilities(
        caps=frozenset(caps),
        source=source,
        version=version,
        arch=arch,
        default_machine=default_machine,
    )


def load_libvirt_caps(data: bytes | str, *, source: str = "libvirt-caps") -> Capabilities:
    """Read a libvirt ``<qemuCaps>`` document."""
    try:
        root = parse_document(data)
    except XMLError as exc:
        raise CapabilityError(f"{source}: not a libvirt capability dump: {exc.message}", subject=source) from None
    if root.tag != "qemuCaps":
        raise CapabilityError(
            f"{source}: not a libvirt capability dump (root element <{root.tag}>, expected <qemuCaps>)",
            subject=source,
        )
    flags = [flag.attrib.get("name", "") for flag in root.findall("flag")]
    version: tuple[int, int, int] | None = None
    version_element = root.find("version")
    if version_element is not None:
        text = version_element.text.strip()
        if not text.isdigit() or len(text) > 10:
            raise CapabilityError(f"{source}: invalid <version> '{text[:40]}'", subject=source)
        number = int(text)
        version = (number // 1_000_000, number // 1_000 % 1_000, number % 1_000)
    arch_element = root.find("arch")
    arch = arch_element.text.strip() if arch_element is not None and arch_element.text.strip() else DEFAULT_ARCH
    default_machine: str | None = None
    machines: set[str] = set()
    for machine in root.findall("machine"):
        machines.update(machine.attrib[key] for key in ("name", "alias") if key in machine.attrib)
        if default_machine is None and machine.attrib.get("default") == "yes":
            default_machine = machine.attrib.get("name")
    caps = caps_from_libvirt_flags(flags, arch=arch, version=version, source=source, default_machine=default_machine)
    return replace(caps, machines=frozenset(machines)) if machines else caps
