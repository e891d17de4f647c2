"""What one QEMU binary can do for a guest's clock: the only input the translation reads.

Every loader produces a :class:`Capabilities`: ``helpparse.parse_help`` (``-help``
text of QEMU 0.9-1.x), ``capsdump.load_libvirt_caps`` (libvirt's recorded
capability dumps), ``versions.caps_for_version`` (an estimate from QEMU's option
history) and the QMP probe of a live binary.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace

__all__ = ["Cap", "Capabilities", "machine_family_has_hpet"]


class Cap(enum.Enum):
    """One ability of a QEMU binary. The value is the name used in JSON and in
    libvirt's capability dumps where libvirt has one."""

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    #: ``-rtc base=,clock=,driftfix=`` (QEMU 0.12+)
    RTC = "rtc"
    #: ``-rtc clock=rt`` (QEMU 1.1+)
    RTC_CLOCK_RT = "rtc-clock-rt"
    #: ``-rtc-td-hack`` (QEMU 0.10 to 3.0)
    RTC_TD_HACK = "rtc-td-hack"
    #: ``-localtime`` (before 3.1)
    LOCALTIME = "localtime"
    #: ``-startdate`` (before 3.1)
    STARTDATE = "startdate"
    #: ``-no-hpet`` (x86, 0.10 to 8.2)
    NO_HPET = "no-hpet"
    #: ``-machine ...,hpet=on|off`` on pc/q35 machine types (5.2+)
    MACHINE_HPET = "machine-hpet"
    #: ``-no-kvm-pit-reinjection`` (qemu-kvm; upstream 1.3 to 2.12)
    NO_KVM_PIT = "no-kvm-pit"
    #: ``-tdf`` (qemu-kvm; upstream 1.3 to 2.11)
    TDF = "tdf"
    #: ``-global kvm-pit.lost_tick_policy=`` (1.2+)
    KVM_PIT_TICK_POLICY = "kvm-pit-lost-tick-policy"
    #: ``-cpu MODEL,feature=on|off`` (2.4+); older QEMU spells it ``+feature``/``-feature``
    CPU_FEATURE_PROPS = "cpu-feature-props"
    #: the x86 CPU feature ``kvmclock``
    CPU_KVMCLOCK = "cpu.kvmclock"
    #: the x86 CPU property ``hv-time`` (4.1+)
    CPU_HV_TIME = "cpu.hv-time"
    #: the x86 CPU property's old spelling ``hv_time`` (2.0 to 4.0)
    CPU_HV_TIME_LEGACY = "cpu.hv_time"
    #: the x86 CPU property ``tsc-frequency`` (2.1+)
    CPU_TSC_FREQUENCY = "cpu.tsc-frequency"
    #: the x86 CPU option's old spelling ``tsc_freq`` (1.1 to 2.0)
    CPU_TSC_FREQ_LEGACY = "cpu.tsc_freq"
    #: the ARM CPU property ``kvm-no-adjvtime`` (5.0+)
    CPU_KVM_NO_ADJVTIME = "cpu.kvm-no-adjvtime"
    #: the KVM accelerator is built in
    KVM = "kvm"
    #: the TCG accelerator is built in
    TCG = "tcg"


_PC_MACHINE = re.compile(r"^(pc|q35|pc-(i440fx|q35)-.*|pc-[0-9].*)$")


def machine_family_has_hpet(machine: str) -> bool:
    """True for the pc/q35 machine types, which carry the ``hpet`` property from 5.2."""
    return _PC_MACHINE.match(machine) is not None


@dataclass(frozen=True)
class Capabilities:
    """The clock-relevant abilities of one QEMU binary.

    ``estimated`` is true when the set was inferred from a version number
    rather than read from the binary or from a record of it.
    """

    caps: frozenset[Cap]
    source: str
    version: tuple[int, int, int] | None = None
    arch: str | None = None
    estimated: bool = False
    #: machine types with an ``hpet`` property, when the source lists them;
    #: None means "decide by machine family" (pc/q35)
    hpet_machines: frozenset[str] | None = None
    #: the machine types (names and aliases) this QEMU has, when the source lists them
    machines: frozenset[str] | None = None
    #: the machine type QEMU picks without ``-machine``
    default_machine: str | None = None
    #: notes from the loader (e.g. "this is an estimate"), shown as warnings
    notes: tuple[str, ...] = field(default=(), compare=False)

    def has(self, cap: Cap) -> bool:
        """True when this QEMU has ``cap``."""
        return cap in self.caps

    def machine_has_hpet(self, machine: str | None) -> bool:
        """True when ``-machine MACHINE,hpet=`` is accepted by this QEMU."""
        if Cap.MACHINE_HPET not in self.caps:
            return False
        name = machine or self.default_machine or "pc"
        if self.hpet_machines is not None:
            return name in self.hpet_machines
        return machine_family_has_hpet(name)

    @property
    def version_string(self) -> str | None:
        """``X.Y.Z`` or None."""
        if self.version is None:
            return None
        return ".".join(str(part) for part in self.version)

    def with_caps(self, *extra: Cap) -> Capabilities:
        """A copy with ``extra`` added."""
        return replace(self, caps=self.caps | frozenset(extra))

    def without_caps(self, *gone: Cap) -> Capabilities:
        """A copy with ``gone`` removed."""
        return replace(self, caps=self.caps - frozenset(gone))

    def to_json(self) -> dict[str, object]:
        """A JSON-ready description (sorted, stable)."""
        return {
            "source": self.source,
            "version": self.version_string,
            "arch": self.arch,
            "estimated": self.estimated,
            "capabilities": sorted(cap.value for cap in self.caps),
            "default_machine": self.default_machine,
            "hpet_machines": None if self.hpet_machines is None else sorted(self.hpet_machines),
            "machines": None if self.machines is None else sorted(self.machines),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Capabilities:
        """Inverse of :meth:`to_json` (used by the probe cache)."""
        version = data.get("version")
        caps = data.get("capabilities")
        hpet = data.get("hpet_machines")
        machines = data.get("machines")
        if not isinstance(caps, list) or not isinstance(data.get("source"), str):
            raise ValueError("not a capability record")
        parsed_version: tuple[int, int, int] | None = None
        if isinstance(version, str):
            major, minor, micro = (int(part) for part in version.split("."))
            parsed_version = (major, minor, micro)
        arch = data.get("arch")
        default_machine = data.get("default_machine")
        return cls(
            caps=frozenset(Cap(str(name)) for name in caps),
            source=str(data["source"]),
            version=parsed_version,
            arch=arch if isinstance(arch, str) else None,
            estimated=bool(data.get("estimated", False)),
            hpet_machines=frozenset(str(m) for m in hpet) if isinstance(hpet, list) else None,
            machines=frozenset(str(m) for m in machines) if isinstance(machines, list) else None,
            default_machine=default_machine if isinstance(default_machine, str) else None,
        )
