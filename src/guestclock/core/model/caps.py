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
    #: the x86 CPU feature ``invtsc`` (invariant TSC; 2.1+): a migration blocker unless
    #: ``tsc-frequency`` is set
    CPU_INVTSC = "cpu.invtsc"
    # Hyper-V enlightenments (``<features><hyperv>``): the ``hv-*`` CPU properties (4.1+, or
    # the feature's first release if later) and their ``hv_*`` spellings before 4.1.
    # Arrival releases: libvirt's docs/formatdomain.rst table; see core/rules/hyperv.py
    #: ``hv-relaxed`` (4.1+)
    CPU_HV_RELAXED = "cpu.hv-relaxed"
    #: ``hv_relaxed`` (2.0 to 4.0)
    CPU_HV_RELAXED_LEGACY = "cpu.hv_relaxed"
    #: ``hv-vapic`` (4.1+)
    CPU_HV_VAPIC = "cpu.hv-vapic"
    #: ``hv_vapic`` (2.0 to 4.0)
    CPU_HV_VAPIC_LEGACY = "cpu.hv_vapic"
    #: ``hv-spinlocks=0xN`` (4.1+)
    CPU_HV_SPINLOCKS = "cpu.hv-spinlocks"
    #: ``hv_spinlocks=0xN`` (2.0 to 4.0)
    CPU_HV_SPINLOCKS_LEGACY = "cpu.hv_spinlocks"
    #: ``hv-vpindex`` (4.1+)
    CPU_HV_VPINDEX = "cpu.hv-vpindex"
    #: ``hv_vpindex`` (2.5 to 4.0)
    CPU_HV_VPINDEX_LEGACY = "cpu.hv_vpindex"
    #: ``hv-runtime`` (4.1+)
    CPU_HV_RUNTIME = "cpu.hv-runtime"
    #: ``hv_runtime`` (2.5 to 4.0)
    CPU_HV_RUNTIME_LEGACY = "cpu.hv_runtime"
    #: ``hv-synic`` (4.1+)
    CPU_HV_SYNIC = "cpu.hv-synic"
    #: ``hv_synic`` (2.6 to 4.0)
    CPU_HV_SYNIC_LEGACY = "cpu.hv_synic"
    #: ``hv-stimer`` (4.1+)
    CPU_HV_STIMER = "cpu.hv-stimer"
    #: ``hv_stimer`` (2.6 to 4.0)
    CPU_HV_STIMER_LEGACY = "cpu.hv_stimer"
    #: ``hv-stimer-direct`` (4.1+; no older spelling)
    CPU_HV_STIMER_DIRECT = "cpu.hv-stimer-direct"
    #: ``hv-reset`` (4.1+)
    CPU_HV_RESET = "cpu.hv-reset"
    #: ``hv_reset`` (2.5 to 4.0)
    CPU_HV_RESET_LEGACY = "cpu.hv_reset"
    #: ``hv-vendor-id=VALUE`` (4.1+)
    CPU_HV_VENDOR_ID = "cpu.hv-vendor-id"
    #: ``hv_vendor_id=VALUE`` (2.5 to 4.0)
    CPU_HV_VENDOR_ID_LEGACY = "cpu.hv_vendor_id"
    #: ``hv-frequencies`` (4.1+)
    CPU_HV_FREQUENCIES = "cpu.hv-frequencies"
    #: ``hv_frequencies`` (2.12 to 4.0)
    CPU_HV_FREQUENCIES_LEGACY = "cpu.hv_frequencies"
    #: ``hv-reenlightenment`` (4.1+)
    CPU_HV_REENLIGHTENMENT = "cpu.hv-reenlightenment"
    #: ``hv_reenlightenment`` (3.0 to 4.0)
    CPU_HV_REENLIGHTENMENT_LEGACY = "cpu.hv_reenlightenment"
    #: ``hv-tlbflush`` (4.1+)
    CPU_HV_TLBFLUSH = "cpu.hv-tlbflush"
    #: ``hv_tlbflush`` (3.0 to 4.0)
    CPU_HV_TLBFLUSH_LEGACY = "cpu.hv_tlbflush"
    #: ``hv-ipi`` (4.1+)
    CPU_HV_IPI = "cpu.hv-ipi"
    #: ``hv_ipi`` (3.1 to 4.0)
    CPU_HV_IPI_LEGACY = "cpu.hv_ipi"
    #: ``hv-evmcs`` (4.1+)
    CPU_HV_EVMCS = "cpu.hv-evmcs"
    #: ``hv_evmcs`` (3.1 to 4.0)
    CPU_HV_EVMCS_LEGACY = "cpu.hv_evmcs"
    #: ``hv-avic`` (6.2+)
    CPU_HV_AVIC = "cpu.hv-avic"
    #: ``hv-emsr-bitmap`` (7.1+)
    CPU_HV_EMSR_BITMAP = "cpu.hv-emsr-bitmap"
    #: ``hv-xmm-input`` (7.1+)
    CPU_HV_XMM_INPUT = "cpu.hv-xmm-input"
    #: ``hv-passthrough`` (4.1+): ``<hyperv mode='passthrough'>``
    CPU_HV_PASSTHROUGH = "cpu.hv-passthrough"


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
