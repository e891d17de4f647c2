"""Hyper-V enlightenments (``<features><hyperv>``) as QEMU ``-cpu`` properties: pure rules.

Each enlightenment has a row: its libvirt spelling, its QEMU property spellings by era
(``hv-stimer=on`` from QEMU 4.1, ``hv_stimer`` before), the capability each spelling
needs, the first QEMU release that has it, the enlightenments it requires, and whether
it matters to the guest's clock.

Sources (facts, not code):

* dependencies and what each one does: QEMU ``docs/system/i386/hyperv.rst``
  (qemu/qemu @ 521500bd803b): ``synic`` requires ``vpindex``; ``stimer`` requires
  ``vpindex``, ``synic``, ``time``; ``stimer-direct`` additionally ``stimer``;
  ``tlbflush`` and ``ipi`` require ``vpindex``; ``evmcs`` requires ``vapic``;
  ``reenlightenment`` recommends ``frequencies``; ``emsr-bitmap`` recommends ``evmcs``.
  The document also says that without ``stimer`` some Windows versions fall back to the
  HPET, or the RTC when there is no HPET, "at significant CPU consumption, even when
  virtual CPU is idle".
* the release each feature arrived in QEMU: libvirt ``docs/formatdomain.rst``, the
  ``<features><hyperv>`` table (``:since:`` column, QEMU version in brackets), confirmed
  for 4.2-8.0 by the CPU property lists in libvirt's recorded QMP conversations
  (``../shared/corpus/caps/caps_*.replies``: ``hv-avic`` first in 6.2, ``hv-emsr-bitmap``
  and ``hv-xmm-input`` first in 7.1).
* the spellings: libvirt's expected command lines (``../shared/corpus/libvirt-9.0/cases/
  hyperv.x86_64-latest.args``: ``hv-spinlocks=0x2fff``, ``hv-vendor-id=KVM Hv``, the
  order of the properties); QEMU renamed ``hv_*`` to ``hv-*`` in 4.1 (``spec/RULES.md``:
  ``hv-time``, old spelling ``hv_time``).

Found here, on QEMU 7.2 (Debian 12): under TCG QEMU refuses to start with ``hv-vpindex``
("kernel doesn't allow setting HyperV VP_INDEX"), so neither ``synic``, ``stimer`` nor
anything else that needs ``vpindex`` starts without KVM; on a KVM host without VT-x
(PVM) ``hv-time`` aborts QEMU (MSR 0x40000021). QEMU checks the dependencies only
under KVM; libvirt 9.0 does not check them at all (its ``hyperv-stimer-direct`` test
domain has no ``time``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from guestclock.core.model.caps import Cap, Capabilities
from guestclock.core.model.domain import HyperV, HyperVFeature
from guestclock.errors import UnsupportedConfigError

__all__ = [
    "CLOCK_RELATED",
    "SOURCE_HYPERV_RST",
    "SOURCE_LIBVIRT_SINCE",
    "TABLE",
    "CPUProp",
    "Enlightenment",
    "EnlightenmentInfo",
    "HyperVParts",
    "cpu_parts",
    "dependency_warnings",
    "enabled_properties",
    "enabled_set",
    "from_feature",
    "missing_dependencies",
    "property_caps",
    "spell",
    "supported",
]

SOURCE_HYPERV_RST = "QEMU docs/system/i386/hyperv.rst (qemu/qemu @ 521500bd803b)"
SOURCE_LIBVIRT_SINCE = "libvirt docs/formatdomain.rst, <features><hyperv> table (QEMU release per feature)"

Version = tuple[int, int, int]
#: QEMU renamed the properties from ``hv_*`` to ``hv-*`` in this release
HYPHEN_SINCE: Version = (4, 1, 0)


class Enlightenment(enum.Enum):
    """One Hyper-V enlightenment, by QEMU's name without the ``hv-`` prefix.

    ``TIME`` is libvirt's ``<timer name='hypervclock' present='yes'/>``, not a member of
    ``<hyperv>``; ``STIMER_DIRECT`` is ``<stimer state='on'><direct state='on'/></stimer>``.
    """

    # members are singletons: hash by identity, in C (Enum's own hash is Python code)
    __hash__ = object.__hash__

    TIME = "time"
    RELAXED = "relaxed"
    VAPIC = "vapic"
    SPINLOCKS = "spinlocks"
    VPINDEX = "vpindex"
    RUNTIME = "runtime"
    SYNIC = "synic"
    STIMER = "stimer"
    STIMER_DIRECT = "stimer-direct"
    RESET = "reset"
    VENDOR_ID = "vendor-id"
    FREQUENCIES = "frequencies"
    REENLIGHTENMENT = "reenlightenment"
    TLBFLUSH = "tlbflush"
    IPI = "ipi"
    EVMCS = "evmcs"
    AVIC = "avic"
    EMSR_BITMAP = "emsr-bitmap"
    XMM_INPUT = "xmm-input"


@dataclass(frozen=True)
class EnlightenmentInfo:
    """What guestclock knows of one enlightenment."""

    enlightenment: Enlightenment
    #: how libvirt's XML names it
    libvirt: str
    #: the QEMU property from 4.1 (``hv-stimer``) and the capability it needs
    modern: str
    modern_cap: Cap
    #: the property before 4.1 (``hv_stimer``) and its capability; None: arrived in 4.1 or later
    legacy: str | None
    legacy_cap: Cap | None
    #: first QEMU release with the feature (libvirt's formatdomain.rst)
    since: Version
    #: QEMU refuses to start (under KVM) without these (hyperv.rst "Requires:")
    requires: tuple[Enlightenment, ...] = ()
    #: hyperv.rst "Recommended:"
    recommends: tuple[Enlightenment, ...] = ()
    #: matters to the guest's clock, or is what a clock-related one depends on
    clock_related: bool = False
    #: why, in one line
    why: str = ""

    @property
    def refusal_name(self) -> str:
        """How a refusal names it (``stimer direct`` for libvirt's ``<stimer><direct/>``)."""
        return self.libvirt.replace("/", " ")

    @property
    def modern_since(self) -> Version:
        """The first release with the ``hv-`` spelling."""
        return max(self.since, HYPHEN_SINCE)


_E = Enlightenment


def _row(
    e: Enlightenment,
    libvirt: str,
    cap: Cap,
    legacy_cap: Cap | None,
    since: Version,
    *,
    requires: tuple[Enlightenment, ...] = (),
    recommends: tuple[Enlightenment, ...] = (),
    clock: bool = False,
    why: str = "",
) -> EnlightenmentInfo:
    legacy = None if legacy_cap is None else "hv_" + e.value.replace("-", "_")
    return EnlightenmentInfo(
        e, libvirt, "hv-" + e.value, cap, legacy, legacy_cap, since, requires, recommends, clock, why
    )


#: every enlightenment, in libvirt's order of ``-cpu`` properties (its virDomainHyperv enum,
#: ``stimer-direct`` right after ``stimer``; ``time`` comes from the clock's timers, first)
TABLE: dict[Enlightenment, EnlightenmentInfo] = {
    row.enlightenment: row
    for row in (
        _row(
            _E.TIME,
            "<timer name='hypervclock' present='yes'/>",
            Cap.CPU_HV_TIME,
            Cap.CPU_HV_TIME_LEGACY,
            (2, 0, 0),
            clock=True,
            why="the Hyper-V reference counter and reference TSC page: Windows' paravirtual clocksource",
        ),
        _row(
            _E.RELAXED,
            "relaxed",
            Cap.CPU_HV_RELAXED,
            Cap.CPU_HV_RELAXED_LEGACY,
            (2, 0, 0),
            clock=True,
            why="tells Windows to disable its watchdog timeouts (libvirt: 'Relax constraints on timers')",
        ),
        _row(_E.VAPIC, "vapic", Cap.CPU_HV_VAPIC, Cap.CPU_HV_VAPIC_LEGACY, (2, 0, 0), why="VP assist page (APIC)"),
        _row(
            _E.SPINLOCKS,
            "spinlocks",
            Cap.CPU_HV_SPINLOCKS,
            Cap.CPU_HV_SPINLOCKS_LEGACY,
            (2, 0, 0),
            why="paravirtual spinlocks",
        ),
        _row(
            _E.VPINDEX,
            "vpindex",
            Cap.CPU_HV_VPINDEX,
            Cap.CPU_HV_VPINDEX_LEGACY,
            (2, 5, 0),
            clock=True,
            why="virtual processor index: needed by synic, stimer, tlbflush and ipi",
        ),
        _row(
            _E.RUNTIME,
            "runtime",
            Cap.CPU_HV_RUNTIME,
            Cap.CPU_HV_RUNTIME_LEGACY,
            (2, 5, 0),
            clock=True,
            why="the virtual processor's run time: how much time was stolen from the guest",
        ),
        _row(
            _E.SYNIC,
            "synic",
            Cap.CPU_HV_SYNIC,
            Cap.CPU_HV_SYNIC_LEGACY,
            (2, 6, 0),
            requires=(_E.VPINDEX,),
            clock=True,
            why="synthetic interrupt controller: delivers the synthetic timers' events",
        ),
        _row(
            _E.STIMER,
            "stimer",
            Cap.CPU_HV_STIMER,
            Cap.CPU_HV_STIMER_LEGACY,
            (2, 6, 0),
            requires=(_E.VPINDEX, _E.SYNIC, _E.TIME),
            clock=True,
            why="synthetic timers: without them Windows falls back to the HPET or the RTC at a high idle CPU cost",
        ),
        _row(
            _E.STIMER_DIRECT,
            "stimer/direct",
            Cap.CPU_HV_STIMER_DIRECT,
            None,
            (4, 1, 0),
            requires=(_E.VPINDEX, _E.SYNIC, _E.TIME, _E.STIMER),
            clock=True,
            why="synthetic timers delivered as normal interrupts: the only mode nested Hyper-V (VBS, WSL2) uses",
        ),
        _row(_E.RESET, "reset", Cap.CPU_HV_RESET, Cap.CPU_HV_RESET_LEGACY, (2, 5, 0), why="reset MSR"),
        _row(
            _E.VENDOR_ID,
            "vendor_id",
            Cap.CPU_HV_VENDOR_ID,
            Cap.CPU_HV_VENDOR_ID_LEGACY,
            (2, 5, 0),
            why="the hypervisor vendor string in CPUID",
        ),
        _row(
            _E.FREQUENCIES,
            "frequencies",
            Cap.CPU_HV_FREQUENCIES,
            Cap.CPU_HV_FREQUENCIES_LEGACY,
            (2, 12, 0),
            clock=True,
            why="tells the guest its TSC and APIC frequencies instead of letting it measure them",
        ),
        _row(
            _E.REENLIGHTENMENT,
            "reenlightenment",
            Cap.CPU_HV_REENLIGHTENMENT,
            Cap.CPU_HV_REENLIGHTENMENT_LEGACY,
            (3, 0, 0),
            recommends=(_E.FREQUENCIES,),
            clock=True,
            why="tells a nested hypervisor when the TSC frequency changes (migration); needs tsc-frequency to migrate",
        ),
        _row(
            _E.TLBFLUSH,
            "tlbflush",
            Cap.CPU_HV_TLBFLUSH,
            Cap.CPU_HV_TLBFLUSH_LEGACY,
            (3, 0, 0),
            requires=(_E.VPINDEX,),
            why="paravirtual TLB shoot-down",
        ),
        _row(
            _E.IPI,
            "ipi",
            Cap.CPU_HV_IPI,
            Cap.CPU_HV_IPI_LEGACY,
            (3, 1, 0),
            requires=(_E.VPINDEX,),
            why="paravirtual IPIs",
        ),
        _row(
            _E.EVMCS,
            "evmcs",
            Cap.CPU_HV_EVMCS,
            Cap.CPU_HV_EVMCS_LEGACY,
            (3, 1, 0),
            requires=(_E.VAPIC,),
            why="enlightened VMCS (nested, Intel only)",
        ),
        _row(_E.AVIC, "avic", Cap.CPU_HV_AVIC, None, (6, 2, 0), why="SynIC with hardware APICv/AVIC"),
        _row(
            _E.EMSR_BITMAP,
            "emsr_bitmap",
            Cap.CPU_HV_EMSR_BITMAP,
            None,
            (7, 1, 0),
            recommends=(_E.EVMCS,),
            why="enlightened MSR bitmap (nested)",
        ),
        _row(_E.XMM_INPUT, "xmm_input", Cap.CPU_HV_XMM_INPUT, None, (7, 1, 0), why="XMM fast hypercall input"),
    )
}

#: the enlightenments that matter to the guest's clock, or are what those depend on
CLOCK_RELATED = frozenset(e for e, info in TABLE.items() if info.clock_related)

_BY_FEATURE: dict[HyperVFeature, Enlightenment] = {
    HyperVFeature.RELAXED: _E.RELAXED,
    HyperVFeature.VAPIC: _E.VAPIC,
    HyperVFeature.SPINLOCKS: _E.SPINLOCKS,
    HyperVFeature.VPINDEX: _E.VPINDEX,
    HyperVFeature.RUNTIME: _E.RUNTIME,
    HyperVFeature.SYNIC: _E.SYNIC,
    HyperVFeature.STIMER: _E.STIMER,
    HyperVFeature.RESET: _E.RESET,
    HyperVFeature.VENDOR_ID: _E.VENDOR_ID,
    HyperVFeature.FREQUENCIES: _E.FREQUENCIES,
    HyperVFeature.REENLIGHTENMENT: _E.REENLIGHTENMENT,
    HyperVFeature.TLBFLUSH: _E.TLBFLUSH,
    HyperVFeature.IPI: _E.IPI,
    HyperVFeature.EVMCS: _E.EVMCS,
    HyperVFeature.AVIC: _E.AVIC,
    HyperVFeature.EMSR_BITMAP: _E.EMSR_BITMAP,
    HyperVFeature.XMM_INPUT: _E.XMM_INPUT,
}
_FEATURE_OF = {e: feature for feature, e in _BY_FEATURE.items()}


def from_feature(feature: HyperVFeature) -> Enlightenment:
    """The enlightenment a ``<hyperv>`` member names."""
    return _BY_FEATURE[feature]


def feature_of(enlightenment: Enlightenment) -> HyperVFeature | None:
    """The ``<hyperv>`` member for an enlightenment (None for ``time`` and ``stimer-direct``)."""
    return _FEATURE_OF.get(enlightenment)


def enabled_set(hyperv: HyperV | None, *, hypervclock: bool) -> frozenset[Enlightenment]:
    """The enlightenments a domain switches on (``hypervclock``: its hypervclock timer is present)."""
    found: set[Enlightenment] = {_E.TIME} if hypervclock else set()
    if hyperv is not None:
        found.update(_BY_FEATURE[feature] for feature, on in hyperv.features if on)
        if hyperv.stimer_direct is True and hyperv.enabled(HyperVFeature.STIMER):
            found.add(_E.STIMER_DIRECT)
    return frozenset(found)


def missing_dependencies(enabled: Iterable[Enlightenment]) -> tuple[tuple[Enlightenment, Enlightenment], ...]:
    """(enlightenment, the one it requires and lacks), in table order (hyperv.rst "Requires:")."""
    have = frozenset(enabled)
    return tuple(
        (e, needed) for e, info in TABLE.items() if e in have for needed in info.requires if needed not in have
    )


def supported(enlightenment: Enlightenment, caps: Capabilities) -> bool:
    """True when this QEMU has a spelling for ``enlightenment``."""
    info = TABLE[enlightenment]
    return caps.has(info.modern_cap) or (info.legacy_cap is not None and caps.has(info.legacy_cap))


def property_caps() -> tuple[tuple[str, Cap], ...]:
    """(QEMU CPU property name, capability) for every spelling: what a QMP probe's
    ``qom-list-properties`` of the CPU type is read for (time is already read)."""
    pairs: list[tuple[str, Cap]] = []
    for e, info in TABLE.items():
        if e is _E.TIME:
            continue
        pairs.append((info.modern, info.modern_cap))
        if info.legacy is not None and info.legacy_cap is not None:
            pairs.append((info.legacy, info.legacy_cap))
    pairs.append(("hv-passthrough", Cap.CPU_HV_PASSTHROUGH))
    return tuple(pairs)


@dataclass(frozen=True)
class CPUProp:
    """One ``-cpu`` property word (``hv-stimer=on``) and the capability its spelling needs."""

    text: str
    capability: Cap
    enlightenment: Enlightenment | None


@dataclass(frozen=True)
class HyperVParts:
    """What ``<features><hyperv>`` adds to ``-cpu MODEL,...``, or why it cannot."""

    parts: tuple[CPUProp, ...]
    #: one per enlightenment this QEMU has no spelling for (libvirt-style texts)
    refusals: tuple[UnsupportedConfigError, ...]
    #: a missing dependency (QEMU refuses to start under KVM), or a TCG limit
    warnings: tuple[str, ...]


def spell(info: EnlightenmentInfo, caps: Capabilities, value: str | None) -> CPUProp | None:
    """The `-cpu` word for one enlightenment on `caps` (`hv-stimer=on`, or `hv_stimer` before 4.1), or None."""
    if caps.has(info.modern_cap):
        return CPUProp(f"{info.modern}={'on' if value is None else value}", info.modern_cap, info.enlightenment)
    if info.legacy is not None and info.legacy_cap is not None and caps.has(info.legacy_cap):
        # the pre-4.1 form libvirt wrote: a bare flag means "on"
        text = info.legacy if value is None else f"{info.legacy}={value}"
        return CPUProp(text, info.legacy_cap, info.enlightenment)
    return None


def enabled_properties(hyperv: HyperV) -> list[tuple[EnlightenmentInfo, str | None]]:
    """The enlightenments ``hyperv`` switches on, in libvirt's ``-cpu`` order, each with its
    value (the spinlock retries, the vendor id; None: ``on``); ``stimer-direct`` follows ``stimer``."""
    on = {feature for feature, state in hyperv.features if state}
    found: list[tuple[EnlightenmentInfo, str | None]] = []
    for feature in HyperVFeature:  # libvirt's order, whatever the document's
        if feature not in on:
            continue
        value: str | None = None
        if feature is HyperVFeature.SPINLOCKS:
            value = f"0x{hyperv.spinlock_retries or 0:x}"
        elif feature is HyperVFeature.VENDOR_ID:
            value = hyperv.vendor_id or ""
        found.append((TABLE[_BY_FEATURE[feature]], value))
        if feature is HyperVFeature.STIMER and hyperv.stimer_direct is True:
            found.append((TABLE[_E.STIMER_DIRECT], None))
    return found


def dependency_warnings(hyperv: HyperV, *, hypervclock: bool, virt_type: str | None) -> tuple[str, ...]:
    """A missing dependency (QEMU refuses to start under KVM), and what QEMU refuses under TCG."""
    enabled = enabled_set(hyperv, hypervclock=hypervclock)
    warnings = [
        f"Hyper-V '{e.value}' requires '{needed.value}'"
        + (" (<timer name='hypervclock' present='yes'/>)" if needed is _E.TIME else "")
        + ": QEMU refuses to start under KVM without it"
        for e, needed in missing_dependencies(enabled)
    ]
    if virt_type == "qemu" and _E.VPINDEX in enabled:
        warnings.append(
            "QEMU 7.2 refuses hv-vpindex (and so synic, stimer, tlbflush, ipi) under TCG: "
            '"kernel doesn\'t allow setting HyperV VP_INDEX"'
        )
    return tuple(warnings)


def cpu_parts(
    hyperv: HyperV, caps: Capabilities, *, hypervclock: bool = False, virt_type: str | None = None
) -> HyperVParts:
    """The ``-cpu`` properties for ``<features><hyperv>`` on ``caps`` (libvirt's
    ``qemuBuildCpuCommandLine``: only members with ``state='on'``, in libvirt's order).

    ``hv-time`` is not among them: it comes from the clock's hypervclock timer, which the
    translation handles (``hypervclock`` only says whether it is there, for the
    dependency check). ``mode='passthrough'`` adds ``hv-passthrough=on`` first (QEMU:
    it overrides every other ``hv-`` setting).
    """
    parts: list[CPUProp] = []
    refusals: list[UnsupportedConfigError] = []

    def refuse(name: str, cap: Cap) -> None:
        refusals.append(
            UnsupportedConfigError(
                f"Configuring the Hyper-V '{name}' enlightenment is not supported with this QEMU binary",
                subject=name,
                capability=cap.value,
                line=hyperv.line,
            )
        )

    if hyperv.mode == "passthrough":
        if caps.has(Cap.CPU_HV_PASSTHROUGH):
            parts.append(CPUProp("hv-passthrough=on", Cap.CPU_HV_PASSTHROUGH, None))
        else:
            refuse("passthrough", Cap.CPU_HV_PASSTHROUGH)
    for info, value in enabled_properties(hyperv):
        prop = spell(info, caps, value)
        if prop is None:
            refuse(info.refusal_name, info.modern_cap)
        else:
            parts.append(prop)
    warnings = dependency_warnings(hyperv, hypervclock=hypervclock, virt_type=virt_type)
    return HyperVParts(tuple(parts), tuple(refusals), tuple(warnings))
